/**
 * The whole authorization flow against a real authorization server (oidc-provider, in-process)
 * and a protected MCP server that checks the JWT access tokens it issues: discovery, dynamic
 * registration, PKCE, resource indicators, refresh with rotation, device and client credentials
 * grants, step-up, and each fixture variant that breaks one rule.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { AGENT_CLIENT, startAuthFixture } from '../../fixtures/auth/protected-server.mjs';
import { AuthSession, MAX_STEP_UPS, type AuthOptions } from '../../src/auth/auth-session.js';
import { AirlockError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import type { TokenRecord } from '../../src/store/grant-store.js';
import { probeForLogin } from '../../src/cli/login-probe.js';
import { HeadlessBrowser } from '../helpers/headless-browser.js';
import { MemoryGrantStore } from '../helpers/memory-grant-store.js';
import { useAuthFixtures } from '../helpers/auth-fixtures.js';

type Fixture = Awaited<ReturnType<typeof startAuthFixture>>;

/** Every log line and error text of this file, and every token and secret seen: scanned at the end. */
const transcript: string[] = [];
const secrets = new Set<string>([AGENT_CLIENT.clientSecret]);

/** A store that remembers every token it was given, for the final scan. */
class ScannedStore extends MemoryGrantStore {
  constructor() {
    super();
    const save = this.saveTokens;
    this.saveTokens = async (record: TokenRecord) => {
      secrets.add(record.accessToken);
      if (record.refreshToken) secrets.add(record.refreshToken);
      await save(record);
    };
  }
}

const fixture = useAuthFixtures();
/** Servers a test started besides the fixtures (an IdP), closed after it. */
const extraClosers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(extraClosers.splice(0).map((close) => close()));
});

interface Harness {
  session: AuthSession;
  store: ScannedStore;
  browser: HeadlessBrowser;
  urls: string[];
  lines: string[];
  clock: { now: number };
}

function harness(f: Fixture, options: Partial<AuthOptions> = {}, browser = new HeadlessBrowser()): Harness {
  const store = (options.store as ScannedStore | undefined) ?? new ScannedStore();
  const lines: string[] = [];
  const log = createLogger('debug', (line) => {
    lines.push(line);
    transcript.push(line);
  });
  const urls: string[] = [];
  const clock = { now: Date.now() };
  const session = new AuthSession({
    serverUrl: f.url,
    store,
    log,
    openUrl: browser.open,
    onProgress: (event) => {
      if (event.step === 'authorization' && event.via === 'browser') urls.push(event.url);
    },
    allowHttp: true,
    authTimeoutMs: 10_000,
    now: () => clock.now,
    ...options,
  });
  return { session, store, browser, urls, lines, clock };
}

async function mcpPost(url: string, authorization: string | undefined, body: unknown): Promise<{ status: number; www: string | null; text: string }> {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
  if (authorization) headers['authorization'] = authorization;
  const response = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
  return { status: response.status, www: response.headers.get('www-authenticate'), text: await response.text() };
}

const initialize = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'auth-flow-test', version: '1.0.0' } },
};

function callTool(name: string, args: Record<string, unknown>): unknown {
  return { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name, arguments: args } };
}

/** The first 401, as a transport would see it, then the session's answer to it. */
async function loginOn401(h: Harness, f: Fixture): Promise<void> {
  const denied = await mcpPost(f.url, await h.session.authorization(), initialize);
  expect(denied.status).toBe(401);
  await h.session.onUnauthorized(denied.www);
}

async function rejection(promise: Promise<unknown>): Promise<AirlockError> {
  const error = await promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AirlockError);
  const airlock = error as AirlockError;
  transcript.push(airlock.message, airlock.hint ?? '');
  return airlock;
}

