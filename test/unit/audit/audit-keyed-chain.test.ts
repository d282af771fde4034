/**
 * Issue 14 #1: the keyed chain. A rewrite that recomputes every hash (the attack review's script:
 * drop records, rename delete_file to read_file, recompute) passed `verify` while the chain was
 * plain SHA-256; under the installation's key it must not, nor a downgrade to the unkeyed format,
 * a made-up chain, or the removal of a whole rotated file. Old (format 1) logs still verify, as
 * unkeyed.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { auditFiles, verifyAudit } from '../../../src/audit/audit-reader.js';
import { chainHash, GENESIS_HASH, openLine, sealRecord, type AuditEvent, type AuditRecord, type ChainKey } from '../../../src/audit/audit-record.js';
import { AuditWriter } from '../../../src/audit/audit-writer.js';
import { auditKeyId } from '../../../src/audit/audit-key.js';
import { createLogger } from '../../../src/log.js';
import { auditEvent } from '../../helpers/audit-events.js';
import { AuditTap } from '../../../src/audit/audit-tap.js';
import { argumentDigestKey, recordArguments } from '../../../src/redact.js';

let dir: string;
let live: string;
const secret = randomBytes(32);
const key: ChainKey & { created: string } = { id: auditKeyId(secret), secret, created: '2026-01-01T00:00:00.000Z' };

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'airlock-audit-keyed-'));
  live = join(dir, 'audit.jsonl');
});
afterEach(() => {
  vi.useRealTimers();
  rmSync(dir, { recursive: true, force: true });
});

function call(name: string): AuditEvent {
  return { ...auditEvent('tools/call'), kind: 'request', id: 1, name, outcome: 'ok', principal: { issuer: 'https://idp', subject: 'alice', clientId: 'c', scopes: [] } };
}

async function writeLog(names: string[], options: { maxBytes?: number } = {}): Promise<void> {
  const writer = AuditWriter.open({ file: live, maxBytes: options.maxBytes ?? 0, sync: false, log: createLogger('silent'), key, version: 'test' });
  for (const name of names) {
    writer.append(call(name));
    await writer.flush();
  }
  await writer.close();
}

/** The review's forging script: re-chain the records with plain SHA-256, keeping every other byte. */
function rechain(records: AuditRecord[], version: 1 | 2): string {
  const prevOf = new Map<string, { seq: number; hash: string }>();
  return records
    .map((record) => {
      const { v: _v, key: keyId, chain, seq: _seq, prev: _prev, hash: _hash, ...event } = record;
      const last = prevOf.get(chain);
      const seq = last ? last.seq + 1 : 0;
      const prev = last ? last.hash : GENESIS_HASH;
      const head = version === 2 ? `{"v":2,"key":"${keyId}"` : '{"v":1';
      const body = `${head},"chain":"${chain}","seq":${seq},"prev":"${prev}",${JSON.stringify(event).slice(1)}`;
      const hash = chainHash(prev, body);
      prevOf.set(chain, { seq, hash });
      return `${body.slice(0, -1)},"hash":"${hash}"}\n`;
    })
    .join('');
}

const recordsOf = (file: string): AuditRecord[] => readFileSync(file, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as AuditRecord);

