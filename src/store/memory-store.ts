/**
 * A GrantStore in memory, for unit tests of the modules that use a store (the auth flow, status).
 * Behaves like the real stores where it matters to them: records are copies (mutating what you
 * saved or loaded changes nothing stored), listTokens is sorted by resource, and withLock
 * serialises callers of one name and times out with AIRLOCK_LOCK_TIMEOUT. Locks are per store
 * instance, not per machine.
 */
import { AirlockError, quote } from '../errors.js';
import type { ClientRecord, GrantStore, KeyRecord, TokenRecord } from './grant-store.js';

/** A memory store; `backend` is 'memory'. */
export interface MemoryGrantStore extends GrantStore {
  readonly backend: 'memory';
}

export interface MemoryStoreOptions {
  /** The default wait of withLock (30 s). */
  lockTimeoutMs?: number;
  /** The maps to keep records in (tests pass their own, to look inside); new empty ones by default. */
  tokens?: Map<string, TokenRecord>;
  clients?: Map<string, ClientRecord>;
  keys?: Map<string, KeyRecord>;
}

/** Create a memory store, empty unless given maps. */
export function createMemoryGrantStore(options: MemoryStoreOptions = {}): MemoryGrantStore {
  const tokens = options.tokens ?? new Map<string, TokenRecord>();
  const clients = options.clients ?? new Map<string, ClientRecord>();
  const keys = options.keys ?? new Map<string, KeyRecord>();
  /** Per lock name: the promise the next waiter waits on (settles when the current holder is done). */
  const tails = new Map<string, Promise<void>>();

  async function withLock<T>(name: string, fn: () => Promise<T>, timeoutMs = options.lockTimeoutMs ?? 30_000): Promise<T> {
    const previous = tails.get(name) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    // Whoever comes next waits for us, and, if we give up waiting, for the one before us too.
    const tail = previous.then(() => mine);
    tails.set(name, tail);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
    const outcome = await Promise.race([previous.then(() => 'acquired' as const), timedOut]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      // Our place in the queue stays: `tail` still settles only after the holder we waited for.
      release();
      throw new AirlockError('AIRLOCK_LOCK_TIMEOUT', `timed out after ${timeoutMs} ms waiting for the lock ${quote(name)}, held in this process`, {
        hint: 'Another login or refresh for the same server is still running; let it finish.',
      });
    }
    try {
      return await fn();
    } finally {
      release();
      if (tails.get(name) === tail) tails.delete(name);
    }
  }

  return {
    backend: 'memory',
    loadTokens: async (resource) => {
      const record = tokens.get(resource);
      return record && structuredClone(record);
    },
    saveTokens: async (record) => {
      tokens.set(record.resource, structuredClone(record));
    },
    deleteTokens: async (resource) => tokens.delete(resource),
    listTokens: async () =>
      [...tokens.values()].map((record) => structuredClone(record)).sort((a, b) => (a.resource < b.resource ? -1 : a.resource > b.resource ? 1 : 0)),
    loadClient: async (issuer) => {
      const record = clients.get(issuer);
      return record && structuredClone(record);
    },
    saveClient: async (record) => {
      clients.set(record.issuer, structuredClone(record));
    },
    deleteClient: async (issuer) => clients.delete(issuer),
    loadKey: async (name) => {
      const record = keys.get(name);
      return record && structuredClone(record);
    },
    saveKey: async (record) => {
      keys.set(record.name, structuredClone(record));
    },
    deleteKey: async (name) => keys.delete(name),
    withLock,
  };
}
