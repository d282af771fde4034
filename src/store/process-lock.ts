/**
 * A lock shared by every airlock process on one machine, so that two processes never run one
 * login or one token refresh at the same time (a refresh token used twice can be revoked by
 * rotation, RFC 9700 §4.14.2). Lock files are created exclusively (O_EXCL) in a private directory
 * and hold the owner's pid, host name and start time; the owner refreshes the file's mtime while it
 * holds the lock. A lock is stale when its process is gone (same host, `kill(pid, 0)` fails with
 * ESRCH) or its file was not refreshed for `staleMs`; a stale lock is broken under a short-lived
 * guard file, so two waiters never both break it and then both take it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, unlinkSync } from 'node:fs';
import { open, readFile, stat, unlink, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AirlockError, describeError, quote } from '../errors.js';
import type { Logger } from '../log.js';
import { ensurePrivateDir, PRIVATE_FILE_MODE } from './private-files.js';

/** Options for {@link createProcessLocks}. */
export interface ProcessLockOptions {
  /** Directory for the lock files; created 0700. */
  dir: string;
  /** A lock file not refreshed for this long is stale even if its pid exists (pid reuse, another host). Default 60 s. */
  staleMs?: number;
  /** How long `withLock` waits when its caller gives no timeout. Default 30 s. */
  timeoutMs?: number;
  log?: Logger;
}

/** The lock half of GrantStore: both stores delegate to this. */
export interface ProcessLocks {
  /** Run `fn` holding the lock `name`; waits up to `timeoutMs`, then throws AIRLOCK_LOCK_TIMEOUT. Not re-entrant. */
  withLock<T>(name: string, fn: () => Promise<T>, timeoutMs?: number): Promise<T>;
}

/** What a lock file says about its owner. */
export interface LockOwner {
  pid: number;
  hostname: string;
  /** Epoch ms when the lock was taken. */
  createdAt: number;
  /** Random, identifies this holding: a release never removes a lock someone else took since. */
  nonce: string;
  name: string;
}

/** A lock file's name: the lock name hashed, so any string (a URL) makes a safe, fixed-length name. */
export function lockFileName(name: string): string {
  return `${createHash('sha256').update(name).digest('hex').slice(0, 32)}.lock`;
}

const DEFAULT_STALE_MS = 60_000;
const DEFAULT_TIMEOUT_MS = 30_000;
/** A guard is held for a few file operations; one older than this was left by a crash. */
const GUARD_STALE_MS = 5_000;

interface Holder {
  owner: LockOwner | undefined;
  ino: number;
  mtimeMs: number;
  size: number;
}

