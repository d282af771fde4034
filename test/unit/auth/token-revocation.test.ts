/**
 * revokeGrant against a real authorization server (oidc-provider with features.revocation): a
 * grant from a real login is revoked, after which the refresh token is refused; the request is a
 * form POST authenticated as the client; failures are AirlockErrors that never show a token.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_CLIENT, startAuthFixture } from '../../../fixtures/auth/protected-server.mjs';
import { AuthSession } from '../../../src/auth/auth-session.js';
import { describeRevoked, revokeGrant } from '../../../src/auth/token-revocation.js';
import { createLogger } from '../../../src/log.js';
import type { TokenRecord } from '../../../src/store/grant-store.js';
import { HeadlessBrowser } from '../../helpers/headless-browser.js';
import { MemoryGrantStore } from '../../helpers/memory-grant-store.js';
import { startRecordingServer } from '../../helpers/recording-server.js';
import { rejectedAirlockError } from '../../helpers/thrown.js';

let fixture: Awaited<ReturnType<typeof startAuthFixture>>;
beforeAll(async () => {
  fixture = await startAuthFixture();
});
afterAll(async () => {
  await fixture?.close();
});

const log = createLogger('silent');

/** A real login through the fixture: a record with a refresh token, and the store holding its client. */
async function loggedIn(): Promise<{ record: TokenRecord; store: MemoryGrantStore }> {
  const store = new MemoryGrantStore();
  const session = new AuthSession({ serverUrl: fixture.url, store, log, openUrl: new HeadlessBrowser().open, allowHttp: true, authTimeoutMs: 10_000 });
  const record = await session.login();
  expect(record.refreshToken).toBeDefined();
  return { record, store };
}