describe('authorization code flow against oidc-provider', () => {
  it('logs in on a 401 with DCR, PKCE S256, state and resource, and the token opens the MCP server', async () => {
    const f = await fixture();
    const h = harness(f);
    expect(await h.session.authorization()).toBeUndefined();
    await loginOn401(h, f);

    const authorization = await h.session.authorization();
    expect(authorization).toMatch(/^Bearer ey/);
    const ok = await mcpPost(f.url, authorization, initialize);
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.text).result.serverInfo.name).toBe('airlock-auth-fixture');

    const client = h.store.clients.get(f.issuer)!;
    expect(client).toMatchObject({ issuer: f.issuer, method: 'dynamic', tokenEndpointAuthMethod: 'none' });
    expect(client.redirectUri).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback$/);

    const [authRequest, tokenRequest] = f.asRequests.filter((r) => r.route === 'authorization' || r.route === 'token');
    expect(f.asRequests.filter((r) => r.route === 'registration')).toMatchObject([{ method: 'POST', status: 201 }]);
    expect(authRequest).toMatchObject({ route: 'authorization', resource: f.url, scope: 'mcp:read', codeChallengeMethod: 'S256' });
    expect(tokenRequest).toMatchObject({ route: 'token', grantType: 'authorization_code', resource: f.url, status: 200 });
    expect(await h.session.principal()).toEqual({ issuer: f.issuer, subject: 'alice', clientId: client.clientId, scopes: ['mcp:read'] });
    expect(h.urls).toHaveLength(1);
    expect((await h.browser.lastNavigation!).body).toContain('You can close this tab');
  });

  it('refreshes a little before expiry, rotating the refresh token, with resource', async () => {
    const f = await fixture();
    const h = harness(f);
    const first = await h.session.login();
    h.clock.now = first.expiresAt! - 30_000;

    const authorization = await h.session.authorization();
    const second = h.store.tokens.get(f.url)!;
    expect(authorization).toBe(`Bearer ${second.accessToken}`);
    expect(second.accessToken).not.toBe(first.accessToken);
    expect(second.refreshToken).toBeDefined();
    expect(second.refreshToken).not.toBe(first.refreshToken);
    expect(f.asRequests.at(-1)).toMatchObject({ route: 'token', grantType: 'refresh_token', resource: f.url, status: 200 });
    expect((await mcpPost(f.url, authorization, initialize)).status).toBe(200);
    // The old refresh token was rotated away: the server refuses it now (another process put it back).
    await h.store.saveTokens({ ...second, refreshToken: first.refreshToken! });
    h.clock.now = second.expiresAt! + 1;
    expect(await h.session.authorization()).toBeUndefined();
    expect(f.asRequests.at(-1)).toMatchObject({ grantType: 'refresh_token', status: 400 });
    expect(h.urls).toHaveLength(1);
  });

  it('falls back to a new login when the refresh token is refused (invalid_grant)', async () => {
    const f = await fixture();
    const h = harness(f);
    const first = await h.session.login();
    await h.store.saveTokens({ ...first, refreshToken: 'not-a-refresh-token-the-server-knows' });
    h.clock.now = first.expiresAt! + 1;

    await loginOn401(h, f);
    expect(h.lines.some((l) => l.includes('refused the refresh token ("invalid_grant")'))).toBe(true);
    expect(h.urls).toHaveLength(2);
    const record = h.store.tokens.get(f.url)!;
    expect(record.accessToken).not.toBe(first.accessToken);
    expect((await mcpPost(f.url, await h.session.authorization(), initialize)).status).toBe(200);
  });

  it('on 401 refreshes first, logs in when the refreshed token is refused too, and stops when a fresh login\'s token is refused', async () => {
    const f = await fixture();
    const h = harness(f);
    await h.session.login();
    const www = 'Bearer error="invalid_token", scope="mcp:read"';
    // A token rejected right after its login would end the session (last step); this one is older.
    h.clock.now += 61_000;

    await h.session.authorization();
    await h.session.onUnauthorized(www);
    expect(f.asRequests.at(-1)).toMatchObject({ grantType: 'refresh_token', status: 200 });
    expect(h.urls).toHaveLength(1);

    await h.session.authorization();
    await h.session.onUnauthorized(www);
    expect(f.asRequests.at(-1)).toMatchObject({ grantType: 'authorization_code', status: 200 });
    expect(h.urls).toHaveLength(2);

    await h.session.authorization();
    const error = await rejection(h.session.onUnauthorized(www));
    expect(error.code).toBe('AIRLOCK_AUTH_TOKEN');
    expect(error.message).toBe(`the server "${f.url}" rejected the token of a login that just succeeded`);
    expect(h.urls).toHaveLength(2);
  });

  it('steps up on 403 insufficient_scope with the union of the old and new scopes', async () => {
    const f = await fixture({ toolScopes: { add: 'mcp:write' } });
    const h = harness(f);
    await loginOn401(h, f);
    expect(h.store.tokens.get(f.url)!.scope).toBe('mcp:read');
    const forbidden = await mcpPost(f.url, await h.session.authorization(), callTool('add', { a: 1, b: 2 }));
    expect(forbidden.status).toBe(403);

    await h.session.onInsufficientScope(forbidden.www!);
    expect(f.asRequests.filter((r) => r.route === 'authorization').at(-1)).toMatchObject({ scope: 'mcp:read mcp:write', resource: f.url });
    expect(h.store.tokens.get(f.url)!.scope).toBe('mcp:read mcp:write');
    const ok = await mcpPost(f.url, await h.session.authorization(), callTool('add', { a: 1, b: 2 }));
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.text).result.content[0].text).toBe('3');

    // Asking again for a scope the token holds cannot help: refused without a new login.
    const again = await rejection(h.session.onInsufficientScope(forbidden.www!));
    expect(again.code).toBe('AIRLOCK_AUTH_INSUFFICIENT_SCOPE');
    expect(h.urls).toHaveLength(2);
  });

  it(`gives up after ${MAX_STEP_UPS} step-ups`, async () => {
    const f = await fixture();
    const h = harness(f);
    await h.session.login();
    for (let i = 1; i <= MAX_STEP_UPS; i++) await h.session.onInsufficientScope(`Bearer error="insufficient_scope", scope="extra:${i}"`);
    const error = await rejection(h.session.onInsufficientScope('Bearer error="insufficient_scope", scope="extra:next"'));
    expect(error.code).toBe('AIRLOCK_AUTH_INSUFFICIENT_SCOPE');
    expect(error.message).toContain(`after ${MAX_STEP_UPS} step-ups`);
    expect(h.urls).toHaveLength(1 + MAX_STEP_UPS);
  });

  it('lets one login serve two sessions that hit 401 at once (the second reuses the stored token)', async () => {
    const f = await fixture();
    const store = new ScannedStore();
    const a = harness(f, { store });
    const b = harness(f, { store });
    const [ra, rb] = await Promise.all([
      mcpPost(f.url, await a.session.authorization(), initialize),
      mcpPost(f.url, await b.session.authorization(), initialize),
    ]);
    await Promise.all([a.session.onUnauthorized(ra.www), b.session.onUnauthorized(rb.www)]);
    expect(a.urls.length + b.urls.length).toBe(1);
    expect(await a.session.authorization()).toBe(await b.session.authorization());
    expect(store.lockLog).toEqual([`auth:${f.url}`, `auth:${f.url}`]);
  });

  it('takeChallenge() before an explicit login: the login asks for the 401 challenge\'s scope, as connect would', async () => {
    const f = await fixture({ challengeScope: 'mcp:write' });
    const h = harness(f);
    const probe = await probeForLogin(new URL(f.url), fetch, createLogger('silent'));
    expect(probe).toMatchObject({ kind: 'unauthorized', status: 401 });
    expect(f.mcpRequests).toEqual([{ token: false, status: 401 }]);
    h.session.takeChallenge(probe.kind === 'unauthorized' ? probe.wwwAuthenticate : undefined);
    await h.session.login();
    expect(f.asRequests.filter((r) => r.route === 'authorization')).toMatchObject([{ scope: 'mcp:write' }]);
    expect(h.store.tokens.get(f.url)!.scope).toBe('mcp:write');
  });

  it('--authorize-param adds to the authorization URL; --omit-resource sends no resource anywhere (Entra AADSTS9010010)', async () => {
    const f = await fixture();
    const h = harness(f, { authorizeParams: { access_type: 'offline', prompt: 'consent' }, omitResource: true });
    await h.session.login();
    const url = new URL(h.urls[0]!);
    expect(url.searchParams.get('access_type')).toBe('offline');
    expect(url.searchParams.get('prompt')).toBe('consent');
    expect(url.searchParams.has('resource')).toBe(false);
    const sent = f.asRequests.filter((r) => r.route === 'authorization' || r.route === 'token');
    expect(sent.map((r) => r.route)).toEqual(['authorization', 'token']);
    expect(sent.every((r) => r.resource === undefined)).toBe(true);
    expect(h.store.tokens.get(f.url)!.resource).toBe(f.url);
  });

  it('keeps the registration per issuer and reuses it on the next login', async () => {
    const f = await fixture();
    const h = harness(f);
    await h.session.login();
    const client = h.store.clients.get(f.issuer)!;
    await h.session.login({ force: true });
    expect(f.asRequests.filter((r) => r.route === 'authorization')).toHaveLength(2);
    expect(h.store.clients.get(f.issuer)).toEqual(client);
    expect(h.store.clients.size).toBe(1);
  });

  it('works with an issuer that has a path, after the two path-insertion URLs fail', async () => {
    const f = await fixture({ issuerPath: '/t1' });
    const h = harness(f);
    await loginOn401(h, f);
    expect(f.issuer).toMatch(/\/t1$/);
    const origin = new URL(f.issuer).origin;
    const metadataLines = h.lines.filter((l) => l.includes('authorization server metadata: GET'));
    expect(metadataLines).toEqual([
      expect.stringContaining(`${origin}/.well-known/oauth-authorization-server/t1 -> 404`),
      expect.stringContaining(`${origin}/.well-known/openid-configuration/t1 -> 404`),
      expect.stringContaining(`${origin}/t1/.well-known/openid-configuration -> 200`),
    ]);
    expect((await mcpPost(f.url, await h.session.authorization(), initialize)).status).toBe(200);
  });
});

