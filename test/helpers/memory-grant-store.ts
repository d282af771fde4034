/**
 * A GrantStore in memory, for auth tests only. Records are copied in and out (a caller cannot
 * change what is stored by mutating an object), its maps are open to assertions, and `withLock`
 * is the memory store's real in-process lock.
 */
import type { ClientRecord, GrantStore, StorageBackend, TokenRecord } from '../../src/store/grant-store.js';
import { createMemoryGrantStore } from '../../src/store/memory-store.js';

export class MemoryGrantStore implements GrantStore {
  readonly backend: StorageBackend = 'memory';
  readonly tokens = new Map<string, TokenRecord>();
  readonly clients = new Map<string, ClientRecord>();
  /** Names of the locks taken, in order (for assertions). */
  readonly lockLog: string[] = [];
  private readonly locks = createMemoryGrantStore();

  async loadTokens(resource: string): Promise<TokenRecord | undefined> {
    const record = this.tokens.get(resource);
    return record && { ...record };
  }

  async saveTokens(record: TokenRecord): Promise<void> {
    this.tokens.set(record.resource, { ...record });
  }

  async deleteTokens(resource: string): Promise<boolean> {
    return this.tokens.delete(resource);
  }

  async listTokens(): Promise<TokenRecord[]> {
    return [...this.tokens.values()].map((r) => ({ ...r }));
  }

  async loadClient(issuer: string): Promise<ClientRecord | undefined> {
    const record = this.clients.get(issuer);
    return record && { ...record };
  }

  async saveClient(record: ClientRecord): Promise<void> {
    this.clients.set(record.issuer, { ...record });
  }

  async deleteClient(issuer: string): Promise<boolean> {
    return this.clients.delete(issuer);
  }

  /** The lock is the real memory store's (src/store/memory-store.ts); this class keeps the maps open for tests. */
  async withLock<T>(name: string, fn: () => Promise<T>, timeoutMs = 10_000): Promise<T> {
    return this.locks.withLock(
      name,
      async () => {
        this.lockLog.push(name);
        return fn();
      },
      timeoutMs,
    );
  }
}