/** A refresh_token grant sent by hand, as an attacker holding a copy of the token would. */
async function refreshDirectly(record: TokenRecord): Promise<{ status: number; error: unknown }> {
  const response = await fetch(`${fixture.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: record.refreshToken!, client_id: record.clientId, resource: record.resource }),
  });
  return { status: response.status, error: ((await response.json()) as { error?: unknown }).error };
}


const revocations = () => fixture.asRequests.filter((r) => (r as { route?: string }).route === 'revocation');

describe('revokeGrant (RFC 7009)', () => {
  it('revokes the refresh token, then tries the access token, as the public client, in the form body; the refresh token is refused afterwards', async () => {
    const { record, store } = await loggedIn();
    const before = revocations().length;
    const outcome = await revokeGrant({ record, client: await store.loadClient(record.issuer), allowHttp: true, log });
    // oidc-provider issues JWT access tokens here and cannot revoke them (RFC 7009 §2.2.1 unsupported_token_type).
    expect(outcome).toEqual({ status: 'revoked', endpoint: `${fixture.issuer}/token/revocation`, revoked: ['refresh_token'], notRevocable: ['access_token'] });
    expect(revocations().slice(before)).toEqual([
      { route: 'revocation', method: 'POST', queryKeys: [], tokenTypeHint: 'refresh_token', clientId: record.clientId, clientAuth: 'none', status: 200 },
      { route: 'revocation', method: 'POST', queryKeys: [], tokenTypeHint: 'access_token', clientId: record.clientId, clientAuth: 'none', status: 400 },
    ]);
    expect(await refreshDirectly(record)).toEqual({ status: 400, error: 'invalid_grant' });
  });

  it('a control: without revocation the same kind of refresh succeeds (so the check above can fail)', async () => {
    const { record } = await loggedIn();
    expect((await refreshDirectly(record)).status).toBe(200);
  });

  it('a record without a refresh token asks for the access token only', async () => {
    const { record, store } = await loggedIn();
    const { refreshToken: _dropped, ...accessOnly } = record;
    const outcome = await revokeGrant({ record: accessOnly, client: await store.loadClient(record.issuer), allowHttp: true, log });
    expect(outcome).toEqual({ status: 'revoked', endpoint: `${fixture.issuer}/token/revocation`, revoked: [], notRevocable: ['access_token'] });
  });

  it('an unknown client is refused by the server: AIRLOCK_AUTH_REVOCATION naming the endpoint and the OAuth error, never the token', async () => {
    const { record } = await loggedIn();
    const error = await rejectedAirlockError(revokeGrant({ record: { ...record, clientId: 'nobody' }, client: undefined, allowHttp: true, log }));
    expect(error.code).toBe('AIRLOCK_AUTH_REVOCATION');
    expect(error.exitCode).toBe(5);
    expect(error.message).toBe(`revoking the refresh token at "${fixture.issuer}/token/revocation" failed: the authorization server answered "invalid_client": "client authentication failed"`);
    expect(error.hint).toBe('The authorization server did not accept the revocation; revoke the access of mcp-airlock in your account settings there if it matters.');
    expect(JSON.stringify({ message: error.message, hint: error.hint })).not.toContain(record.refreshToken!);
  });

  it('a confidential client authenticates with its secret as registered (client_secret_basic)', async () => {
    const store = new MemoryGrantStore();
    const session = new AuthSession({ serverUrl: fixture.url, store, log, grant: 'client_credentials', clientId: AGENT_CLIENT.clientId, clientSecret: AGENT_CLIENT.clientSecret, allowHttp: true });
    const record = await session.login();
    const before = revocations().length;
    await revokeGrant({ record, client: await store.loadClient(record.issuer), allowHttp: true, log });
    expect(revocations().slice(before)).toEqual([
      { route: 'revocation', method: 'POST', queryKeys: [], tokenTypeHint: 'access_token', clientId: AGENT_CLIENT.clientId, clientAuth: 'basic', status: 400 },
    ]);
  });

  it('a server whose metadata has no revocation_endpoint: unsupported, and nothing is sent', async () => {
    const as = await startRecordingServer((req, origin) =>
      req.path === '/.well-known/oauth-authorization-server' ? { json: { issuer: origin, token_endpoint: `${origin}/token` } } : undefined,
    );
    try {
      const record: TokenRecord = { resource: 'http://127.0.0.1:1/mcp', issuer: as.origin, clientId: 'c', accessToken: 'at-SECRET', tokenType: 'Bearer', refreshToken: 'rt-SECRET', obtainedAt: 0 };
      expect(await revokeGrant({ record, client: undefined, allowHttp: true, log })).toEqual({ status: 'unsupported' });
      expect(as.requests.map((r) => r.path)).toEqual(['/.well-known/oauth-authorization-server']);
    } finally {
      await as.close();
    }
  });

  it('a confidential client whose secret is refused with a 401 challenge (RFC 6749 §5.2): the error code is named, not "a challenge"', async () => {
    const as = await startRecordingServer((req, origin) => {
      if (req.path === '/.well-known/oauth-authorization-server') return { json: { issuer: origin, token_endpoint: `${origin}/token`, revocation_endpoint: `${origin}/revoke` } };
      if (req.path === '/revoke') return { status: 401, headers: { 'www-authenticate': 'Basic realm="as", error="invalid_client", error_description="client authentication failed"' }, json: {} };
      return undefined;
    });
    try {
      const record: TokenRecord = { resource: 'http://127.0.0.1:1/mcp', issuer: as.origin, clientId: 'c', accessToken: 'at-SECRET', tokenType: 'Bearer', refreshToken: 'rt-SECRET', obtainedAt: 0 };
      const client = { issuer: as.origin, clientId: 'c', clientSecret: 'cs-SECRET', tokenEndpointAuthMethod: 'client_secret_basic', method: 'pre-registered' as const, registeredAt: 0 };
      const error = await rejectedAirlockError(revokeGrant({ record, client, allowHttp: true, log }));
      expect(error.code).toBe('AIRLOCK_AUTH_REVOCATION');
      expect(error.message).toBe(`revoking the refresh token at "${as.origin}/revoke" failed: the authorization server answered "invalid_client": "client authentication failed"`);
      expect(error.message + error.hint).not.toMatch(/SECRET/);
    } finally {
      await as.close();
    }
  });

  it('an answer of HTTP 503 without an OAuth error body is an AIRLOCK_AUTH_REVOCATION with a retry hint', async () => {
    const as = await startRecordingServer((req, origin) => {
      if (req.path === '/.well-known/oauth-authorization-server') return { json: { issuer: origin, token_endpoint: `${origin}/token`, revocation_endpoint: `${origin}/revoke` } };
      if (req.path === '/revoke') return { status: 503, json: {} };
      return undefined;
    });
    try {
      const record: TokenRecord = { resource: 'http://127.0.0.1:1/mcp', issuer: as.origin, clientId: 'c', accessToken: 'at-SECRET', tokenType: 'Bearer', refreshToken: 'rt-SECRET', obtainedAt: 0 };
      const error = await rejectedAirlockError(revokeGrant({ record, client: undefined, allowHttp: true, log }));
      expect(error.code).toBe('AIRLOCK_AUTH_REVOCATION');
      expect(error.message).toMatch(new RegExp(`^revoking the refresh token at "${as.origin}/revoke" failed: .+`));
      expect(error.hint).toBe('Check that the authorization server is reachable and retry the logout later, or revoke the access of mcp-airlock in your account settings there.');
      expect(error.message + error.hint).not.toMatch(/SECRET/);
      const revoke = as.requests.find((r) => r.path === '/revoke')!;
      expect(revoke.method).toBe('POST');
      expect(Object.fromEntries(new URLSearchParams(revoke.body))).toEqual({ token: 'rt-SECRET', token_type_hint: 'refresh_token', client_id: 'c' });
    } finally {
      await as.close();
    }
  });

  it('describeRevoked names the token types in order', () => {
    expect(describeRevoked(['refresh_token', 'access_token'])).toBe('the refresh token and the access token');
    expect(describeRevoked(['access_token'])).toBe('the access token');
  });
});