describe('the keyed chain', () => {
  it('writes format 2 records sealed with HMAC under the key, and they verify with it', async () => {
    await writeLog(['read_file', 'delete_file', 'read_file']);
    const records = recordsOf(live);
    expect(records.map((r) => [r.v, r.key])).toEqual([[2, key.id], [2, key.id], [2, key.id]]);
    const line = readFileSync(live, 'utf8').split('\n')[0]!;
    expect(chainHash(GENESIS_HASH, openLine(line)!.body)).not.toBe(records[0]!.hash); // not plain SHA-256
    expect(await verifyAudit([live], { key })).toMatchObject({ records: 3, problems: [], unkeyed: { records: 0 }, key: key.id });
  });

  it('refuses the forged rewrite that passed before: records dropped, delete_file renamed, chain recomputed', async () => {
    await writeLog(['read_file', 'delete_file', 'delete_file', 'read_file']);
    const kept = recordsOf(live).filter((_, i) => i !== 2).map((r) => (r.name === 'delete_file' ? { ...r, name: 'read_file' } : r));
    writeFileSync(live, rechain(kept, 2));
    // What made it pass before: every plain SHA-256 link holds.
    expect(await verifyAudit([live])).toMatchObject({ problems: [expect.objectContaining({ message: expect.stringContaining('cannot be checked') })] });
    const report = await verifyAudit([live], { key });
    expect(report.problems.map((p) => p.message)).toContain(`record 0 of chain ${kept[0]!.chain} was changed: its hash does not match its contents`);
  });

  it('refuses the same rewrite downgraded to the unkeyed format', async () => {
    await writeLog(['delete_file', 'read_file']);
    const renamed = recordsOf(live).map((r) => ({ ...r, name: 'read_file' }));
    writeFileSync(live, rechain(renamed, 1));
    const { problems } = await verifyAudit([live], { key });
    expect(problems.map((p) => p.message)).toEqual([
      `record 0 of chain ${renamed[0]!.chain} is unkeyed (format 1) but dated ${JSON.stringify(renamed[0]!.time)}, not before this installation's audit key was made (${key.created}): a rewrite without the key?`,
    ]);
  });

  // Issue 20 #1: the format and key of a chain are those of its first record, whatever each record says.
  describe('a chain keeps the format and key of its first record', () => {
    /** Two keyed records, then `tail` sealed onto the same chain by someone else. */
    async function cutAndContinue(tail: (chain: string, prev: string) => string): Promise<string> {
      await writeLog(['read_file', 'delete_file']);
      const [first] = recordsOf(live);
      const kept = readFileSync(live, 'utf8').split('\n')[0]!;
      writeFileSync(live, `${kept}\n${tail(first!.chain, first!.hash)}\n`);
      return first!.chain;
    }

    it('refuses format 1 after keyed records of the chain, dated before the key or not, once per chain', async () => {
      const old = '2025-06-01T00:00:00.000Z';
      const chain = await cutAndContinue((c, prev) => {
        const one = sealRecord({ ...call('read_file'), time: old }, c, 1, prev);
        return `${one}\n${sealRecord({ ...call('read_file'), time: old }, c, 2, openLine(one)!.hash)}`;
      });
      const expected = [`record 1 of chain ${chain} is unkeyed (format 1) but its chain began keyed (audit key ${JSON.stringify(key.id)}) at record 0: records were rewritten or added without the key`];
      expect((await verifyAudit([live], { key })).problems.map((p) => p.message)).toEqual(expected);
      expect((await verifyAudit([live], { key, requireKeyed: true })).problems.map((p) => p.message)).toEqual(expected);
      // Without the key too: the keyed record cannot be checked, and the downgrade still shows.
      expect((await verifyAudit([live])).problems.map((p) => p.message)).toEqual([expect.stringContaining('cannot be checked'), ...expected]);
    });

    it('refuses a record that names another key than its chain began with', async () => {
      const other = { id: 'feedfacefeedface', secret: randomBytes(32) };
      const chain = await cutAndContinue((c, prev) => sealRecord(call('read_file'), c, 1, prev, other));
      expect((await verifyAudit([live], { key })).problems.map((p) => p.message)).toEqual([
        `chain ${chain} is sealed with audit key "feedfacefeedface" and cannot be checked: this installation's key is ${key.id}`,
        `record 1 of chain ${chain} names audit key "feedfacefeedface" but its chain began with key ${JSON.stringify(key.id)} at record 0: a chain keeps the key of its first record`,
      ]);
    });

    it('checks the date and --require-keyed on every unkeyed record, not only the first of a chain', async () => {
      const before = sealRecord(auditEvent('m', '2025-06-01T00:00:00.000Z'), 'aaaaaaaaaaaaaaaa', 0, GENESIS_HASH);
      const after = sealRecord(auditEvent('m', '2026-02-01T00:00:00.000Z'), 'aaaaaaaaaaaaaaaa', 1, openLine(before)!.hash);
      writeFileSync(live, `${before}\n${after}\n`);
      expect((await verifyAudit([live], { key })).problems).toEqual([
        { file: live, line: 2, message: `record 1 of chain aaaaaaaaaaaaaaaa is unkeyed (format 1) but dated "2026-02-01T00:00:00.000Z", not before this installation's audit key was made (${key.created}): a rewrite without the key?` },
      ]);
      const undated = sealRecord({ ...auditEvent('m'), time: 'whenever' }, 'aaaaaaaaaaaaaaaa', 1, openLine(before)!.hash);
      writeFileSync(live, `${before}\n${undated}\n`);
      expect((await verifyAudit([live], { key })).problems.map((p) => p.message)).toEqual([expect.stringContaining('record 1 of chain aaaaaaaaaaaaaaaa is unkeyed (format 1) but dated "whenever", not before')]);
      writeFileSync(live, `${before}\n`);
      expect((await verifyAudit([live], { key })).problems).toEqual([]);
      expect((await verifyAudit([live], { key, requireKeyed: true })).problems.map((p) => p.message)).toEqual([
        'record 0 of chain aaaaaaaaaaaaaaaa is unkeyed (format 1): anyone could have written it (--require-keyed)',
      ]);
    });

    it('checking one file of a rotated set, the chain keeps the format of its first record in that file', async () => {
      await writeLog(['a', 'b', 'c', 'd'], { maxBytes: 1 });
      const files = await auditFiles(live);
      expect(files.length).toBeGreaterThan(1);
      const last = recordsOf(live).at(-1)!;
      const forged = sealRecord({ ...call('delete_file'), time: '2025-06-01T00:00:00.000Z' }, last.chain, last.seq + 1, last.hash);
      writeFileSync(live, `${readFileSync(live, 'utf8')}${forged}\n`);
      const report = await verifyAudit([live], { key, partial: true });
      expect(report.continued).toEqual([last.chain]);
      expect(report.problems.map((p) => p.message)).toEqual([
        `record ${last.seq + 1} of chain ${last.chain} is unkeyed (format 1) but its chain began keyed (audit key ${JSON.stringify(key.id)}) at record ${recordsOf(live)[0]!.seq}: records were rewritten or added without the key`,
      ]);
    });

    it('quotes a chain id that is not hex, so it cannot forge a line of the report', async () => {
      const line = sealRecord(auditEvent('m', '2025-06-01T00:00:00.000Z'), 'x\\n  audit.jsonl:1: ok', 0, GENESIS_HASH); // JSON text: the chain id holds a newline
      writeFileSync(live, `${line}\n`);
      expect((await verifyAudit([live], { key, requireKeyed: true })).problems.map((p) => p.message)).toEqual([
        'record 0 of chain "x\\n  audit.jsonl:1: ok" is unkeyed (format 1): anyone could have written it (--require-keyed)',
      ]);
    });
  });

  it('refuses a made-up chain with a forged principal, in either format', async () => {
    const forged = sealRecord({ ...call('delete_file'), principal: { issuer: 'https://idp', subject: 'bob', clientId: 'c', scopes: [] } }, 'f00df00df00df00d', 0, GENESIS_HASH, {
      id: key.id,
      secret: randomBytes(32),
    });
    writeFileSync(live, `${forged}\n`);
    expect((await verifyAudit([live], { key })).problems.map((p) => p.message)).toEqual([
      'record 0 of chain f00df00df00df00d was changed: its hash does not match its contents',
    ]);
  });

  it('still verifies an old unkeyed log as what it is: unkeyed, and fails it with requireKeyed', async () => {
    const old = sealRecord(auditEvent('m', '2025-06-01T00:00:00.000Z'), 'aaaaaaaaaaaaaaaa', 0, GENESIS_HASH);
    writeFileSync(live, `${old}\n`);
    expect(await verifyAudit([live], { key })).toMatchObject({ problems: [], unkeyed: { records: 1, chains: 1 } });
    expect((await verifyAudit([live], { key, requireKeyed: true })).problems).toHaveLength(1);
  });

  it('cannot check keyed records without the key, and says so', async () => {
    await writeLog(['read_file']);
    const { problems } = await verifyAudit([live]);
    expect(problems.map((p) => p.message)).toEqual([
      `chain ${recordsOf(live)[0]!.chain} is sealed with audit key "${key.id}" and cannot be checked: this installation has no audit key`,
    ]);
  });
});

