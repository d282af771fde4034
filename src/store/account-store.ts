/**
 * Accounts: one person, several logins at one server (work and personal, two tenants). Tokens and
 * client registrations are kept per (resource, issuer, account), and each account has its own
 * lock, so that its refreshes never wait for, or clobber, another account's.
 *
 * The default account is the one used when none is named; its records are stored exactly as
 * before accounts existed (key = the canonical resource, or the issuer), so stored grants keep
 * working with no migration. A named account's records are stored under `<key>#account=<name>`:
 * canonical resource URIs and issuer identifiers never have a fragment (RFC 8707 §2, RFC 8414 §2),
 * so such a key cannot collide with a real one. The store below sees only keys; this wrapper
 * hands records back under their real resource and issuer.
 */
import { AirlockError, quote } from '../errors.js';
import type { ClientRecord, GrantStore, TokenRecord } from './grant-store.js';

/** The account used when none is named. */
export const DEFAULT_ACCOUNT = 'default';

const ACCOUNT_NAME = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$/;
const MARK = '#account=';

/** Check an --account name: letters, digits and `._@+-`, up to 64, starting with a letter or digit. */
export function checkAccountName(name: string): string {
  if (!ACCOUNT_NAME.test(name)) {
    throw new AirlockError('AIRLOCK_USAGE', `--account ${quote(name)} is not a usable account name`, {
      hint: 'Use letters, digits and . _ @ + - (up to 64 characters, starting with a letter or digit), e.g. --account work.',
    });
  }
  return name;
}

/** The store key of a resource or issuer for `account`: the id itself for the default account. */
export function accountKey(id: string, account: string = DEFAULT_ACCOUNT): string {
  return account === DEFAULT_ACCOUNT ? id : `${id}${MARK}${account}`;
}

/** The resource (or issuer) and the account of a store key. */
export function splitAccountKey(key: string): { id: string; account: string } {
  const at = key.lastIndexOf(MARK);
  return at < 0 ? { id: key, account: DEFAULT_ACCOUNT } : { id: key.slice(0, at), account: key.slice(at + MARK.length) };
}

/** A stored token record with its real resource and its account (status, logout --all). */
export interface AccountTokens {
  account: string;
  record: TokenRecord;
}

/** Every stored token record of every account. */
export async function listAccountTokens(store: GrantStore): Promise<AccountTokens[]> {
  return (await store.listTokens()).map((stored) => {
    const { id, account } = splitAccountKey(stored.resource);
    return { account, record: { ...stored, resource: id } };
  });
}

/**
 * `store` as one account sees it; the default account's view is `store` itself. Locks are per
 * account too: `withLock(name)` takes the lock `<name>#account=<name>`.
 */
export function accountStore(store: GrantStore, account: string = DEFAULT_ACCOUNT): GrantStore {
  if (account === DEFAULT_ACCOUNT) return store;
  checkAccountName(account);
  const key = (id: string): string => accountKey(id, account);
  const mine = (stored: AccountTokens): boolean => stored.account === account;
  return {
    get backend() {
      return store.backend;
    },
    async loadTokens(resource) {
      const record = await store.loadTokens(key(resource));
      return record && { ...record, resource };
    },
    saveTokens: (record: TokenRecord) => store.saveTokens({ ...record, resource: key(record.resource) }),
    deleteTokens: (resource) => store.deleteTokens(key(resource)),
    async listTokens() {
      return (await listAccountTokens(store)).filter(mine).map((t) => t.record);
    },
    async loadClient(issuer) {
      const record = await store.loadClient(key(issuer));
      return record && { ...record, issuer };
    },
    saveClient: (record: ClientRecord) => store.saveClient({ ...record, issuer: key(record.issuer) }),
    deleteClient: (issuer) => store.deleteClient(key(issuer)),
    withLock: (name, fn, timeoutMs) => store.withLock(key(name), fn, timeoutMs),
    // The installation's keys (DPoP) are one per installation, never per account.
    loadKey: (name) => store.loadKey(name),
    saveKey: (record) => store.saveKey(record),
    deleteKey: (name) => store.deleteKey(name),
  };
}