describe('authorization server migration (MCP 2026-07-28, SEP-2352)', () => {
  it('a 401 right after a login re-reads the resource metadata: a new issuer gets its own registration and login', async () => {
    const f = await fixture();
    const h = harness(f);
    await loginOn401(h, f);
    expect((await mcpPost(f.url, await h.session.authorization(), initialize)).status).toBe(200);
    const oldClient = h.store.clients.get(f.issuer)!;

    const as2 = await f.migrate();
    const denied = await mcpPost(f.url, await h.session.authorization(), initialize);
    expect(denied.status).toBe(401);
    await h.session.onUnauthorized(denied.www);

    expect(h.lines.some((l) => l.includes(`the server now names the authorization server "${as2.issuer}" instead of "${f.issuer}"; logging in there, with a registration of its own`))).toBe(true);
    const registrations = as2.asRequests.filter((r) => r.route === 'registration');
    expect(registrations).toHaveLength(1);
    const newClient = h.store.clients.get(as2.issuer)!;
    expect(newClient.clientId).not.toBe(oldClient.clientId);
    // Credentials stay per issuer: the old registration is kept for its own issuer, never sent to the new one.
    expect(h.store.clients.get(f.issuer)).toEqual(oldClient);
    expect(as2.asRequests.filter((r) => r.clientId === oldClient.clientId)).toEqual([]);
    expect(as2.asRequests.filter((r) => r.grantType === 'refresh_token')).toEqual([]);
    expect(as2.asRequests.filter((r) => r.route === 'token').at(-1)).toMatchObject({ grantType: 'authorization_code', clientId: newClient.clientId, status: 200 });
    expect(h.store.tokens.get(f.url)).toMatchObject({ issuer: as2.issuer, clientId: newClient.clientId });
    expect(h.urls).toHaveLength(2);
    expect((await mcpPost(f.url, await h.session.authorization(), initialize)).status).toBe(200);
  });

  it('an older token refused after the move: the refresh token is not sent to the new issuer either', async () => {
    const f = await fixture();
    const h = harness(f);
    await loginOn401(h, f);
    h.clock.now += 61_000;
    const as2 = await f.migrate();
    const denied = await mcpPost(f.url, await h.session.authorization(), initialize);
    await h.session.onUnauthorized(denied.www);
    expect(f.asRequests.filter((r) => r.grantType === 'refresh_token')).toEqual([]);
    expect(as2.asRequests.filter((r) => r.grantType === 'refresh_token')).toEqual([]);
    expect(h.store.tokens.get(f.url)!.issuer).toBe(as2.issuer);
    expect((await mcpPost(f.url, await h.session.authorization(), initialize)).status).toBe(200);
  });

  it('a client given with --client-id is never sent to the new issuer: the login stops and says to log in again; without a grant of its own it is bound at first use', async () => {
    const f = await fixture();
    // AGENT_CLIENT is registered at both authorization servers, with the same secret: exactly the
    // client that must not follow the resource to a server it was not given for.
    const given = { grant: 'client_credentials' as const, clientId: AGENT_CLIENT.clientId, clientSecret: AGENT_CLIENT.clientSecret };
    const h = harness(f, given);
    await loginOn401(h, f);
    expect(h.store.tokens.get(f.url)).toMatchObject({ issuer: f.issuer, clientId: AGENT_CLIENT.clientId });
    expect((await mcpPost(f.url, await h.session.authorization(), initialize)).status).toBe(200);

    const as2 = await f.migrate();
    const denied = await mcpPost(f.url, await h.session.authorization(), initialize);
    expect(denied.status).toBe(401);
    const error = await rejection(h.session.onUnauthorized(denied.www));
    expect(error.code).toBe('AIRLOCK_AUTH_ISSUER_MISMATCH');
    expect(error.message).toBe(`the server "${f.url}" now names the authorization server "${as2.issuer}" instead of "${f.issuer}"; the client "${AGENT_CLIENT.clientId}" given with --client-id was used at "${f.issuer}" and is not sent to another authorization server`);
    expect(error.hint).toContain(`mcp-airlock logout ${f.url} first`);
    // Nothing was asked of the new server with the given client (its metadata alone was read).
    expect(as2.asRequests.filter((r) => r.route !== 'discovery')).toEqual([]);
    expect(h.store.clients.get(as2.issuer)).toBeUndefined();
    // An explicit login with the same client stops the same way.
    expect((await rejection(h.session.login({ force: true }))).code).toBe('AIRLOCK_AUTH_ISSUER_MISMATCH');
    expect(as2.asRequests.filter((r) => r.route !== 'discovery')).toEqual([]);

    // After logout (no grant left) the given client is bound where it is first used: the new server.
    await h.store.deleteTokens(f.url);
    const again = harness(f, { ...given, store: h.store });
    await again.session.login();
    expect(h.store.tokens.get(f.url)).toMatchObject({ issuer: as2.issuer, clientId: AGENT_CLIENT.clientId });
    expect(as2.asRequests.filter((r) => r.route === 'token')).toMatchObject([{ grantType: 'client_credentials', clientId: AGENT_CLIENT.clientId, status: 200 }]);
  });

  it('the same issuer still refusing a fresh login\'s token stops, as before', async () => {
    const f = await fixture();
    const h = harness(f);
    await loginOn401(h, f);
    await h.session.authorization();
    const error = await rejection(h.session.onUnauthorized('Bearer error="invalid_token"'));
    expect(error.message).toBe(`the server "${f.url}" rejected the token of a login that just succeeded`);
    expect(h.urls).toHaveLength(1);
  });
});

