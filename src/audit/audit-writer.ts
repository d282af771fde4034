/**
 * Appends audit records to a file: one chain per process (see audit-record.ts), buffered by
 * default and flushed every 100 ms, on close and on exit; with `sync`, a record is written and
 * fdatasync'ed before `append` resolves (group commit: records appended in the same tick share
 * one sync). Directory 0700, file 0600. When the file passes `maxBytes` it is renamed to
 * `<name>-<time>-<pid>.jsonl` and a new one is started; chains carry on across files.
 *
 * Several airlock processes may append to the same file. Each write is one `write(2)` of whole
 * lines to a file opened with O_APPEND, so lines never interleave; before each batch the writer
 * checks whether another process rotated the file, and follows it.
 *
 * With the installation's key (audit-key.ts) records are sealed in the keyed format, and a rotation
 * leaves an `audit/rotated` marker in the new file. Records are sealed when written, not when
 * appended, so a write that fails (a full disk) never leaves the chain pointing at lost records:
 * a line cut short is cut off, the chain resumes from the last line on disk, and the next write
 * starts with an `audit/gap` marker counting what was lost. A symbolic link is never followed.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fdatasync, fstat, fstatSync, ftruncate, mkdirSync, openSync, fchmodSync, read, readSync, rename, stat, write, writeSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { promisify } from 'node:util';
import { AirlockError, describeError, quote } from '../errors.js';
import type { Logger } from '../log.js';
import { argumentDigestKey, PendingDigest, recordArguments } from '../redact.js';
import { GENESIS_HASH, sealRecord, type AuditEvent, type AuditMarker, type ChainKey } from './audit-record.js';

const writeAsync = promisify(write);
const readAsync = promisify(read);
const ftruncateAsync = promisify(ftruncate);
const fstatAsync = promisify(fstat);
const statAsync = promisify(stat);
const renameAsync = promisify(rename);
const fdatasyncAsync = promisify(fdatasync);

/** Write `length` bytes of `buffer` from `offset` at the end of `fd`; resolves to the bytes written (may be short). */
export type AuditWriteFn = (fd: number, buffer: Buffer, offset: number, length: number) => Promise<number>;

const defaultWrite: AuditWriteFn = async (fd, buffer, offset, length) => (await writeAsync(fd, buffer, offset, length)).bytesWritten;

export interface AuditWriterOptions {
  file: string;
  /** Rotate when the file would pass this size; 0 never rotates. */
  maxBytes: number;
  /** Write and sync each record before `append` resolves. */
  sync: boolean;
  log: Logger;
  /** Buffered mode: flush at least this often (ms). */
  flushIntervalMs?: number;
  /**
   * The installation's audit key (audit-key.ts): records are sealed with HMAC-SHA256 (format 2)
   * and each rotation leaves an `audit/rotated` marker naming the file before. Without it, format 1.
   * A promise while the key still loads (a keychain read takes a few hundred milliseconds):
   * records wait in the buffer until it settles, so traffic never waits for it. If it fails,
   * nothing more is written and every waiter gets its error.
   */
  key?: ChainKey | Promise<ChainKey>;
  /** Written in markers' `airlock` member. */
  version?: string;
  /** While records are being lost, repeat the error at most this often (ms). Default 10 s. */
  warnIntervalMs?: number;
  /** The write(2) to use; tests inject ENOSPC and short writes. */
  writeFn?: AuditWriteFn;
}

const FLUSH_INTERVAL_MS = 100;
/** Buffered mode flushes early past this many records, so a burst does not sit in memory. */
const FLUSH_RECORDS = 512;
const WARN_INTERVAL_MS = 10_000;

interface Waiter {
  resolve: () => void;
  reject: (error: unknown) => void;
}

type Entry = AuditEvent | AuditMarker;

