import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../../src/audit/audit-record.js';
import { spanOf } from '../../../src/telemetry/call-telemetry.js';

const event: AuditEvent = {
  time: '2026-12-08T10:00:00.000Z',
  session: 'abcd1234',
  server: 'https://mcp.example.com/mcp',
  transport: 'streamable-http->streamable-http',
  direction: 'client->server',
  kind: 'request',
  method: 'tools/call',
  id: 7,
  name: 'send_message',
  args: { to: 'secret@example.com' },
  outcome: 'denied',
  errorCode: -32000,
  airlockCode: 'AIRLOCK_FLOW_DENIED',
  rule: 'no-exfiltration',
  latencyMs: 1.5,
  bytesIn: 120,
  bytesOut: 300,
  principal: { issuer: 'https://idp.example.com', subject: 'alice', clientId: 'claude-desktop', scopes: ['mcp:use'] },
  airlock: '0.1.0',
};

const attributes = (span: ReturnType<typeof spanOf>) => Object.fromEntries(span.attributes.map(({ key, value }) => [key, Object.values(value)[0]]));

describe('spanOf: an audit record as an OTLP span', () => {
  it('names the caller (subject and client id), the rule, the era, and never the arguments', () => {
    const span = spanOf(event, { protocolVersion: '2026-07-28' });
    expect(span.name).toBe('tools/call send_message');
    expect(span.startTimeUnixNano).toBe('1796724000000000000');
    expect(span.endTimeUnixNano).toBe('1796724000001500000');
    expect(span.status).toEqual({ code: 2, message: 'AIRLOCK_FLOW_DENIED' });
    expect(attributes(span)).toEqual({
      'mcp.method.name': 'tools/call',
      'mcp.session.id': 'abcd1234',
      'mcp.protocol.version': '2026-07-28',
      'gen_ai.tool.name': 'send_message',
      'gen_ai.operation.name': 'execute_tool',
      'jsonrpc.request.id': '7',
      'rpc.response.status_code': '-32000',
      'error.type': 'AIRLOCK_FLOW_DENIED',
      'enduser.id': 'alice',
      'airlock.client.id': 'claude-desktop',
      'airlock.server': 'https://mcp.example.com/mcp',
      'airlock.transport': 'streamable-http->streamable-http',
      'airlock.direction': 'client->server',
      'airlock.era': '2026-07-28',
      'airlock.outcome': 'denied',
      'airlock.policy.verdict': 'denied',
      'airlock.policy.rule': 'no-exfiltration',
      'airlock.code': 'AIRLOCK_FLOW_DENIED',
      'airlock.bytes_in': '120',
      'airlock.bytes_out': '300',
    });
    expect(JSON.stringify(span)).not.toContain('secret@example.com');
  });

  it('a resource read names its URI and no tool; a success leaves the status unset', () => {
    const span = spanOf({ ...event, method: 'resources/read', name: 'file:///notes.md', outcome: 'ok', errorCode: undefined, airlockCode: undefined, rule: undefined }, undefined);
    expect(span.name).toBe('resources/read');
    expect(span.status).toEqual({ code: 0 });
    expect(attributes(span)).toMatchObject({ 'mcp.resource.uri': 'file:///notes.md', 'airlock.policy.verdict': 'allowed' });
    expect(attributes(span)['gen_ai.tool.name']).toBeUndefined();
  });
});
