/**
 * `--storage auto` across a keychain that comes and goes. While the keychain is unavailable
 * (locked, no Secret Service in an SSH session), auto mode keeps credentials in the 0600 file
 * store; once the keychain is back, auto mode opens the keychain store, and without this layer
 * those file records would be invisible there (a second login, a `status` that shows nothing, a
 * `logout` that leaves the file behind).
 *
 * So the keychain store is wrapped: a record is read from both places; one found only in the
 * files, or newer there (a login made while the keychain was locked, over an older keychain
 * record), is moved into the keychain and its file removed, with one info line; a file record
 * older than the keychain's is stale and removed. Saves go to the keychain only; deletes remove
 * both copies. A file that cannot be read (damaged, unsafe mode) is reported and left alone: it
 * never makes the keychain's own record unusable. Each key's file is looked at once per process:
 * after that the keychain alone answers (a file written later, by a process that had no keychain,
 * is picked up by the next process).
 */
import { quote } from '../errors.js';
import type { Logger } from '../log.js';
import type { ClientRecord, GrantStore, TokenRecord } from './grant-store.js';

/** Options for {@link withFileMigration}. */
export interface FileMigrationOptions {
  keychain: GrantStore;
  files: GrantStore;
  /** The credential directory of `files`, for the info line. */
  dir: string;
  log: Logger;
}

/** The keychain store, which also takes over records left in the file store (see the module comment). */
export function withFileMigration(options: FileMigrationOptions): GrantStore {
  const { keychain, files, dir, log } = options;
  /** Keys whose file this process has already looked at (and moved or found absent). */
  const settled = new Set<string>();

  async function fromFiles<T>(load: () => Promise<T | undefined>): Promise<T | undefined> {
    try {
      return await load();
    } catch (error) {
      log.warn(`${error instanceof Error ? error.message : String(error)}; using the OS keychain without it`);
      return undefined;
    }
  }

  /**
   * The record for one key: the keychain's, or the file's moved into the keychain when it has none
   * or an older one. `stamp` is when a record was obtained; `what` names it in the info line.
   */
  async function take<T>(
    key: string,
    what: string,
    loadKeychain: () => Promise<T | undefined>,
    loadFile: () => Promise<T | undefined>,
    stamp: (record: T) => number,
    save: (record: T) => Promise<void>,
    removeFile: () => Promise<unknown>,
  ): Promise<T | undefined> {
    if (settled.has(key)) return loadKeychain();
    const [inKeychain, inFile] = await Promise.all([loadKeychain(), fromFiles(loadFile)]);
    settled.add(key);
    if (inFile === undefined) return inKeychain;
    if (inKeychain !== undefined && stamp(inKeychain) >= stamp(inFile)) {
      await fromFiles(removeFile);
      log.debug(`removed an older copy of ${what} from the credential files in ${dir}`);
      return inKeychain;
    }
    await save(inFile);
    await fromFiles(removeFile);
    log.info(`moved ${what} from the credential files in ${dir} into the OS keychain`);
    return inFile;
  }

  /** `listed`: the file record already read by listTokens, instead of reading it again. */
  const loadTokens = (resource: string, listed?: TokenRecord): Promise<TokenRecord | undefined> =>
    take(
      `tokens:${resource}`,
      `the tokens for ${quote(resource)}`,
      () => keychain.loadTokens(resource),
      listed ? async () => listed : () => files.loadTokens(resource),
      (r) => r.obtainedAt,
      (r) => keychain.saveTokens(r),
      () => files.deleteTokens(resource),
    );

  return {
    backend: keychain.backend,
    loadTokens: (resource) => loadTokens(resource),
    saveTokens: (record) => keychain.saveTokens(record),
    async deleteTokens(resource) {
      const [fromKeychain, fromFile] = await Promise.all([keychain.deleteTokens(resource), fromFiles(() => files.deleteTokens(resource))]);
      return fromKeychain || fromFile === true;
    },
    async listTokens() {
      for (const record of (await fromFiles(() => files.listTokens())) ?? []) await loadTokens(record.resource, record);
      return keychain.listTokens();
    },
    loadClient: (issuer): Promise<ClientRecord | undefined> =>
      take(
        `client:${issuer}`,
        `the client registration for ${quote(issuer)}`,
        () => keychain.loadClient(issuer),
        () => files.loadClient(issuer),
        (r) => r.registeredAt,
        (r) => keychain.saveClient(r),
        () => files.deleteClient(issuer),
      ),
    saveClient: (record) => keychain.saveClient(record),
    async deleteClient(issuer) {
      const [fromKeychain, fromFile] = await Promise.all([keychain.deleteClient(issuer), fromFiles(() => files.deleteClient(issuer))]);
      return fromKeychain || fromFile === true;
    },
    loadKey: (name) =>
      take(
        `key:${name}`,
        `the ${name} key`,
        () => keychain.loadKey(name),
        () => files.loadKey(name),
        (r) => r.createdAt,
        (r) => keychain.saveKey(r),
        () => files.deleteKey(name),
      ),
    saveKey: (record) => keychain.saveKey(record),
    async deleteKey(name) {
      const [fromKeychain, fromFile] = await Promise.all([keychain.deleteKey(name), fromFiles(() => files.deleteKey(name))]);
      return fromKeychain || fromFile === true;
    },
    withLock: (name, fn, timeoutMs) => keychain.withLock(name, fn, timeoutMs),
  };
}
