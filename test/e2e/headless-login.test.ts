/**
 * Headless login: the browser is on another machine, so its redirect to the loopback callback never
 * arrives; the redirected address is pasted back. Driven through a real pseudo-terminal (util-linux
 * `script`) with SSH_CONNECTION set, through `--paste-from FILE` and `--paste-from -` (stdin). A
 * pasted response with another login's state is refused as the callback server would refuse it.
 * With the device grant on offer, a remote session uses it first.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startAuthFixture } from '../../fixtures/auth/protected-server.mjs';
import { airlockBin, repoRoot, startAirlock, type AirlockProcess } from '../helpers/airlock-process.js';
import { HeadlessBrowser } from '../helpers/headless-browser.js';

type Fixture = Awaited<ReturnType<typeof startAuthFixture>>;

const hasScript = spawnSync('script', ['--version']).status === 0;
const AUTH_URL = /(http:\/\/127\.0\.0\.1:\d+\/auth\?\S+)/;
const running: AirlockProcess[] = [];
let fixture: Fixture;
let dir: string;
let n = 0;
beforeAll(async () => {
  fixture = await startAuthFixture({ deviceFlow: false });
  dir = mkdtempSync(join(tmpdir(), 'airlock-headless-'));
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
});
afterAll(async () => {
  await fixture?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A remote session: SSH_CONNECTION set, no $BROWSER, a config directory of its own. */
function remoteEnv(): NodeJS.ProcessEnv {
  const { BROWSER: _none, DISPLAY: _display, WAYLAND_DISPLAY: _wayland, ...env } = process.env;
  return { ...env, MCP_AIRLOCK_CONFIG_DIR: join(dir, `config-${++n}`), SSH_CONNECTION: '192.0.2.7 50000 192.0.2.1 22' };
}

/** Log in at the authorization URL on "another machine": returns where the browser was sent (never loaded). */
async function approveElsewhere(authorizationUrl: string, user = 'remote-user'): Promise<string> {
  const redirect = new URL(authorizationUrl).searchParams.get('redirect_uri')!;
  const page = await new HeadlessBrowser({ login: user, stopAt: redirect }).navigate(authorizationUrl);
  expect(page.url.startsWith(`${redirect}?`)).toBe(true);
  return page.url;
}


describe('headless login: paste the redirected address back', () => {
  it.skipIf(!hasScript)('on a pseudo-terminal in an SSH session: the URL and the ssh -L alternative are printed, the pasted address completes the login', async () => {
    const env = remoteEnv();
    const command = [process.execPath, airlockBin, 'login', fixture.url, '--storage', 'file', '--allow-http', '--plain'].map((a) => `'${a}'`).join(' ');
    const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd: repoRoot, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    const exited = new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? -1)));
    const until = async (pattern: RegExp): Promise<RegExpExecArray> => {
      for (let i = 0; i < 300; i++) {
        const match = pattern.exec(out);
        if (match) return match;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`pty output never matched ${pattern}:\n${out}`);
    };
    try {
      const url = (await until(AUTH_URL))[1]!;
      const hint = await until(/This looks like an SSH session \(SSH_CONNECTION is set\): after you approve[^\n]*paste it here \(the terminal\)\. Or forward the callback port[^\n]*ssh -L (\d+):127\.0\.0\.1:(\d+) <this host>/);
      expect(hint[1]).toBe(new URL(new URL(url).searchParams.get('redirect_uri')!).port);
      const redirected = await approveElsewhere(url);
      child.stdin.write(`${redirected}\n`);
      expect(await exited, out).toBe(0);
      expect(out).toMatch(/logged in to http:\/\/127\.0\.0\.1:\d+\/mcp: issuer /);
    } finally {
      child.kill();
    }
  });

  it('--paste-from FILE: a script writes the address; a pasted response with another state is refused', async () => {
    const env = remoteEnv();
    const file = join(dir, `pasted-${n}.txt`);
    const login = startAirlock(['login', fixture.url, '--storage', 'file', '--allow-http', '--paste-from', file], { env, stdin: 'ignore' });
    running.push(login);
    const redirected = await approveElsewhere((await login.waitForStderr(AUTH_URL))[1]!);
    expect(login.stderr()).toContain(`paste it into the file ${JSON.stringify(file)}`);
    writeFileSync(file, `${redirected}\n`);
    expect(await login.exited, login.stderr()).toBe(0);
    expect(login.stdout()).toMatch(/^logged in to /);

    // A second login; the address pasted carries another login's state.
    const forged = join(dir, `forged-${n}.txt`);
    const again = startAirlock(['login', fixture.url, '--storage', 'file', '--allow-http', '--force', '--paste-from', forged], { env, stdin: 'ignore' });
    running.push(again);
    const next = await approveElsewhere((await again.waitForStderr(AUTH_URL))[1]!);
    const tampered = new URL(next);
    tampered.searchParams.set('state', 'state-of-another-login');
    writeFileSync(forged, `${tampered.href}\n`);
    expect(await again.exited).not.toBe(0);
    expect(again.stderr()).toMatch(/the authorization response has a state that does not match this login/);
  });

  it('--paste-from - reads stdin; an address that is not the redirect is refused with what to paste', async () => {
    const env = remoteEnv();
    const login = startAirlock(['login', fixture.url, '--storage', 'file', '--allow-http', '--paste-from', '-'], { env });
    running.push(login);
    const redirected = await approveElsewhere((await login.waitForStderr(AUTH_URL))[1]!);
    login.child.stdin!.write('not a url, ignored\n');
    login.child.stdin!.end(`${redirected}\n`);
    expect(await login.exited, login.stderr()).toBe(0);

    const wrong = startAirlock(['login', fixture.url, '--storage', 'file', '--allow-http', '--force', '--paste-from', '-'], { env });
    running.push(wrong);
    const url = (await wrong.waitForStderr(AUTH_URL))[1]!;
    wrong.child.stdin!.end(`${url}\n`);
    expect(await wrong.exited).not.toBe(0);
    expect(wrong.stderr()).toMatch(/the pasted URL is not this login's redirect "http:\/\/127\.0\.0\.1:\d+\/callback"[\s\S]*not the login page itself/);
  });

  it('a remote session at a server that offers the device grant uses it first', async () => {
    const withDevice = await startAuthFixture();
    try {
      const login = startAirlock(['login', withDevice.url, '--storage', 'file', '--allow-http', '--plain'], { env: remoteEnv(), stdin: 'ignore' });
      running.push(login);
      const code = await login.waitForStderr(/or open (http:\/\/127\.0\.0\.1:\d+\/device\S*), which carries the code/);
      expect(login.stderr()).toMatch(/an SSH session \(SSH_CONNECTION is set\): logging in with the device grant/);
      const page = await new HeadlessBrowser({ login: 'device-user' }).navigate(code[1]!);
      expect(page.status).toBe(200);
      expect(await login.exited, login.stderr()).toBe(0);
      expect(withDevice.asRequests.some((r) => (r as { route: string }).route === 'device_authorization')).toBe(true);
    } finally {
      await withDevice.close();
    }
  });
});
