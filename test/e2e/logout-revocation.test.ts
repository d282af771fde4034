/**
 * `logout` revokes at the authorization server (RFC 7009) before it forgets: afterwards the old
 * refresh token is refused there (invalid_grant), the revocation request carried no token in its
 * URL, and no token is printed. `--no-revoke` only forgets. A revocation that fails still forgets,
 * and says so.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_CLIENT, startAuthorizationServer } from '../../fixtures/auth/authorization-server.mjs';
import { startAuthFixture } from '../../fixtures/auth/protected-server.mjs';
import { createFileGrantStore, resolveCredentialsDir } from '../../src/store/file-store.js';
import { repoRoot, startAirlock, type AirlockProcess } from '../helpers/airlock-process.js';
import { cliLogin } from '../helpers/cli-login.js';
import { leaks, storedTokens } from '../helpers/stored-secrets.js';

type Fixture = Awaited<ReturnType<typeof startAuthFixture>>;

let fixture: Fixture;
let dir: string;
let n = 0;
beforeAll(async () => {
  fixture = await startAuthFixture();
  dir = mkdtempSync(join(tmpdir(), 'airlock-logout-'));
});
afterAll(async () => {
  await fixture?.close();
  rmSync(dir, { recursive: true, force: true });
});

function freshEnv(): { env: NodeJS.ProcessEnv; configDir: string } {
  const configDir = join(dir, `config-${++n}`);
  return { configDir, env: { ...process.env, MCP_AIRLOCK_CONFIG_DIR: configDir } };
}

/** The refresh and access token of the one stored grant. */
function theGrant(configDir: string): { accessToken: string; refreshToken: string } {
  const tokens = storedTokens(configDir);
  expect(tokens).toHaveLength(2);
  return { accessToken: tokens[0]!, refreshToken: tokens[1]! };
}

/** A refresh_token grant sent by hand to the token endpoint, as anyone holding a copy could. */
async function refreshDirectly(issuer: string, refreshToken: string, clientId: string, resource: string): Promise<{ status: number; error?: string }> {
  const response = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: clientId, resource }),
  });
  const body = (await response.json()) as { error?: string };
  return body.error === undefined ? { status: response.status } : { status: response.status, error: body.error };
}

async function run(args: string[], env: NodeJS.ProcessEnv): Promise<AirlockProcess> {
  const proc = startAirlock(args, { env, stdin: 'ignore' });
  await proc.exited;
  return proc;
}

const revocations = (f: Fixture) => f.asRequests.filter((r) => (r as { route?: string }).route === 'revocation') as Array<Record<string, unknown>>;
const clientIdOf = async (env: NodeJS.ProcessEnv): Promise<string> =>
  (JSON.parse((await run(['status', '--storage', 'file', '--json'], env)).stdout()) as Array<{ clientId: string }>)[0]!.clientId;

describe('logout revokes, then forgets', () => {
  it('logout <url>: the refresh token is revoked (refused afterwards), the request had no token in its URL, output names what was revoked and never a token', async () => {
    const { env, configDir } = freshEnv();
    const login = await cliLogin(fixture.url, env);
    const grant = theGrant(configDir);
    const clientId = await clientIdOf(env);
    const before = revocations(fixture).length;

    const logout = await run(['logout', fixture.url, '--storage', 'file'], env);
    expect(await logout.exited).toBe(0);
    expect(logout.stdout()).toBe('logged out of 1 server\n');
    expect(logout.stderr()).toMatch(new RegExp(
      `^revoked the refresh token of ${fixture.url} at "${fixture.issuer}/token/revocation"\\n` +
        `"${fixture.issuer}/token/revocation" cannot revoke the access token of ${fixture.url} \\(unsupported_token_type\\); valid until it expires \\(access token: expires in \\d+ min\\)\\n$`,
    ));
    expect(revocations(fixture).slice(before)).toEqual([
      expect.objectContaining({ method: 'POST', queryKeys: [], tokenTypeHint: 'refresh_token', clientId, clientAuth: 'none', status: 200 }),
      expect.objectContaining({ method: 'POST', queryKeys: [], tokenTypeHint: 'access_token', clientId, clientAuth: 'none', status: 400 }),
    ]);
    expect(await refreshDirectly(fixture.issuer, grant.refreshToken, clientId, fixture.url)).toEqual({ status: 400, error: 'invalid_grant' });

    const status = await run(['status', fixture.url, '--storage', 'file'], env);
    expect(await status.exited).toBe(1);
    expect(storedTokens(configDir)).toEqual([]);
    expect(leaks([grant.accessToken, grant.refreshToken], { login: login.stdout() + login.stderr(), logout: logout.stdout() + logout.stderr(), status: status.stdout() + status.stderr() })).toEqual([]);
  });

  it('logout --all --no-revoke forgets without asking the server: the refresh token still works there', async () => {
    const { env, configDir } = freshEnv();
    await cliLogin(fixture.url, env);
    const grant = theGrant(configDir);
    const clientId = await clientIdOf(env);
    const before = revocations(fixture).length;
    const logout = await run(['logout', '--all', '--no-revoke', '--storage', 'file'], env);
    expect(await logout.exited).toBe(0);
    expect(logout.stdout()).toBe('logged out of 1 server\n');
    expect(logout.stderr()).toBe('');
    expect(revocations(fixture).length).toBe(before);
    expect(storedTokens(configDir)).toEqual([]);
    expect((await refreshDirectly(fixture.issuer, grant.refreshToken, clientId, fixture.url)).status).toBe(200);
  });

  it('a revocation that fails (the authorization server is gone) still forgets, and says what that means', async () => {
    const gone = await startAuthFixture();
    const { env, configDir } = freshEnv();
    try {
      await cliLogin(gone.url, env);
    } finally {
      await gone.close();
    }
    const grant = theGrant(configDir);
    const logout = await run(['logout', '--all', '--storage', 'file'], env);
    expect(await logout.exited).toBe(0);
    expect(logout.stdout()).toBe('logged out of 1 server\n');
    expect(logout.stderr()).toMatch(new RegExp(
      `^\\[mcp-airlock\\] warn: could not revoke the tokens of ${gone.url} at "${gone.issuer}": .+\\. ` +
        'They are deleted here anyway, but the authorization server may accept them until they expire; revoke the access in your account there if that matters\\.\\n$',
    ));
    expect(storedTokens(configDir)).toEqual([]);
    expect(leaks([grant.accessToken, grant.refreshToken], { logout: logout.stdout() + logout.stderr() })).toEqual([]);
  });
});

