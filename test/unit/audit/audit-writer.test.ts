import { chmodSync, chownSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { auditFiles, verifyAudit } from '../../../src/audit/audit-reader.js';
import { chainHash, GENESIS_HASH, openLine, sealRecord, type AuditEvent, type AuditRecord } from '../../../src/audit/audit-record.js';
import { AuditWriter, rotatedName, type AuditWriteFn, type AuditWriterOptions } from '../../../src/audit/audit-writer.js';
import { AirlockError } from '../../../src/errors.js';
import { createLogger } from '../../../src/log.js';
import { thrownAirlockError } from '../../helpers/thrown.js';
import { auditEvent } from '../../helpers/audit-events.js';

let dir: string;
let live: string;
const writers: AuditWriter[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'airlock-audit-writer-'));
  live = join(dir, 'audit.jsonl');
});

afterEach(async () => {
  vi.useRealTimers();
  for (const writer of writers.splice(0)) await writer.close().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

/** A writer on `live`; a long flush interval, so only the test decides when buffered records are written. */
function openWriter(options: Partial<AuditWriterOptions> = {}): AuditWriter {
  const writer = AuditWriter.open({ file: live, maxBytes: 0, sync: false, log: createLogger('silent'), flushIntervalMs: 60_000, ...options });
  writers.push(writer);
  return writer;
}

function event(method: string): AuditEvent {
  return auditEvent(method);
}

function linesOf(file: string): string[] {
  return readFileSync(file, 'utf8').split('\n').filter((line) => line !== '');
}

function recordsOf(file: string): AuditRecord[] {
  return linesOf(file).map((line) => JSON.parse(line) as AuditRecord);
}

const mode = (path: string): number => statSync(path).mode & 0o777;

describe('AuditWriter, buffered', () => {
  it('writes nothing while appending, and every record on flush()', async () => {
    const writer = openWriter();
    expect(writer.append(event('a'))).toBeUndefined();
    expect(writer.append(event('b'))).toBeUndefined();
    expect(readFileSync(live, 'utf8')).toBe('');
    await writer.flush();
    expect(recordsOf(live).map((r) => r.method)).toEqual(['a', 'b']);
  });

  it('writes what is left on close()', async () => {
    const writer = openWriter();
    writer.append(event('a'));
    await writer.close();
    expect(recordsOf(live).map((r) => r.method)).toEqual(['a']);
  });

  it('flushes by itself after flushIntervalMs', async () => {
    const writer = openWriter({ flushIntervalMs: 5 });
    writer.append(event('a'));
    for (let i = 0; i < 200 && readFileSync(live, 'utf8') === ''; i++) await delay(5);
    expect(recordsOf(live).map((r) => r.method)).toEqual(['a']);
  });

  it('flushSync() writes the buffered lines before it returns', () => {
    const writer = openWriter();
    writer.append(event('a'));
    writer.append(event('b'));
    writer.flushSync();
    expect(recordsOf(live).map((r) => r.method)).toEqual(['a', 'b']);
    writer.flushSync(); // nothing left: writes nothing twice
    expect(linesOf(live)).toHaveLength(2);
  });

  it('chains the records: one chain id, seq from 0, each prev the hash of the record before', async () => {
    const writer = openWriter();
    for (const method of ['a', 'b', 'c', 'd']) writer.append(event(method));
    await writer.flush();
    const lines = linesOf(live);
    const records = lines.map((line) => JSON.parse(line) as AuditRecord);
    expect(writer.chain).toMatch(/^[0-9a-f]{16}$/);
    expect(records.map((r) => [r.chain, r.seq, r.v])).toEqual([0, 1, 2, 3].map((seq) => [writer.chain, seq, 1]));
    expect(records[0]!.prev).toBe(GENESIS_HASH);
    for (let i = 1; i < records.length; i++) expect(records[i]!.prev).toBe(records[i - 1]!.hash);
    for (const line of lines) {
      const opened = openLine(line)!;
      expect(chainHash((JSON.parse(line) as AuditRecord).prev, opened.body)).toBe(opened.hash);
    }
  });

  it('gives two writers two chains, so no two processes share one', () => {
    expect(openWriter().chain).not.toBe(openWriter().chain);
  });

  it('drops a record appended after close, with a debug line', async () => {
    const logged: string[] = [];
    const writer = openWriter({ log: createLogger('debug', (line) => logged.push(line)) });
    await writer.close();
    expect(writer.append(event('tools/call'))).toBeUndefined();
    expect(readFileSync(live, 'utf8')).toBe('');
    expect(logged).toEqual(['[mcp-airlock] debug: audit: record after close dropped (tools/call)\n']);
  });
});

describe('AuditWriter, files', () => {
  it('creates the directory 0700 and the file 0600', () => {
    live = join(dir, 'state', 'airlock', 'audit.jsonl');
    openWriter();
    expect(mode(join(dir, 'state'))).toBe(0o700);
    expect(mode(join(dir, 'state', 'airlock'))).toBe(0o700);
    expect(mode(live)).toBe(0o600);
  });

  it('tightens an existing 0644 file to 0600 and appends to what is there', async () => {
    writeFileSync(live, 'earlier\n');
    chmodSync(live, 0o644);
    const writer = openWriter();
    expect(mode(live)).toBe(0o600);
    writer.append(event('a'));
    await writer.flush();
    expect(readFileSync(live, 'utf8').startsWith('earlier\n{"v":1,')).toBe(true);
  });

  // Issue 20: a file pre-created by another user was used as it was, its owner free to rewrite it.
  it('refuses an audit file another user owns, and leaves it as it was', () => {
    const uid = process.getuid!();
    if (uid === 0) {
      writeFileSync(live, 'planted\n', { mode: 0o666 });
      chmodSync(live, 0o666);
      chownSync(live, 65534, 65534);
    } else {
      live = '/dev/null'; // owned by root, mode 0666: what another user can leave for us
    }
    const before = statSync(live);
    const error = thrownAirlockError(() => openWriter());
    expect(error.code).toBe('AIRLOCK_AUDIT_WRITE');
    expect(error.message).toBe(`the audit log ${JSON.stringify(live)} is owned by uid ${before.uid}, not by the current user (uid ${uid}): its owner could change its records`);
    expect(error.hint).toBe('Check who created it and what is in it (mcp-airlock audit verify --audit-file <path>); then make it yours (chown) or move it away, or choose another --audit-file.');
    expect(statSync(live).mode).toBe(before.mode);
    if (uid === 0) expect(readFileSync(live, 'utf8')).toBe('planted\n');
  });

  it('tightens a file of ours that others could write to 0600, and warns that its records may have been changed', () => {
    writeFileSync(live, '');
    chmodSync(live, 0o666);
    const lines: string[] = [];
    openWriter({ log: createLogger('warn', (line) => lines.push(line)) });
    expect(mode(live)).toBe(0o600);
    expect(lines).toEqual([
      `[mcp-airlock] warn: the audit log ${JSON.stringify(live)} was writable by group or others (mode 0666); changed it to 0600. Records already in it may have been changed: run \`mcp-airlock audit verify\`.\n`,
    ]);
  });

  it('fails with AIRLOCK_AUDIT_WRITE and a hint when the file cannot be opened', () => {
    writeFileSync(join(dir, 'plain'), 'a regular file');
    live = join(dir, 'plain', 'audit.jsonl');
    const error = thrownAirlockError(() => openWriter());
    expect(error.code).toBe('AIRLOCK_AUDIT_WRITE');
    expect(error.message).toBe(`cannot open the audit log ${JSON.stringify(live)}: EEXIST: file already exists, mkdir '${join(dir, 'plain')}'`);
    expect(error.hint).toBe('Choose a writable location with --audit-file <path>, or switch the audit log off with --no-audit.');
    expect((error.cause as NodeJS.ErrnoException).code).toBe('EEXIST');
  });

  it('writes into a new live file when the old one was deleted', async () => {
    const writer = openWriter();
    writer.append(event('a'));
    await writer.flush();
    unlinkSync(live);
    writer.append(event('b'));
    await writer.flush();
    expect(recordsOf(live).map((r) => [r.method, r.seq])).toEqual([['b', 1]]);
  });
});

describe('AuditWriter, sync', () => {
  it('resolves append only once the line is in the file', async () => {
    const writer = openWriter({ sync: true });
    // A large record (as --audit-args full may make), so a write still under way would show.
    const big = { ...event('a'), args: { text: 'x'.repeat(8 * 1024 * 1024) } };
    const written = writer.append(big);
    expect(written).toBeInstanceOf(Promise);
    expect(readFileSync(live, 'utf8')).toBe('');
    const atResolution = await written!.then(() => recordsOf(live).map((r) => r.method));
    expect(atResolution).toEqual(['a']);
  });

  it('keeps the order of appends made in one tick', async () => {
    const writer = openWriter({ sync: true });
    const done = ['a', 'b', 'c', 'd'].map((method) => writer.append(event(method)));
    await Promise.all(done);
    expect(recordsOf(live).map((r) => [r.method, r.seq])).toEqual([['a', 0], ['b', 1], ['c', 2], ['d', 3]]);
  });

  // Regression test, fixed since (audit-writer.ts, append -> kick -> writeBatches): the header promises "records appended in
  // the same tick share one sync", but kick() starts writeBatches() synchronously, and it takes the
  // batch before its first await: the first record of a tick is written and synced alone, the rest
  // in a second batch. When the first append resolves, only its own line is in the file.
  it('group commit: appends made in one tick share one write', async () => {
    const writer = openWriter({ sync: true });
    const done = ['a', 'b', 'c', 'd'].map((method) => writer.append(event(method)));
    const inFileWhenFirstResolved = await done[0]!.then(() => linesOf(live).length);
    await Promise.all(done);
    expect(inFileWhenFirstResolved).toBe(4);
  });

  // Regression test, fixed since (audit-writer.ts, kick/writeBatches): `writing` is cleared in a .finally() that runs one
  // microtask after the last waiter was resolved. Code that awaits one append and appends again at
  // once finds `writing` still set, so kick() starts nothing, and the second record stays in the
  // buffer: in sync mode its promise never resolves (until close() or another append), so a held
  // answer would never reach the client.
  it('resolves an append made right after the previous one resolved', async () => {
    const writer = openWriter({ sync: true });
    await writer.append(event('a'));
    const second = writer.append(event('b'))!.then(() => 'written');
    const outcome = await Promise.race([second, delay(500).then(() => 'still pending after 500 ms')]);
    expect(outcome).toBe('written');
  });

  it('rejects with AIRLOCK_AUDIT_WRITE when the record cannot be written, and logs it once', async () => {
    const logged: string[] = [];
    live = join(dir, 'sub', 'audit.jsonl');
    const writer = openWriter({ sync: true, log: createLogger('error', (line) => logged.push(line)) });
    await writer.append(event('a'));
    await writer.flush(); // let the writer settle (see the bug above)
    rmSync(join(dir, 'sub'), { recursive: true });
    writeFileSync(join(dir, 'sub'), 'no longer a directory');
    const why = `cannot open the audit log ${JSON.stringify(live)}: EEXIST: file already exists, mkdir '${join(dir, 'sub')}'`;
    const failure = await writer.append(event('b'))!.then(() => undefined, (error: unknown) => error as AirlockError);
    expect(failure).toBeInstanceOf(AirlockError);
    expect(failure!.code).toBe('AIRLOCK_AUDIT_WRITE');
    expect(failure!.message).toBe(`cannot write the audit log ${JSON.stringify(live)}: ${why}`);
    expect(failure!.hint).toBe('Free disk space or fix the permissions, or choose another --audit-file.');
    await writer.flush();
    await expect(writer.append(event('c'))).rejects.toMatchObject({ code: 'AIRLOCK_AUDIT_WRITE' });
    expect(logged).toEqual([`[mcp-airlock] error: audit: cannot write ${JSON.stringify(live)}: ${why}\n`]);
  });
});

describe('AuditWriter, rotation', () => {
  const start = Date.parse('2026-01-02T03:04:05.678Z');
  const stampAt = (ms: number) => new Date(ms).toISOString().replace(/[-:.]/g, '');

  it('names a rotated file after the live one, the time and the pid', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(start);
    expect(rotatedName('/var/log/airlock/audit.jsonl', 0)).toBe(`/var/log/airlock/audit-20260102T030405678Z-${process.pid}-0000.jsonl`);
    expect(rotatedName('/x/audit', 12)).toBe(`/x/audit-20260102T030405678Z-${process.pid}-0012.jsonl`);
  });

  it('rotates before a batch would pass maxBytes, and the chain carries on across files', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(start);
    // Every record here has the same length: same time format, 16-hex chain, one-digit seq.
    const lineBytes = Buffer.byteLength(`${sealRecord(event('m0'), '0'.repeat(16), 0, GENESIS_HASH)}\n`);
    const maxBytes = Math.floor(lineBytes * 2.5); // two records per file
    const writer = openWriter({ maxBytes });
    for (let i = 0; i < 7; i++) {
      vi.setSystemTime(start + i * 1000); // one rotation per second at most (see the same-millisecond test)
      writer.append(event(`m${i}`));
      await writer.flush();
    }
    const files = await auditFiles(live);
    expect(files.map((f) => basename(f))).toEqual([
      `audit-${stampAt(start + 2000)}-${process.pid}-0000.jsonl`,
      `audit-${stampAt(start + 4000)}-${process.pid}-0001.jsonl`,
      `audit-${stampAt(start + 6000)}-${process.pid}-0002.jsonl`,
      'audit.jsonl',
    ]);
    expect(files.map((f) => recordsOf(f).map((r) => r.seq))).toEqual([[0, 1], [2, 3], [4, 5], [6]]);
    for (const file of files) expect(statSync(file).size).toBeLessThanOrEqual(maxBytes);
    const report = await verifyAudit(files);
    expect(report).toMatchObject({ records: 7, chains: 1, problems: [], continued: [] });
    // The live file alone continues a chain that started in a rotated file.
    expect(await verifyAudit([live], { partial: true })).toMatchObject({ problems: [], continued: [writer.chain] });
  });

  it('does not rotate a file that is still empty, however big the first batch', async () => {
    const writer = openWriter({ maxBytes: 10 });
    writer.append(event('a'));
    writer.append(event('b'));
    await writer.flush();
    expect(readdirSync(dir)).toEqual(['audit.jsonl']);
    expect(linesOf(live)).toHaveLength(2);
  });

  // Regression test, fixed since (audit-writer.ts, rotatedName + followRotation): the rotated name has millisecond
  // resolution, and rename() silently replaces an existing file. Two rotations by one process in
  // the same millisecond (a small --audit-max-size, or one batch larger than it) give both files the
  // same name: the second rename overwrites the first rotated file and its records are lost.
  it('loses no records when it rotates twice in the same millisecond', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(start);
    const writer = openWriter({ maxBytes: 10 }); // every non-empty file rotates before the next batch
    for (let i = 0; i < 4; i++) {
      writer.append(event(`m${i}`));
      await writer.flush();
    }
    const files = await auditFiles(live);
    const report = await verifyAudit(files);
    expect(report.problems).toEqual([]);
    expect(report.records).toBe(4);
  });
});

