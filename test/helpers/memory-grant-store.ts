/**
 * The memory store (src/store/memory-store.ts) with its maps open to assertions and a log of the
 * locks taken, for auth tests. Everything else is the real memory store's.
 */
import type { ClientRecord, GrantStore, KeyRecord, TokenRecord } from '../../src/store/grant-store.js';
import { createMemoryGrantStore } from '../../src/store/memory-store.js';

// The class gets the GrantStore methods from the real store in its constructor.
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export interface MemoryGrantStore extends GrantStore {}

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class MemoryGrantStore {
  readonly tokens = new Map<string, TokenRecord>();
  readonly clients = new Map<string, ClientRecord>();
  readonly keys = new Map<string, KeyRecord>();
  /** Names of the locks taken, in order. */
  readonly lockLog: string[] = [];

  constructor() {
    const store = createMemoryGrantStore({ tokens: this.tokens, clients: this.clients, keys: this.keys, lockTimeoutMs: 10_000 });
    Object.assign(this, store, {
      withLock: <T>(name: string, fn: () => Promise<T>, timeoutMs?: number): Promise<T> =>
        store.withLock(name, () => {
          this.lockLog.push(name);
          return fn();
        }, timeoutMs),
    });
  }
}