describe('logout on a corporate network: the revocation goes over the same TLS settings as the login', () => {
  const certFile = join(repoRoot, 'fixtures/tls/loopback-cert.pem');
  let as: Awaited<ReturnType<typeof startAuthorizationServer>>;
  let https: ReturnType<typeof createHttpsServer>;
  beforeAll(async () => {
    // oidc-provider behind https with a certificate no public CA signed: its issuer is the https URL.
    https = createHttpsServer({ cert: readFileSync(certFile), key: readFileSync(join(repoRoot, 'fixtures/tls/loopback-key.pem')) }, (req, res) => void as.handle(req, res));
    await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
    as = await startAuthorizationServer({ resources: [], issuer: `https://127.0.0.1:${(https.address() as AddressInfo).port}` });
  });
  afterAll(async () => {
    await new Promise((resolve) => https?.close(resolve));
    await as?.close();
  });

  /** A stored grant of a confidential client at the https authorization server. */
  async function storedGrant(): Promise<{ env: NodeJS.ProcessEnv; resource: string }> {
    const { env } = freshEnv();
    const store = createFileGrantStore({ dir: resolveCredentialsDir({ env }) });
    const resource = 'https://mcp.corp.example/mcp';
    await store.saveClient({ issuer: as.issuer, clientId: AGENT_CLIENT.clientId, clientSecret: AGENT_CLIENT.clientSecret, method: 'pre-registered', tokenEndpointAuthMethod: 'client_secret_basic', registeredAt: Date.now() });
    await store.saveTokens({ resource, issuer: as.issuer, clientId: AGENT_CLIENT.clientId, accessToken: 'at-corporate-1', tokenType: 'Bearer', refreshToken: 'rt-corporate-1', obtainedAt: Date.now() });
    return { env: { ...env, NODE_EXTRA_CA_CERTS: '', SSL_CERT_FILE: '' }, resource };
  }
  const revoked = () => as.requests.filter((r) => (r as { route?: string }).route === 'revocation') as Array<Record<string, unknown>>;

  it('--ca-file: the revocation endpoint on https with a private CA is reached (regression: plain fetch, the CA ignored)', async () => {
    const { env, resource } = await storedGrant();
    const before = revoked().length;
    const logout = await run(['logout', resource, '--storage', 'file', '--ca-file', certFile], env);
    expect(await logout.exited, logout.stderr()).toBe(0);
    expect(logout.stderr()).toBe(`revoked the refresh token and the access token of ${resource} at "${as.issuer}/token/revocation"\n`);
    expect(revoked().slice(before)).toEqual([
      expect.objectContaining({ tokenTypeHint: 'refresh_token', clientId: AGENT_CLIENT.clientId, clientAuth: 'basic', status: 200 }),
      expect.objectContaining({ tokenTypeHint: 'access_token', clientId: AGENT_CLIENT.clientId, clientAuth: 'basic', status: 200 }),
    ]);
  });

  it('the OS trust store is used by default (SSL_CERT_FILE stands in for it): a CA installed there is trusted without --ca-file', async () => {
    const { env, resource } = await storedGrant();
    const before = revoked().length;
    const logout = await run(['logout', resource, '--storage', 'file'], { ...env, SSL_CERT_FILE: certFile });
    expect(await logout.exited, logout.stderr()).toBe(0);
    expect(logout.stderr()).toBe(`revoked the refresh token and the access token of ${resource} at "${as.issuer}/token/revocation"\n`);
    expect(revoked().length).toBe(before + 2);
  });

  it('without --ca-file the certificate is not trusted: nothing is revoked, the tokens are forgotten, and the warning says why', async () => {
    const { env, resource } = await storedGrant();
    const before = revoked().length;
    const logout = await run(['logout', resource, '--storage', 'file'], env);
    expect(await logout.exited).toBe(0);
    expect(logout.stderr()).toMatch(/^\[mcp-airlock\] warn: could not revoke the tokens of https:\/\/mcp\.corp\.example\/mcp at "https:\/\/127\.0\.0\.1:\d+": .*certificate/);
    expect(revoked().length).toBe(before);
  });
});
