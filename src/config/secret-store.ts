/**
 * The values behind `${keychain:NAME}`: kept in airlock's credential store (the OS keychain, else
 * 0600 files, as `--storage` chooses) beside tokens, through the store's key records: the record
 * named `secret:NAME` holds the value. The store lists tokens only, so the names of the stored
 * secrets (never their values) are one more record, `secret-names`, changed under the store's
 * lock so that two `secret set` at once keep both names.
 */
import { AirlockError, quote } from '../errors.js';
import type { GrantStore } from '../store/grant-store.js';
import { SECRET_NAME } from './secret-references.js';

const RECORD_PREFIX = 'secret:';
const NAMES_RECORD = 'secret-names';
const LOCK = 'secrets';

export interface SecretStore {
  get(name: string): Promise<string | undefined>;
  set(name: string, value: string): Promise<void>;
  /** True when there was one. */
  delete(name: string): Promise<boolean>;
  list(): Promise<string[]>;
}

export function checkSecretName(name: string): string {
  if (!SECRET_NAME.test(name)) {
    throw new AirlockError('AIRLOCK_USAGE', `${quote(name)} is not a secret name`, { hint: 'Use 1-100 letters, digits and . _ - (starting with a letter or digit), e.g. github-token.' });
  }
  return name;
}

export function secretStore(store: GrantStore): SecretStore {
  const names = async (): Promise<string[]> => {
    const record = await store.loadKey(NAMES_RECORD);
    if (!record) return [];
    try {
      const list: unknown = JSON.parse(record.privateJwk);
      return Array.isArray(list) ? list.filter((n): n is string => typeof n === 'string') : [];
    } catch {
      return [];
    }
  };
  const saveNames = (list: string[]): Promise<void> => store.saveKey({ name: NAMES_RECORD, privateJwk: JSON.stringify([...new Set(list)].sort()), createdAt: Date.now() });
  return {
    async get(name) {
      return (await store.loadKey(RECORD_PREFIX + checkSecretName(name)))?.privateJwk;
    },
    async set(name, value) {
      checkSecretName(name);
      await store.withLock(LOCK, async () => {
        await store.saveKey({ name: RECORD_PREFIX + name, privateJwk: value, createdAt: Date.now() });
        const list = await names();
        if (!list.includes(name)) await saveNames([...list, name]);
      });
    },
    async delete(name) {
      checkSecretName(name);
      return store.withLock(LOCK, async () => {
        const removed = await store.deleteKey(RECORD_PREFIX + name);
        const list = await names();
        if (list.includes(name)) await saveNames(list.filter((n) => n !== name));
        return removed;
      });
    },
    list: names,
  };
}