describe('AuditWriter, several writers on one file', () => {
  it('interleaves whole lines from two chains, and both verify', async () => {
    const first = openWriter();
    const second = openWriter();
    for (let i = 0; i < 20; i++) {
      first.append(event(`first-${i}`));
      second.append(event(`second-${i}`));
      if (i % 3 === 0) await Promise.all([first.flush(), second.flush()]);
    }
    await Promise.all([first.flush(), second.flush()]);
    const records = recordsOf(live); // every line parses: none were torn or mixed
    expect(records).toHaveLength(40);
    expect(records.filter((r) => r.chain === first.chain).map((r) => r.method)).toEqual(Array.from({ length: 20 }, (_, i) => `first-${i}`));
    expect(new Set(records.map((r) => r.chain))).toEqual(new Set([first.chain, second.chain]));
    expect(await verifyAudit([live])).toMatchObject({ records: 40, chains: 2, problems: [] });
  });

  it('follows a rotation made by another writer: its next batch goes to the new live file', async () => {
    const first = openWriter();
    const second = openWriter({ maxBytes: 1 });
    first.append(event('first-0'));
    await first.flush();
    second.append(event('second-0')); // the file is not empty and 1 byte is the limit: rotates
    await second.flush();
    first.append(event('first-1'));
    await first.flush();
    const files = await auditFiles(live);
    expect(files).toHaveLength(2);
    expect(recordsOf(files[0]!).map((r) => r.method)).toEqual(['first-0']);
    expect(recordsOf(live).map((r) => r.method)).toEqual(['second-0', 'first-1']);
    expect(await verifyAudit(files)).toMatchObject({ records: 3, chains: 2, problems: [] });
  });

  it('follows a rename made by another process', async () => {
    const writer = openWriter();
    writer.append(event('a'));
    await writer.flush();
    const rotated = join(dir, 'audit-20260101T000000000Z-1.jsonl');
    renameSync(live, rotated);
    writer.append(event('b'));
    await writer.flush();
    expect(recordsOf(rotated).map((r) => r.method)).toEqual(['a']);
    expect(recordsOf(live).map((r) => r.method)).toEqual(['b']);
    expect(mode(live)).toBe(0o600);
  });
});

