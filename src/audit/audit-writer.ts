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
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fdatasync, fstat, fstatSync, mkdirSync, openSync, fchmodSync, rename, stat, write, writeSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { promisify } from 'node:util';
import { AirlockError, describeError, quote } from '../errors.js';
import type { Logger } from '../log.js';
import { GENESIS_HASH, sealRecord, type AuditEvent } from './audit-record.js';

const writeAsync = promisify(write);
const fstatAsync = promisify(fstat);
const statAsync = promisify(stat);
const renameAsync = promisify(rename);
const fdatasyncAsync = promisify(fdatasync);

export interface AuditWriterOptions {
  file: string;
  /** Rotate when the file would pass this size; 0 never rotates. */
  maxBytes: number;
  /** Write and sync each record before `append` resolves. */
  sync: boolean;
  log: Logger;
  /** Buffered mode: flush at least this often (ms). */
  flushIntervalMs?: number;
}

const FLUSH_INTERVAL_MS = 100;
/** Buffered mode flushes early past this many bytes, so a burst does not sit in memory. */
const FLUSH_BYTES = 256 * 1024;

interface Waiter {
  resolve: () => void;
  reject: (error: unknown) => void;
}

export class AuditWriter {
  /** This process's chain: random, so chains from different processes never collide. */
  readonly chain = randomBytes(8).toString('hex');
  private seq = 0;
  private prev = GENESIS_HASH;
  private fd: number;
  private buffer: string[] = [];
  private bufferBytes = 0;
  private waiters: Waiter[] = [];
  private writing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  private kickQueued = false;
  /** Rotations by this writer, to keep rotated names unique within one millisecond. */
  private rotations = 0;
  private failed: unknown;
  private readonly exitFlush = (): void => this.flushSync();

  private constructor(private readonly options: AuditWriterOptions, fd: number) {
    this.fd = fd;
    process.once('exit', this.exitFlush);
  }

  /** Open (creating 0700/0600 as needed) the audit file. Fails with a clear error, before any traffic flows. */
  static open(options: AuditWriterOptions): AuditWriter {
    return new AuditWriter(options, openAuditFile(options.file));
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
    const line = `${sealRecord(event, this.chain, this.seq, this.prev)}\n`;
    this.prev = line.slice(-67, -3);
    this.seq += 1;
    this.buffer.push(line);
    this.bufferBytes += line.length;
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
    if (this.bufferBytes >= FLUSH_BYTES) void this.kick();
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
    try {
      writeSync(this.fd, this.takeBatch());
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

  private async writeAll(): Promise<void> {
    while (this.buffer.length > 0) {
      const waiters = this.waiters;
      this.waiters = [];
      const batch = this.takeBatch();
      try {
        await this.followRotation(Buffer.byteLength(batch));
        await writeAsync(this.fd, batch);
        if (this.options.sync) await fdatasyncAsync(this.fd);
        for (const waiter of waiters) waiter.resolve();
      } catch (error) {
        if (this.failed === undefined) this.options.log.error(`audit: cannot write ${quote(this.options.file)}: ${describeError(error)}`);
        this.failed = error;
        const failure = new AirlockError('AIRLOCK_AUDIT_WRITE', `cannot write the audit log ${quote(this.options.file)}: ${describeError(error)}`, {
          hint: 'Free disk space or fix the permissions, or choose another --audit-file.',
          cause: error,
        });
        for (const waiter of waiters) waiter.reject(failure);
      }
    }
  }

  private takeBatch(): string {
    const batch = this.buffer.join('');
    this.buffer = [];
    this.bufferBytes = 0;
    return batch;
  }

  /** Reopen when another process rotated the file; rotate when this batch would pass the limit. */
  private async followRotation(batchBytes: number): Promise<void> {
    const { file, maxBytes } = this.options;
    const [ours, current] = await Promise.all([fstatAsync(this.fd), statAsync(file).catch(() => undefined)]);
    if (!current || current.ino !== ours.ino || current.dev !== ours.dev) {
      this.reopen();
      return;
    }
    if (maxBytes > 0 && ours.size > 0 && ours.size + batchBytes > maxBytes) {
      const rotated = rotatedName(file, this.rotations++);
      await renameAsync(file, rotated);
      this.options.log.debug(`audit: rotated ${quote(file)} to ${quote(rotated)}`);
      this.reopen();
    }
  }

  private reopen(): void {
    const fd = openAuditFile(this.options.file);
    closeSync(this.fd);
    this.fd = fd;
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

function openAuditFile(file: string): number {
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const fd = openSync(file, 'a', 0o600);
    // An existing file created by something else may be looser: records are private.
    const mode = fstatSync(fd).mode & 0o777;
    if (mode !== 0o600 && typeof process.getuid === 'function' && fstatSync(fd).uid === process.getuid()) fchmodSync(fd, 0o600);
    return fd;
  } catch (error) {
    throw new AirlockError('AIRLOCK_AUDIT_WRITE', `cannot open the audit log ${quote(file)}: ${describeError(error)}`, {
      hint: 'Choose a writable location with --audit-file <path>, or switch the audit log off with --no-audit.',
      cause: error,
    });
  }
}
