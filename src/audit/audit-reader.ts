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
import { chainHash, GENESIS_HASH, keyedChainHash, openLine, UNKEYED_FORMAT_VERSION, type AuditRecord, type ChainKey } from './audit-record.js';

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
  /** Records and chains in format 1 (plain SHA-256, before the audit key): they show accidents, not a rewrite. */
  unkeyed: { records: number; chains: number };
  /** The id of the key the keyed records were checked with, when there were any. */
  key?: string;
  /** Records the writer lost to failed writes, as its audit/gap markers say. */
  lost: number;
  /** Sealed chain heads checked (`--seal`). */
  sealed: number;
  /** With `withHeads`: the last record of every chain, as checked (what `audit seal` anchors). */
  heads?: SealedHead[];
}

/** One chain head as `audit seal` anchors it. */
export interface SealedHead {
  chain: string;
  seq: number;
  hash: string;
}

export interface VerifyOptions {
  /** Checking a single file: a chain may start before it. */
  partial?: boolean;
  /** Stop after this many problems. */
  maxProblems?: number;
  /** The installation's key: without it, keyed records cannot be checked (and are reported so). */
  key?: ChainKey & { created?: string };
  /** Fail on format 1 (unkeyed) records too. */
  requireKeyed?: boolean;
  /** Heads from `audit seal`: each must still be in the log, unchanged. */
  seals?: SealedHead[];
  /** Report the head of every chain (`heads`): the records this walk checked, not a second read. */
  withHeads?: boolean;
}

/** Per file: whether its first record is keyed, and the files its audit/rotated markers name. */
interface FileInfo {
  firstKeyed?: boolean;
  names: Set<string>;
}

/** What the walk knows of a chain: where it is, and the format and key fixed by its first record. */
interface ChainState {
  seq: number;
  hash: string;
  /** The first record seen of the chain was keyed (format 2); every later one must be too. */
  keyed: boolean;
  /** The key id of that first record: every later record must name the same key. */
  keyId: string | undefined;
  /** The seq of that first record (0, or where the chain enters the files checked). */
  firstSeq: number;
  /** A format problem was reported for this chain already (one per chain, not a cascade). */
  formatReported?: boolean;
}

function formatOf(record: AuditRecord): Pick<ChainState, 'keyed' | 'keyId' | 'firstSeq'> {
  const keyed = record.v !== UNKEYED_FORMAT_VERSION;
  return { keyed, keyId: keyed && typeof record.key === 'string' ? record.key : undefined, firstSeq: record.seq };
}

/**
 * A chain id as messages show it: the writer's are hex; anything else is quoted, so a line
 * crafted with a newline in its chain id cannot forge a line of the report.
 */
function chainName(chain: string): string {
  return /^[0-9a-f]{1,64}$/.test(chain) ? chain : JSON.stringify(chain);
}

/**
 * Why this record's format cannot be trusted where it is, or undefined. A chain's format and key
 * are those of its first record: one writer keeps one key for its whole life, so an unkeyed record
 * in a keyed chain (or another key) is what someone without the key writes after cutting the
 * chain. Unkeyed records are also refused with `requireKeyed`, when dated at or after the
 * installation's key was made (the writer has used the key since), and after any keyed record.
 */
function formatProblem(
  record: AuditRecord,
  state: ChainState | undefined,
  context: { key: VerifyOptions['key']; requireKeyed: boolean; sawKeyed: boolean },
): string | undefined {
  const name = `record ${record.seq} of chain ${chainName(record.chain)}`;
  if (record.v !== UNKEYED_FORMAT_VERSION) {
    if (state === undefined) return undefined;
    if (!state.keyed) return `${name} is keyed but its chain began unkeyed (format 1) at record ${state.firstSeq}: a chain keeps the format of its first record`;
    if (record.key !== state.keyId) {
      return `${name} names audit key ${JSON.stringify(record.key ?? null)} but its chain began with key ${JSON.stringify(state.keyId ?? null)} at record ${state.firstSeq}: a chain keeps the key of its first record`;
    }
    return undefined;
  }
  if (state?.keyed) {
    return `${name} is unkeyed (format 1) but its chain began keyed (audit key ${JSON.stringify(state.keyId ?? null)}) at record ${state.firstSeq}: records were rewritten or added without the key`;
  }
  if (context.requireKeyed) return `${name} is unkeyed (format 1): anyone could have written it (--require-keyed)`;
  const created = context.key?.created;
  if (created !== undefined) {
    const time = typeof record.time === 'string' ? Date.parse(record.time) : Number.NaN;
    // A date that does not parse counts as after: only a record that says it is older passes.
    if (!(time < Date.parse(created))) {
      return `${name} is unkeyed (format 1) but dated ${JSON.stringify(record.time ?? null)}, not before this installation's audit key was made (${created}): a rewrite without the key?`;
    }
  }
  if (context.sawKeyed) return `${name} is unkeyed (format 1) but comes after keyed records: a rewrite without the key?`;
  return undefined;
}