/** True while `pid` runs. EPERM means it runs under another user; a zombie counts as gone. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  if (process.platform !== 'linux') return true;
  try {
    const status = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return status.slice(status.lastIndexOf(')') + 2, status.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const value = JSON.parse(text) as Partial<LockOwner>;
    if (typeof value.pid === 'number' && typeof value.hostname === 'string' && typeof value.nonce === 'string') {
      return value as LockOwner;
    }
  } catch {
    // Empty (being written right now) or damaged: judged by age alone.
  }
  return undefined;
}

async function readHolder(path: string): Promise<Holder | undefined> {
  try {
    const [info, text] = await Promise.all([stat(path), readFile(path, 'utf8')]);
    return { owner: parseOwner(text), ino: info.ino, mtimeMs: info.mtimeMs, size: info.size };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw lockError(`cannot read lock file ${quote(path)}: ${describeError(error)}`, error);
  }
}

function lockError(message: string, cause: unknown): AirlockError {
  return new AirlockError('AIRLOCK_CREDENTIAL_STORE', message, { hint: 'Check the permissions of the credential directory.', cause });
}

function describeHolder(holder: Holder, now: number): string {
  const owner = holder.owner;
  if (!owner) return 'a process that has not written its lock file yet';
  const seconds = Math.max(0, Math.round((now - owner.createdAt) / 1000));
  return `process ${owner.pid} on ${quote(owner.hostname)} for ${seconds} s`;
}

/** Create the locks for one lock directory. */
export function createProcessLocks(options: ProcessLockOptions): ProcessLocks {
  const { dir, log } = options;
  const staleMs = options.staleMs ?? DEFAULT_STALE_MS;
  const defaultTimeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const host = hostname();
  let dirReady: Promise<void> | undefined;
  /** Lock files this instance holds (path → nonce), removed synchronously if the process exits. */
  const held = new Map<string, string>();

  const releaseAllOnExit = (): void => {
    for (const [path, nonce] of held) {
      try {
        if (parseOwner(readFileSync(path, 'utf8'))?.nonce === nonce) unlinkSync(path);
      } catch {
        // Exiting anyway; a lock left behind is stale once its pid is gone.
      }
    }
  };

  function staleReason(holder: Holder, now: number): string | undefined {
    if (now - holder.mtimeMs > staleMs) return `not refreshed for ${Math.round((now - holder.mtimeMs) / 1000)} s`;
    const owner = holder.owner;
    if (owner && owner.hostname === host && owner.pid !== process.pid && !isAlive(owner.pid)) return `process ${owner.pid} is gone`;
    return undefined;
  }

  /**
   * Remove a stale lock file, unless another waiter is doing so or it changed since we looked.
   * True when the caller should try again at once (the lock file is gone or was replaced).
   */
  async function breakStale(path: string, seen: Holder, reason: string): Promise<boolean> {
    const guard = `${path}.break`;
    try {
      await (await open(guard, 'wx', PRIVATE_FILE_MODE)).close();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw lockError(`cannot create ${quote(guard)}: ${describeError(error)}`, error);
      const info = await stat(guard).catch(() => undefined);
      if (!info) return true;
      if (Date.now() - info.mtimeMs > GUARD_STALE_MS) {
        await unlink(guard).catch(() => undefined);
        return true;
      }
      return false; // another waiter is breaking it: wait like for any holder
    }
    try {
      const now = await readHolder(path);
      if (now && now.ino === seen.ino && now.mtimeMs === seen.mtimeMs && now.size === seen.size) {
        await unlink(path).catch(() => undefined);
        log?.debug(`removed a stale lock (${reason}): ${path}`);
      }
      return true;
    } finally {
      await unlink(guard).catch(() => undefined);
    }
  }

  async function tryCreate(path: string, owner: LockOwner): Promise<boolean> {
    let handle;
    try {
      handle = await open(path, 'wx', PRIVATE_FILE_MODE);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw lockError(`cannot create lock file ${quote(path)}: ${describeError(error)}`, error);
    }
    try {
      await handle.writeFile(JSON.stringify(owner));
    } catch (error) {
      await handle.close().catch(() => undefined);
      await unlink(path).catch(() => undefined);
      throw lockError(`cannot write lock file ${quote(path)}: ${describeError(error)}`, error);
    }
    await handle.close();
    return true;
  }

  async function acquire(name: string, path: string, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    const nonce = randomBytes(12).toString('hex');
    let delay = 5;
    for (;;) {
      if (await tryCreate(path, { pid: process.pid, hostname: host, createdAt: Date.now(), nonce, name })) return nonce;
      const holder = await readHolder(path);
      if (!holder) continue; // released between our attempt and our look: try again at once
      const now = Date.now();
      const reason = staleReason(holder, now);
      if (reason && (await breakStale(path, holder, reason))) continue;
      if (now >= deadline) {
        throw new AirlockError(
          'AIRLOCK_LOCK_TIMEOUT',
          `timed out after ${timeoutMs} ms waiting for the lock ${quote(name)}, held by ${describeHolder(holder, now)}`,
          {
            hint: `Another mcp-airlock is logging in or refreshing tokens for the same server: let it finish or stop it. If no such process runs, remove ${JSON.stringify(path)}.`,
          },
        );
      }
      await sleep(Math.min(delay + Math.random() * delay, deadline - now));
      delay = Math.min(delay * 2, 200);
    }
  }

  async function release(path: string, nonce: string): Promise<void> {
    held.delete(path);
    if (held.size === 0) process.off('exit', releaseAllOnExit);
    const holder = await readHolder(path).catch(() => undefined);
    if (holder?.owner?.nonce === nonce) {
      await unlink(path).catch(() => undefined);
    } else {
      log?.warn(`the lock file ${path} was taken over while this process held it (it looked stale)`);
    }
  }

  return {
    async withLock<T>(name: string, fn: () => Promise<T>, timeoutMs = defaultTimeoutMs): Promise<T> {
      dirReady ??= ensurePrivateDir(dir, log).catch((error: unknown) => {
        dirReady = undefined; // try again next time: the user may have fixed it
        throw error;
      });
      await dirReady;
      const path = join(dir, lockFileName(name));
      const nonce = await acquire(name, path, timeoutMs);
      if (held.size === 0) process.on('exit', releaseAllOnExit);
      held.set(path, nonce);
      const heartbeat = setInterval(() => {
        const now = new Date();
        utimes(path, now, now).catch(() => undefined);
      }, Math.max(10, Math.floor(staleMs / 4)));
      heartbeat.unref();
      try {
        return await fn();
      } finally {
        clearInterval(heartbeat);
        await release(path, nonce);
      }
    },
  };
}
