/**
 * Choose and open the credential store (`--storage auto|keychain|file`):
 * - `auto`: the OS keychain when a probe round trip works, else the file store, with one short
 *   warning the first time this installation saves a credential there (never just for reading);
 *   with the keychain, records left in the file store (saved while it was unavailable) are moved
 *   into it when read (migrating-store.ts);
 * - `keychain`: the OS keychain or an AIRLOCK_KEYCHAIN_UNAVAILABLE error, never files;
 * - `file`: the file store, without touching the keychain.
 * Lock files live in the credential directory whichever store is chosen.
 */
import { AirlockError } from '../errors.js';
import type { Logger } from '../log.js';
import { createFileGrantStore, holdsRecordFiles, lockDirFor, resolveCredentialsDir } from './file-store.js';
import type { GrantStore } from './grant-store.js';
import { probeKeychain, shortKeychainReason, type KeychainProbeResult } from './keychain-probe.js';
import { createKeychainGrantStore } from './keychain-store.js';
import { withFileMigration } from './migrating-store.js';
import type { StorageMode } from './storage-mode.js';

export { isStorageMode, storageModes, type StorageMode } from './storage-mode.js';

/** Options for {@link openGrantStore}. */
export interface OpenGrantStoreOptions {
  storage: StorageMode;
  /** The credential directory (files and locks); default from {@link resolveCredentialsDir}. */
  dir?: string;
  log: Logger;
  /** Read for MCP_AIRLOCK_CONFIG_DIR and given to the keychain probe; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Keychain service name; default "mcp-airlock". Tests use their own. */
  service?: string;
  /** Bound on the keychain probe; default 5 s. */
  probeTimeoutMs?: number;
}


/** Open the store `options.storage` asks for; see the module comment. */
export async function openGrantStore(options: OpenGrantStoreOptions): Promise<GrantStore> {
  const { log } = options;
  const dir = resolveCredentialsDir({ ...(options.dir ? { dir: options.dir } : {}), ...(options.env ? { env: options.env } : {}) });
  const openFiles = (): GrantStore => createFileGrantStore({ dir, log });
  if (options.storage === 'file') return openFiles();

  const probe: KeychainProbeResult = await probeKeychain({
    ...(options.service ? { service: options.service } : {}),
    ...(options.env ? { env: options.env } : {}),
    ...(options.probeTimeoutMs ? { timeoutMs: options.probeTimeoutMs } : {}),
  });
  if (probe.ok) {
    log.debug('credentials: OS keychain');
    const keychain = createKeychainGrantStore({ lockDir: lockDirFor(dir), log, ...(options.service ? { service: options.service } : {}) });
    // auto: records saved to files while the keychain was unavailable move into it when read.
    return options.storage === 'auto' ? withFileMigration({ keychain, files: openFiles(), dir, log }) : keychain;
  }
  if (options.storage === 'keychain') {
    throw new AirlockError('AIRLOCK_KEYCHAIN_UNAVAILABLE', `keychain unavailable (${probe.reason}): ${probe.detail}`, {
      hint:
        probe.reason === 'no-secret-service'
          ? 'Start a Secret Service (gnome-keyring, KWallet, KeePassXC) in this session, or use --storage file to keep credentials in 0600 files.'
          : 'Unlock your keychain and retry, or use --storage file to keep credentials in 0600 files.',
    });
  }
  log.debug(`keychain probe: ${probe.detail}`);
  return createFileGrantStore({
    dir,
    log,
    // One short line, the first time this installation saves a credential to files (none there yet); after that it is known.
    onFirstSave: () => {
      const line = `keychain unavailable (${shortKeychainReason(probe)}): saving credentials in ${dir} (0600 files). Use --storage file to say so, --storage keychain to require the keychain.`;
      if (holdsRecordFiles(dir)) log.debug(line);
      else log.warn(line);
    },
  });
}
