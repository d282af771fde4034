/**
 * OAuth through the real CLI, against a real authorization server (oidc-provider) and an MCP
 * server that checks its JWTs: `login`, `status`, `logout`, and `connect` logging in by itself on
 * 401. The "browser" is the test: airlock prints the URL (--no-browser), a headless browser
 * submits the login and consent forms. Five connects at once share one login.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { UnauthorizedError, type OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startAuthorizationServer } from '../../fixtures/auth/authorization-server.mjs';
import { AGENT_CLIENT, startAuthFixture } from '../../fixtures/auth/protected-server.mjs';
import type { AuditRecord } from '../../src/audit/audit-record.js';
import { startAirlock, stdioFixture, waitFor, type AirlockProcess } from '../helpers/airlock-process.js';
import { HeadlessBrowser } from '../helpers/headless-browser.js';
import { AUTHORIZATION_URL, completeLogin } from '../helpers/cli-login.js';
import { initializeRequest, LineClient } from '../helpers/line-client.js';
import { storedTokens } from '../helpers/stored-secrets.js';

type Fixture = Awaited<ReturnType<typeof startAuthFixture>>;

const running: AirlockProcess[] = [];
let fixture: Fixture;
let dir: string;
let configDir: string;
let env: NodeJS.ProcessEnv;
beforeAll(async () => {
  fixture = await startAuthFixture();
  dir = mkdtempSync(join(tmpdir(), 'airlock-login-'));
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
});
afterAll(async () => {
  await fixture?.close();
  rmSync(dir, { recursive: true, force: true });
});

let n = 0;
function freshConfig(): void {
  configDir = join(dir, `config-${++n}`);
  env = { ...process.env, MCP_AIRLOCK_CONFIG_DIR: configDir };
}

const authFlags = ['--storage', 'file', '--allow-http', '--no-browser'];

function airlock(args: string[]): AirlockProcess {
  const proc = startAirlock(args, { env });
  running.push(proc);
  return proc;
}

describe('login, status, logout, and connect with OAuth', () => {
  it('login stores a token; status shows it without the token; connect uses it; logout forgets it', async () => {
    freshConfig();
    const seen = fixture.mcpRequests.length;
    const login = airlock(['login', fixture.url, ...authFlags]);
    await completeLogin(login);
    expect(await login.exited).toBe(0);
    // One request without a token, the probe; its 401 challenge is what the login then asks for.
    expect(fixture.mcpRequests.slice(seen)).toEqual([{ token: false, status: 401 }]);
    // login probes first: it asks for what the server's 401 names (mcp:read), as connect would, not all of scopes_supported.
    expect(login.stdout()).toMatch(new RegExp(`^logged in to ${fixture.url}: issuer ${fixture.issuer}, client \\S+, scopes mcp:read, expires in \\d+ min\\n$`));
    expect(fixture.asRequests.filter((r) => (r as { route?: string }).route === 'authorization').at(-1)).toMatchObject({ scope: 'mcp:read' });

    const status = airlock(['status', '--storage', 'file', '--json']);
    expect(await status.exited).toBe(0);
    const rows = JSON.parse(status.stdout()) as Array<Record<string, unknown>>;
    expect(rows).toEqual([expect.objectContaining({ server: fixture.url, issuer: fixture.issuer, scopes: expect.arrayContaining(['mcp:read']), storage: 'file', refreshable: true })]);

    const auditFile = join(dir, `audit-${n}.jsonl`);
    const connect = airlock(['connect', fixture.url, ...authFlags, '--audit-file', auditFile]);
    const client = new LineClient(connect);
    await client.handshake();
    expect((await client.call(1, 'echo', { text: 'with a token' })).result).toEqual({ content: [{ type: 'text', text: 'with a token' }] });
    client.endInput();
    expect(await connect.exited).toBe(0);
    expect(connect.stderr()).not.toMatch(/open/i); // no second login
    expect(connect.stderr()).toContain(`[mcp-airlock] info: connected to ${fixture.url} (streamable HTTP, MCP 2025-11-25, auth: OAuth token from the credential file)`);
    const call = readFileSync(auditFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditRecord).find((r) => r.id === 1)!;
    expect(call.principal).toMatchObject({ issuer: fixture.issuer, subject: 'alice', scopes: expect.arrayContaining(['mcp:read']) });

    const secrets = storedTokens(configDir);
    expect(secrets.length).toBeGreaterThan(0);
    for (const secret of secrets) {
      for (const proc of [login, status, connect]) expect(proc.stderr() + proc.stdout()).not.toContain(secret);
      expect(readFileSync(auditFile, 'utf8')).not.toContain(secret);
    }

    const logout = airlock(['logout', fixture.url, '--storage', 'file']);
    expect(await logout.exited).toBe(0);
    expect(logout.stdout()).toBe('logged out of 1 server\n');
    const after = airlock(['status', fixture.url, '--storage', 'file']);
    expect(await after.exited).toBe(1);
    expect(after.stdout()).toBe(`not logged in to ${fixture.url} (storage: file)\n`);
  });

  it('connect logs in by itself on 401 while the client waits; stdout stays JSON-RPC', async () => {
    freshConfig();
    const connect = airlock(['connect', fixture.url, ...authFlags]);
    const client = new LineClient(connect);
    client.send(initializeRequest(0));
    await completeLogin(connect, 'bob');
    expect((await client.response(0)).result).toMatchObject({ serverInfo: { name: 'airlock-auth-fixture' } });
    client.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    expect((await client.call(1, 'echo', { text: 'after login' })).result).toEqual({ content: [{ type: 'text', text: 'after login' }] });
    expect(client.messages().every((m) => m.jsonrpc === '2.0')).toBe(true);
    expect(connect.stderr()).toContain(`[mcp-airlock] info: connected to ${fixture.url} (streamable HTTP, MCP 2025-11-25, auth: OAuth token from a login just now, kept in the credential file)`);
    client.endInput();
    expect(await connect.exited).toBe(0);
  });

  it('a login is not counted against --request-timeout: the first exchange waits for the user, then gets its answer', async () => {
    freshConfig();
    // 3 s: long enough for the exchange after the login on a loaded machine (1 s flaked under load).
    const connect = airlock(['connect', fixture.url, ...authFlags, '--request-timeout', '3']);
    const client = new LineClient(connect);
    client.send(initializeRequest(0));
    await waitFor(() => AUTHORIZATION_URL.test(connect.stderr()), 'the login URL');
    await new Promise((resolve) => setTimeout(resolve, 4000)); // the user takes longer than the limit
    await completeLogin(connect, 'bob');
    expect((await client.response(0)).result).toMatchObject({ serverInfo: { name: 'airlock-auth-fixture' } });
    expect(connect.stderr()).not.toContain('got no answer');
    client.endInput();
    expect(await connect.exited).toBe(0);
  });

  it('five connects started at once share one login: one URL, one authorization, all five work', async () => {
    freshConfig();
    const before = fixture.asRequests.filter((r) => (r as { route?: string }).route === 'authorization').length;
    const procs = Array.from({ length: 5 }, () => airlock(['connect', fixture.url, ...authFlags]));
    const clients = procs.map((p) => new LineClient(p));
    clients.forEach((c) => c.send(initializeRequest(0)));
    const urlPattern = AUTHORIZATION_URL;
    await waitFor(() => procs.some((p) => urlPattern.test(p.stderr())), 'a login URL from one of the five', 20_000);
    const first = procs.find((p) => urlPattern.test(p.stderr()))!;
    await completeLogin(first, 'carol');
    for (const c of clients) expect((await c.response(0, 20_000)).result).toMatchObject({ serverInfo: { name: 'airlock-auth-fixture' } });
    expect(procs.filter((p) => urlPattern.test(p.stderr()))).toHaveLength(1);
    const after = fixture.asRequests.filter((r) => (r as { route?: string }).route === 'authorization').length;
    expect(after - before).toBe(1);
    clients.forEach((c) => c.endInput());
    for (const p of procs) expect(await p.exited).toBe(0);
  });

  it('--no-auth: a 401 is an error with a hint, no login is attempted', async () => {
    freshConfig();
    const connect = airlock(['connect', fixture.url, '--no-auth', '--allow-http']);
    const client = new LineClient(connect);
    client.send(initializeRequest(0));
    const reply = await client.response(0);
    expect(reply.error?.message).toContain(`HTTP 401 Unauthorized from ${fixture.url}`);
    expect((reply.error?.data as { hint?: string }).hint).toMatch(/^The server wants an OAuth login: run mcp-airlock login /);
    expect(connect.stderr()).not.toMatch(/127\.0\.0\.1:\d+\/[^\s]*auth/);
    client.endInput();
    await connect.exited;
  });
});

describe('connect takes the machine grants itself (no login command first)', () => {
  it('--client-credentials with a secret, and with a private key file (private_key_jwt), log in on the first 401 and call through', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const { writeFileSync } = await import('node:fs');
    const { exportJWK } = await import('jose');
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const own = await startAuthFixture({ clients: [{ clientId: 'key-agent', grantTypes: ['client_credentials'], jwks: { keys: [await exportJWK(pair.publicKey)] } }] });
    try {
      freshConfig();
      const keyFile = join(dir, 'agent-key.json');
      writeFileSync(keyFile, JSON.stringify(await exportJWK(pair.privateKey)), { mode: 0o600 });
      const withKey = airlock(['connect', own.url, '--storage', 'file', '--allow-http', '--client-credentials', '--client-id', 'key-agent', '--client-private-key-file', keyFile]);
      const keyClient = new LineClient(withKey);
      await keyClient.handshake();
      expect((await keyClient.call(1, 'echo', { text: 'signed' })).result).toEqual({ content: [{ type: 'text', text: 'signed' }] });
      keyClient.endInput();
      expect(await withKey.exited).toBe(0);
      expect(own.mcpRequests.filter((r) => r.status === 200).every((r) => r.client === 'key-agent')).toBe(true);

      freshConfig();
      env = { ...env, AGENT_SECRET: AGENT_CLIENT.clientSecret };
      const withSecret = airlock(['connect', own.url, '--storage', 'file', '--allow-http', '--client-credentials', '--client-id', AGENT_CLIENT.clientId, '--client-secret-env', 'AGENT_SECRET']);
      const secretClient = new LineClient(withSecret);
      await secretClient.handshake();
      expect((await secretClient.call(1, 'echo', { text: 'basic' })).result).toEqual({ content: [{ type: 'text', text: 'basic' }] });
      secretClient.endInput();
      expect(await withSecret.exited).toBe(0);
      expect(own.asRequests.filter((r) => r.route === 'authorization')).toEqual([]);
      expect(own.asRequests.filter((r) => r.grantType === 'client_credentials' && r.status === 200).map((r) => r.clientId)).toEqual(['key-agent', AGENT_CLIENT.clientId]);
      expect(withKey.stderr() + withSecret.stderr()).not.toContain(AGENT_CLIENT.clientSecret);
      expect(withSecret.stderr()).toContain(`[mcp-airlock] info: connected to ${own.url} (streamable HTTP, MCP 2025-11-25, auth: OAuth client credentials)`);
    } finally {
      await own.close();
    }
  });

  it('--idp-issuer (cross-app access): connect exchanges the ID token at the IdP and logs in without a browser', async () => {
    const grants = await import('../../fixtures/auth/identity-assertion-grants.mjs');
    const { startAuthorizationServer } = await import('../../fixtures/auth/authorization-server.mjs');
    const own = await startAuthFixture();
    const idp = await startAuthorizationServer({ resources: [] });
    try {
      const keys = await grants.createIdpKeys();
      grants.enableJwtBearer(own.provider, { idpIssuer: idp.issuer, keys, resources: [own.url] });
      const asClient = await grants.registerConfidentialClient(own.issuer, [grants.JWT_BEARER_GRANT]);
      const { exchanges } = grants.enableIdJagIssuance(idp.provider, { keys, clientMapping: { [own.issuer]: asClient.clientId } });
      const idpClient = await grants.registerConfidentialClient(idp.issuer, [grants.TOKEN_EXCHANGE_GRANT]);
      const idToken = await grants.mintIdToken(keys, { issuer: idp.issuer, sub: 'dave', aud: idpClient.clientId });
      freshConfig();
      env = { ...env, AS_SECRET: asClient.clientSecret, IDP_SECRET: idpClient.clientSecret, ID_TOKEN: idToken };
      const connect = airlock([
        'connect', own.url, '--storage', 'file', '--allow-http',
        '--idp-issuer', idp.issuer, '--idp-client-id', idpClient.clientId, '--idp-client-secret-env', 'IDP_SECRET', '--idp-id-token-env', 'ID_TOKEN',
        '--client-id', asClient.clientId, '--client-secret-env', 'AS_SECRET',
      ]);
      const client = new LineClient(connect);
      await client.handshake();
      expect((await client.call(1, 'echo', { text: 'as dave' })).result).toEqual({ content: [{ type: 'text', text: 'as dave' }] });
      client.endInput();
      expect(await connect.exited).toBe(0);
      expect(exchanges).toHaveLength(1);
      expect(own.mcpRequests.filter((r) => r.status === 200).every((r) => r.subject === 'dave')).toBe(true);
      expect(own.asRequests.filter((r) => r.route === 'authorization')).toEqual([]);
      for (const secret of [idToken, asClient.clientSecret, idpClient.clientSecret]) expect(connect.stderr()).not.toContain(secret);
    } finally {
      await own.close();
      await idp.close();
    }
  });

  it('--device and --client-credentials together: a usage error before anything starts', async () => {
    freshConfig();
    const connect = airlock(['connect', fixture.url, '--device', '--client-credentials']);
    expect(await connect.exited).toBe(2);
    expect(connect.stderr()).toContain('give only one of --device, --client-credentials');
  });
});

describe('serve as a protected resource, found and logged in to by a client with no configuration', () => {
  /** serve with --oauth-issuer on a known port (the authorization server must know the resource first). */
  async function protectedServe(auditFile: string): Promise<{ resource: string; as: Awaited<ReturnType<typeof startAuthorizationServer>>; serve: AirlockProcess }> {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const resource = `http://127.0.0.1:${port}/mcp`;
    const as = await startAuthorizationServer({ resources: [resource] });
    const serve = startAirlock(['serve', '--port', String(port), '--oauth-issuer', as.issuer, '--oauth-scopes', 'mcp:read', '--audit-file', auditFile, '--', process.execPath, stdioFixture], { env, stdin: 'ignore' });
    running.push(serve);
    await serve.waitForStderr(/listening on/);
    return { resource, as, serve };
  }

  const principalOf = (auditFile: string, tool: string): AuditRecord['principal'] =>
    readFileSync(auditFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditRecord).find((r) => r.name === tool)!.principal;

  it("airlock's own connect discovers serve's metadata, logs in at the authorization server, and calls through", async () => {
    freshConfig();
    const auditFile = join(dir, `serve-audit-${n}.jsonl`);
    const { resource, as, serve } = await protectedServe(auditFile);
    try {
      const connect = airlock(['connect', resource, ...authFlags]);
      const client = new LineClient(connect);
      client.send(initializeRequest(0));
      await completeLogin(connect, 'dora');
      expect((await client.response(0, 20_000)).result).toMatchObject({ serverInfo: { name: 'airlock-fixture' } });
      client.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      expect((await client.call(1, 'echo', { text: 'through a protected serve' })).result).toEqual({ content: [{ type: 'text', text: 'through a protected serve' }] });
      client.endInput();
      expect(await connect.exited).toBe(0);
      expect(await serve.stop()).toBe(143);
      // serve audited the call with the caller it verified.
      expect(principalOf(auditFile, 'echo')).toMatchObject({ issuer: as.issuer, subject: 'dora', verified: true });
    } finally {
      await as.close();
    }
  });

  it("the MCP SDK's client with its OAuthClientProvider discovers, registers, logs in and calls through", async () => {
    freshConfig();
    const auditFile = join(dir, `serve-audit-${n}.jsonl`);
    const { resource, as, serve } = await protectedServe(auditFile);
    // The SDK's redirect target: a loopback page that keeps the code, as a desktop client's would.
    const codes: string[] = [];
    const callback = createServer((req, res) => {
      const code = new URL(req.url ?? '/', 'http://127.0.0.1').searchParams.get('code');
      if (code) codes.push(code);
      res.writeHead(200, { 'content-type': 'text/html' }).end('<p>You can close this window.</p>');
    });
    await new Promise<void>((r) => callback.listen(0, '127.0.0.1', r));
    const redirectUrl = `http://127.0.0.1:${(callback.address() as AddressInfo).port}/callback`;
    const provider = new SdkTestProvider(redirectUrl, 'erin');
    try {
      const first = new StreamableHTTPClientTransport(new URL(resource), { authProvider: provider });
      await expect(new Client({ name: 'sdk-client', version: '1' }).connect(first)).rejects.toBeInstanceOf(UnauthorizedError);
      // It found everything itself: serve's metadata, the issuer's metadata, and registered by DCR
      // (the SDK saves client information only from a registration response).
      expect(provider.client?.client_id).toEqual(expect.any(String));
      await provider.loggedIn;
      expect(codes).toHaveLength(1);
      await first.finishAuth(codes[0]!);
      expect(provider.saved?.scope).toContain('mcp:read');

      const client = new Client({ name: 'sdk-client', version: '1' });
      await client.connect(new StreamableHTTPClientTransport(new URL(resource), { authProvider: provider }));
      expect(await client.callTool({ name: 'echo', arguments: { text: 'sdk through serve' } })).toEqual({ content: [{ type: 'text', text: 'sdk through serve' }] });
      await client.close();
      expect(await serve.stop()).toBe(143);
      expect(principalOf(auditFile, 'echo')).toEqual({ issuer: as.issuer, subject: 'erin', clientId: provider.client!.client_id, scopes: expect.arrayContaining(['mcp:read']), verified: true });
      // serve never logged the token it checked.
      expect(serve.stderr()).not.toContain(provider.saved!.access_token);
    } finally {
      await new Promise<void>((r) => callback.close(() => r()));
      await as.close();
    }
  });
});

