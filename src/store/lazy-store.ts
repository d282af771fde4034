/**
 * A credential store opened on first use, and the keychain binding with it: commands that never
 * need credentials load neither.
 */
import type { GrantStore } from './grant-store.js';

/**
 * A store opened on first use: `connect` to a server that needs no OAuth never probes the keychain
 * at start-up (the probe is a child process). `backend` may be read only once it is open.
 */
export function lazyGrantStore(open: () => Promise<GrantStore>): GrantStore {
  let opened: Promise<GrantStore> | undefined;
  let store: GrantStore | undefined;
  const get = (): Promise<GrantStore> => {
    opened ??= open().then((s) => (store = s));
    return opened;
  };
  return {
    get backend() {
      // Honest or nothing: which store it is is known only once it is open.
      if (!store) throw new Error('lazyGrantStore: backend read before the store was opened');
      return store.backend;
    },
    loadTokens: async (resource) => (await get()).loadTokens(resource),
    saveTokens: async (record) => (await get()).saveTokens(record),
    deleteTokens: async (resource) => (await get()).deleteTokens(resource),
    listTokens: async () => (await get()).listTokens(),
    loadClient: async (issuer) => (await get()).loadClient(issuer),
    saveClient: async (record) => (await get()).saveClient(record),
    deleteClient: async (issuer) => (await get()).deleteClient(issuer),
    loadKey: async (name) => (await get()).loadKey(name),
    saveKey: async (record) => (await get()).saveKey(record),
    deleteKey: async (name) => (await get()).deleteKey(name),
    withLock: async (name, fn, timeoutMs) => (await get()).withLock(name, fn, timeoutMs),
  };
}