describe('the MCP 2025-03-26 fallback, only for servers without resource metadata', () => {
  it('authorization server metadata at the MCP server\'s origin: one log line, then the usual login', async () => {
    const f = await fixture({ prm: 'none', legacyAuthorizationServer: 'metadata' });
    const h = harness(f);
    await loginOn401(h, f);
    const origin = new URL(f.url).origin;
    expect(f.issuer).toBe(origin);
    expect(h.lines.filter((l) => l.includes('MCP 2025-03-26'))).toEqual([
      expect.stringContaining(`"${f.url}" publishes no protected resource metadata; using the MCP 2025-03-26 fallback: the authorization server metadata at "${origin}"`),
    ]);
    expect(f.asRequests.filter((r) => r.route === 'registration')).toHaveLength(1);
    expect(f.asRequests.filter((r) => r.route === 'authorization')).toMatchObject([{ resource: f.url, codeChallengeMethod: 'S256' }]);
    expect(h.store.tokens.get(f.url)).toMatchObject({ issuer: origin });
    expect((await mcpPost(f.url, await h.session.authorization(), initialize)).status).toBe(200);
  });

  it('no metadata at all: the default endpoints /authorize, /token and /register at the origin', async () => {
    const f = await fixture({ prm: 'none', legacyAuthorizationServer: 'defaults' });
    const h = harness(f);
    await loginOn401(h, f);
    const origin = new URL(f.url).origin;
    expect(h.lines.filter((l) => l.includes('MCP 2025-03-26'))).toEqual([
      expect.stringContaining(`using the MCP 2025-03-26 default endpoints ${origin}/authorize, /token and /register`),
    ]);
    expect(h.urls[0]!.startsWith(`${origin}/authorize?`)).toBe(true);
    expect(f.asRequests.filter((r) => r.route === 'registration')).toHaveLength(1);
    expect(f.asRequests.filter((r) => r.route === 'token').at(-1)).toMatchObject({ grantType: 'authorization_code', status: 200 });
    expect((await mcpPost(f.url, await h.session.authorization(), initialize)).status).toBe(200);
  });

  it('resource metadata that is there but wrong is never replaced by the fallback', async () => {
    const f = await fixture({ prmResource: 'http://127.0.0.1:1/elsewhere', legacyAuthorizationServer: 'metadata' });
    const h = harness(f);
    const error = await rejection(loginOn401(h, f));
    expect(error.code).toBe('AIRLOCK_AUTH_RESOURCE_MISMATCH');
    expect(h.lines.some((l) => l.includes('2025-03-26'))).toBe(false);
  });
});

