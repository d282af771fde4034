/**
 * Provider profiles against fixtures that behave like the providers (fixtures/auth/provider-quirks.mjs:
 * oidc-provider with the provider's quirk and its real error text). Per provider, in one fixture:
 * without the profile (`--provider-profile generic`, or no flag where airlock cannot recognise a
 * provider on 127.0.0.1) the login fails the way users report it; with the profile (recognised from
 * the metadata, or named) `login` works, the debug log names the adjustments, the stored token is
 * then expired, and `connect` refreshes it (one refresh_token grant) and makes a call that the
 * server answers with the token's `sub`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startAuthFixture } from '../../fixtures/auth/protected-server.mjs';
import { AADSTS9010010 } from '../../fixtures/auth/provider-quirks.mjs';
import { createFileGrantStore } from '../../src/store/file-store.js';
import { startAirlock, type AirlockProcess } from '../helpers/airlock-process.js';
import { HeadlessBrowser } from '../helpers/headless-browser.js';
import { LineClient } from '../helpers/line-client.js';
import { leaks, storedTokens } from '../helpers/stored-secrets.js';

type Fixture = Awaited<ReturnType<typeof startAuthFixture>>;

const refusingBrowser = new URL('../../fixtures/auth/refusing-browser.mjs', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'airlock-profiles-'));
const running: AirlockProcess[] = [];
const fixtures: Fixture[] = [];
let n = 0;
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
  await Promise.all(fixtures.splice(0).map((f) => f.close()));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const OKTA_TOKEN = 'okta-initial-access-token-for-tests';

interface Case {
  quirk: 'entra' | 'keycloak' | 'okta' | 'auth0' | 'google' | 'cognito';
  /** Flags for the login with the profile. */
  with: string[];
  /** The debug line naming the profile. */
  named: RegExp;
  /** Flags for the login without it. */
  without: string[];
  /** How that login fails: its stderr, or `noRefreshToken` (Google: it works, but an hour later the user is logged out). */
  fails: RegExp | 'noRefreshToken' | 'tokenRefused';
}

const cases: Case[] = [
  {
    quirk: 'entra',
    with: [],
    named: /provider profile: Entra ID \(detected from the metadata \(cloud_instance_name, msgraph_host\)\): omitting resource "http:\/\/127\.0\.0\.1:\d+\/mcp" \(AADSTS9010010\), scope "http:\/\/127\.0\.0\.1:\d+\/mcp\/\.default offline_access"/,
    without: ['--provider-profile', 'generic'],
    fails: new RegExp(`refused the authorization: "invalid_target" \\(${JSON.stringify(AADSTS9010010).replace(/[.()?]/g, '\\$&')}\\)`),
  },
  {
    // airlock's registration body never has `scope` or `resource`: generic works too (the profile is a guard).
    quirk: 'keycloak',
    with: [],
    named: /provider profile: Keycloak \(detected from the issuer path \(\/realms\/…\)\): registration without resource and scope members/,
    without: ['--provider-profile', 'generic'],
    fails: /^$/,
  },
  {
    quirk: 'okta',
    with: ['--registration-token-env', 'OKTA_IAT'],
    named: /provider profile: Okta \(detected from the metadata \(\/oauth2\/…\/v1\/ endpoints\)\): no adjustment/,
    without: [],
    fails: /client registration at "http:\/\/127\.0\.0\.1:\d+\/oauth2\/v1\/clients" was refused \(HTTP 401\)[\s\S]*Okta's registration endpoint needs an initial access token[\s\S]*--registration-token-env/,
  },
  {
    quirk: 'auth0',
    with: [],
    named: /provider profile: Auth0 \(detected from the metadata \(mfa_challenge_endpoint\)\): audience "http:\/\/127\.0\.0\.1:\d+\/mcp"/,
    without: ['--provider-profile', 'generic'],
    fails: 'tokenRefused',
  },
  {
    quirk: 'google',
    with: ['--provider-profile', 'google'],
    named: /provider profile: Google \(as --provider-profile says\): access_type=offline and prompt=consent/,
    without: [],
    fails: 'noRefreshToken',
  },
  {
    quirk: 'cognito',
    with: ['--provider-profile', 'cognito'],
    named: /provider profile: AWS Cognito \(as --provider-profile says\): PKCE S256 assumed/,
    without: [],
    fails: /does not advertise code_challenge_methods_supported, so PKCE cannot be relied on[\s\S]*--assume-s256/,
  },
];

function environment(): { env: NodeJS.ProcessEnv; configDir: string } {
  const configDir = join(dir, `config-${++n}`);
  return { configDir, env: { ...process.env, MCP_AIRLOCK_CONFIG_DIR: configDir, BROWSER: `${process.execPath} ${refusingBrowser}`, OKTA_IAT: OKTA_TOKEN } };
}

