/**
 * Files only the current user may read: a directory created 0700, files written 0600 through a
 * temporary file and a rename (a reader sees the old record or the new one, never half of one),
 * and checks on every read that nobody else owns or could have written what we are about to trust.
 * Used by the file store for credentials and by the process lock for its lock directory.
 */
import { randomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { chmod, mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { AirlockError, describeError, quote } from '../errors.js';
import type { Logger } from '../log.js';

/** Mode bits we create with; group and others get nothing. */
export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** POSIX owners and modes mean nothing on Windows (ACLs protect the profile directory there). */
const checkModes = process.platform !== 'win32' && typeof process.getuid === 'function';

function octal(mode: number): string {
  return (mode & 0o777).toString(8).padStart(4, '0');
}

function storeError(message: string, hint: string, cause?: unknown): AirlockError {
  return new AirlockError('AIRLOCK_CREDENTIAL_STORE', message, cause === undefined ? { hint } : { hint, cause });
}

/**
 * Refuse what another user owns or could have written (its content cannot be trusted), and
 * tighten what others could merely read. `what` names the thing in messages.
 */
async function checkOwnerAndMode(
  info: Stats,
  what: string,
  path: string,
  wanted: number,
  fix: (mode: number) => Promise<void>,
  log: Logger | undefined,
): Promise<void> {
  if (!checkModes) return;
  const uid = process.getuid!();
  if (info.uid !== uid) {
    throw storeError(
      `${what} ${quote(path)} is owned by uid ${info.uid}, not by the current user (uid ${uid})`,
      `Check who created it. If you trust it, make it yours (chown); otherwise remove it and log in again.`,
    );
  }
  const mode = info.mode & 0o777;
  if ((mode & 0o022) !== 0) {
    throw storeError(
      `${what} ${quote(path)} is writable by group or others (mode ${octal(mode)}), so its content cannot be trusted`,
      `Check it was not tampered with, then run chmod ${octal(wanted).slice(1)} ${JSON.stringify(path)}; or remove it and log in again.`,
    );
  }
  if ((mode & 0o077) !== 0) {
    await fix(wanted);
    log?.warn(
      `${what} ${quote(path)} was readable by group or others (mode ${octal(mode)}); changed it to ${octal(wanted)}. ` +
        'Credentials in it may have been read: consider logging in again.',
    );
  }
}

/**
 * Create `dir` (and missing parents) with mode 0700 if needed, then check it: a directory, ours,
 * not writable by others (refused), not readable by others (tightened to 0700, with a warning).
 */
export async function ensurePrivateDir(dir: string, log?: Logger): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  } catch (error) {
    throw storeError(
      `cannot create the credential directory ${quote(dir)}: ${describeError(error)}`,
      'Check the permissions of its parent directory, or choose another location.',
      error,
    );
  }
  const info = await stat(dir);
  if (!info.isDirectory()) {
    throw storeError(`credential directory ${quote(dir)} is not a directory`, 'Remove or rename it, or choose another location.');
  }
  await checkOwnerAndMode(info, 'credential directory', dir, PRIVATE_DIR_MODE, (mode) => chmod(dir, mode), log);
}

/**
 * Read a private file. Returns undefined when it does not exist. Refuses symbolic links, files of
 * another owner and files others could write; tightens a file others could read to 0600.
 * Checks the opened file itself (fstat), so a rename in between cannot swap what was checked.
 */
export async function readPrivateFile(path: string, log?: Logger): Promise<string | undefined> {
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') {
      throw storeError(`credential file ${quote(path)} is a symbolic link`, 'Replace it with the file itself, or remove it and log in again.');
    }
    throw storeError(`cannot read credential file ${quote(path)}: ${describeError(error)}`, 'Check its permissions.', error);
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) {
      throw storeError(`credential file ${quote(path)} is not a regular file`, 'Remove it and log in again.');
    }
    await checkOwnerAndMode(info, 'credential file', path, PRIVATE_FILE_MODE, (mode) => handle.chmod(mode), log);
    return await handle.readFile('utf8');
  } catch (error) {
    if (error instanceof AirlockError) throw error;
    throw storeError(`cannot read credential file ${quote(path)}: ${describeError(error)}`, 'Check its permissions.', error);
  } finally {
    await handle.close();
  }
}

/**
 * Write `content` to `path` atomically with mode 0600: write a temporary file next to it (created
 * exclusively, so never someone else's), flush it, rename it over `path`, then flush the directory.
 * Concurrent writers of one path each rename a complete file: the last one wins.
 */
export async function writePrivateFileAtomic(path: string, content: string): Promise<void> {
  const temp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const handle = await open(temp, 'wx', PRIVATE_FILE_MODE);
    try {
      await handle.writeFile(content, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw storeError(
      `cannot write credential file ${quote(path)}: ${describeError(error)}`,
      'Check that the disk is not full and that the directory is writable by you.',
      error,
    );
  }
  await syncDir(dirname(path));
}

/** Make a rename durable. Best effort: some platforms and file systems cannot open a directory. */
async function syncDir(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Durability only; the rename itself already happened atomically.
  }
}

/** Remove a file; true when it existed. */
export async function removePrivateFile(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw storeError(`cannot remove credential file ${quote(path)}: ${describeError(error)}`, 'Check the permissions of its directory.', error);
  }
}