export class AuditWriter {
  /** This process's chain: random, so chains from different processes never collide. */
  readonly chain = randomBytes(8).toString('hex');
  private seq = 0;
  private prev = GENESIS_HASH;
  private fd: number;
  private buffer: Entry[] = [];
  private waiters: Waiter[] = [];
  private writing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  private kickQueued = false;
  /** Rotations by this writer, to keep rotated names unique within one millisecond. */
  private rotations = 0;
  private failed: unknown;
  /** Records lost to failed writes since the last gap marker made it to disk. */
  private lost = 0;
  private lostSince: string | undefined;
  private lastWarning = 0;
  /** A torn line could not be cut off: the next write starts with a newline so it stays a line of its own. */
  private needsNewline = false;
  /** A rotation whose `audit/rotated` marker has not reached the disk yet (the write after it failed). */
  private pendingRotated: string | undefined;
  private readonly writeFn: AuditWriteFn;
  private readonly exitFlush = (): void => this.flushSync();
  /** The chain key once known, and the argument digest key derived from it. */
  private key: ChainKey | undefined;
  private digestKey: Buffer | undefined;
  /** Set while the key is still loading; writes wait for it. */
  private keyLoading: Promise<void> | undefined;
  private keyFailure: unknown;

  private constructor(private readonly options: AuditWriterOptions, fd: number) {
    this.fd = fd;
    this.needsNewline = endsTorn(fd);
    this.writeFn = options.writeFn ?? defaultWrite;
    const { key } = options;
    if (key instanceof Promise) {
      this.keyLoading = key.then(
        (loaded) => this.useKey(loaded),
        (error: unknown) => {
          this.keyFailure = error ?? new Error('the audit key could not be loaded');
        },
      ).finally(() => {
        this.keyLoading = undefined;
      });
    } else this.useKey(key);
    process.once('exit', this.exitFlush);
  }

  private useKey(key: ChainKey | undefined): void {
    this.key = key;
    this.digestKey = key ? argumentDigestKey(key.secret) : undefined;
  }

  /** Open (creating 0700/0600 as needed) the audit file. Fails with a clear error, before any traffic flows. */
  static open(options: AuditWriterOptions): AuditWriter {
    return new AuditWriter(options, openAuditFile(options.file, options.log));
  }

  /**
   * The key for argument digests (redact.ts argumentDigestKey), once the audit key has loaded:
   * the taps digest under it, and what they saw before it is digested here when sealed.
   */
  get argumentKey(): Buffer | undefined {
    return this.digestKey;
  }

  /** Records lost to write failures and not yet accounted for by a gap marker on disk. */
  get lostRecords(): number {
    return this.lost;
  }

  /**
   * Add a record to the chain. Buffered mode: returns undefined, the record is on its way to disk.
   * Sync mode: returns a promise that resolves once the record is on disk.
   */
  append(event: AuditEvent): Promise<void> | undefined {
    if (this.closed) {
      this.options.log.debug(`audit: record after close dropped (${event.method})`);
      return undefined;
    }
    // Sealed when written, not here: a write that fails must not leave the chain pointing at lost records.
    this.buffer.push(event);
    if (this.options.sync) {
      const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
      // Group commit: start the write after this tick, so every record appended in it shares one sync.
      if (!this.kickQueued) {
        this.kickQueued = true;
        queueMicrotask(() => {
          this.kickQueued = false;
          void this.kick();
        });
      }
      return done;
    }
    if (this.buffer.length >= FLUSH_RECORDS) void this.kick();
    else this.timer ??= setTimeout(() => void this.kick(), this.options.flushIntervalMs ?? FLUSH_INTERVAL_MS);
    return undefined;
  }

  /** Write everything appended so far. */
  async flush(): Promise<void> {
    while (this.writing || this.buffer.length > 0) {
      if (this.writing) await this.writing;
      else await this.kick();
    }
  }

  /** Flush and close; a second call waits for the first. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.flush();
      this.closed = true;
      process.off('exit', this.exitFlush);
      closeSync(this.fd);
    })();
    return this.closing;
  }

  /** Last resort on process exit: write what is still buffered, synchronously. */
  flushSync(): void {
    if (this.closed || this.buffer.length === 0) return;
    if (this.keyLoading || this.keyFailure !== undefined) {
      // Records cannot be sealed without the key, and unkeyed ones after keyed ones would look forged.
      const count = this.buffer.length;
      this.options.log.error(`audit: ${count} record${count === 1 ? ' was' : 's were'} not written: the audit key ${this.keyLoading ? 'was still loading when airlock exited' : 'could not be loaded'}`);
      return;
    }
    try {
      const { lines } = this.sealBatch(this.takeEntries());
      writeSync(this.fd, `${this.needsNewline ? '\n' : ''}${lines.join('')}`);
    } catch {
      // Exiting: nowhere left to report it.
    }
  }

