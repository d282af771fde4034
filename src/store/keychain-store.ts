/**
 * The credential store on the OS keychain (macOS Keychain, Windows Credential Manager, the
 * Secret Service on Linux: gnome-keyring, KWallet, KeePassXC) through @napi-rs/keyring.
 * One entry per record, service "mcp-airlock", account `tokens:<canonical resource>` or
 * `client:<issuer>`, the record as JSON in the secret.
 *
 * Open it through `openGrantStore`, which probes the keychain first: a locked or absent keychain
 * fails the probe instead of making the first login look like "no credentials yet".
 */
import { AsyncEntry, findCredentialsAsync, type EntryOptions } from '@napi-rs/keyring';
import { AirlockError, quote } from '../errors.js';
import type { Logger } from '../log.js';
import { decodeClientRecord, decodeKeyRecord, decodeTokenRecord, encodeRecord, recordAccount, RecordFormatError } from './grant-records.js';
import type { ClientRecord, GrantStore, TokenRecord } from './grant-store.js';
import { createProcessLocks } from './process-lock.js';

/** The keychain service name of every entry airlock writes. */
export const KEYCHAIN_SERVICE = 'mcp-airlock';

/**
 * Entry options for every keychain access. On Linux the library's default silently falls back
 * to the kernel keyring (keyutils), whose entries do not survive a reboot and expire; pinning the
 * Secret Service makes an absent one an error instead. Ignored on other platforms.
 */
export const KEYCHAIN_ENTRY_OPTIONS: EntryOptions = { linux: { store: 'secret-service' } };

/** Options for {@link createKeychainGrantStore}. */
export interface KeychainGrantStoreOptions {
  /** Directory for lock files (the file store's `locks` directory: a keychain has no locks). */
  lockDir: string;
  /** Keychain service name; default {@link KEYCHAIN_SERVICE}. */
  service?: string;
  /** Receives warnings (a damaged entry skipped by listTokens). */
  log?: Logger;
  /**
   * Bound on each keychain call. A keychain that becomes locked may show an unlock prompt and
   * wait for it; the call then fails with AIRLOCK_KEYCHAIN_UNAVAILABLE. Default 20 s.
   */
  operationTimeoutMs?: number;
  /** Passed to the process locks. */
  staleLockMs?: number;
}

const UNAVAILABLE_HINT = 'Check that your keychain is running and unlocked, or run with --storage file to keep credentials in files.';

