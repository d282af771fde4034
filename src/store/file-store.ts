/**
 * The fallback credential store: one file per record in a private directory (0700, files 0600),
 * for machines without a usable keychain (headless Linux, containers, CI).
 *
 * One file per record rather than one file for all: two processes saving different records never
 * read-modify-write a shared file, so neither loses the other's update and no lock is needed for a
 * save (the interface promises "last writer wins per record"); and a damaged file costs one record,
 * not all of them. File names are hashes of the resource or issuer (URLs are not file names); the
 * record inside names it again and is checked against it on load.
 */
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import envPaths from 'env-paths';
import { AirlockError, describeError, quote } from '../errors.js';
import type { Logger } from '../log.js';
import { decodeClientRecord, decodeKeyRecord, decodeTokenRecord, encodeRecord, RecordFormatError, type RecordKind } from './grant-records.js';
import type { ClientRecord, GrantStore, TokenRecord } from './grant-store.js';
import { ensurePrivateDir, readPrivateFile, removePrivateFile, writePrivateFileAtomic } from './private-files.js';
import { createProcessLocks } from './process-lock.js';

/** Replaces the configuration directory (credentials go to `$MCP_AIRLOCK_CONFIG_DIR/credentials`); for tests and unusual setups. */
export const CONFIG_DIR_ENV = 'MCP_AIRLOCK_CONFIG_DIR';

/** Options for {@link resolveCredentialsDir}. */
export interface CredentialsDirOptions {
  /** The credential directory itself; wins over everything else. */
  dir?: string;
  /** Where MCP_AIRLOCK_CONFIG_DIR is read; default process.env. */
  env?: NodeJS.ProcessEnv;
}

/**
 * Where credential files (and all lock files) live: `dir` if given, else
 * `$MCP_AIRLOCK_CONFIG_DIR/credentials`, else the platform's configuration directory from
 * env-paths plus `/credentials` (`~/.config/mcp-airlock/credentials` on Linux).
 */
export function resolveCredentialsDir(options: CredentialsDirOptions = {}): string {
  if (options.dir) return resolve(options.dir);
  const configDir = (options.env ?? process.env)[CONFIG_DIR_ENV] || envPaths('mcp-airlock', { suffix: '' }).config;
  return join(resolve(configDir), 'credentials');
}

/** The lock directory inside a credential directory; the keychain store uses it too. */
export function lockDirFor(credentialsDir: string): string {
  return join(credentialsDir, 'locks');
}

/** Options for {@link createFileGrantStore}. */
export interface FileGrantStoreOptions {
  /** The credential directory, usually from {@link resolveCredentialsDir}. */
  dir: string;
  /** Receives warnings (a file whose mode was tightened, a damaged file skipped by listTokens). */
  log?: Logger;
  /** Passed to the process locks. */
  staleLockMs?: number;
  /** Called once, before the first record is written (the keychain fallback says so then). */
  onFirstSave?: () => void;
}

/** A GrantStore on files; `dir` is where they are, for messages and `status`. */
export interface FileGrantStore extends GrantStore {
  readonly backend: 'file';
  readonly dir: string;
}

const tokenFile = /^tokens-[0-9a-f]{32}\.json$/;
/** Any record file fileName makes (tokens or a client registration). */
const recordFile = /^(?:tokens|client|key)-[0-9a-f]{32}\.json$/;

/** Whether credentials were ever saved to files in `dir` (a record file is there). */
export function holdsRecordFiles(dir: string): boolean {
  try {
    return readdirSync(dir).some((name) => recordFile.test(name));
  } catch {
    return false;
  }
}

function fileName(kind: RecordKind, id: string): string {
  return `${kind}-${createHash('sha256').update(id).digest('hex').slice(0, 32)}.json`;
}

function damaged(path: string, problem: string, cause?: unknown): AirlockError {
  return new AirlockError('AIRLOCK_CREDENTIAL_STORE', `credential file ${quote(path)} is damaged: ${problem}`, {
    hint: 'Remove that file and log in to its server again; other credentials are not affected.',
    ...(cause === undefined ? {} : { cause }),
  });
}