  private kick(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.writing) return this.writing;
    if (this.buffer.length === 0) return Promise.resolve();
    // writeBatches awaits before it can finish, so `writing` is set before it is cleared.
    this.writing = this.writeBatches();
    return this.writing;
  }

  /**
   * Write batches until the buffer is empty. `writing` is cleared in the same step as the last
   * empty-buffer check: an append made as soon as a waiter resolves starts a new write.
   */
  private async writeBatches(): Promise<void> {
    try {
      await this.writeAll();
    } finally {
      this.writing = undefined;
    }
  }

  private marker(method: AuditMarker['method'], extra: Partial<AuditMarker>): AuditMarker {
    return { time: new Date().toISOString(), kind: 'marker', method, ...extra, airlock: this.options.version ?? '' };
  }

  /**
   * Seal entries onto the chain (a gap marker first when records were lost). Returns the lines,
   * which of them are records (not markers), and the chain state before, to rewind on failure.
   */
  private sealBatch(entries: Entry[]): { lines: string[]; events: boolean[]; before: { seq: number; prev: string }; gap: boolean } {
    const before = { seq: this.seq, prev: this.prev };
    const gap = this.lost > 0;
    if (gap) entries.unshift(this.marker('audit/gap', { lost: this.lost, detail: `records lost to failed writes since ${this.lostSince ?? 'an earlier failure'}` }));
    const lines: string[] = [];
    const events: boolean[] = [];
    for (const entry of entries) {
      lines.push(this.sealOne(entry));
      events.push(entry.kind !== 'marker');
    }
    return { lines, events, before, gap };
  }

  private sealOne(entry: Entry): string {
    // Arguments that arrived while the key was loading are digested now, under it.
    if (entry.kind !== 'marker' && entry.args instanceof PendingDigest) entry = { ...entry, args: recordArguments(entry.args.args, 'digest', this.digestKey) };
    const line = `${sealRecord(entry, this.chain, this.seq, this.prev, this.key)}\n`;
    this.prev = line.slice(-67, -3);
    this.seq += 1;
    return line;
  }

  private async writeAll(): Promise<void> {
    if (this.keyLoading) await this.keyLoading;
    if (this.keyFailure !== undefined) {
      this.dropUnsealable();
      return;
    }
    while (this.buffer.length > 0) {
      const waiters = this.waiters;
      this.waiters = [];
      const { lines, events, before, gap } = this.sealBatch(this.takeEntries());
      let written = 0;
      // One conversion to bytes per batch; the rotation check needs the size.
      let text = Buffer.from(lines.join(''));
      try {
        const rotated = await this.followRotation(text.length);
        // The new file names the one before it, inside the keyed chain: a whole file removed from the set shows.
        if (rotated !== undefined && this.key) this.pendingRotated = basename(rotated);
        if (this.pendingRotated !== undefined) {
          const marker = this.sealOne(this.marker('audit/rotated', { file: this.pendingRotated }));
          lines.push(marker);
          events.push(false);
          text = Buffer.concat([text, Buffer.from(marker)]);
        }
        if (this.needsNewline) {
          await this.writeFully(Buffer.from('\n'));
          this.needsNewline = false;
        }
        written = await this.writeFully(text);
        this.pendingRotated = undefined;
        if (this.options.sync) await fdatasyncAsync(this.fd);
        if (gap) {
          this.options.log.warn(`audit: writing to ${quote(this.options.file)} again; ${this.lost} record${this.lost === 1 ? ' was' : 's were'} lost (recorded as an audit/gap marker)`);
          this.lost = 0;
          this.lostSince = undefined;
          this.failed = undefined;
        }
        for (const waiter of waiters) waiter.resolve();
      } catch (error) {
        const writtenBytes = typeof (error as { written?: unknown }).written === 'number' ? (error as { written: number }).written : written;
        await this.recover(lines, events, before, gap, text, writtenBytes);
        const failure = new AirlockError('AIRLOCK_AUDIT_WRITE', `cannot write the audit log ${quote(this.options.file)}: ${describeError(error)}`, {
          hint: 'Free disk space or fix the permissions, or choose another --audit-file.',
          cause: error,
        });
        this.warnFailure(error);
        this.failed = error;
        for (const waiter of waiters) waiter.reject(failure);
      }
    }
  }

  /** The key could not be loaded: nothing can be sealed, so nothing is written; waiters learn why. */
  private dropUnsealable(): void {
    const failure = this.keyFailure;
    const waiters = this.waiters;
    this.waiters = [];
    if (this.buffer.length > 0) this.options.log.debug(`audit: ${this.buffer.length} record(s) dropped: no audit key`);
    this.buffer = [];
    for (const waiter of waiters) waiter.reject(failure);
  }

  /** Write all of `buffer`, carrying on after short writes; a failure says how much made it (`written`). */
  private async writeFully(buffer: Buffer): Promise<number> {
    let offset = 0;
    while (offset < buffer.length) {
      let n: number;
      try {
        n = await this.writeFn(this.fd, buffer, offset, buffer.length - offset);
      } catch (error) {
        throw Object.assign(error instanceof Error ? error : new Error(String(error)), { written: offset });
      }
      if (n <= 0) throw Object.assign(new Error('the write wrote nothing'), { written: offset });
      offset += n;
    }
    return offset;
  }

  /**
   * After a failed write: keep the whole lines that made it, cut off a torn one (or make sure the
   * next write starts on a new line), rewind the chain to the last line on disk, and count the
   * records that did not make it (the next successful write begins with a gap marker).
   */
  private async recover(lines: string[], events: boolean[], before: { seq: number; prev: string }, gap: boolean, text: Buffer, written: number): Promise<void> {
    let kept = 0;
    let keptBytes = 0;
    for (const line of lines) {
      const bytes = Buffer.byteLength(line);
      if (keptBytes + bytes > written) break;
      keptBytes += bytes;
      kept += 1;
    }
    this.seq = before.seq + kept;
    this.prev = kept === 0 ? before.prev : lines[kept - 1]!.slice(-67, -3);
    if (gap && kept > 0) {
      this.lost = 0; // the gap marker made it: it accounts for the earlier losses
      this.lostSince = undefined;
    }
    if (this.pendingRotated !== undefined && kept === lines.length) this.pendingRotated = undefined;
    const lostNow = events.slice(kept).filter(Boolean).length;
    if (lostNow > 0) {
      this.lostSince ??= new Date().toISOString();
      this.lost += lostNow;
    }
    const torn = written - keptBytes;
    if (torn > 0) {
      // Cut the torn tail off, but only if it is still the end of the file (no other writer appended since).
      try {
        const { size } = await fstatAsync(this.fd);
        const tail = Buffer.alloc(torn);
        const { bytesRead } = await readAsync(this.fd, tail, 0, torn, size - torn);
        if (size >= torn && bytesRead === torn && tail.equals(text.subarray(keptBytes, written))) {
          await ftruncateAsync(this.fd, size - torn);
          return;
        }
      } catch {
        // fall through: start the next write on a new line
      }
      this.needsNewline = true;
    }
  }

  /** The error once when records start being lost, then again at most every warnIntervalMs while they still are. */
  private warnFailure(error: unknown): void {
    const now = Date.now();
    const { log, file } = this.options;
    if (this.failed === undefined) {
      log.error(`audit: cannot write ${quote(file)}: ${describeError(error)}`);
      this.lastWarning = now;
    } else if (now - this.lastWarning >= (this.options.warnIntervalMs ?? WARN_INTERVAL_MS)) {
      log.error(`audit: still cannot write ${quote(file)}: ${describeError(error)}; ${this.lost} record${this.lost === 1 ? '' : 's'} lost since ${this.lostSince ?? 'the first failure'}`);
      this.lastWarning = now;
    }
  }

  private takeEntries(): Entry[] {
    const entries = this.buffer;
    this.buffer = [];
    return entries;
  }

  /**
   * Reopen when another process rotated the file; rotate when this batch would pass the limit.
   * Returns the rotated file's path when this writer rotated.
   */
  private async followRotation(batchBytes: number): Promise<string | undefined> {
    const { file, maxBytes } = this.options;
    const [ours, current] = await Promise.all([fstatAsync(this.fd), statAsync(file).catch(() => undefined)]);
    if (!current || current.ino !== ours.ino || current.dev !== ours.dev) {
      this.reopen();
      return undefined;
    }
    if (maxBytes > 0 && ours.size > 0 && ours.size + batchBytes > maxBytes) {
      const rotated = rotatedName(file, this.rotations++);
      await renameAsync(file, rotated);
      this.options.log.debug(`audit: rotated ${quote(file)} to ${quote(rotated)}`);
      this.reopen();
      return rotated;
    }
    return undefined;
  }

  private reopen(): void {
    const fd = openAuditFile(this.options.file, this.options.log);
    closeSync(this.fd);
    this.fd = fd;
    this.needsNewline = endsTorn(fd);
  }
}