/** Create the keychain store. Nothing touches the keychain until the first call. */
export function createKeychainGrantStore(options: KeychainGrantStoreOptions): GrantStore {
  const service = options.service ?? KEYCHAIN_SERVICE;
  const timeoutMs = options.operationTimeoutMs ?? 20_000;
  const { log } = options;
  const locks = createProcessLocks({ dir: options.lockDir, log, ...(options.staleLockMs ? { staleMs: options.staleLockMs } : {}) });

  const entry = (account: string): AsyncEntry => new AsyncEntry(service, account, KEYCHAIN_ENTRY_OPTIONS);

  /**
   * Run one keychain call, bounded by the timeout. The native call runs on the libuv thread pool
   * and cannot be interrupted once started: on timeout it is left to finish on its own.
   */
  async function call<T>(what: string, op: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(
          new AirlockError('AIRLOCK_KEYCHAIN_UNAVAILABLE', `the keychain did not answer within ${timeoutMs} ms (${what})`, {
            hint: 'It may be waiting for you to unlock it: answer the unlock prompt and retry, or run with --storage file.',
          }),
        );
      }, timeoutMs);
    });
    try {
      const pending = op(controller.signal);
      pending.catch(() => undefined); // a call that loses the race must not become an unhandled rejection
      return await Promise.race([pending, timedOut]);
    } catch (error) {
      if (error instanceof AirlockError) throw error;
      // Library messages name the failure (D-Bus, locked collection), never the secret. Its cause
      // only repeats the message with the napi status ("GenericFailure: …"): left out.
      const message = error instanceof Error ? error.message : String(error);
      throw new AirlockError('AIRLOCK_KEYCHAIN_UNAVAILABLE', `keychain failed (${what}): ${message.replace(/\s+/g, ' ')}`, {
        hint: UNAVAILABLE_HINT,
        cause: error,
      });
    } finally {
      clearTimeout(timer);
    }
  }

  function decodeEntry<T>(account: string, text: string, decode: (text: string) => T): T {
    try {
      return decode(text);
    } catch (error) {
      if (!(error instanceof RecordFormatError)) throw error;
      throw new AirlockError('AIRLOCK_CREDENTIAL_STORE', `keychain entry ${quote(account)} of service ${quote(service)} is damaged: ${error.message}`, {
        hint: 'Remove that entry with your keychain tool and log in to its server again; other credentials are not affected.',
        cause: error,
      });
    }
  }

  async function load<T>(account: string, decode: (text: string) => T): Promise<T | undefined> {
    const text = await call(`reading ${quote(account)}`, (signal) => entry(account).getPassword(signal));
    return text === null ? undefined : decodeEntry(account, text, decode);
  }

  return {
    backend: 'keychain',

    async loadTokens(resource) {
      const account = recordAccount('tokens', resource);
      const record = await load(account, decodeTokenRecord);
      if (record && record.resource !== resource) {
        throw new AirlockError('AIRLOCK_CREDENTIAL_STORE', `keychain entry ${quote(account)} is damaged: it holds tokens for another resource`, {
          hint: 'Remove that entry with your keychain tool and log in to its server again.',
        });
      }
      return record;
    },

    async saveTokens(record: TokenRecord) {
      const account = recordAccount('tokens', record.resource);
      await call(`writing ${quote(account)}`, (signal) => entry(account).setPassword(encodeRecord('tokens', record), signal));
    },

    async deleteTokens(resource) {
      const account = recordAccount('tokens', resource);
      return call(`deleting ${quote(account)}`, (signal) => entry(account).deleteCredential(signal));
    },

    /** Every readable token record, sorted by resource. A damaged entry is skipped with a warning. */
    async listTokens() {
      const found = await call('listing entries', (signal) => findCredentialsAsync(service, null, signal));
      const records: TokenRecord[] = [];
      for (const { account, password } of found) {
        if (!account.startsWith('tokens:')) continue;
        try {
          const record = decodeEntry(account, password, decodeTokenRecord);
          if (recordAccount('tokens', record.resource) === account) records.push(record);
          else log?.warn(`keychain entry ${quote(account)} holds tokens for another resource; listing the others without it`);
        } catch (error) {
          if (!(error instanceof AirlockError)) throw error;
          log?.warn(`${error.message}; listing the others without it`);
        }
      }
      return records.sort((a, b) => (a.resource < b.resource ? -1 : a.resource > b.resource ? 1 : 0));
    },

    async loadClient(issuer) {
      const account = recordAccount('client', issuer);
      const record: ClientRecord | undefined = await load(account, decodeClientRecord);
      if (record && record.issuer !== issuer) {
        throw new AirlockError('AIRLOCK_CREDENTIAL_STORE', `keychain entry ${quote(account)} is damaged: it holds the client of another issuer`, {
          hint: 'Remove that entry with your keychain tool and register again.',
        });
      }
      return record;
    },

    async saveClient(record) {
      const account = recordAccount('client', record.issuer);
      await call(`writing ${quote(account)}`, (signal) => entry(account).setPassword(encodeRecord('client', record), signal));
    },

    async deleteClient(issuer) {
      const account = recordAccount('client', issuer);
      return call(`deleting ${quote(account)}`, (signal) => entry(account).deleteCredential(signal));
    },

    async loadKey(name) {
      const account = recordAccount('key', name);
      const record = await load(account, decodeKeyRecord);
      if (record && record.name !== name) {
        throw new AirlockError('AIRLOCK_CREDENTIAL_STORE', `keychain entry ${quote(account)} is damaged: it holds another key`, {
          hint: 'Remove that entry with your keychain tool; airlock makes a new key (and logs in again where a token was bound to the old one).',
        });
      }
      return record;
    },

    async saveKey(record) {
      const account = recordAccount('key', record.name);
      await call(`writing ${quote(account)}`, (signal) => entry(account).setPassword(encodeRecord('key', record), signal));
    },

    async deleteKey(name) {
      const account = recordAccount('key', name);
      return call(`deleting ${quote(account)}`, (signal) => entry(account).deleteCredential(signal));
    },

    withLock: (name, fn, lockTimeoutMs) => locks.withLock(name, fn, lockTimeoutMs),
  };
}