describe('stale registrations heal', () => {
  it('invalid_client on refresh drops the dynamic registration, says so, and the next login registers again once', async () => {
    const f = await fixture();
    const h = harness(f);
    const first = await h.session.login();
    const stale = h.store.clients.get(f.issuer)!;
    // The authorization server forgot the client (a restart with an in-memory store, an admin's clean-up).
    await f.provider.Client.adapter.destroy(stale.clientId);
    h.clock.now = first.expiresAt! + 1;

    expect(await h.session.authorization()).toBeUndefined();
    expect(f.asRequests.at(-1)).toMatchObject({ grantType: 'refresh_token', status: 401, error: 'invalid_client' });
    expect(h.lines.filter((l) => l.includes(`the authorization server no longer accepts client "${stale.clientId}" ("invalid_client"); dropped that registration, registering again at the next login`))).toHaveLength(1);
    expect(h.store.clients.has(f.issuer)).toBe(false);

    await loginOn401(h, f);
    const registrations = f.asRequests.filter((r) => r.route === 'registration');
    expect(registrations).toHaveLength(2);
    const fresh = h.store.clients.get(f.issuer)!;
    expect(fresh.clientId).not.toBe(stale.clientId);
    expect(h.store.tokens.get(f.url)!.clientId).toBe(fresh.clientId);
    expect((await mcpPost(f.url, await h.session.authorization(), initialize)).status).toBe(200);
  });

  it('a device login with a registration the server forgot registers again once and goes on, without asking the user twice', async () => {
    const f = await fixture();
    const approvals: Promise<unknown>[] = [];
    const options: Partial<AuthOptions> = {
      grant: 'device_code',
      onProgress: (event) => {
        if (event.step === 'authorization' && event.via === 'device') approvals.push(new HeadlessBrowser().navigate(event.verificationUriComplete!));
      },
    };
    const h = harness(f, options);
    await h.session.login();
    const stale = h.store.clients.get(f.issuer)!;
    await f.provider.Client.adapter.destroy(stale.clientId);

    await h.session.login({ force: true });
    await Promise.all(approvals);
    expect(approvals).toHaveLength(2);
    expect(h.lines.filter((l) => l.includes(`no longer accepts client "${stale.clientId}"`))).toHaveLength(1);
    expect(f.asRequests.filter((r) => r.route === 'registration')).toHaveLength(2);
    expect(h.store.clients.get(f.issuer)!.clientId).not.toBe(stale.clientId);
    expect((await mcpPost(f.url, await h.session.authorization(), initialize)).status).toBe(200);
  });
});

describe('device and client credentials grants', () => {
  it('device grant: shows the code, the user approves it in a browser, the token works', async () => {
    const f = await fixture();
    const shown: { userCode: string; verificationUriComplete?: string }[] = [];
    let approval: Promise<unknown> | undefined;
    const h = harness(f, {
      grant: 'device_code',
      openUrl: async () => {
        throw new Error('the device grant must not open a browser');
      },
      onProgress: (event) => {
        if (event.step !== 'authorization' || event.via !== 'device') return;
        shown.push(event);
        approval = new HeadlessBrowser({ login: 'bob' }).navigate(event.verificationUriComplete!);
      },
    });
    const record = await h.session.login();
    expect((await approval) as { body: string }).toMatchObject({ body: expect.stringContaining('Sign-in Success') });
    expect(shown).toHaveLength(1);
    expect(shown[0]!.userCode).toMatch(/^[A-Z]{4}-[A-Z]{4}$/);
    expect(record.subject).toBe('bob');
    // No challenge seen yet: all of the metadata's scopes_supported.
    expect(f.asRequests.filter((r) => r.route === 'device_authorization')).toMatchObject([{ resource: f.url, scope: 'mcp:read mcp:write' }]);
    expect(f.asRequests.at(-1)).toMatchObject({ grantType: 'urn:ietf:params:oauth:grant-type:device_code', resource: f.url, status: 200 });
    expect((await mcpPost(f.url, await h.session.authorization(), initialize)).status).toBe(200);
  });

  it('client credentials: an agent gets a token with its id and secret, and a new one at expiry', async () => {
    const f = await fixture();
    const h = harness(f, {
      grant: 'client_credentials',
      clientId: AGENT_CLIENT.clientId,
      clientSecret: AGENT_CLIENT.clientSecret,
      openUrl: async () => {
        throw new Error('client credentials must not open a browser');
      },
    });
    const record = await h.session.login();
    expect(record).toMatchObject({ subject: AGENT_CLIENT.clientId, clientId: AGENT_CLIENT.clientId, scope: 'mcp:read mcp:write' });
    expect(record.refreshToken).toBeUndefined();
    expect(f.asRequests.at(-1)).toMatchObject({ grantType: 'client_credentials', resource: f.url, status: 200 });
    expect((await mcpPost(f.url, await h.session.authorization(), initialize)).status).toBe(200);

    h.clock.now = record.expiresAt! - 1000;
    const renewed = await h.session.authorization();
    expect(renewed).not.toBe(`Bearer ${record.accessToken}`);
    expect(f.asRequests.filter((r) => r.grantType === 'client_credentials')).toHaveLength(2);
    expect(h.urls).toHaveLength(0);
  });
});

