/**
 * The installation's audit key: 32 random bytes that key the audit chain (HMAC-SHA256, see
 * audit-record.ts) and the `--audit-args digest` digests. Without it, someone who can rewrite the
 * audit file cannot recompute a chain that `audit verify` accepts, and cannot test guesses of a
 * digested argument (a 6-digit code) against its digest.
 *
 * Kept where credentials are kept: the OS keychain (service "mcp-airlock", account "audit-key"),
 * else a 0600 file `audit-key` in the credential directory (the same fallback and the same
 * `--storage auto|keychain|file` choice as credentials, see store/open-store.ts). A key file that
 * already exists wins, so an installation keeps one key whichever store answers today.
 *
 * What it cannot do: a person who can read the key (the same user, root) can forge a chain. The
 * key makes a rewrite by anyone else detectable; `audit seal` anchors the head outside the file.
 */
import { createHash, randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { AirlockError, describeError, quote } from '../errors.js';
import type { Logger } from '../log.js';
import { lockDirFor, resolveCredentialsDir } from '../store/file-store.js';
import { ensurePrivateDir, PRIVATE_FILE_MODE, readPrivateFile } from '../store/private-files.js';
import { createProcessLocks } from '../store/process-lock.js';
import type { StorageMode } from '../store/storage-mode.js';

/** The keychain account (service "mcp-airlock") and the fallback file name of the key. */
export const AUDIT_KEY_ACCOUNT = 'audit-key';
const AUDIT_KEY_FILE = 'audit-key';

/** An installation's key, as the writer and verify use it. */
export interface AuditKey {
  /** Short public name of the key (16 hex), written in every keyed record: which key to check with. */
  id: string;
  secret: Buffer;
  /** When the key was made (ISO 8601): records without a key written after it are suspect. */
  created: string;
  /** Where it is kept. */
  backend: 'keychain' | 'file';
}

export interface AuditKeyOptions {
  storage: StorageMode;
  log: Logger;
  /** The credential directory (key file and locks); default from resolveCredentialsDir. */
  dir?: string;
  env?: NodeJS.ProcessEnv;
  /** Keychain service name; default "mcp-airlock". Tests use their own. */
  service?: string;
  /** Create the key when there is none (writers); verify only reads. */
  create: boolean;
  probeTimeoutMs?: number;
}

/** The key's public id: a hash of it, never the key. */
export function auditKeyId(secret: Buffer): string {
  return createHash('sha256').update('mcp-airlock audit key id\n').update(secret).digest('hex').slice(0, 16);
}

/** The stored form: JSON with the key in base64url. */
function encodeAuditKey(key: Pick<AuditKey, 'secret' | 'created'>): string {
  return JSON.stringify({ v: 1, key: key.secret.toString('base64url'), created: key.created });
}

function decodeAuditKey(text: string, where: string, backend: AuditKey['backend']): AuditKey {
  let value: { v?: unknown; key?: unknown; created?: unknown };
  try {
    value = JSON.parse(text) as typeof value;
  } catch {
    value = {};
  }
  const secret = typeof value.key === 'string' ? Buffer.from(value.key, 'base64url') : Buffer.alloc(0);
  if (value.v !== 1 || secret.length !== 32 || typeof value.created !== 'string') {
    throw new AirlockError('AIRLOCK_AUDIT_KEY', `the audit key in ${where} is damaged`, {
      hint: 'Without it, records written with it cannot be verified. Restore it from a backup; remove it only to start a new key.',
    });
  }
  return { id: auditKeyId(secret), secret, created: value.created, backend };
}

function newKey(): Pick<AuditKey, 'secret' | 'created'> {
  return { secret: randomBytes(32), created: new Date().toISOString() };
}

/** Create the key file exclusively; undefined when another process created it first. */
async function createKeyFile(path: string): Promise<AuditKey | undefined> {
  const fresh = newKey();
  let handle;
  try {
    handle = await open(path, 'wx', PRIVATE_FILE_MODE);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
    throw new AirlockError('AIRLOCK_AUDIT_KEY', `cannot create the audit key file ${quote(path)}: ${describeError(error)}`, { cause: error });
  }
  try {
    await handle.writeFile(encodeAuditKey(fresh), 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  return { id: auditKeyId(fresh.secret), ...fresh, backend: 'file' };
}

async function fileKey(path: string, create: boolean, log: Logger): Promise<AuditKey | undefined> {
  for (;;) {
    const text = await readPrivateFile(path, log);
    if (text !== undefined && text !== '') return decodeAuditKey(text, quote(path), 'file');
    if (!create) return undefined;
    const made = await createKeyFile(path);
    if (made) return made;
  }
}

/**
 * The installation's audit key, created on first use when `create`; undefined when there is none
 * and `create` is false. See the module comment for where it lives.
 */
export async function loadAuditKey(options: AuditKeyOptions): Promise<AuditKey | undefined> {
  const { log } = options;
  const dir = resolveCredentialsDir({ ...(options.dir ? { dir: options.dir } : {}), ...(options.env ? { env: options.env } : {}) });
  const path = join(dir, AUDIT_KEY_FILE);
  if (options.create) await ensurePrivateDir(dir, log);
  const existing = await readPrivateFile(path, log).catch((error: unknown) => {
    if ((error as { code?: string }).code === 'AIRLOCK_CREDENTIAL_STORE' && !options.create) return undefined;
    throw error;
  });
  if (existing !== undefined && existing !== '') return decodeAuditKey(existing, quote(path), 'file');
  if (options.storage === 'file') return fileKey(path, options.create, log);

  const { probeKeychain, shortKeychainReason } = await import('../store/keychain-probe.js');
  const probe = await probeKeychain({
    ...(options.service ? { service: options.service } : {}),
    ...(options.env ? { env: options.env } : {}),
    ...(options.probeTimeoutMs ? { timeoutMs: options.probeTimeoutMs } : {}),
  });
  if (!probe.ok) {
    if (options.storage === 'keychain') {
      throw new AirlockError('AIRLOCK_KEYCHAIN_UNAVAILABLE', `keychain unavailable for the audit key (${probe.reason}): ${probe.detail}`, {
        hint: 'Unlock or start your keychain, or use --storage file to keep the audit key in a 0600 file.',
      });
    }
    if (options.create) {
      // Said once: the next start finds the key file first and never asks the keychain again.
      log.warn(`keychain unavailable (${shortKeychainReason(probe)}): keeping the audit key in ${quote(path)} (0600). Use --storage file to say so.`);
      log.debug(`keychain probe: ${probe.detail}`);
    }
    return fileKey(path, options.create, log);
  }
  const { AsyncEntry } = await import('@napi-rs/keyring');
  const { KEYCHAIN_ENTRY_OPTIONS, KEYCHAIN_SERVICE } = await import('../store/keychain-store.js');
  const service = options.service ?? KEYCHAIN_SERVICE;
  const entry = new AsyncEntry(service, AUDIT_KEY_ACCOUNT, KEYCHAIN_ENTRY_OPTIONS);
  const where = `the keychain (service ${quote(service)}, account ${quote(AUDIT_KEY_ACCOUNT)})`;
  const read = async (): Promise<AuditKey | undefined> => {
    const text = await entry.getPassword().catch((error: unknown) => {
      throw new AirlockError('AIRLOCK_KEYCHAIN_UNAVAILABLE', `cannot read the audit key from ${where}: ${describeError(error)}`, { cause: error });
    });
    return text === null || text === undefined ? undefined : decodeAuditKey(text, where, 'keychain');
  };
  const found = await read();
  if (found || !options.create) return found;
  // Two processes starting at once must not each make a key: one creates it under a lock.
  const locks = createProcessLocks({ dir: lockDirFor(dir), log });
  return locks.withLock('audit-key', async () => {
    const again = await read();
    if (again) return again;
    const fresh = newKey();
    await entry.setPassword(encodeAuditKey(fresh));
    log.debug(`audit key created in ${where}`);
    return { id: auditKeyId(fresh.secret), ...fresh, backend: 'keychain' as const };
  });
}