/**
 * `audit.jsonl` -> `audit-20261123T134500123Z-4242-0003.jsonl`: sorts by time; the pid and this
 * writer's rotation count keep two rotations in one millisecond from overwriting each other.
 */
export function rotatedName(file: string, count: number): string {
  const ext = extname(file) || '.jsonl';
  const stem = basename(file, extname(file));
  const stamp = new Date().toISOString().replace(/[-:.]/g, '');
  return join(dirname(file), `${stem}-${stamp}-${process.pid}-${String(count).padStart(4, '0')}${ext}`);
}

/** Whether the file ends in a line cut short (a crash or a full disk mid-write): then the next record starts on a new line. */
function endsTorn(fd: number): boolean {
  try {
    const { size } = fstatSync(fd);
    if (size === 0) return false;
    const last = Buffer.alloc(1);
    readSync(fd, last, 0, 1, size - 1);
    return last[0] !== 0x0a;
  } catch {
    return false;
  }
}

function openAuditFile(file: string, log: Logger): number {
  let fd: number;
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    // Never through a symbolic link: a link planted at the audit path would send records (and the
    // 0600 below) to a file of the planter's choosing.
    const flags = constants.O_RDWR | constants.O_APPEND | constants.O_CREAT | (constants.O_NOFOLLOW ?? 0);
    fd = openSync(file, flags, 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') {
      throw new AirlockError('AIRLOCK_AUDIT_WRITE', `the audit log ${quote(file)} is a symbolic link; airlock does not follow it`, {
        hint: 'Point --audit-file at the real file, or remove the link.',
        cause: error,
      });
    }
    throw new AirlockError('AIRLOCK_AUDIT_WRITE', `cannot open the audit log ${quote(file)}: ${describeError(error)}`, {
      hint: 'Choose a writable location with --audit-file <path>, or switch the audit log off with --no-audit.',
      cause: error,
    });
  }
  try {
    checkOwnerAndMode(fd, file, log);
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  return fd;
}