describe('client credentials with private_key_jwt (RFC 7523 §2.2)', () => {
  async function keyAgent(): Promise<{ f: Fixture; key: string; other: string }> {
    const { generateKeyPairSync } = await import('node:crypto');
    const { exportJWK } = await import('jose');
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const f = await fixture({ clients: [{ clientId: 'key-agent', grantTypes: ['client_credentials'], jwks: { keys: [await exportJWK(pair.publicKey)] } }] });
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'sec1' }).toString();
    return { f, key: pair.privateKey.export({ format: 'pem', type: 'sec1' }).toString(), other };
  }

  it('an agent with a private key (PEM, ES256 from the key) gets a token without any secret, and a new one at expiry', async () => {
    const { parseClientSigningKey } = await import('../../src/auth/client-signing-key.js');
    const { f, key } = await keyAgent();
    const h = harness(f, { grant: 'client_credentials', clientId: 'key-agent', clientSigningKey: await parseClientSigningKey(key, 'agent.pem') });
    await loginOn401(h, f);
    const record = h.store.tokens.get(f.url)!;
    expect(record).toMatchObject({ subject: 'key-agent', clientId: 'key-agent' });
    expect(f.asRequests.at(-1)).toMatchObject({ grantType: 'client_credentials', clientId: 'key-agent', resource: f.url, status: 200 });
    expect(h.store.clients.get(f.issuer)).toMatchObject({ clientId: 'key-agent', method: 'pre-registered', tokenEndpointAuthMethod: 'private_key_jwt' });
    expect(h.store.clients.get(f.issuer)!.clientSecret).toBeUndefined();
    expect((await mcpPost(f.url, await h.session.authorization(), initialize)).status).toBe(200);
    h.clock.now = record.expiresAt! - 1000;
    expect(await h.session.authorization()).not.toBe(`Bearer ${record.accessToken}`);
    expect(f.asRequests.filter((r) => r.grantType === 'client_credentials' && r.status === 200)).toHaveLength(2);
    expect(h.urls).toHaveLength(0);
  });

  it('a key the server does not know: invalid_client, named', async () => {
    const { parseClientSigningKey } = await import('../../src/auth/client-signing-key.js');
    const { f, other } = await keyAgent();
    const h = harness(f, { grant: 'client_credentials', clientId: 'key-agent', clientSigningKey: await parseClientSigningKey(other, 'other.pem') });
    const error = await rejection(h.session.login());
    expect(error.code).toBe('AIRLOCK_AUTH_TOKEN');
    expect(error.message).toMatch(/^requesting a token with the client credentials failed: the authorization server answered "invalid_client"/);
  });
});

describe('cross-app access: an ID-JAG from the IdP (RFC 8693), presented as a JWT bearer grant (RFC 7523)', () => {
  async function enterprise(): Promise<{ f: Fixture; idpIssuer: string; idpClient: { clientId: string; clientSecret: string }; asClient: { clientId: string; clientSecret: string }; idToken: (sub: string) => Promise<string>; exchanges: Array<Record<string, unknown>>; grants: Array<Record<string, unknown>> }> {
    const grantsModule = await import('../../fixtures/auth/identity-assertion-grants.mjs');
    const { startAuthorizationServer } = await import('../../fixtures/auth/authorization-server.mjs');
    const f = await fixture();
    const idp = await startAuthorizationServer({ resources: [] });
    extraClosers.push(() => idp.close());
    const keys = await grantsModule.createIdpKeys();
    const { grants } = grantsModule.enableJwtBearer(f.provider, { idpIssuer: idp.issuer, keys, resources: [f.url] });
    const asClient = await grantsModule.registerConfidentialClient(f.issuer, [grantsModule.JWT_BEARER_GRANT], 'airlock at the MCP server');
    const { exchanges } = grantsModule.enableIdJagIssuance(idp.provider, { keys, clientMapping: { [f.issuer]: asClient.clientId } });
    const idpClient = await grantsModule.registerConfidentialClient(idp.issuer, [grantsModule.TOKEN_EXCHANGE_GRANT], 'airlock at the IdP');
    const idToken = (sub: string) => grantsModule.mintIdToken(keys, { issuer: idp.issuer, sub, aud: idpClient.clientId });
    return { f, idpIssuer: idp.issuer, idpClient, asClient, idToken, exchanges, grants };
  }

  it('logs in with no browser: ID token -> ID-JAG at the IdP -> access token at the MCP server\'s authorization server, and again at expiry', async () => {
    const e = await enterprise();
    const h = harness(e.f, {
      grant: 'jwt_bearer',
      clientId: e.asClient.clientId,
      clientSecret: e.asClient.clientSecret,
      identityProvider: { issuer: e.idpIssuer, clientId: e.idpClient.clientId, clientSecret: e.idpClient.clientSecret, idToken: await e.idToken('carol') },
      openUrl: async () => {
        throw new Error('cross-app access must not open a browser');
      },
    });
    secrets.add(e.asClient.clientSecret).add(e.idpClient.clientSecret);
    await loginOn401(h, e.f);
    expect(e.exchanges).toEqual([expect.objectContaining({ client: e.idpClient.clientId, audience: e.f.issuer, resource: e.f.url, scope: 'mcp:read', subjectTokenType: 'urn:ietf:params:oauth:token-type:id_token', requestedTokenType: 'urn:ietf:params:oauth:token-type:id-jag', outcome: 'issued' })]);
    expect(e.grants).toEqual([expect.objectContaining({ client: e.asClient.clientId, scope: 'mcp:read', resource: e.f.url, outcome: 'issued', subject: 'carol' })]);
    const record = h.store.tokens.get(e.f.url)!;
    expect(record).toMatchObject({ issuer: e.f.issuer, clientId: e.asClient.clientId, subject: 'carol', scope: 'mcp:read' });
    expect((await mcpPost(e.f.url, await h.session.authorization(), initialize)).status).toBe(200);
    expect(e.f.mcpRequests.at(-1)).toMatchObject({ status: 200, subject: 'carol', client: e.asClient.clientId });

    h.clock.now = record.expiresAt! - 1000;
    expect(await h.session.authorization()).not.toBe(`Bearer ${record.accessToken}`);
    expect(e.grants).toHaveLength(2);
    expect(h.urls).toHaveLength(0);
  });

  it('without an ID token, airlock runs the OpenID Connect login at the IdP itself (once; the ID token is reused at expiry)', async () => {
    const e = await enterprise();
    const { createServer } = await import('node:net');
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port: p } = probe.address() as { port: number };
        probe.close(() => resolve(p));
      });
    });
    // airlock's client at the IdP: a native client with the loopback redirect, allowed the code flow and the exchange.
    const registration = await fetch(`${e.idpIssuer}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        application_type: 'native',
        redirect_uris: [`http://127.0.0.1:${port}/callback`],
        grant_types: ['authorization_code', 'urn:ietf:params:oauth:grant-type:token-exchange'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      }),
    });
    const idpClient = (await registration.json()) as { client_id: string; client_secret: string };
    secrets.add(idpClient.client_secret);
    const idpMetadataFetches: string[] = [];
    const h = harness(e.f, {
      grant: 'jwt_bearer',
      clientId: e.asClient.clientId,
      clientSecret: e.asClient.clientSecret,
      identityProvider: { issuer: e.idpIssuer, clientId: idpClient.client_id, clientSecret: idpClient.client_secret },
      callbackPort: port,
      fetch: (input, init) => {
        const url = String(input instanceof Request ? input.url : input);
        if (url.startsWith(e.idpIssuer) && url.includes('/.well-known/')) idpMetadataFetches.push(url);
        return fetch(input, init);
      },
    }, new HeadlessBrowser({ login: 'erin' }));
    await loginOn401(h, e.f);
    expect(h.urls).toHaveLength(1);
    expect(new URL(h.urls[0]!).origin).toBe(new URL(e.idpIssuer).origin);
    expect(new URL(h.urls[0]!).searchParams.get('scope')).toBe('openid');
    expect(new URL(h.urls[0]!).searchParams.has('resource')).toBe(false);
    expect(h.lines.some((l) => l.includes(`logging in at the identity provider "${e.idpIssuer}" for cross-app access`))).toBe(true);
    expect(e.exchanges).toEqual([expect.objectContaining({ client: idpClient.client_id, outcome: 'issued', subject: 'erin' })]);
    // The IdP's metadata is read once for its login and the exchange together.
    expect(idpMetadataFetches.length).toBeGreaterThan(0);
    expect(new Set(idpMetadataFetches).size).toBe(idpMetadataFetches.length);
    const record = h.store.tokens.get(e.f.url)!;
    expect(record.subject).toBe('erin');
    expect((await mcpPost(e.f.url, await h.session.authorization(), initialize)).status).toBe(200);

    h.clock.now = record.expiresAt! - 1000;
    await h.session.authorization();
    expect(e.grants).toHaveLength(2);
    expect(h.urls).toHaveLength(1);
  });

  it('an ID token the IdP did not issue to airlock\'s client: the IdP\'s refusal, named, and no grant at the authorization server', async () => {
    const e = await enterprise();
    const h = harness(e.f, {
      grant: 'jwt_bearer',
      clientId: e.asClient.clientId,
      clientSecret: e.asClient.clientSecret,
      identityProvider: { issuer: e.idpIssuer, clientId: e.idpClient.clientId, clientSecret: e.idpClient.clientSecret, idToken: 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJtYWxsb3J5In0.' },
    });
    const error = await rejection(h.session.login());
    expect(error.message).toBe(`exchanging the ID token for an ID-JAG at the identity provider "${e.idpIssuer}" failed (HTTP 400) "invalid_grant": "grant request is invalid"`);
    expect(error.hint).toBe('The ID token is expired or was not issued to --idp-client-id: get a fresh one from your single sign-on.');
    expect(e.grants).toEqual([]);
  });
});

