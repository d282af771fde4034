/**
 * Accounts (--account): two logins at one server, kept apart per (resource, issuer, account). The
 * fixture server answers `whoami` with the `sub` of the token it got. The default account's
 * records are stored under the same keys as before accounts existed (a grant stored by an older
 * airlock is the default account's).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startAuthFixture } from '../../fixtures/auth/protected-server.mjs';
import { createFileGrantStore } from '../../src/store/file-store.js';
import { accountStore } from '../../src/store/account-store.js';
import { startAirlock, type AirlockProcess } from '../helpers/airlock-process.js';
import { cliLogin } from '../helpers/cli-login.js';
import { LineClient } from '../helpers/line-client.js';
import { leaks, storedTokens } from '../helpers/stored-secrets.js';

type Fixture = Awaited<ReturnType<typeof startAuthFixture>>;

const refusingBrowser = new URL('../../fixtures/auth/refusing-browser.mjs', import.meta.url).pathname;
const running: AirlockProcess[] = [];
let fixture: Fixture;
let dir: string;
beforeAll(async () => {
  fixture = await startAuthFixture();
  dir = mkdtempSync(join(tmpdir(), 'airlock-accounts-'));
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
});
afterAll(async () => {
  await fixture?.close();
  rmSync(dir, { recursive: true, force: true });
});

function airlock(args: string[], env: NodeJS.ProcessEnv): AirlockProcess {
  const proc = startAirlock(args, { env, stdin: args[0] === 'connect' ? 'pipe' : 'ignore' });
  running.push(proc);
  return proc;
}

/** A connect that calls whoami once; resolves with the `sub` the server saw. */
async function whoami(env: NodeJS.ProcessEnv, extra: string[]): Promise<{ sub: string | undefined; proc: AirlockProcess }> {
  const proc = airlock(['connect', fixture.url, '--storage', 'file', '--allow-http', ...extra], env);
  const client = new LineClient(proc);
  await client.handshake();
  const reply = await client.call(1, 'whoami');
  client.endInput();
  expect(await proc.exited, proc.stderr()).toBe(0);
  return { sub: (reply.result?.['content'] as Array<{ text: string }> | undefined)?.[0]?.text, proc };
}

const refreshGrants = (): number => fixture.asRequests.filter((r) => (r as { grantType?: string }).grantType === 'refresh_token').length;

describe('--account: several logins at one server', () => {
  it('two accounts, two clients at once, each sees its own identity; status lists both; logout forgets one', async () => {
    const configDir = join(dir, 'two');
    const env = { ...process.env, MCP_AIRLOCK_CONFIG_DIR: configDir, BROWSER: `${process.execPath} ${refusingBrowser}` };
    await cliLogin(fixture.url, env, [], 'alice');
    const work = await cliLogin(fixture.url, env, ['--account', 'work'], 'bob');
    expect(work.stdout()).toMatch(/^logged in to http:\/\/127\.0\.0\.1:\d+\/mcp: issuer /);

    // The default account is stored as before accounts existed: under the resource itself.
    const files = createFileGrantStore({ dir: join(configDir, 'credentials') });
    expect((await files.loadTokens(fixture.url))?.subject).toBe('alice');
    expect((await accountStore(files, 'work').loadTokens(fixture.url))?.subject).toBe('bob');
    // Each account registered its own client.
    expect((await accountStore(files, 'work').loadClient(fixture.issuer))?.clientId).not.toBe((await files.loadClient(fixture.issuer))?.clientId);

    const [mine, theirs] = await Promise.all([whoami(env, []), whoami(env, ['--account', 'work'])]);
    expect(mine.sub).toBe('alice');
    expect(theirs.sub).toBe('bob');

    const status = airlock(['status', '--storage', 'file', '--json'], env);
    expect(await status.exited, status.stderr()).toBe(0);
    const rows = JSON.parse(status.stdout()) as Array<Record<string, unknown>>;
    expect(rows.map((r) => [r['server'], r['account'], r['subject']]).sort()).toEqual([[fixture.url, 'default', 'alice'], [fixture.url, 'work', 'bob']]);
    const text = airlock(['status', '--storage', 'file'], env);
    await text.exited;
    expect(text.stdout()).toContain(`${fixture.url} (account work)\n`);
    const secrets = storedTokens(configDir);
    expect(leaks(secrets, { status: status.stdout() + status.stderr() + text.stdout(), connect: mine.proc.stderr() + theirs.proc.stderr() })).toEqual([]);

    const logout = airlock(['logout', fixture.url, '--account', 'work', '--storage', 'file', '--allow-http'], env);
    expect(await logout.exited, logout.stderr()).toBe(0);
    expect(logout.stdout()).toBe('logged out of 1 server\n');
    expect(await accountStore(files, 'work').loadTokens(fixture.url)).toBeUndefined();
    expect((await files.loadTokens(fixture.url))?.subject).toBe('alice');

    const bad = airlock(['status', '--account', 'no spaces'], env);
    expect(await bad.exited).not.toBe(0);
    expect(bad.stderr()).toMatch(/--account "no spaces" is not a usable account name/);
  });

  it('five processes of two accounts with expired tokens: one refresh per account (the server rotates refresh tokens), each call as its own user', async () => {
    const configDir = join(dir, 'five');
    const env = { ...process.env, MCP_AIRLOCK_CONFIG_DIR: configDir, BROWSER: `${process.execPath} ${refusingBrowser}` };
    await cliLogin(fixture.url, env, [], 'carol');
    await cliLogin(fixture.url, env, ['--account', 'ci'], 'dave');
    const files = createFileGrantStore({ dir: join(configDir, 'credentials') });
    for (const store of [files, accountStore(files, 'ci')]) {
      const record = (await store.loadTokens(fixture.url))!;
      await store.saveTokens({ ...record, accessToken: 'expired-access-token', expiresAt: Date.now() - 60_000 });
    }
    const before = refreshGrants();
    const calls = await Promise.all([[], ['--account', 'ci'], [], ['--account', 'ci'], ['--account', 'ci']].map((extra) => whoami(env, extra)));
    expect(calls.map((c) => c.sub)).toEqual(['carol', 'dave', 'carol', 'dave', 'dave']);
    expect(refreshGrants() - before).toBe(2);
    for (const c of calls) expect(c.proc.stderr()).not.toMatch(/invalid_grant|to log in/);
  });
});
