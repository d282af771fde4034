import { describe, expect, it } from 'vitest';
import { accountKey, accountStore, checkAccountName, listAccountTokens, splitAccountKey } from '../../../src/store/account-store.js';
import { createMemoryGrantStore } from '../../../src/store/memory-store.js';
import type { TokenRecord } from '../../../src/store/grant-store.js';

const resource = 'https://mcp.example.com/mcp';
const record = (subject: string): TokenRecord => ({ resource, issuer: 'https://as.example.com', clientId: 'c', accessToken: `at-${subject}`, tokenType: 'Bearer', subject, obtainedAt: 1 });

describe('account keys', () => {
  it('the default account keeps the plain key (grants stored before accounts existed); others get a fragment no resource has', () => {
    expect(accountKey(resource)).toBe(resource);
    expect(accountKey(resource, 'default')).toBe(resource);
    expect(accountKey(resource, 'work')).toBe(`${resource}#account=work`);
    expect(splitAccountKey(`${resource}#account=work`)).toEqual({ id: resource, account: 'work' });
    expect(splitAccountKey(resource)).toEqual({ id: resource, account: 'default' });
  });

  it('refuses names that are not plain', () => {
    expect(checkAccountName('me@work.example')).toBe('me@work.example');
    expect(() => checkAccountName('a b')).toThrow(/--account "a b" is not a usable account name/);
    expect(() => checkAccountName('')).toThrow();
    expect(() => checkAccountName('x'.repeat(65))).toThrow();
  });
});

describe('accountStore', () => {
  it('keeps tokens, clients and locks apart per account, and hands records back under their real resource and issuer', async () => {
    const tokens = new Map<string, TokenRecord>();
    const base = createMemoryGrantStore({ tokens });
    const work = accountStore(base, 'work');
    await base.saveTokens(record('alice'));
    await work.saveTokens(record('bob'));
    expect([...tokens.keys()].sort()).toEqual([resource, `${resource}#account=work`]);
    expect((await base.loadTokens(resource))?.subject).toBe('alice');
    expect(await work.loadTokens(resource)).toEqual(record('bob'));
    expect(await work.listTokens()).toEqual([record('bob')]);
    expect((await listAccountTokens(base)).map((t) => [t.account, t.record.resource, t.record.subject])).toEqual([['default', resource, 'alice'], ['work', resource, 'bob']]);

    await work.saveClient({ issuer: 'https://as.example.com', clientId: 'work-client', method: 'dynamic', registeredAt: 1 });
    expect(await base.loadClient('https://as.example.com')).toBeUndefined();
    expect((await work.loadClient('https://as.example.com'))?.issuer).toBe('https://as.example.com');

    // One account's lock does not hold up another's.
    let inner = false;
    await base.withLock('auth:x', () => work.withLock('auth:x', async () => (inner = true), 200));
    expect(inner).toBe(true);

    expect(await work.deleteTokens(resource)).toBe(true);
    expect((await base.loadTokens(resource))?.subject).toBe('alice');
  });
});