describe('a rotation set with a file missing', () => {
  it('names the file before in each rotated file, and reports a whole missing file', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    let now = Date.parse('2026-03-01T00:00:00.000Z');
    vi.setSystemTime(now);
    // Each file holds whole chains: one writer per file, so chain links cannot show a removed file.
    for (let i = 0; i < 3; i++) {
      const writer = AuditWriter.open({ file: live, maxBytes: 1, sync: false, log: createLogger('silent'), key, version: 'test' });
      writer.append(call(`tool${i}`));
      await writer.flush();
      now += 1000;
      vi.setSystemTime(now);
      await writer.close();
    }
    const files = await auditFiles(live);
    expect(files).toHaveLength(3);
    expect(await verifyAudit(files, { key })).toMatchObject({ problems: [] });
    const rotatedMarkers = recordsOf(live).filter((r) => r.method === 'audit/rotated');
    expect(rotatedMarkers.map((r) => r.file)).toEqual([basename(files[1]!)]);
    unlinkSync(files[1]!);
    const after = await auditFiles(live);
    expect((await verifyAudit(after, { key })).problems.map((p) => p.message)).toEqual([
      `audit.jsonl follows ${basename(files[1]!)}, which is missing from the log: a whole file was removed`,
    ]);
  });
});

describe('a rotation whose first write fails', () => {
  it('still names the file before, in the next write that succeeds', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.parse('2026-03-01T00:00:00.000Z'));
    let fail = false;
    const writeFn = async (fd: number, buffer: Buffer, offset: number, length: number): Promise<number> => {
      if (fail) {
        fail = false;
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      }
      return writeSync(fd, buffer, offset, length);
    };
    const writer = AuditWriter.open({ file: live, maxBytes: 1, sync: false, log: createLogger('silent'), key, version: 'test', writeFn });
    writer.append(call('a'));
    await writer.flush();
    fail = true;
    writer.append(call('b')); // rotates, then the write fails
    await writer.flush();
    writer.append(call('c'));
    await writer.flush();
    await writer.close();
    const files = await auditFiles(live);
    expect(files).toHaveLength(2);
    expect(recordsOf(live).map((r) => [r.method, r.name ?? r.file ?? r.lost])).toEqual([
      ['audit/gap', 1],
      ['tools/call', 'c'],
      ['audit/rotated', basename(files[0]!)],
    ]);
    expect(await verifyAudit(files, { key })).toMatchObject({ problems: [], lost: 1 });
  });
});

