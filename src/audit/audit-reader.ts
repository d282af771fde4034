/**
 * Reading the audit log back: which files make it up (rotated ones, oldest first, then the live
 * one), each record in order, and `verify`, which walks every chain and reports the first record
 * that was changed, removed, reordered or inserted.
 */
import { createReadStream } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { StringDecoder } from 'node:string_decoder';
import { setTimeout as delay } from 'node:timers/promises';
import { AirlockError, describeError, quote } from '../errors.js';
import { chainHash, GENESIS_HASH, openLine, type AuditRecord } from './audit-record.js';

/** The files of one audit log, oldest first: `audit-<time>-<pid>.jsonl`..., then `audit.jsonl`. */
export async function auditFiles(liveFile: string): Promise<string[]> {
  const dir = dirname(liveFile);
  const ext = extname(liveFile) || '.jsonl';
  const stem = basename(liveFile, extname(liveFile));
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new AirlockError('AIRLOCK_AUDIT_READ', `cannot read the audit directory ${quote(dir)}: ${describeError(error)}`, { cause: error });
  }
  const rotated = names.filter((name) => name.startsWith(`${stem}-`) && name.endsWith(ext) && /^\d{8}T\d{9}Z-\d+(-\d{4,})?$/.test(name.slice(stem.length + 1, -ext.length)));
  rotated.sort();
  const files = rotated.map((name) => join(dir, name));
  if (names.includes(basename(liveFile))) files.push(liveFile);
  return files;
}

export interface AuditLine {
  file: string;
  /** 1-based line number in its file. */
  line: number;
  text: string;
  /** False for the last line of a file when it has no newline (a write cut short). */
  complete: boolean;
}

/** Every line of the files, in order, without holding a file in memory. */
export async function* readLines(files: string[]): AsyncGenerator<AuditLine> {
  for (const file of files) {
    let number = 0;
    let previous: string | undefined;
    const stream = createReadStream(file, { encoding: 'utf8' });
    let endsWithNewline = true;
    stream.on('data', (chunk) => (endsWithNewline = (chunk as string).endsWith('\n')));
    try {
      for await (const text of createInterface({ input: stream, crlfDelay: Infinity })) {
        if (previous !== undefined) yield { file, line: number, text: previous, complete: true };
        number += 1;
        previous = text;
      }
    } catch (error) {
      throw new AirlockError('AIRLOCK_AUDIT_READ', `cannot read ${quote(file)}: ${describeError(error)}`, { cause: error });
    }
    if (previous !== undefined) yield { file, line: number, text: previous, complete: endsWithNewline };
  }
}

/** Parse a line into a record; undefined for a line that is not one. */
export function parseRecord(text: string): AuditRecord | undefined {
  try {
    const value = JSON.parse(text) as AuditRecord;
    const ok = typeof value === 'object' && value !== null && typeof value.chain === 'string' && Number.isInteger(value.seq) && typeof value.prev === 'string';
    return ok ? value : undefined;
  } catch {
    return undefined;
  }
}

export interface VerifyProblem {
  file: string;
  line: number;
  message: string;
}

export interface VerifyReport {
  files: string[];
  records: number;
  chains: number;
  /** Empty when every chain is intact. */
  problems: VerifyProblem[];
  /** Chains that begin in an earlier file than the ones checked (only when checking one file). */
  continued: string[];
}

export interface VerifyOptions {
  /** Checking a single file: a chain may start before it. */
  partial?: boolean;
  /** Stop after this many problems. */
  maxProblems?: number;
}

/**
 * Walk every record: its hash must match its text (not changed), its `prev` the hash of the
 * previous record of its chain and its `seq` one more (none removed, reordered or inserted), and
 * each chain must start at seq 0 from the all-zero hash (none removed from the start).
 */
export async function verifyAudit(files: string[], options: VerifyOptions = {}): Promise<VerifyReport> {
  const maxProblems = options.maxProblems ?? 20;
  const chains = new Map<string, { seq: number; hash: string }>();
  const report: VerifyReport = { files, records: 0, chains: 0, problems: [], continued: [] };
  const problem = (at: AuditLine, message: string): boolean => {
    report.problems.push({ file: at.file, line: at.line, message });
    return report.problems.length >= maxProblems;
  };
  for await (const at of readLines(files)) {
    if (at.text === '') continue;
    report.records += 1;
    const sealed = openLine(at.text);
    const record = parseRecord(at.text);
    if (!sealed || !record) {
      const what = at.complete ? 'is not an audit record' : 'is an incomplete record (the write was cut short)';
      if (problem(at, `line ${at.line} ${what}`)) break;
      continue;
    }
    if (chainHash(record.prev, sealed.body) !== sealed.hash) {
      // Carry on from the hash it claims, so one changed record is one problem, not a cascade.
      chains.set(record.chain, { seq: record.seq, hash: sealed.hash });
      if (problem(at, `record ${record.seq} of chain ${record.chain} was changed: its hash does not match its contents`)) break;
      continue;
    }
    const last = chains.get(record.chain);
    if (last === undefined) {
      if (record.seq === 0 && record.prev !== GENESIS_HASH) {
        if (problem(at, `chain ${record.chain} starts with a record 0 that does not start from the all-zero hash: the first record was replaced`)) break;
      } else if (record.seq !== 0) {
        if (options.partial) report.continued.push(record.chain);
        else if (problem(at, `chain ${record.chain} starts at record ${record.seq}: records 0 to ${record.seq - 1} are missing`)) break;
      }
    } else if (record.seq !== last.seq + 1) {
      const message = record.seq > last.seq + 1
        ? `chain ${record.chain}: records ${last.seq + 1} to ${record.seq - 1} are missing before record ${record.seq}`
        : `chain ${record.chain}: record ${record.seq} appears again or out of order after record ${last.seq}`;
      if (problem(at, message)) break;
    } else if (record.prev !== last.hash) {
      if (problem(at, `chain ${record.chain}: record ${record.seq} does not follow record ${last.seq} (its prev hash differs)`)) break;
    }
    chains.set(record.chain, { seq: record.seq, hash: sealed.hash });
  }
  report.chains = chains.size;
  return report;
}

/**
 * Lines appended to the live file from `start` on, as they come (for `audit tail -f`). Polls, so
 * it works on every platform and file system; follows a rotation by reading the rest of the old
 * file and then the new one from its start. Ends when `signal` aborts.
 */
export async function* followLines(file: string, start: number, signal: AbortSignal, intervalMs = 200): AsyncGenerator<string> {
  let handle = await open(file, 'r');
  let position = start;
  let inode = (await handle.stat()).ino;
  let partial = '';
  let decoder = new StringDecoder('utf8');
  const buffer = Buffer.alloc(64 * 1024);
  try {
    while (!signal.aborted) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
      if (bytesRead > 0) {
        position += bytesRead;
        const text = partial + decoder.write(buffer.subarray(0, bytesRead));
        const lines = text.split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) if (line !== '') yield line;
        continue;
      }
      const current = await stat(file).catch(() => undefined);
      if (current && current.ino !== inode) {
        await handle.close();
        handle = await open(file, 'r');
        inode = (await handle.stat()).ino;
        position = 0;
        partial = '';
        decoder = new StringDecoder('utf8');
        continue;
      }
      await delay(intervalMs, undefined, { signal }).catch(() => undefined);
    }
  } finally {
    await handle.close();
  }
}
