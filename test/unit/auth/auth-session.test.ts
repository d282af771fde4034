import { describe, expect, it } from 'vitest';
import { AuthSession } from '../../../src/auth/auth-session.js';
import { createLogger } from '../../../src/log.js';
import type { TokenRecord } from '../../../src/store/grant-store.js';
import { MemoryGrantStore } from '../../helpers/memory-grant-store.js';
import { thrownAirlockError } from '../../helpers/thrown.js';

const log = createLogger('silent');
const record: TokenRecord = {
  resource: 'https://mcp.example/mcp',
  issuer: 'https://as.example',
  clientId: 'c',
  accessToken: 'the-access-token',
  tokenType: 'Bearer',
  refreshToken: 'the-refresh-token',
  expiresAt: 10_000_000,
  scope: 'a b',
  subject: 'alice',
  obtainedAt: 0,
};

describe('AuthSession', () => {
  it('keys tokens by the canonical server URL and hands them out as a Bearer header', async () => {
    const store = new MemoryGrantStore();
    await store.saveTokens(record);
    const session = new AuthSession({ serverUrl: 'HTTPS://MCP.EXAMPLE/mcp/', store, log, now: () => 1000 });
    expect(session.resource).toBe('https://mcp.example/mcp');
    expect(await session.authorization()).toBe('Bearer the-access-token');
  });

  it('never hands out a record the store returns for another resource', async () => {
    const store = new MemoryGrantStore();
    store.tokens.set('https://mcp.example/mcp', { ...record, resource: 'https://other.example/mcp' });
    const session = new AuthSession({ serverUrl: 'https://mcp.example/mcp', store, log, now: () => 1000 });
    expect(await session.authorization()).toBeUndefined();
    expect(await session.principal()).toBeUndefined();
  });

  it('gives the principal for the audit log without any token', async () => {
    const store = new MemoryGrantStore();
    await store.saveTokens(record);
    const principal = await new AuthSession({ serverUrl: record.resource, store, log }).principal();
    expect(principal).toEqual({ issuer: 'https://as.example', subject: 'alice', clientId: 'c', scopes: ['a', 'b'] });
    expect(JSON.stringify(principal)).not.toContain('token');
  });

  it('hands out nothing for an expired token it cannot refresh, without opening anything', async () => {
    const store = new MemoryGrantStore();
    const { refreshToken: _r, ...noRefresh } = record;
    await store.saveTokens(noRefresh);
    const session = new AuthSession({ serverUrl: record.resource, store, log, now: () => record.expiresAt! + 1, openUrl: async () => {
      throw new Error('must not open');
    } });
    expect(await session.authorization()).toBeUndefined();
  });

  it('refuses option combinations that cannot work, before any request', () => {
    const store = new MemoryGrantStore();
    expect(thrownAirlockError(() => new AuthSession({ serverUrl: 'https://m.example', store, log, clientSecret: 's' })).code).toBe('AIRLOCK_USAGE');
    expect(thrownAirlockError(() => new AuthSession({ serverUrl: 'https://m.example', store, log, clientMetadataUrl: 'http://x.example/c' })).code).toBe('AIRLOCK_USAGE');
    expect(thrownAirlockError(() => new AuthSession({ serverUrl: 'https://m.example', store, log, resource: 'not a url' })).code).toBe('AIRLOCK_BAD_URL');
    expect(thrownAirlockError(() => new AuthSession({ serverUrl: 'mcp.example', store, log })).code).toBe('AIRLOCK_BAD_URL');
  });

  it('refuses a 403 that does not name the scope it needs', async () => {
    const session = new AuthSession({ serverUrl: 'https://m.example', store: new MemoryGrantStore(), log });
    await expect(session.onInsufficientScope('Bearer error="insufficient_scope"')).rejects.toMatchObject({ code: 'AIRLOCK_AUTH_INSUFFICIENT_SCOPE' });
  });
});