/** The hash a line claims must be this, by its format; undefined when it cannot be checked here. */
function expectedHash(record: AuditRecord, body: string, key: ChainKey | undefined): string | undefined {
  if (record.v === UNKEYED_FORMAT_VERSION) return chainHash(record.prev, body);
  if (key === undefined || record.key !== key.id) return undefined;
  return keyedChainHash(key.secret, record.prev, body);
}

/**
 * Walk every record: its hash must match its text (not changed; in format 2 the hash is an HMAC
 * under the installation's key, so only the key holder can make one), its `prev` the hash of the
 * previous record of its chain and its `seq` one more (none removed, reordered or inserted), and
 * each chain must start at seq 0 from the all-zero hash (none removed from the start). Across
 * files, each file that begins with keyed records must name the file before it (an
 * `audit/rotated` marker), so a whole file removed from the set shows. A chain keeps the format
 * and key of its first record (in `partial` mode, its first record in the file), so a keyed chain
 * cut and continued in format 1 is refused at the first unkeyed record; so is every format 1
 * record dated at or after the key was made, or found after keyed records, and with `requireKeyed`
 * every format 1 record: that is what a rewrite without the key looks like (issue 20). With
 * `seals`, every sealed head must still be there.
 */
export async function verifyAudit(files: string[], options: VerifyOptions = {}): Promise<VerifyReport> {
  const maxProblems = options.maxProblems ?? 20;
  const key = options.key;
  const chains = new Map<string, ChainState>();
  const report: VerifyReport = { files, records: 0, chains: 0, problems: [], continued: [], unkeyed: { records: 0, chains: 0 }, lost: 0, sealed: 0 };
  if (key) report.key = key.id;
  const seals = new Map<string, SealedHead[]>();
  for (const head of options.seals ?? []) seals.set(head.chain, [...(seals.get(head.chain) ?? []), head]);
  const sealSeen = new Set<SealedHead>();
  const uncheckable = new Set<string>();
  let sawKeyed = false;
  const fileInfo = new Map<string, FileInfo>();
  const problem = (at: Pick<AuditLine, 'file' | 'line'>, message: string): boolean => {
    report.problems.push({ file: at.file, line: at.line, message });
    return report.problems.length >= maxProblems;
  };
  records: for await (const at of readLines(files)) {
    if (at.text === '') continue;
    report.records += 1;
    const sealed = openLine(at.text);
    const record = parseRecord(at.text);
    if (!sealed || !record) {
      const what = at.complete ? 'is not an audit record' : 'is an incomplete record (the write was cut short)';
      if (problem(at, `line ${at.line} ${what}`)) break;
      continue;
    }
    let info = fileInfo.get(at.file);
    if (!info) fileInfo.set(at.file, (info = { names: new Set() }));
    const keyed = record.v !== UNKEYED_FORMAT_VERSION;
    info.firstKeyed ??= keyed;
    if (!keyed) {
      report.unkeyed.records += 1;
      if (!chains.has(record.chain)) report.unkeyed.chains += 1;
    }
    const expected = expectedHash(record, sealed.body, key);
    const state = chains.get(record.chain);
    if (expected === undefined) {
      if (!uncheckable.has(record.chain)) {
        uncheckable.add(record.chain);
        const why = key === undefined ? 'this installation has no audit key' : `this installation's key is ${key.id}`;
        if (problem(at, `chain ${chainName(record.chain)} is sealed with audit key ${JSON.stringify(record.key ?? null)} and cannot be checked: ${why}`)) break;
      }
    } else if (expected !== sealed.hash) {
      // Carry on from the hash it claims, so one changed record is one problem, not a cascade.
      chains.set(record.chain, { ...(state ?? formatOf(record)), seq: record.seq, hash: sealed.hash });
      if (problem(at, `record ${record.seq} of chain ${chainName(record.chain)} was changed: its hash does not match its contents`)) break;
      continue;
    }
    const format = formatProblem(record, state, { key, requireKeyed: options.requireKeyed === true, sawKeyed });
    if (format !== undefined && !state?.formatReported) {
      if (problem(at, format)) break;
    }
    if (keyed) sawKeyed = true;
    if (record.kind === 'marker') {
      if (record.method === 'audit/rotated' && typeof record.file === 'string') info.names.add(record.file);
      if (record.method === 'audit/gap' && typeof record.lost === 'number') report.lost += record.lost;
    }
    const last = chains.get(record.chain);
    if (last === undefined) {
      if (record.seq === 0 && record.prev !== GENESIS_HASH) {
        if (problem(at, `chain ${chainName(record.chain)} starts with a record 0 that does not start from the all-zero hash: the first record was replaced`)) break;
      } else if (record.seq !== 0) {
        if (options.partial) report.continued.push(record.chain);
        else if (problem(at, `chain ${chainName(record.chain)} starts at record ${record.seq}: records 0 to ${record.seq - 1} are missing`)) break;
      }
    } else if (record.seq !== last.seq + 1) {
      const message = record.seq > last.seq + 1
        ? `chain ${chainName(record.chain)}: records ${last.seq + 1} to ${record.seq - 1} are missing before record ${record.seq}`
        : `chain ${chainName(record.chain)}: record ${record.seq} appears again or out of order after record ${last.seq}`;
      if (problem(at, message)) break;
    } else if (record.prev !== last.hash) {
      if (problem(at, `chain ${chainName(record.chain)}: record ${record.seq} does not follow record ${last.seq} (its prev hash differs)`)) break;
    }
    for (const head of seals.get(record.chain) ?? []) {
      if (head.seq !== record.seq) continue;
      sealSeen.add(head);
      if (head.hash !== sealed.hash && problem(at, `record ${record.seq} of chain ${chainName(record.chain)} is not the one that was sealed (its hash differs from the seal)`)) break records;
    }
    chains.set(record.chain, { ...(state ?? formatOf(record)), seq: record.seq, hash: sealed.hash, formatReported: (state?.formatReported ?? false) || format !== undefined });
  }
  report.chains = chains.size;
  if (options.withHeads) report.heads = [...chains].map(([chain, { seq, hash }]) => ({ chain, seq, hash }));
  if (report.problems.length < maxProblems && !options.partial) checkFileLinks(files, fileInfo, problem);
  for (const head of options.seals ?? []) {
    if (report.problems.length >= maxProblems) break;
    if (sealSeen.has(head)) {
      report.sealed += 1;
      continue;
    }
    const last = chains.get(head.chain);
    const where = { file: files.at(-1) ?? '', line: 0 };
    problem(where, last === undefined
      ? `chain ${chainName(head.chain)} was sealed at record ${head.seq} but is missing from the log`
      : `chain ${chainName(head.chain)} was sealed at record ${head.seq} but ends at record ${last.seq}: records were removed from its end`);
  }
  return report;
}

/**
 * Every file after the first that begins with keyed records names the one before it; every file
 * a marker names is in the set. A file named but absent was removed (or pruned) whole.
 */
function checkFileLinks(
  files: string[],
  fileInfo: Map<string, FileInfo>,
  problem: (at: Pick<AuditLine, 'file' | 'line'>, message: string) => boolean,
): void {
  const present = new Set(files.map((file) => basename(file)));
  for (let i = 0; i < files.length; i++) {
    const info = fileInfo.get(files[i]!);
    if (!info) continue;
    for (const name of info.names) {
      if (!present.has(name) && problem({ file: files[i]!, line: 0 }, `${basename(files[i]!)} follows ${name}, which is missing from the log: a whole file was removed`)) return;
    }
    if (i > 0 && info.firstKeyed && !info.names.has(basename(files[i - 1]!))) {
      const named = [...info.names];
      if (named.length > 0 && named.every((name) => !present.has(name))) continue; // reported above
      if (problem({ file: files[i]!, line: 0 }, `${basename(files[i]!)} does not name ${basename(files[i - 1]!)} as the file before it: a file between them was removed, or the log was restarted`)) return;
    }
  }
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
