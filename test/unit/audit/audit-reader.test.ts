import { appendFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { auditFiles, followLines, parseRecord, readLines, verifyAudit, type AuditLine } from '../../../src/audit/audit-reader.js';
import { chainHash, GENESIS_HASH, openLine, sealRecord, type AuditEvent } from '../../../src/audit/audit-record.js';
import { AirlockError } from '../../../src/errors.js';
import { auditEvent } from '../../helpers/audit-events.js';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'airlock-audit-reader-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function event(method: string): AuditEvent {
  return auditEvent(method, '2026-11-23T13:45:00.123Z');
}

/** The lines a writer would write for one chain: records `from`..`from + count - 1`. */
function chainLines(chain: string, count: number, from = 0, prev = GENESIS_HASH): string[] {
  const lines: string[] = [];
  for (let seq = from; seq < from + count; seq++) {
    const line = sealRecord(event(`m${seq}`), chain, seq, prev);
    prev = openLine(line)!.hash;
    lines.push(line);
  }
  return lines;
}

function writeLines(name: string, lines: string[], trailingNewline = true): string {
  const file = join(dir, name);
  writeFileSync(file, lines.join('\n') + (trailingNewline && lines.length > 0 ? '\n' : ''));
  return file;
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

const CHAIN = 'aaaaaaaaaaaaaaaa';

describe('auditFiles', () => {
  it('lists rotated files oldest first by name, then the live file, and ignores the rest', async () => {
    for (const name of [
      'audit.jsonl',
      'audit-20261123T134500123Z-4242.jsonl',
      'audit-20250101T000000000Z-99.jsonl',
      'audit-20261123T134500123Z-17.jsonl',
      'audit-old.jsonl', // not a rotation stamp
      'audit-20261123T134500123Z-4242.txt', // another extension
      'audit-20261123T1345001Z-1.jsonl', // a short stamp
      'other-20261123T134500123Z-1.jsonl', // another log
      'audit.jsonl.bak',
    ]) writeFileSync(join(dir, name), '');
    const files = await auditFiles(join(dir, 'audit.jsonl'));
    expect(files).toEqual([
      join(dir, 'audit-20250101T000000000Z-99.jsonl'),
      join(dir, 'audit-20261123T134500123Z-17.jsonl'),
      join(dir, 'audit-20261123T134500123Z-4242.jsonl'),
      join(dir, 'audit.jsonl'),
    ]);
  });

  it('lists rotated files without a live one, and nothing for a missing directory', async () => {
    writeFileSync(join(dir, 'audit-20261123T134500123Z-1.jsonl'), '');
    expect(await auditFiles(join(dir, 'audit.jsonl'))).toEqual([join(dir, 'audit-20261123T134500123Z-1.jsonl')]);
    expect(await auditFiles(join(dir, 'missing', 'audit.jsonl'))).toEqual([]);
  });

  it('fails with AIRLOCK_AUDIT_READ when the directory cannot be read', async () => {
    writeFileSync(join(dir, 'plain'), '');
    const error = await auditFiles(join(dir, 'plain', 'audit.jsonl')).then(
      () => undefined,
      (e: unknown) => e as AirlockError,
    );
    expect(error).toBeInstanceOf(AirlockError);
    expect(error!.code).toBe('AIRLOCK_AUDIT_READ');
    expect(error!.message).toBe(`cannot read the audit directory ${JSON.stringify(join(dir, 'plain'))}: ENOTDIR: not a directory, scandir '${join(dir, 'plain')}'`);
  });
});

describe('readLines', () => {
  it('yields each line with its file and 1-based number, and says whether the last one ended', async () => {
    const first = writeLines('a.jsonl', ['one', 'two']);
    const second = writeLines('b.jsonl', ['three', '', 'four'], false);
    const empty = writeLines('c.jsonl', []);
    expect(await collect(readLines([first, empty, second]))).toEqual<AuditLine[]>([
      { file: first, line: 1, text: 'one', complete: true },
      { file: first, line: 2, text: 'two', complete: true },
      { file: second, line: 1, text: 'three', complete: true },
      { file: second, line: 2, text: '', complete: true },
      { file: second, line: 3, text: 'four', complete: false },
    ]);
  });

  it('sees the end of a file larger than one read chunk', async () => {
    const long = 'x'.repeat(100 * 1024);
    const file = writeLines('big.jsonl', [long, long], false);
    const lines = await collect(readLines([file]));
    expect(lines.map((l) => [l.line, l.text.length, l.complete])).toEqual([[1, long.length, true], [2, long.length, false]]);
  });

  it('fails with AIRLOCK_AUDIT_READ when a file cannot be read', async () => {
    const missing = join(dir, 'missing.jsonl');
    await expect(collect(readLines([missing]))).rejects.toMatchObject({
      code: 'AIRLOCK_AUDIT_READ',
      message: `cannot read ${JSON.stringify(missing)}: ENOENT: no such file or directory, open '${missing}'`,
    });
  });
});

describe('parseRecord', () => {
  it('takes objects with a string chain, an integer seq and a string prev, and nothing else', () => {
    expect(parseRecord('{"chain":"c","seq":0,"prev":"p"}')).toEqual({ chain: 'c', seq: 0, prev: 'p' });
    expect(parseRecord('{"chain":"c","seq":0}')).toBeUndefined();
    expect(parseRecord('{"chain":"c","seq":0.5,"prev":"p"}')).toBeUndefined();
    expect(parseRecord('{"chain":"c","seq":"0"}')).toBeUndefined();
    expect(parseRecord('{"seq":0}')).toBeUndefined();
    expect(parseRecord('null')).toBeUndefined();
    expect(parseRecord('[1]')).toBeUndefined();
    expect(parseRecord('{"chain":')).toBeUndefined();
  });
});

describe('verifyAudit', () => {
  it('passes intact chains, interleaved and spread over files', async () => {
    const a = chainLines(CHAIN, 4);
    const b = chainLines('bbbbbbbbbbbbbbbb', 3);
    const first = writeLines('1.jsonl', [a[0]!, b[0]!, a[1]!]);
    const second = writeLines('2.jsonl', [b[1]!, '', a[2]!, a[3]!, b[2]!]);
    expect(await verifyAudit([first, second])).toEqual({ files: [first, second], records: 7, chains: 2, problems: [], continued: [], unkeyed: { records: 7, chains: 2 }, lost: 0, sealed: 0 });
  });

  it('passes no files and empty files', async () => {
    expect(await verifyAudit([])).toEqual({ files: [], records: 0, chains: 0, problems: [], continued: [], unkeyed: { records: 0, chains: 0 }, lost: 0, sealed: 0 });
    const empty = writeLines('empty.jsonl', []);
    expect(await verifyAudit([empty])).toMatchObject({ records: 0, problems: [] });
  });

  it('finds a changed field whose hash was kept, and only that record', async () => {
    const lines = chainLines(CHAIN, 4);
    lines[2] = lines[2]!.replace('"method":"m2"', '"method":"mX"');
    const file = writeLines('a.jsonl', lines);
    const report = await verifyAudit([file]);
    expect(report.problems).toEqual([{ file, line: 3, message: `record 2 of chain ${CHAIN} was changed: its hash does not match its contents` }]);
    expect(report).toMatchObject({ records: 4, chains: 1 });
  });

  it('finds a changed field whose hash was recomputed: the next record does not follow it', async () => {
    const lines = chainLines(CHAIN, 3);
    const forged = sealRecord(event('forged'), CHAIN, 1, openLine(lines[0]!)!.hash);
    lines[1] = forged;
    const file = writeLines('a.jsonl', lines);
    expect((await verifyAudit([file])).problems).toEqual([{ file, line: 3, message: `chain ${CHAIN}: record 2 does not follow record 1 (its prev hash differs)` }]);
  });

  it('finds records deleted from the middle', async () => {
    const lines = chainLines(CHAIN, 6);
    const file = writeLines('a.jsonl', [lines[0]!, lines[1]!, lines[4]!, lines[5]!]);
    expect((await verifyAudit([file])).problems).toEqual([{ file, line: 3, message: `chain ${CHAIN}: records 2 to 3 are missing before record 4` }]);
  });

  it('finds a deleted first record', async () => {
    const lines = chainLines(CHAIN, 3);
    const file = writeLines('a.jsonl', lines.slice(1));
    expect((await verifyAudit([file])).problems).toEqual([{ file, line: 1, message: `chain ${CHAIN} starts at record 1: records 0 to 0 are missing` }]);
  });

  it('finds two records swapped', async () => {
    const lines = chainLines(CHAIN, 4);
    const file = writeLines('a.jsonl', [lines[0]!, lines[2]!, lines[1]!, lines[3]!]);
    expect((await verifyAudit([file])).problems).toEqual([
      { file, line: 2, message: `chain ${CHAIN}: records 1 to 1 are missing before record 2` },
      { file, line: 3, message: `chain ${CHAIN}: record 1 appears again or out of order after record 2` },
      // Record 2 is not missing, it came early; the message after a swap is a consequence of the first two.
      { file, line: 4, message: `chain ${CHAIN}: records 2 to 2 are missing before record 3` },
    ]);
  });

  it('finds a record repeated', async () => {
    const lines = chainLines(CHAIN, 2);
    const file = writeLines('a.jsonl', [lines[0]!, lines[1]!, lines[1]!]);
    expect((await verifyAudit([file])).problems).toEqual([{ file, line: 3, message: `chain ${CHAIN}: record 1 appears again or out of order after record 1` }]);
  });

  it('finds a forged record appended with a correct-looking hash but the wrong prev', async () => {
    const lines = chainLines(CHAIN, 3);
    const forged = sealRecord(event('forged'), CHAIN, 3, 'f'.repeat(64)); // hash right for its own prev
    const file = writeLines('a.jsonl', [...lines, forged]);
    expect((await verifyAudit([file])).problems).toEqual([{ file, line: 4, message: `chain ${CHAIN}: record 3 does not follow record 2 (its prev hash differs)` }]);
  });

  it('finds a last line cut short mid-record', async () => {
    const lines = chainLines(CHAIN, 3);
    const file = writeLines('a.jsonl', [lines[0]!, lines[1]!, lines[2]!.slice(0, 100)], false);
    expect((await verifyAudit([file])).problems).toEqual([{ file, line: 3, message: 'line 3 is an incomplete record (the write was cut short)' }]);
  });

  it('finds a line that is not an audit record: not JSON, or JSON without the hash at its end', async () => {
    const lines = chainLines(CHAIN, 2);
    const file = writeLines('a.jsonl', [lines[0]!, 'hello, I am not JSON', '{"chain":"x","seq":0}', lines[1]!]);
    const report = await verifyAudit([file]);
    expect(report.problems).toEqual([
      { file, line: 2, message: 'line 2 is not an audit record' },
      { file, line: 3, message: 'line 3 is not an audit record' },
    ]);
    expect(report.records).toBe(4);
  });

  it('partial: takes a chain that starts before the files checked, and lists it as continued', async () => {
    const lines = chainLines(CHAIN, 6);
    const file = writeLines('a.jsonl', lines.slice(3));
    expect(await verifyAudit([file], { partial: true })).toEqual({ files: [file], records: 3, chains: 1, problems: [], continued: [CHAIN], unkeyed: { records: 3, chains: 1 }, lost: 0, sealed: 0 });
    expect((await verifyAudit([file])).problems).toEqual([{ file, line: 1, message: `chain ${CHAIN} starts at record 3: records 0 to 2 are missing` }]);
  });

  it('partial: still checks the records after the first', async () => {
    const lines = chainLines(CHAIN, 6);
    const file = writeLines('a.jsonl', [lines[3]!, lines[5]!]);
    expect((await verifyAudit([file], { partial: true })).problems).toEqual([{ file, line: 2, message: `chain ${CHAIN}: records 4 to 4 are missing before record 5` }]);
  });

  it('stops after maxProblems', async () => {
    const file = writeLines('a.jsonl', ['x', 'y', 'z', ...chainLines(CHAIN, 2)]);
    const report = await verifyAudit([file], { maxProblems: 2 });
    expect(report.problems.map((p) => p.message)).toEqual(['line 1 is not an audit record', 'line 2 is not an audit record']);
    expect(report.records).toBe(2); // stopped reading there
  });

  it('stops after maxProblems when sealed heads differ too (the seal check used to break only its own loop)', async () => {
    const a = chainLines(CHAIN, 3);
    const b = chainLines('bbbbbbbbbbbbbbbb', 3);
    const file = writeLines('a.jsonl', [a[0]!, b[0]!, a[1]!, b[1]!, a[2]!, b[2]!]);
    const wrong = '1'.repeat(64);
    const seals = [0, 1, 2].flatMap((seq) => [{ chain: CHAIN, seq, hash: wrong }, { chain: 'bbbbbbbbbbbbbbbb', seq, hash: wrong }]);
    const report = await verifyAudit([file], { maxProblems: 2, seals });
    expect(report.problems).toHaveLength(2);
    expect(report.records).toBe(2);
  });

  it('withHeads: the last record of every chain, from the same walk', async () => {
    const a = chainLines(CHAIN, 3);
    const b = chainLines('bbbbbbbbbbbbbbbb', 2);
    const file = writeLines('a.jsonl', [a[0]!, b[0]!, a[1]!, b[1]!, a[2]!]);
    const report = await verifyAudit([file], { withHeads: true });
    expect(report.problems).toEqual([]);
    expect(report.heads).toEqual([
      { chain: CHAIN, seq: 2, hash: openLine(a[2]!)!.hash },
      { chain: 'bbbbbbbbbbbbbbbb', seq: 1, hash: openLine(b[1]!)!.hash },
    ]);
    expect((await verifyAudit([file])).heads).toBeUndefined();
  });

  // Regression test, fixed since (audit-reader.ts:120): parseRecord checks only `chain` and `seq`, and chainHash(record.prev, ...)
  // is called with whatever `prev` is. A line ending in a well-formed hash member but with no (or a
  // non-string) `prev` makes createHash().update() throw a TypeError out of verifyAudit: `audit verify`
  // on a damaged or tampered file crashes (AIRLOCK_INTERNAL) instead of reporting the line.
  it('reports a record without a prev member instead of throwing', async () => {
    const lines = chainLines(CHAIN, 1);
    const file = writeLines('a.jsonl', [lines[0]!, `{"chain":"${CHAIN}","seq":1,"hash":"${'0'.repeat(64)}"}`]);
    const report = await verifyAudit([file]).catch((error: unknown) => String(error));
    expect(report).toMatchObject({ problems: [{ file, line: 2 }] });
  });

  // Regression test, fixed since (audit-reader.ts:128-130): a first record with seq 0 but a prev other than the all-zero hash
  // (its own hash correct) is reported as "starts at record 0: records 0 to -1 are missing", which
  // names no real record. It should say that record 0 does not start from the all-zero hash.
  it('names a chain start whose prev is not the all-zero hash sensibly', async () => {
    const line = sealRecord(event('m0'), CHAIN, 0, '1'.repeat(64));
    const file = writeLines('a.jsonl', [line]);
    const { problems } = await verifyAudit([file]);
    expect(problems).toHaveLength(1);
    expect(problems[0]!.message).not.toContain('records 0 to -1');
  });

  it('carries on from a changed record, so the rest of its chain still checks', async () => {
    const lines = chainLines(CHAIN, 5);
    lines[1] = lines[1]!.replace('"method":"m1"', '"method":"mX"');
    const file = writeLines('a.jsonl', [lines[0]!, lines[1]!, lines[2]!, lines[4]!]);
    expect((await verifyAudit([file])).problems.map((p) => p.message)).toEqual([
      `record 1 of chain ${CHAIN} was changed: its hash does not match its contents`,
      `chain ${CHAIN}: records 3 to 3 are missing before record 4`,
    ]);
  });

  it('hashes exactly as the record module does', () => {
    const [line] = chainLines(CHAIN, 1);
    expect(chainHash(GENESIS_HASH, openLine(line!)!.body)).toBe(openLine(line!)!.hash);
  });
});

describe('followLines', () => {
  const INTERVAL = 5;
  /** Poll a pending next() without consuming it twice. */
  function pending<T>(promise: Promise<T>): { settled: () => boolean; promise: Promise<T> } {
    let settled = false;
    void promise.then(() => (settled = true), () => (settled = true));
    return { settled: () => settled, promise };
  }

  it('yields the lines appended after start, not those before', async () => {
    const file = writeLines('audit.jsonl', ['old-1', 'old-2']);
    const controller = new AbortController();
    const lines = followLines(file, Buffer.byteLength('old-1\nold-2\n'), controller.signal, INTERVAL);
    appendFileSync(file, 'new-1\nnew-2\n');
    expect((await lines.next()).value).toBe('new-1');
    expect((await lines.next()).value).toBe('new-2');
    appendFileSync(file, 'new-3\n');
    expect((await lines.next()).value).toBe('new-3');
    controller.abort();
    expect(await lines.next()).toEqual({ done: true, value: undefined });
  });

  it('yields a line written in two pieces once, whole, even when a character is split', async () => {
    const file = writeLines('audit.jsonl', []);
    const controller = new AbortController();
    const lines = followLines(file, 0, controller.signal, INTERVAL);
    const whole = Buffer.from('{"name":"café"}\n');
    const cut = whole.indexOf(0xc3) + 1; // inside the two bytes of "é"
    appendFileSync(file, whole.subarray(0, cut));
    const next = pending(lines.next());
    await delay(INTERVAL * 6); // several polls see the first piece
    expect(next.settled()).toBe(false);
    appendFileSync(file, whole.subarray(cut));
    expect((await next.promise).value).toBe('{"name":"café"}');
    controller.abort();
    await lines.return(undefined);
  });

  it('follows a rotation: the rest of the old file, then the new one from its start', async () => {
    const live = writeLines('audit.jsonl', []);
    const controller = new AbortController();
    const lines = followLines(live, 0, controller.signal, INTERVAL);
    appendFileSync(live, 'before\n');
    expect((await lines.next()).value).toBe('before');
    const rotated = join(dir, 'audit-20261123T134500123Z-1.jsonl');
    renameSync(live, rotated);
    appendFileSync(rotated, 'late in the old file\n'); // another process had not noticed yet
    writeFileSync(live, 'first in the new file\n');
    expect((await lines.next()).value).toBe('late in the old file');
    expect((await lines.next()).value).toBe('first in the new file');
    controller.abort();
    await lines.return(undefined);
  });

  it('ends when the signal aborts while it waits', async () => {
    const file = writeLines('audit.jsonl', []);
    const controller = new AbortController();
    const lines = followLines(file, 0, controller.signal, 60_000);
    const next = lines.next();
    await delay(20);
    const started = Date.now();
    controller.abort();
    expect(await next).toEqual({ done: true, value: undefined });
    expect(Date.now() - started).toBeLessThan(1000); // not after the 60 s poll
  });

  it('fails when the file does not exist', async () => {
    mkdirSync(join(dir, 'sub'));
    await expect(followLines(join(dir, 'sub', 'missing.jsonl'), 0, new AbortController().signal).next()).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
