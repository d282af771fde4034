import { describe, expect, it } from 'vitest';
import { formatLine, formatTable, outcomes, parseOutcome, parseSince, recordMatcher } from '../../../src/audit/audit-query.js';
import type { AuditRecord } from '../../../src/audit/audit-record.js';
import { thrownAirlockError } from '../../helpers/thrown.js';

function record(overrides: Partial<AuditRecord> = {}): AuditRecord {
  return {
    v: 1,
    chain: 'c',
    seq: 0,
    prev: '0'.repeat(64),
    hash: '1'.repeat(64),
    time: '2026-11-23T09:00:00.000Z',
    session: 's1',
    server: 'npx srv',
    transport: 'stdio->stdio',
    direction: 'client->server',
    kind: 'request',
    method: 'tools/call',
    id: 1,
    name: 'read_file',
    outcome: 'ok',
    latencyMs: 12.345,
    bytesIn: 1,
    bytesOut: 2,
    principal: { issuer: 'https://idp.example', subject: 'alice', clientId: 'client-7', scopes: [] },
    airlock: '0.1.0',
    ...overrides,
  };
}

describe('parseSince', () => {
  const now = Date.parse('2026-11-23T12:00:00.000Z');

  it('reads durations before now', () => {
    expect(parseSince('15m', now)).toBe(now - 15 * 60_000);
    expect(parseSince('2h', now)).toBe(now - 2 * 3_600_000);
    expect(parseSince('7d', now)).toBe(now - 7 * 86_400_000);
    expect(parseSince('30s', now)).toBe(now - 30_000);
    expect(parseSince('1w', now)).toBe(now - 604_800_000);
    expect(parseSince('1.5h', now)).toBe(now - 5_400_000);
    expect(parseSince(' 2H ', now)).toBe(now - 2 * 3_600_000);
    expect(parseSince('10 m', now)).toBe(now - 10 * 60_000);
  });

  it('reads ISO 8601 dates and times', () => {
    expect(parseSince('2026-11-23T09:00:00Z', now)).toBe(Date.parse('2026-11-23T09:00:00Z'));
    expect(parseSince('2026-11-23', now)).toBe(Date.parse('2026-11-23'));
  });

  it('refuses anything else with AIRLOCK_USAGE and the value quoted', () => {
    for (const value of ['yesterday', '15x', '', 'm', '-5m']) {
      const error = thrownAirlockError(() => parseSince(value, now));
      expect(error.code).toBe('AIRLOCK_USAGE');
      expect(error.message).toBe(`--since: cannot read ${JSON.stringify(value)} as a time`);
      expect(error.hint).toBe('Use a duration such as 15m, 2h or 7d, or a date such as 2026-11-23T09:00.');
    }
    expect(thrownAirlockError(() => parseSince('a\nb', now)).message).toBe('--since: cannot read "a\\nb" as a time');
  });

  // Regression test, fixed since (audit-query.ts:181): whatever is not a duration goes to Date.parse, whose legacy parser
  // reads some bare numbers as dates: "--since 1" is 2001-01-01 and "--since 5" is 2001-05-01
  // (local time), while "--since 15" is refused. A forgotten unit silently selects years of records.
  it('refuses a bare number, which has no unit', () => {
    for (const value of ['1', '5', '12']) {
      let code: string | undefined;
      try {
        parseSince(value, now);
      } catch (error) {
        code = (error as { code?: string }).code;
      }
      expect(code, value).toBe('AIRLOCK_USAGE');
    }
  });
});

describe('parseOutcome', () => {
  it('takes every outcome', () => {
    for (const outcome of outcomes) expect(parseOutcome(outcome)).toBe(outcome);
    expect(outcomes).toEqual(['ok', 'error', 'denied', 'upstream-failure', 'cancelled', 'unanswered', 'delivered']);
  });

  it('refuses others with AIRLOCK_USAGE and the list', () => {
    const error = thrownAirlockError(() => parseOutcome('OK'));
    expect(error.code).toBe('AIRLOCK_USAGE');
    expect(error.message).toBe('--outcome: unknown outcome "OK"');
    expect(error.hint).toBe('Use one of: ok, error, denied, upstream-failure, cancelled, unanswered, delivered.');
  });
});

