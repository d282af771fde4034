import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parsePastedRedirect, pasteInstructions, readPastedRedirect, remoteSessionReason } from '../../../src/auth/pasted-redirect.js';

const redirect = 'http://127.0.0.1:4711/callback';

describe('remoteSessionReason', () => {
  const none = (): boolean => false;
  it('names the SSH variable, a container, or a Linux session without a display; else none', () => {
    expect(remoteSessionReason({ SSH_TTY: '/dev/pts/1', DISPLAY: ':0' }, 'linux', none)).toBe('an SSH session (SSH_TTY is set)');
    expect(remoteSessionReason({ DISPLAY: ':0' }, 'linux', (p) => p === '/.dockerenv')).toBe('a container');
    expect(remoteSessionReason({}, 'linux', none)).toBe('no display (neither DISPLAY nor WAYLAND_DISPLAY is set)');
    expect(remoteSessionReason({ WAYLAND_DISPLAY: 'wayland-0' }, 'linux', none)).toBeUndefined();
    expect(remoteSessionReason({}, 'darwin', none)).toBeUndefined();
  });
});

describe('parsePastedRedirect', () => {
  it('takes this login\'s redirect (localhost alike) and refuses other addresses with what to paste', () => {
    expect(parsePastedRedirect(`  ${redirect}?code=c&state=s \n`, redirect).get('state')).toBe('s');
    expect(parsePastedRedirect('http://localhost:4711/callback?code=c', redirect).get('code')).toBe('c');
    expect(() => parsePastedRedirect('http://127.0.0.1:4712/callback?code=c', redirect)).toThrow(/the pasted URL is not this login's redirect "http:\/\/127\.0\.0\.1:4711\/callback"/);
    expect(() => parsePastedRedirect('https://as.example.com/auth?x', redirect)).toThrow(/not this login's redirect/);
    expect(() => parsePastedRedirect('code=c', redirect)).toThrow(/what was pasted is not a URL/);
  });
});

describe('readPastedRedirect from a stream', () => {
  it('skips lines that are not URLs, resolves with the first URL; rejects when the stream ends first or the login is over', async () => {
    const input = new PassThrough();
    const pending = readPastedRedirect({ kind: 'stream', input, name: 'stdin' }, redirect, new AbortController().signal);
    input.write('hello\n');
    input.write(`${redirect}?code=abc&state=s\n`);
    expect((await pending).get('code')).toBe('abc');

    const ended = new PassThrough();
    const nothing = readPastedRedirect({ kind: 'stream', input: ended, name: 'stdin' }, redirect, new AbortController().signal);
    ended.end('no url here\n');
    await expect(nothing).rejects.toThrow(/stdin ended without the redirect URL/);

    const stop = new AbortController();
    const aborted = readPastedRedirect({ kind: 'stream', input: new PassThrough(), name: 'the terminal' }, redirect, stop.signal);
    stop.abort();
    await expect(aborted).rejects.toThrow(/finished without a pasted URL/);
  });
});

it('pasteInstructions names the reason, where to paste, and the SSH port forward', () => {
  expect(pasteInstructions(redirect, { reason: 'an SSH session (SSH_TTY is set)', paste: 'here (the terminal)' })).toBe(
    'This looks like an SSH session (SSH_TTY is set): after you approve, the browser is sent to http://127.0.0.1:4711/callback?… which will not load there; copy that whole address and paste it here (the terminal). ' +
      'Or forward the callback port, so the browser\'s redirect reaches mcp-airlock: ssh -L 4711:127.0.0.1:4711 <this host> (and log in again with --callback-port 4711 if the port changes).',
  );
});