describe('AuditWriter.close', () => {
  // Regression test, fixed since (audit-writer.ts, close): `closed` is set only after `await this.flush()`, so two close()
  // calls made together both pass the guard and both call closeSync(fd): the second throws EBADF
  // (or, had the number been reused meanwhile, closes someone else's file).
  it('can be called twice at once', async () => {
    const writer = openWriter();
    writer.append(event('a'));
    await expect(Promise.all([writer.close(), writer.close()])).resolves.toEqual([undefined, undefined]);
    expect(linesOf(live)).toHaveLength(1);
  });

  it('is a no-op the second time', async () => {
    const writer = openWriter();
    await writer.close();
    await expect(writer.close()).resolves.toBeUndefined();
  });
});

// Issue 14 #8: a full disk without --audit-sync logged one line for the whole outage, lost
// records without a trace, and the next write landed on the torn line, destroying one more record.
describe('AuditWriter, when writes fail', () => {
  const enospc = (): Error => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });

  it('cuts off a torn line, repeats the warning while losing records, and records a gap marker with the count', async () => {
    const logged: string[] = [];
    let failing = false;
    let torn = false;
    const writeFn: AuditWriteFn = async (fd, buffer, offset, length) => {
      if (!failing) return writeSync(fd, buffer, offset, length);
      if (!torn) {
        torn = true;
        return writeSync(fd, buffer, offset, Math.floor(length / 3)); // a short write: the disk filled mid-line
      }
      throw enospc();
    };
    const writer = openWriter({ writeFn, warnIntervalMs: 0, log: createLogger('warn', (line) => logged.push(line)) });
    writer.append(event('a'));
    await writer.flush();
    failing = true;
    writer.append(event('b'));
    writer.append(event('c'));
    await writer.flush();
    expect(readFileSync(live, 'utf8').endsWith('\n')).toBe(true); // the torn part is gone
    writer.append(event('d'));
    await writer.flush();
    expect(writer.lostRecords).toBe(3);
    failing = false;
    writer.append(event('e'));
    await writer.flush();
    const records = recordsOf(live); // every line parses: nothing was written onto a torn line
    expect(records.map((r) => [r.method, r.seq, r.lost])).toEqual([
      ['a', 0, undefined],
      ['audit/gap', 1, 3],
      ['e', 2, undefined],
    ]);
    expect(await verifyAudit([live])).toMatchObject({ problems: [], lost: 3 });
    const file = JSON.stringify(live);
    expect(logged).toEqual([
      `[mcp-airlock] error: audit: cannot write ${file}: ENOSPC: no space left on device, write\n`,
      expect.stringMatching(/^\[mcp-airlock\] error: audit: still cannot write .*: ENOSPC: no space left on device, write; 3 records lost since \d{4}-/),
      `[mcp-airlock] warn: audit: writing to ${file} again; 3 records were lost (recorded as an audit/gap marker)\n`,
    ]);
  });

  it('starts on a new line when the file ends in a line a crash cut short', async () => {
    writeFileSync(live, `${sealRecord(event('x'), 'ffffffffffffffff', 0, GENESIS_HASH)}\n{"v":2,"chain":"cut`);
    const writer = openWriter();
    writer.append(event('a'));
    await writer.flush();
    const lines = readFileSync(live, 'utf8').split('\n');
    expect(lines[1]).toBe('{"v":2,"chain":"cut');
    expect((JSON.parse(lines[2]!) as AuditRecord).method).toBe('a');
  });

  it('refuses a symbolic link as the audit file, and leaves its target alone', () => {
    const target = join(dir, 'elsewhere');
    writeFileSync(target, 'not yours\n', { mode: 0o644 });
    symlinkSync(target, live);
    const error = thrownAirlockError(() => openWriter());
    expect(error.code).toBe('AIRLOCK_AUDIT_WRITE');
    expect(error.message).toBe(`the audit log ${JSON.stringify(live)} is a symbolic link; airlock does not follow it`);
    expect(mode(target)).toBe(0o644);
    expect(readFileSync(target, 'utf8')).toBe('not yours\n');
  });
});
