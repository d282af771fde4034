import { afterEach, describe, expect, it } from 'vitest';
import { AuthSession } from '../../../src/auth/auth-session.js';
import { createLogger } from '../../../src/log.js';
import type { TokenRecord } from '../../../src/store/grant-store.js';
import { MemoryGrantStore } from '../../helpers/memory-grant-store.js';
import { startRecordingServer, type RecordingServer, type Reply } from '../../helpers/recording-server.js';
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

describe('AuthSession refresh against a recording authorization server', () => {
  let server: RecordingServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  /** The MCP server's metadata names `${origin}/as2`; both as1 and as2 answer metadata and tokens. */
  async function setup(tokenReply: Reply) {
    server = await startRecordingServer((req, origin) => {
      if (req.path === '/.well-known/oauth-protected-resource/mcp') return { json: { resource: `${origin}/mcp`, authorization_servers: [`${origin}/as2`] } };
      for (const as of ['as1', 'as2']) {
        if (req.path === `/.well-known/oauth-authorization-server/${as}`) return { json: { issuer: `${origin}/${as}`, token_endpoint: `${origin}/${as}/token` } };
        if (req.path === `/${as}/token`) return tokenReply;
      }
      return undefined;
    });
    const store = new MemoryGrantStore();
    const lines: string[] = [];
    const clock = { now: 1000 };
    const session = new AuthSession({ serverUrl: `${server.origin}/mcp`, store, log: createLogger('debug', (l) => lines.push(l)), allowHttp: true, now: () => clock.now });
    return { origin: server.origin, store, lines, clock, session, server };
  }

  it('never sends a refresh token to an authorization server other than the one that issued it', async () => {
    const { origin, store, lines, clock, session, server } = await setup({ json: { access_token: 'x', token_type: 'Bearer' } });
    await store.saveClient({ issuer: `${origin}/as1`, clientId: 'c', method: 'dynamic', tokenEndpointAuthMethod: 'none', registeredAt: 0 });
    await store.saveTokens({ ...record, resource: `${origin}/mcp`, issuer: `${origin}/as1`, expiresAt: 100_000, obtainedAt: 0 });
    clock.now = 99_000;
    // Still valid for a second: handed out as it is, not refreshed at the new issuer.
    expect(await session.authorization()).toBe('Bearer the-access-token');
    expect(server.paths().filter((p) => p.endsWith('/token'))).toEqual([]);
    expect(lines.some((l) => l.includes(`now names the authorization server "${origin}/as2" instead of "${origin}/as1"`))).toBe(true);
  });

  it('forgets a refused refresh token, and a dynamic registration the server no longer knows (invalid_client)', async () => {
    const { origin, store, clock, session, server } = await setup({ status: 401, json: { error: 'invalid_client' } });
    await store.saveClient({ issuer: `${origin}/as2`, clientId: 'c', method: 'dynamic', tokenEndpointAuthMethod: 'none', registeredAt: 0 });
    await store.saveTokens({ ...record, resource: `${origin}/mcp`, issuer: `${origin}/as2`, expiresAt: 100_000, obtainedAt: 0 });
    clock.now = 100_001;
    expect(await session.authorization()).toBeUndefined();
    expect(server.paths().filter((p) => p.endsWith('/token'))).toEqual(['/as2/token']);
    expect(store.tokens.get(`${origin}/mcp`)!.refreshToken).toBeUndefined();
    expect(store.clients.size).toBe(0);
  });
});
