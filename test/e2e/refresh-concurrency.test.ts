/**
 * Many processes, one refresh. After a login, the stored access token is made unusable in the
 * real store the CLI uses (the 0600 file store), then five `connect` processes start at once and
 * each makes a tools/call. Exactly one refresh_token grant may reach the authorization server
 * (which rotates refresh tokens, so a second use of the old one would be refused with
 * invalid_grant and could revoke the grant, RFC 9700 §4.14.2); all five calls succeed; no browser
 * opens ($BROWSER records any launch and fails).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startAuthFixture } from '../../fixtures/auth/protected-server.mjs';
import { createFileGrantStore } from '../../src/store/file-store.js';
import type { TokenRecord } from '../../src/store/grant-store.js';
import { airlockBin, startAirlock, type AirlockProcess } from '../helpers/airlock-process.js';
import { cliLogin } from '../helpers/cli-login.js';
import { LineClient } from '../helpers/line-client.js';
import { leaks, storedTokens } from '../helpers/stored-secrets.js';

type Fixture = Awaited<ReturnType<typeof startAuthFixture>>;

const refusingBrowser = new URL('../../fixtures/auth/refusing-browser.mjs', import.meta.url).pathname;
const running: AirlockProcess[] = [];
let fixture: Fixture;
let dir: string;
let n = 0;
beforeAll(async () => {
  fixture = await startAuthFixture();
  dir = mkdtempSync(join(tmpdir(), 'airlock-refresh-'));
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
});
afterAll(async () => {
  await fixture?.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Setup {
  env: NodeJS.ProcessEnv;
  configDir: string;
  browserLog: string;
  before: TokenRecord;
}

/** Log in, then rewrite the stored record through the file store with `change`. */
async function loggedInThen(change: (record: TokenRecord) => TokenRecord): Promise<Setup> {
  const configDir = join(dir, `config-${++n}`);
  const browserLog = join(dir, `browser-${n}.log`);
  const env = { ...process.env, MCP_AIRLOCK_CONFIG_DIR: configDir, BROWSER: `${process.execPath} ${refusingBrowser}`, AIRLOCK_TEST_BROWSER_LOG: browserLog };
  await cliLogin(fixture.url, env);
  const store = createFileGrantStore({ dir: join(configDir, 'credentials') });
  const before = (await store.loadTokens(fixture.url))!;
  expect(before.refreshToken).toBeDefined();
  await store.saveTokens(change(before));
  return { env, configDir, browserLog, before };
}

const refreshGrants = () => fixture.asRequests.filter((r) => (r as { grantType?: string }).grantType === 'refresh_token') as Array<Record<string, unknown>>;

/** Five (or `count`) connects at once, each: initialize, then tools/call echo. Returns the processes after they exited. */
async function fiveCallsAtOnce(env: NodeJS.ProcessEnv, count = 5, extra: string[] = []): Promise<AirlockProcess[]> {
  const procs = Array.from({ length: count }, () => {
    const proc = startAirlock(['connect', fixture.url, '--storage', 'file', '--allow-http', ...extra], { env });
    running.push(proc);
    return proc;
  });
  const clients = procs.map((p) => new LineClient(p));
  const results = await Promise.all(
    clients.map(async (client, i) => {
      await client.handshake();
      return client.call(1, 'echo', { text: `call ${i}` });
    }),
  );
  results.forEach((reply, i) => expect(reply.result).toEqual({ content: [{ type: 'text', text: `call ${i}` }] }));
  clients.forEach((c) => c.endInput());
  for (const p of procs) expect(await p.exited, p.stderr()).toBe(0);
  return procs;
}

function expectOneRefreshNoBrowser(setup: Setup, procs: AirlockProcess[], refreshesBefore: number, mcpBefore: number): void {
  const grants = refreshGrants().slice(refreshesBefore);
  expect(grants).toEqual([expect.objectContaining({ route: 'token', grantType: 'refresh_token', status: 200, error: undefined })]);
  expect(existsSync(setup.browserLog) ? readFileSync(setup.browserLog, 'utf8') : '').toBe('');
  for (const p of procs) expect(p.stderr()).not.toMatch(/invalid_grant|open this URL|Opening your browser|to log in/i);
  // The new record is the refreshed one; the old refresh token was rotated away.
  const after = storedTokens(setup.configDir);
  expect(after).toHaveLength(2);
  expect(after).not.toContain(setup.before.refreshToken);
  const secrets = [setup.before.accessToken, setup.before.refreshToken!, ...after];
  expect(leaks(secrets, Object.fromEntries(procs.map((p, i) => [`connect ${i}`, p.stdout() + p.stderr()])))).toEqual([]);
  // No MCP request went out with a token the server refused. (The first request of each process
  // goes without a token while the store opens, by design: authorized-requester.ts.)
  expect(fixture.mcpRequests.slice(mcpBefore).filter((r) => (r as { token: boolean; status: number }).token && (r as { status: number }).status !== 200)).toEqual([]);
}