describe('seals', () => {
  it('finds records cut from the end of a chain, which the chain alone cannot show', async () => {
    await writeLog(['a', 'b', 'c']);
    const records = recordsOf(live);
    const head = records.at(-1)!;
    const seals = [{ chain: head.chain, seq: head.seq, hash: head.hash }];
    expect(await verifyAudit([live], { key, seals })).toMatchObject({ problems: [], sealed: 1 });
    writeFileSync(live, readFileSync(live, 'utf8').split('\n').slice(0, 2).join('\n') + '\n');
    expect(await verifyAudit([live], { key })).toMatchObject({ problems: [] });
    expect((await verifyAudit([live], { key, seals })).problems.map((p) => p.message)).toEqual([
      `chain ${head.chain} was sealed at record 2 but ends at record 1: records were removed from its end`,
    ]);
  });
});

describe('a key that is still loading (start-up does not wait for the keychain)', () => {
  it('holds records until the key arrives, then seals them keyed, with arguments digested under it', async () => {
    let arrive: (value: ChainKey) => void = () => undefined;
    const loading = new Promise<ChainKey>((resolve) => (arrive = resolve));
    const writer = AuditWriter.open({ file: live, maxBytes: 0, sync: false, log: createLogger('silent'), key: loading, version: 'test' });
    // Wired as openAuditLog wires it: the tap asks the writer for the digest key.
    const tap = new AuditTap({ sink: writer, session: 's', server: 'srv', transport: () => 'stdio->stdio', args: 'digest', digestKey: () => writer.argumentKey, version: 'test' });
    tap.fromClient({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'lookup', arguments: { code: '123456' } } });
    await tap.sending({ jsonrpc: '2.0', id: 1, result: { content: [] } }, 'client', false);
    const flushing = writer.flush();
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(readFileSync(live, 'utf8')).toBe('');
    arrive(key);
    await flushing;
    // Once the key is there, the tap digests under it itself: the same digest as the held record's.
    expect(writer.argumentKey).toEqual(argumentDigestKey(secret));
    tap.fromClient({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'lookup', arguments: { code: '123456' } } });
    await tap.sending({ jsonrpc: '2.0', id: 2, result: { content: [] } }, 'client', false);
    await writer.close();
    const records = recordsOf(live);
    const digest = recordArguments({ code: '123456' }, 'digest', argumentDigestKey(secret));
    expect(records.map((record) => [record.id, record.args])).toEqual([[1, digest], [2, digest]]);
    expect(records[0]).toMatchObject({ v: 2, key: key.id, name: 'lookup' });
    expect(readFileSync(live, 'utf8')).not.toContain('123456');
    expect(await verifyAudit([live], { key })).toMatchObject({ records: 2, problems: [] });
  });

  it('writes nothing when the key cannot be loaded, and a synced record learns why', async () => {
    const failure = new Error('keychain unavailable for the audit key (locked)');
    const writer = AuditWriter.open({ file: live, maxBytes: 0, sync: true, log: createLogger('silent'), key: Promise.reject(failure), version: 'test' });
    await expect(writer.append(call('delete_file'))).rejects.toBe(failure);
    await writer.close();
    expect(readFileSync(live, 'utf8')).toBe('');
  });
});