describe('workload identity federation (SEP-1933): the workload\'s JWT as a JWT bearer grant', () => {
  it('a public client presents the workload token (read anew each time); a refusal is surfaced without a retry or another grant', async () => {
    const grantsModule = await import('../../fixtures/auth/identity-assertion-grants.mjs');
    const f = await fixture();
    const keys = await grantsModule.createIdpKeys();
    const workloadIssuer = 'https://kubernetes.default.svc';
    const workloads: Record<string, string> = {};
    const { grants } = grantsModule.enableJwtBearer(f.provider, { idpIssuer: workloadIssuer, keys, resources: [f.url], workloads });
    const client = await grantsModule.registerConfidentialClient(f.issuer, [grantsModule.JWT_BEARER_GRANT], 'a workload', 'none');
    workloads[client.clientId] = 'system:serviceaccount:ci:agent';
    let token = await grantsModule.mintWorkloadToken(keys, { issuer: workloadIssuer, sub: 'system:serviceaccount:ci:agent', aud: f.issuer });
    let reads = 0;
    const h = harness(f, {
      grant: 'jwt_bearer',
      clientId: client.clientId,
      workloadToken: async () => {
        reads++;
        return token;
      },
    });
    await loginOn401(h, f);
    expect(grants).toEqual([expect.objectContaining({ client: client.clientId, resource: f.url, outcome: 'issued', subject: 'system:serviceaccount:ci:agent' })]);
    expect(h.store.clients.get(f.issuer)).toMatchObject({ clientId: client.clientId, tokenEndpointAuthMethod: 'none' });
    expect((await mcpPost(f.url, await h.session.authorization(), initialize)).status).toBe(200);

    // The rotated file now holds a token for another audience: refused, named, tried once.
    token = await grantsModule.mintWorkloadToken(keys, { issuer: workloadIssuer, sub: 'system:serviceaccount:ci:agent', aud: 'https://elsewhere.example' });
    const error = await rejection(h.session.login({ force: true }));
    expect(error.message).toBe('presenting the workload identity token (JWT bearer grant) failed: the authorization server answered "invalid_grant": "grant request is invalid"');
    expect(reads).toBe(2);
    expect(f.asRequests.filter((r) => r.route === 'token').map((r) => r.grantType)).toEqual([grantsModule.JWT_BEARER_GRANT, grantsModule.JWT_BEARER_GRANT]);
  });
});