/** `login` with the test as the browser (when a URL is printed); resolves with the process after exit. */
async function login(fixture: Fixture, env: NodeJS.ProcessEnv, flags: string[], user: string): Promise<{ proc: AirlockProcess; code: number }> {
  const proc = startAirlock(['login', fixture.url, '--storage', 'file', '--allow-http', '--no-browser', '--log-level', 'debug', ...flags], { env, stdin: 'ignore' });
  running.push(proc);
  // Okta's authorization endpoint is /oauth2/default/v1/authorize, oidc-provider's /auth.
  const url = proc.waitForStderr(/(http:\/\/127\.0\.0\.1:\d+\/\S*(?:auth|authorize)\?\S*)/, 20_000)
    .then((match) => new HeadlessBrowser({ login: user }).navigate(match[1]!))
    .catch(() => undefined);
  const code = await proc.exited;
  await url;
  return { proc, code };
}

/** One `connect`: initialize, then whoami; resolves with its answer and the process. */
async function whoami(fixture: Fixture, env: NodeJS.ProcessEnv, flags: string[]): Promise<{ text: string | undefined; error: string | undefined; proc: AirlockProcess }> {
  const proc = startAirlock(['connect', fixture.url, '--storage', 'file', '--allow-http', '--no-browser', '--auth-timeout', '5', ...flags], { env });
  running.push(proc);
  const client = new LineClient(proc);
  await client.handshake();
  const reply = await client.call(1, 'whoami', {});
  client.endInput();
  await proc.exited;
  const content = (reply.result?.['content'] as Array<{ text: string }> | undefined)?.[0]?.text;
  return { text: reply.result?.['isError'] ? undefined : content, error: reply.error?.message ?? (reply.result?.['isError'] ? content : undefined), proc };
}

describe('provider profiles, each against a fixture with that provider\'s quirk', () => {
  it.each(cases)('$quirk: fails without the profile as users report; with it, login, refresh and a call work', { timeout: 60_000 }, async (c) => {
    const fixture = await startAuthFixture({ providerQuirk: c.quirk, initialAccessToken: OKTA_TOKEN });
    fixtures.push(fixture);

    // Without the profile.
    const plain = environment();
    const without = await login(fixture, plain.env, c.without, 'plain-user');
    if (c.fails instanceof RegExp && c.fails.source !== '^$') {
      expect(without.code, without.proc.stderr()).not.toBe(0);
      expect(without.proc.stderr()).toMatch(c.fails);
    } else {
      expect(without.code, without.proc.stderr()).toBe(0);
      expect(without.proc.stderr()).toMatch(/provider profile: generic \((as --provider-profile says|no known provider recognised)\): no adjustment/);
      const stored = await createFileGrantStore({ dir: join(plain.configDir, 'credentials') }).loadTokens(fixture.url);
      if (c.fails === 'noRefreshToken') expect(stored?.refreshToken).toBeUndefined();
      if (c.fails === 'tokenRefused') {
        const call = await whoami(fixture, plain.env, ['--provider-profile', 'generic']);
        expect(call.text).toBeUndefined();
        // The token is opaque (no audience): the server refuses it, a refresh gets another such one, and a new login is asked for.
        expect(stored?.accessToken.split('.')).toHaveLength(1);
        expect(call.error ?? call.proc.stderr()).toMatch(/could not forward request "tools\/call"|not connected/);
      }
    }

    // With it.
    const profiled = environment();
    const withProfile = await login(fixture, profiled.env, c.with, `${c.quirk}-user`);
    expect(withProfile.code, withProfile.proc.stderr()).toBe(0);
    expect(withProfile.proc.stdout()).toMatch(/^logged in to http:\/\/127\.0\.0\.1:\d+\/mcp: issuer /);
    expect(withProfile.proc.stderr()).toMatch(c.named);
    const store = createFileGrantStore({ dir: join(profiled.configDir, 'credentials') });
    const record = (await store.loadTokens(fixture.url))!;
    expect(record.refreshToken).toBeDefined();
    // Expired: the next connect must refresh first.
    await store.saveTokens({ ...record, accessToken: 'expired-access-token', expiresAt: Date.now() - 60_000 });
    const refreshesBefore = fixture.asRequests.filter((r) => (r as { grantType?: string }).grantType === 'refresh_token').length;
    const call = await whoami(fixture, profiled.env, c.with);
    expect(call.text, call.proc.stderr()).toBe(`${c.quirk}-user`);
    const refreshes = fixture.asRequests.filter((r) => (r as { grantType?: string }).grantType === 'refresh_token').slice(refreshesBefore);
    expect(refreshes).toEqual([expect.objectContaining({ status: 200, error: undefined })]);
    const secrets = [...storedTokens(profiled.configDir), OKTA_TOKEN];
    expect(leaks(secrets, { login: withProfile.proc.stdout() + withProfile.proc.stderr(), connect: call.proc.stdout() + call.proc.stderr() })).toEqual([]);
  });
});
