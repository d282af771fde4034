import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { chainHash, GENESIS_HASH, openLine, sealRecord, type AuditEvent } from '../../../src/audit/audit-record.js';

const event: AuditEvent = {
  time: '2026-11-23T13:45:00.123Z',
  session: 'sess-1',
  server: 'npx -y some-server',
  transport: 'stdio->stdio',
  direction: 'client->server',
  kind: 'request',
  method: 'tools/call',
  id: 7,
  name: 'read_file',
  args: 'sha256:abc',
  outcome: 'ok',
  latencyMs: 1.5,
  bytesIn: 10,
  bytesOut: 20,
  principal: null,
  airlock: '0.1.0',
};

describe('sealRecord', () => {
  it('puts the chain members first, the event next and the hash last, on one line', () => {
    const line = sealRecord(event, 'c0ffee', 3, 'a'.repeat(64));
    expect(line).not.toContain('\n');
    expect(line.startsWith(`{"v":1,"chain":"c0ffee","seq":3,"prev":"${'a'.repeat(64)}","time":"2026-11-23T13:45:00.123Z",`)).toBe(true);
    expect(line).toMatch(/,"airlock":"0\.1\.0","hash":"[0-9a-f]{64}"\}$/);
    expect(JSON.parse(line)).toEqual({ v: 1, chain: 'c0ffee', seq: 3, prev: 'a'.repeat(64), ...event, hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
  });

  it('hashes SHA-256 of prev, a newline and the line without its hash member', () => {
    const line = sealRecord(event, 'c0ffee', 0, GENESIS_HASH);
    const { hash } = JSON.parse(line) as { hash: string };
    const withoutHash = `${line.slice(0, line.lastIndexOf(',"hash":'))}}`;
    expect(hash).toBe(createHash('sha256').update(`${GENESIS_HASH}\n${withoutHash}`).digest('hex'));
  });
});

describe('openLine', () => {
  it('opens a sealed line back to the body its hash covers and that hash', () => {
    const prev = 'b'.repeat(64);
    const line = sealRecord(event, 'c0ffee', 1, prev);
    const opened = openLine(line)!;
    expect(opened.body).toBe(JSON.stringify({ v: 1, chain: 'c0ffee', seq: 1, prev, ...event }));
    expect(opened.hash).toBe((JSON.parse(line) as { hash: string }).hash);
    expect(chainHash(prev, opened.body)).toBe(opened.hash);
  });

  it('rejects lines without the trailing hash member', () => {
    const line = sealRecord(event, 'c0ffee', 0, GENESIS_HASH);
    expect(openLine(JSON.stringify(event))).toBeUndefined();
    expect(openLine(`${line}\n`)).toBeUndefined(); // the hash must be the very end
    expect(openLine(line.replace(/"hash":"([0-9a-f]{64})"/, '"hash":"$1", "x":1'))).toBeUndefined();
    expect(openLine(line.replace(/[0-9a-f]"\}$/, '"}'))).toBeUndefined(); // 63 hex digits
    expect(openLine(line.replace(/"hash":"([0-9a-f]{64})"/, (_m, h: string) => `"hash":"${h.toUpperCase()}"`))).toBeUndefined();
    expect(openLine('')).toBeUndefined();
  });
});

describe('chainHash', () => {
  it('changes when any byte of the body changes', () => {
    const body = openLine(sealRecord(event, 'c0ffee', 0, GENESIS_HASH))!.body;
    const original = chainHash(GENESIS_HASH, body);
    const seen = new Set([original]);
    for (let i = 0; i < body.length; i++) {
      const changed = `${body.slice(0, i)}${String.fromCharCode(body.charCodeAt(i) ^ 1)}${body.slice(i + 1)}`;
      seen.add(chainHash(GENESIS_HASH, changed));
    }
    expect(seen.size).toBe(body.length + 1);
  });

  it('depends on prev, so a record cannot be moved to another place in the chain', () => {
    expect(chainHash('1'.repeat(64), 'x')).not.toBe(chainHash('2'.repeat(64), 'x'));
    expect(chainHash(GENESIS_HASH, 'x')).toBe(createHash('sha256').update(`${GENESIS_HASH}\nx`).digest('hex'));
  });
});