describe('recordMatcher', () => {
  it('matches everything without a filter', () => {
    expect(recordMatcher({})(record())).toBe(true);
    expect(recordMatcher({})(record({ name: undefined, principal: null }))).toBe(true);
  });

  it('since: records at or after the time', () => {
    const at = Date.parse('2026-11-23T09:00:00.000Z');
    expect(recordMatcher({ since: at })(record())).toBe(true);
    expect(recordMatcher({ since: at + 1 })(record())).toBe(false);
    expect(recordMatcher({ since: at - 1 })(record())).toBe(true);
  });

  it('server: a substring of the URL or command', () => {
    expect(recordMatcher({ server: 'srv' })(record())).toBe(true);
    expect(recordMatcher({ server: 'other' })(record())).toBe(false);
  });

  it('tool: a glob over the name; a record without a name does not match', () => {
    expect(recordMatcher({ tool: 'read_*' })(record())).toBe(true);
    expect(recordMatcher({ tool: 'read' })(record())).toBe(false);
    expect(recordMatcher({ tool: '*' })(record({ name: undefined }))).toBe(false);
    expect(recordMatcher({ tool: 'file:///*' })(record({ method: 'resources/read', name: 'file:///etc/hosts' }))).toBe(true);
  });

  it('outcome and method: exactly', () => {
    expect(recordMatcher({ outcome: 'ok' })(record())).toBe(true);
    expect(recordMatcher({ outcome: 'denied' })(record())).toBe(false);
    expect(recordMatcher({ method: 'tools/call' })(record())).toBe(true);
    expect(recordMatcher({ method: 'tools' })(record())).toBe(false);
  });

  it('session: a prefix of the id', () => {
    expect(recordMatcher({ session: 'sess' })(record({ session: 'session-42' }))).toBe(true);
    expect(recordMatcher({ session: '42' })(record({ session: 'session-42' }))).toBe(false);
  });

  it('principal: an actor of a delegated token matches too, and the table names the current one', () => {
    const delegated = record({ principal: { issuer: 'https://idp.example', subject: 'alice', actors: [{ subject: 'agent-7' }, { subject: 'orchestrator' }], clientId: 'gw', scopes: [] } });
    expect(recordMatcher({ principal: 'agent-7' })(delegated)).toBe(true);
    expect(recordMatcher({ principal: 'orchestrator' })(delegated)).toBe(true);
    expect(recordMatcher({ principal: 'agent-7' })(record())).toBe(false);
    expect(formatLine(delegated)).toContain('  alice via agent-7  ');
    expect(formatLine(record())).not.toContain(' via ');
  });

  it('principal: a substring of the subject, client id or issuer', () => {
    expect(recordMatcher({ principal: 'ali' })(record())).toBe(true);
    expect(recordMatcher({ principal: 'client-7' })(record())).toBe(true);
    expect(recordMatcher({ principal: 'idp.example' })(record())).toBe(true);
    expect(recordMatcher({ principal: 'bob' })(record())).toBe(false);
    expect(recordMatcher({ principal: 'ali' })(record({ principal: null }))).toBe(false);
    expect(recordMatcher({ principal: 'ali' })(record({ principal: undefined }))).toBe(false);
  });

  it('needs every filter given to match', () => {
    const matches = recordMatcher({ server: 'srv', tool: 'read_*', outcome: 'ok', session: 's', method: 'tools/call', principal: 'alice' });
    expect(matches(record())).toBe(true);
    expect(matches(record({ outcome: 'error' }))).toBe(false);
    expect(matches(record({ server: 'x' }))).toBe(false);
  });
});