/**
 * A file someone else owns (pre-created where the log will go, issue 20) is refused: its owner can
 * rewrite, cut or replace the records whatever their mode. One of ours that is looser than 0600 is
 * tightened; if others could write it, said so, since records already in it may have been changed.
 * POSIX only: on Windows the profile directory's ACLs protect it.
 */
function checkOwnerAndMode(fd: number, file: string, log: Logger): void {
  if (typeof process.getuid !== 'function') return;
  const info = fstatSync(fd);
  const uid = process.getuid();
  if (info.uid !== uid) {
    throw new AirlockError('AIRLOCK_AUDIT_WRITE', `the audit log ${quote(file)} is owned by uid ${info.uid}, not by the current user (uid ${uid}): its owner could change its records`, {
      hint: 'Check who created it and what is in it (mcp-airlock audit verify --audit-file <path>); then make it yours (chown) or move it away, or choose another --audit-file.',
    });
  }
  const mode = info.mode & 0o777;
  if (mode === 0o600) return;
  fchmodSync(fd, 0o600);
  if ((mode & 0o022) !== 0) {
    log.warn(`the audit log ${quote(file)} was writable by group or others (mode ${mode.toString(8).padStart(4, '0')}); changed it to 0600. Records already in it may have been changed: run \`mcp-airlock audit verify\`.`);
  }
}