/** The smallest OAuthClientProvider a desktop client writes: memory only, its "browser" the headless one. */
class SdkTestProvider implements OAuthClientProvider {
  client: OAuthClientInformationMixed | undefined;
  saved: OAuthTokens | undefined;
  loggedIn: Promise<unknown> = Promise.resolve();
  private verifier = '';

  constructor(private readonly callbackUrl: string, private readonly login: string) {}

  get redirectUrl(): string {
    return this.callbackUrl;
  }

  get clientMetadata(): OAuthClientMetadata {
    return { client_name: 'sdk test client', redirect_uris: [this.callbackUrl], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none', application_type: 'native' } as OAuthClientMetadata;
  }

  clientInformation(): OAuthClientInformationMixed | undefined {
    return this.client;
  }

  saveClientInformation(info: OAuthClientInformationMixed): void {
    this.client = info;
  }

  tokens(): OAuthTokens | undefined {
    return this.saved;
  }

  saveTokens(tokens: OAuthTokens): void {
    this.saved = tokens;
  }

  redirectToAuthorization(url: URL): void {
    this.loggedIn = new HeadlessBrowser({ login: this.login }).navigate(url.href);
  }

  saveCodeVerifier(verifier: string): void {
    this.verifier = verifier;
  }

  codeVerifier(): string {
    return this.verifier;
  }
}
