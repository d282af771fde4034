import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { browserCommand, checkBrowserUrl, openInBrowser, type OpenBrowserOptions } from '../../../src/auth/browser.js';
import { AirlockError } from '../../../src/errors.js';
import { thrownAirlockError } from '../../helpers/thrown.js';

type SpawnFn = NonNullable<OpenBrowserOptions['spawn']>;

/** A spawn that records its call and emits `event` on the child. */
function fakeSpawn(event: 'spawn' | 'error'): { spawn: SpawnFn; calls: Array<{ command: string; args: readonly string[]; options: object }>; unrefs: number[] } {
  const calls: Array<{ command: string; args: readonly string[]; options: object }> = [];
  const unrefs: number[] = [];
  const spawn = ((command: string, args: readonly string[], options: object) => {
    calls.push({ command, args, options });
    const child = Object.assign(new EventEmitter(), { unref: () => unrefs.push(1) });
    setImmediate(() => (event === 'spawn' ? child.emit('spawn') : child.emit('error', Object.assign(new Error('spawn xdg-open ENOENT'), { code: 'ENOENT' }))));
    return child;
  }) as unknown as SpawnFn;
  return { spawn, calls, unrefs };
}

describe('checkBrowserUrl', () => {
  it('allows https and loopback http', () => {
    expect(checkBrowserUrl('https://as.example/auth?x=1').href).toBe('https://as.example/auth?x=1');
    expect(checkBrowserUrl('http://127.0.0.1:8080/auth').href).toBe('http://127.0.0.1:8080/auth');
    expect(checkBrowserUrl('http://localhost/auth').hostname).toBe('localhost');
    expect(checkBrowserUrl('http://[::1]:9/auth').hostname).toBe('[::1]');
  });

  it.each(['http://as.example/auth', 'javascript:alert(1)', 'file:///etc/passwd', 'data:text/html,x', 'ms-settings:'])('refuses %s', (url) => {
    expect(thrownAirlockError(() => checkBrowserUrl(url)).code).toBe('AIRLOCK_INSECURE_URL');
  });

  it('refuses text that is not a URL (a flag for the launcher, say)', () => {
    expect(thrownAirlockError(() => checkBrowserUrl('--new-window')).code).toBe('AIRLOCK_BAD_URL');
  });
});

describe('browserCommand', () => {
  const url = 'https://as.example/auth?a=1&b=$(touch /tmp/x)';

  it('uses xdg-open on Linux, open on macOS, rundll32 (no cmd.exe) on Windows, the URL as one argument', () => {
    expect(browserCommand(url, { env: {}, platform: 'linux' })).toEqual({ command: 'xdg-open', args: [url] });
    expect(browserCommand(url, { env: {}, platform: 'darwin' })).toEqual({ command: 'open', args: [url] });
    expect(browserCommand(url, { env: {}, platform: 'win32' })).toEqual({ command: 'rundll32', args: ['url.dll,FileProtocolHandler', url] });
  });

  it('honours $BROWSER: its first entry, its arguments, %s replaced or the URL appended', () => {
    expect(browserCommand(url, { env: { BROWSER: 'firefox' }, platform: 'linux' })).toEqual({ command: 'firefox', args: [url] });
    expect(browserCommand(url, { env: { BROWSER: 'chromium --new-window' }, platform: 'linux' })).toEqual({ command: 'chromium', args: ['--new-window', url] });
    expect(browserCommand(url, { env: { BROWSER: 'w3m:lynx' }, platform: 'linux' })).toEqual({ command: 'w3m', args: [url] });
    expect(browserCommand(url, { env: { BROWSER: 'my-open --url=%s' }, platform: 'darwin' })).toEqual({ command: 'my-open', args: [`--url=${url}`] });
    expect(browserCommand(url, { env: { BROWSER: '' }, platform: 'linux' }).command).toBe('xdg-open');
  });
});

describe('openInBrowser', () => {
  it('spawns the launcher with an argv array, no shell, detached, output ignored, and does not wait for it', async () => {
    const fake = fakeSpawn('spawn');
    const url = 'https://as.example/auth?state=a;b&c=`x`';
    await openInBrowser(url, { env: {}, platform: 'linux', spawn: fake.spawn });
    expect(fake.calls).toEqual([{ command: 'xdg-open', args: [url], options: { shell: false, detached: true, stdio: 'ignore', windowsHide: true } }]);
    expect(fake.unrefs).toHaveLength(1);
  });

  it('refuses an insecure URL without spawning anything', async () => {
    const fake = fakeSpawn('spawn');
    await expect(openInBrowser('http://as.example/auth', { env: {}, platform: 'linux', spawn: fake.spawn })).rejects.toMatchObject({ code: 'AIRLOCK_INSECURE_URL' });
    expect(fake.calls).toHaveLength(0);
  });

  it('rejects with AIRLOCK_SPAWN_FAILED when the launcher cannot start', async () => {
    const fake = fakeSpawn('error');
    const error = await openInBrowser('https://as.example/auth', { env: {}, platform: 'linux', spawn: fake.spawn }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AirlockError);
    expect(error).toMatchObject({ code: 'AIRLOCK_SPAWN_FAILED', message: 'cannot start the browser "xdg-open": spawn xdg-open ENOENT' });
  });

  it('really starts a process through node:child_process ($BROWSER=true)', async () => {
    await expect(openInBrowser('https://as.example/auth', { env: { BROWSER: 'true' } })).resolves.toBeUndefined();
  });
});