describe('five processes, one refresh (refresh under the cross-process lock, store re-read after taking it)', () => {
  it('the stored access token has expired: one refresh_token grant, five successful calls, no browser, no invalid_grant', async () => {
    // Expired, and not a token the server would take either: a process that skipped the refresh fails its call.
    const setup = await loggedInThen((r) => ({ ...r, accessToken: 'expired-access-token', obtainedAt: Date.now() - 600_000, expiresAt: Date.now() - 300_000 }));
    const refreshesBefore = refreshGrants().length;
    const mcpBefore = fixture.mcpRequests.length;
    const procs = await fiveCallsAtOnce(setup.env);
    expectOneRefreshNoBrowser(setup, procs, refreshesBefore, mcpBefore);
  });

  it('five hosts attached to one hub (one process, five sessions): still one refresh', async () => {
    const setup = await loggedInThen((r) => ({ ...r, accessToken: 'expired-access-token', obtainedAt: Date.now() - 600_000, expiresAt: Date.now() - 300_000 }));
    const hubDir = join(setup.configDir, '..', `hub-${n}`);
    mkdirSync(hubDir, { mode: 0o700 });
    const env = { ...setup.env, MCP_AIRLOCK_HUB_DIR: hubDir };
    const refreshesBefore = refreshGrants().length;
    const mcpBefore = fixture.mcpRequests.length;
    try {
      const procs = await fiveCallsAtOnce(env, 5, ['--hub', 'require']);
      expectOneRefreshNoBrowser(setup, procs, refreshesBefore, mcpBefore);
    } finally {
      spawnSync(process.execPath, [airlockBin, 'hub', 'stop'], { env, stdio: 'ignore' });
    }
  });

  it('the server rejects a stored token that has not expired yet (401 to all five at once): still one refresh', async () => {
    const setup = await loggedInThen((r) => ({ ...r, accessToken: 'revoked-access-token' }));
    const refreshesBefore = refreshGrants().length;
    const mcpBefore = fixture.mcpRequests.length;
    const procs = await fiveCallsAtOnce(setup.env);
    const grants = refreshGrants().slice(refreshesBefore);
    expect(grants).toEqual([expect.objectContaining({ grantType: 'refresh_token', status: 200, error: undefined })]);
    expect(existsSync(setup.browserLog) ? readFileSync(setup.browserLog, 'utf8') : '').toBe('');
    // The fixture cannot tell the five apart, so this bounds the total: at least one 401 started
    // the refresh, and no more than one per process (a process that replayed the refused token
    // instead of waiting for the refresh would push it past five).
    const rejected = fixture.mcpRequests.slice(mcpBefore).filter((r) => (r as { token: boolean }).token && (r as { status: number }).status === 401);
    expect(rejected.length).toBeGreaterThanOrEqual(1);
    expect(rejected.length).toBeLessThanOrEqual(5);
    for (const p of procs) expect(p.stderr()).not.toMatch(/invalid_grant|Opening your browser|to log in/i);
    expect(storedTokens(setup.configDir)).not.toContain(setup.before.refreshToken);
  });
});

/** A refresh_token grant sent by hand, as airlock's own client: the status and the error, if any. */
async function refreshDirectly(refreshToken: string, clientId: string): Promise<{ status: number; error?: string; refreshToken?: string }> {
  const response = await fetch(`${fixture.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: clientId, resource: fixture.url }),
  });
  const body = (await response.json()) as { error?: string; refresh_token?: string };
  return { status: response.status, ...(body.error !== undefined ? { error: body.error } : {}), ...(body.refresh_token !== undefined ? { refreshToken: body.refresh_token } : {}) };
}

describe('refresh-token rotation with reuse detection (oidc-provider rotateRefreshToken: a used refresh token presented again revokes the whole grant)', () => {
  it('two processes refreshing the same grant at the same moment: one refresh, and the grant survives (its new refresh token still works)', async () => {
    const setup = await loggedInThen((r) => ({ ...r, accessToken: 'expired-access-token', obtainedAt: Date.now() - 600_000, expiresAt: Date.now() - 300_000 }));
    const refreshesBefore = refreshGrants().length;
    const mcpBefore = fixture.mcpRequests.length;
    const procs = await fiveCallsAtOnce(setup.env, 2);
    expectOneRefreshNoBrowser(setup, procs, refreshesBefore, mcpBefore);
    const store = createFileGrantStore({ dir: join(setup.configDir, 'credentials') });
    const stored = (await store.loadTokens(fixture.url))!;
    expect(stored.refreshToken).not.toBe(setup.before.refreshToken);
    // The grant is alive: the refresh token airlock keeps is taken by the authorization server.
    const alive = await refreshDirectly(stored.refreshToken!, stored.clientId);
    expect(alive).toMatchObject({ status: 200 });
    // What the lock prevents: the old refresh token used a second time is refused, and the provider
    // then revokes the grant, so even the newest refresh token stops working (reuse detection, RFC 9700 §4.14.2).
    expect(await refreshDirectly(setup.before.refreshToken!, stored.clientId)).toEqual({ status: 400, error: 'invalid_grant' });
    expect(await refreshDirectly(alive.refreshToken!, stored.clientId)).toEqual({ status: 400, error: 'invalid_grant' });
  });
});
