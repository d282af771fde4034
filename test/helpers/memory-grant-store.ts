/**
 * A GrantStore in memory, for auth tests only. Records are copied in and out (a caller cannot
 * change what is stored by mutating an object), and `withLock` is a real lock inside this process:
 * a promise chain per name, with the timeout the interface promises.
 */
import type { ClientRecord, GrantStore, StorageBackend, TokenRecord } from '../../src/store/grant-store.js';

export class MemoryGrantStore implements GrantStore {
  readonly backend: StorageBackend = 'memory';
  readonly tokens = new Map<string, TokenRecord>();
  readonly clients = new Map<string, ClientRecord>();
  /** Names of the locks taken, in order (for assertions). */
  readonly lockLog: string[] = [];
  private readonly tails = new Map<string, Promise<void>>();

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

  async withLock<T>(name: string, fn: () => Promise<T>, timeoutMs = 10_000): Promise<T> {
    const previous = this.tails.get(name) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => mine);
    this.tails.set(name, tail);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
    try {
      if ((await Promise.race([previous.then(() => 'ok' as const), timedOut])) === 'timeout') {
        throw new Error(`lock ${JSON.stringify(name)} not acquired within ${timeoutMs} ms`);
      }
      clearTimeout(timer);
      this.lockLog.push(name);
      return await fn();
    } finally {
      clearTimeout(timer);
      release();
      if (this.tails.get(name) === tail) this.tails.delete(name);
    }
  }
}
