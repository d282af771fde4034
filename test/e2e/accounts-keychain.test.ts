/**
 * --account on the real OS keychain (gnome-keyring in the private D-Bus session test/run-tests.mjs
 * starts): two users of one authorization server (oidc-provider) log in to the same MCP server as
 * two accounts, `status` lists both, each `connect` acts as its own user, and `logout --account`
 * forgets one and leaves the other. Every record is a keychain entry (service "mcp-airlock",
 * account `tokens:<resource>` or `tokens:<resource>#account=<name>`); no credential file is written.
 */
import { AsyncEntry } from '@napi-rs/keyring';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startAuthFixture } from '../../fixtures/auth/protected-server.mjs';
import { KEYCHAIN_ENTRY_OPTIONS, KEYCHAIN_SERVICE } from '../../src/store/keychain-store.js';
import { startAirlock, type AirlockProcess } from '../helpers/airlock-process.js';
import { completeLogin } from '../helpers/cli-login.js';
import { requireTestKeyring } from '../helpers/keyring.js';
import { LineClient } from '../helpers/line-client.js';
import { storedTokens } from '../helpers/stored-secrets.js';

type Fixture = Awaited<ReturnType<typeof startAuthFixture>>;

const refusingBrowser = new URL('../../fixtures/auth/refusing-browser.mjs', import.meta.url).pathname;
const running: AirlockProcess[] = [];
let fixture: Fixture;
let dir: string;
beforeAll(async () => {
  fixture = await startAuthFixture();
  dir = mkdtempSync(join(tmpdir(), 'airlock-accounts-keychain-'));
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

/** The keychain entry of a token record, as the OS keychain holds it (undefined when there is none). */
async function keychainTokens(resource: string, account?: string): Promise<{ subject?: string } | undefined> {
  const name = `tokens:${resource}${account === undefined ? '' : `#account=${account}`}`;
  const secret = await new AsyncEntry(KEYCHAIN_SERVICE, name, KEYCHAIN_ENTRY_OPTIONS).getPassword();
  return secret ? (JSON.parse(secret) as { record: { subject?: string } }).record : undefined;
}

async function whoami(env: NodeJS.ProcessEnv, extra: string[]): Promise<string | undefined> {
  const proc = airlock(['connect', fixture.url, '--storage', 'keychain', '--allow-http', ...extra], env);
  const client = new LineClient(proc);
  await client.handshake();
  const reply = await client.call(1, 'whoami');
  client.endInput();
  expect(await proc.exited, proc.stderr()).toBe(0);
  return (reply.result?.['content'] as Array<{ text: string }> | undefined)?.[0]?.text;
}

describe('--account on the OS keychain (gnome-keyring)', () => {
  it('two users log in to one server as two accounts; status lists both; each connect is its own user; logout --account forgets one and leaves the other', async (ctx) => {
    requireTestKeyring(ctx);
    const configDir = join(dir, 'config');
    const env = { ...process.env, MCP_AIRLOCK_CONFIG_DIR: configDir, BROWSER: `${process.execPath} ${refusingBrowser}` };
    for (const [extra, user] of [[[], 'alice'], [['--account', 'work'], 'bob']] as const) {
      const login = airlock(['login', fixture.url, '--storage', 'keychain', '--allow-http', '--no-browser', ...extra], env);
      await completeLogin(login, user);
      expect(await login.exited, login.stderr()).toBe(0);
    }
    try {
      expect((await keychainTokens(fixture.url))?.subject).toBe('alice');
      expect((await keychainTokens(fixture.url, 'work'))?.subject).toBe('bob');
      expect(storedTokens(configDir)).toEqual([]); // nothing in files: the keychain holds it all

      const status = airlock(['status', fixture.url, '--storage', 'keychain', '--json'], env);
      expect(await status.exited, status.stderr()).toBe(0);
      const rows = JSON.parse(status.stdout()) as Array<Record<string, unknown>>;
      expect(rows.map((r) => [r['account'], r['subject'], r['storage']]).sort()).toEqual([['default', 'alice', 'keychain'], ['work', 'bob', 'keychain']]);

      expect(await Promise.all([whoami(env, []), whoami(env, ['--account', 'work'])])).toEqual(['alice', 'bob']);

      const logout = airlock(['logout', fixture.url, '--account', 'work', '--storage', 'keychain', '--allow-http'], env);
      expect(await logout.exited, logout.stderr()).toBe(0);
      expect(logout.stdout()).toBe('logged out of 1 server\n');
      expect(await keychainTokens(fixture.url, 'work')).toBeUndefined();
      expect((await keychainTokens(fixture.url))?.subject).toBe('alice');
      const after = airlock(['status', fixture.url, '--storage', 'keychain', '--json'], env);
      expect(await after.exited).toBe(0);
      expect((JSON.parse(after.stdout()) as Array<Record<string, unknown>>).map((r) => [r['account'], r['subject']])).toEqual([['default', 'alice']]);
      expect(await whoami(env, [])).toBe('alice');
    } finally {
      // Only this test's logins: other tests share the session keyring.
      for (const account of [undefined, 'work']) {
        await new AsyncEntry(KEYCHAIN_SERVICE, `tokens:${fixture.url}${account === undefined ? '' : `#account=${account}`}`, KEYCHAIN_ENTRY_OPTIONS).deleteCredential().catch(() => false);
        await new AsyncEntry(KEYCHAIN_SERVICE, `client:${fixture.issuer}${account === undefined ? '' : `#account=${account}`}`, KEYCHAIN_ENTRY_OPTIONS).deleteCredential().catch(() => false);
      }
    }
  });
});