/** Create the file store. Nothing touches the disk until the first call. */
export function createFileGrantStore(options: FileGrantStoreOptions): FileGrantStore {
  const dir = resolve(options.dir);
  const { log } = options;
  const locks = createProcessLocks({ dir: lockDirFor(dir), log, ...(options.staleLockMs ? { staleMs: options.staleLockMs } : {}) });
  let dirReady: Promise<void> | undefined;

  async function ready(): Promise<void> {
    dirReady ??= ensurePrivateDir(dir, log).catch((error: unknown) => {
      dirReady = undefined;
      throw error;
    });
    await dirReady;
  }

  function decodeAt<T>(path: string, text: string, decode: (text: string) => T): T {
    try {
      return decode(text);
    } catch (error) {
      if (error instanceof RecordFormatError) throw damaged(path, error.message, error);
      throw error;
    }
  }

  let saved = false;
  async function save(path: string, text: string): Promise<void> {
    await ready();
    if (!saved) options.onFirstSave?.();
    saved = true;
    await writePrivateFileAtomic(path, text);
  }

  async function loadTokensAt(path: string): Promise<TokenRecord | undefined> {
    const text = await readPrivateFile(path, log);
    return text === undefined ? undefined : decodeAt(path, text, decodeTokenRecord);
  }

  return {
    backend: 'file',
    dir,

    async loadTokens(resource) {
      await ready();
      const path = join(dir, fileName('tokens', resource));
      const record = await loadTokensAt(path);
      if (record && record.resource !== resource) throw damaged(path, 'it holds tokens for another resource');
      return record;
    },

    saveTokens: (record) => save(join(dir, fileName('tokens', record.resource)), encodeRecord('tokens', record)),

    async deleteTokens(resource) {
      await ready();
      return removePrivateFile(join(dir, fileName('tokens', resource)));
    },

    /** Every readable token record, sorted by resource. A damaged or unsafe file is skipped with a warning. */
    async listTokens() {
      await ready();
      let names: string[];
      try {
        names = await readdir(dir);
      } catch (error) {
        throw new AirlockError('AIRLOCK_CREDENTIAL_STORE', `cannot list the credential directory ${quote(dir)}: ${describeError(error)}`, {
          hint: 'Check its permissions.',
          cause: error,
        });
      }
      const records: TokenRecord[] = [];
      for (const name of names.sort()) {
        if (!tokenFile.test(name)) continue;
        try {
          const record = await loadTokensAt(join(dir, name));
          if (record) records.push(record);
        } catch (error) {
          if (!(error instanceof AirlockError)) throw error;
          log?.warn(`${error.message}; listing the others without it`);
        }
      }
      return records.sort((a, b) => (a.resource < b.resource ? -1 : a.resource > b.resource ? 1 : 0));
    },

    async loadClient(issuer) {
      await ready();
      const path = join(dir, fileName('client', issuer));
      const text = await readPrivateFile(path, log);
      if (text === undefined) return undefined;
      const record: ClientRecord = decodeAt(path, text, decodeClientRecord);
      if (record.issuer !== issuer) throw damaged(path, 'it holds the client of another issuer');
      return record;
    },

    saveClient: (record) => save(join(dir, fileName('client', record.issuer)), encodeRecord('client', record)),

    async deleteClient(issuer) {
      await ready();
      return removePrivateFile(join(dir, fileName('client', issuer)));
    },

    async loadKey(name) {
      await ready();
      const path = join(dir, fileName('key', name));
      const text = await readPrivateFile(path, log);
      if (text === undefined) return undefined;
      const record = decodeAt(path, text, decodeKeyRecord);
      if (record.name !== name) throw damaged(path, 'it holds another key');
      return record;
    },

    saveKey: (record) => save(join(dir, fileName('key', record.name)), encodeRecord('key', record)),

    async deleteKey(name) {
      await ready();
      return removePrivateFile(join(dir, fileName('key', name)));
    },

    withLock: (name, fn, timeoutMs) => locks.withLock(name, fn, timeoutMs),
  };
}