describe('formatTable', () => {
  const records = [
    record(),
    record({ time: '2026-11-23T09:00:01.000Z', session: 's2', direction: 'server->client', method: 'ping', name: undefined, outcome: 'error', errorCode: -32601, latencyMs: undefined, principal: null, server: 'http://x' }),
    record({ time: '2026-11-23T09:00:02.000Z', session: 's3', method: 'tools/list', name: undefined, outcome: 'upstream-failure', errorCode: -32000, airlockCode: 'AIRLOCK_UPSTREAM_CLOSED', latencyMs: 0, principal: { issuer: 'i', clientId: 'client-7', scopes: [] } }),
  ];

  it('aligns every column but the last, two spaces apart', () => {
    expect(formatTable(records).split('\n')).toEqual([
      'TIME                      SESSION  DIR  METHOD      NAME       OUTCOME                                     MS    PRINCIPAL  SERVER',
      '2026-11-23T09:00:00.000Z  s1       C→S  tools/call  read_file  ok                                          12.3  alice      npx srv',
      '2026-11-23T09:00:01.000Z  s2       S→C  ping                   error -32601                                                 http://x',
      '2026-11-23T09:00:02.000Z  s3       C→S  tools/list             upstream-failure (AIRLOCK_UPSTREAM_CLOSED)  0.0   client-7   npx srv',
    ]);
  });

  it('shows a denial without its code, and the header alone for no records', () => {
    const denied = record({ outcome: 'denied', errorCode: -32602, airlockCode: 'AIRLOCK_POLICY_DENIED' });
    expect(formatTable([denied]).split('\n')[1]).toContain('  read_file  denied   12.3  ');
    expect(formatTable([])).toBe('TIME  SESSION  DIR  METHOD  NAME  OUTCOME  MS  PRINCIPAL  SERVER');
  });

  it('cuts lines longer than the width, with an ellipsis, and leaves shorter ones', () => {
    const lines = formatTable(records, 40).split('\n');
    expect(lines).toEqual([
      'TIME                      SESSION  DIR …',
      '2026-11-23T09:00:00.000Z  s1       C→S …',
      '2026-11-23T09:00:01.000Z  s2       S→C …',
      '2026-11-23T09:00:02.000Z  s3       C→S …',
    ]);
    expect(formatTable(records, 500)).toBe(formatTable(records));
    expect(formatTable([], 1)).toBe('…');
  });

  it('replaces control characters in untrusted text, so a name cannot move the cursor or forge a row', () => {
    const hostile = record({ name: 'evil\u001b[2J\r\nfake row\u0007\u007f', server: 'srv\ttab' });
    const text = formatTable([hostile]);
    expect(text.split('\n')).toHaveLength(2);
    expect(text).toContain('evil?[2J??fake row??');
    expect(text).toContain('srv?tab');
    expect(formatLine(hostile)).toContain('evil?[2J??fake row??');
  });

  // Regression test, fixed since (audit-query.ts:226): only C0 controls and DEL are replaced. The C1 controls U+0080-U+009F
  // are control characters too (U+009B is a one-character CSI for terminals that take 8-bit
  // controls, U+0085 is NEL, a line break to some tools), and so are left in a hostile name.
  it('replaces C1 control characters too', () => {
    const hostile = record({ name: 'evil\u009b2J\u0085next' });
    expect(formatTable([hostile])).not.toMatch(/[\u0080-\u009f]/);
  });
});

describe('formatLine', () => {
  it('joins the non-empty cells of one record', () => {
    expect(formatLine(record())).toBe('2026-11-23T09:00:00.000Z  s1  C→S  tools/call  read_file  ok  12.3  alice  npx srv');
    expect(formatLine(record({ direction: 'server->client', method: 'ping', name: undefined, outcome: 'error', errorCode: -32601, latencyMs: undefined, principal: null }))).toBe(
      '2026-11-23T09:00:00.000Z  s1  S→C  ping  error -32601  npx srv',
    );
  });
});
