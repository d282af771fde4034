/** A minimal audit event for writer and reader tests: a delivered client notification. */
import type { AuditEvent } from '../../src/audit/audit-record.js';

export function auditEvent(method: string, time = new Date().toISOString()): AuditEvent {
  return {
    time,
    session: 'sess',
    server: 'test-server',
    transport: 'stdio->stdio',
    direction: 'client->server',
    kind: 'notification',
    method,
    outcome: 'delivered',
    bytesIn: 1,
    bytesOut: 0,
    principal: null,
    airlock: 'test',
  };
}