describe('each broken rule stops the login', () => {
  it('no metadata of any kind and no 2025-03-26 default endpoints: AIRLOCK_UPSTREAM_CREDENTIALS with the API-key hint, every URL tried kept in the cause', async () => {
    const f = await fixture({ prm: 'none' });
    const h = harness(f);
    const error = await rejection(loginOn401(h, f));
    expect(error.code).toBe('AIRLOCK_UPSTREAM_CREDENTIALS');
    const origin = new URL(f.url).origin;
    expect(error.message).toBe(`HTTP 401 Unauthorized from ${f.url}, and it offers no OAuth login (no protected resource metadata)`);
    expect(error.hint).toBe('It takes an API key or a static token: pass it with --header "Authorization: Bearer ${TOKEN}" and set the variable in the environment (then no login is tried).');
    const cause = error.cause as AirlockError;
    expect(cause.code).toBe('AIRLOCK_AUTH_DISCOVERY');
    expect(cause.message).toBe(
      `no protected resource metadata found; tried "${origin}/.well-known/oauth-protected-resource/mcp" (404); "${origin}/.well-known/oauth-protected-resource" (404); `
      + `nor authorization server metadata at the server's origin (MCP 2025-03-26); tried "${origin}/.well-known/oauth-authorization-server" (404); "${origin}/.well-known/openid-configuration" (404); `
      + `and its default endpoints do not work either: client registration at "${origin}/register" was refused (HTTP 404) "not found"`,
    );
    expect(h.urls).toHaveLength(0);
  });

  it('metadata for another resource: AIRLOCK_AUTH_RESOURCE_MISMATCH', async () => {
    const f = await fixture({ prmResource: 'http://127.0.0.1:1/elsewhere' });
    const h = harness(f);
    const error = await rejection(loginOn401(h, f));
    expect(error.code).toBe('AIRLOCK_AUTH_RESOURCE_MISMATCH');
    expect(h.store.clients.size).toBe(0);
  });

  it('issuer mismatch: AIRLOCK_AUTH_ISSUER_MISMATCH before any registration', async () => {
    const f = await fixture({ metadataIssuer: 'http://127.0.0.1:1/impostor' });
    const h = harness(f);
    const error = await rejection(loginOn401(h, f));
    expect(error.code).toBe('AIRLOCK_AUTH_ISSUER_MISMATCH');
    expect(error.message).toContain(`names issuer "http://127.0.0.1:1/impostor", expected "${f.issuer}"`);
    expect(h.store.clients.size).toBe(0);
    expect(h.urls).toHaveLength(0);
  });

  it('no S256 advertised: AIRLOCK_AUTH_NO_PKCE before any registration; assumeS256 logs in', async () => {
    const f = await fixture({ advertiseS256: false });
    const refused = harness(f);
    const error = await rejection(loginOn401(refused, f));
    expect(error.code).toBe('AIRLOCK_AUTH_NO_PKCE');
    expect(error.hint).toContain('--assume-s256');
    expect(refused.store.clients.size).toBe(0);

    const vouched = harness(f, { assumeS256: true });
    await loginOn401(vouched, f);
    expect(vouched.lines.some((l) => l.includes('warn: the authorization server') && l.includes('using S256 anyway'))).toBe(true);
    expect(f.asRequests.find((r) => r.route === 'authorization')).toMatchObject({ codeChallengeMethod: 'S256' });
    expect((await mcpPost(f.url, await vouched.session.authorization(), initialize)).status).toBe(200);
  });

  it('a wrong iss in the callback: AIRLOCK_AUTH_ISS_MISMATCH, no code exchanged, the browser told why', async () => {
    const f = await fixture({ callbackIss: 'wrong' });
    const h = harness(f);
    const error = await rejection(loginOn401(h, f));
    expect(error.code).toBe('AIRLOCK_AUTH_ISS_MISMATCH');
    expect(error.message).toBe(`the authorization response names issuer "${new URL(f.issuer).origin}/somebody-else", expected "${f.issuer}"`);
    expect(f.asRequests.filter((r) => r.route === 'token')).toHaveLength(0);
    expect(h.store.tokens.size).toBe(0);
    const page = await h.browser.lastNavigation!;
    expect(page.status).toBe(400);
    expect(page.body).toContain('unexpected authorization server');
  });

  it('a missing iss although the server advertises it: AIRLOCK_AUTH_ISS_MISMATCH', async () => {
    const f = await fixture({ callbackIss: 'missing' });
    const h = harness(f);
    const error = await rejection(loginOn401(h, f));
    expect(error.code).toBe('AIRLOCK_AUTH_ISS_MISMATCH');
    expect(error.message).toContain('carries no iss');
    expect(f.asRequests.filter((r) => r.route === 'token')).toHaveLength(0);
  });

  it('the user cancels at the login page: AIRLOCK_AUTH_DENIED with the server\'s error code', async () => {
    const f = await fixture();
    const h = harness(f, {}, new HeadlessBrowser({ deny: true }));
    const error = await rejection(loginOn401(h, f));
    expect(error.code).toBe('AIRLOCK_AUTH_DENIED');
    expect(error.message).toBe('the authorization server refused the authorization: "access_denied" ("End-User aborted interaction")');
    expect((await h.browser.lastNavigation!).body).not.toContain('End-User aborted');
  });

  it('tokens are only handed out for the server they were issued for', async () => {
    const f = await fixture();
    const store = new ScannedStore();
    await harness(f, { store }).session.login();
    const other = harness(f, { store, serverUrl: `${new URL(f.url).origin}/other-mcp` });
    expect(await other.session.authorization()).toBeUndefined();
    expect(await other.session.principal()).toBeUndefined();
  });
});

it('no access token, refresh token or client secret appears in any log line or error message of this file', () => {
  expect(secrets.size).toBeGreaterThan(10);
  expect(transcript.length).toBeGreaterThan(50);
  const leaks = [...secrets].filter((secret) => transcript.some((line) => line.includes(secret)));
  expect(leaks).toEqual([]);
});

afterAll(() => {
  transcript.length = 0;
});
