/**
 * Headless login: when the browser runs on another machine (an SSH session, no display, a
 * container), the redirect to the loopback callback cannot reach airlock. The user pastes the
 * address the browser was sent to (it fails to load there) back into the terminal, or a script
 * writes it to a file or stdin (`--paste-from FILE|-`). The pasted response goes through the same
 * checks as one that reaches the callback server (`iss`, then `state`, fail closed): it is only
 * parsed here. Forwarding the callback port over SSH is the other way, and is said too.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { AirlockError, quote } from '../errors.js';

/**
 * Why no browser on this machine can be expected to reach the loopback callback, or undefined: an
 * SSH session (SSH_CONNECTION, SSH_CLIENT or SSH_TTY set), Linux without DISPLAY and
 * WAYLAND_DISPLAY, or a container (/.dockerenv, /run/.containerenv, `container` set).
 */
export function remoteSessionReason(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform, exists: (path: string) => boolean = existsSync): string | undefined {
  const ssh = ['SSH_CONNECTION', 'SSH_CLIENT', 'SSH_TTY'].find((name) => env[name]);
  if (ssh) return `an SSH session (${ssh} is set)`;
  if (env['container'] || exists('/.dockerenv') || exists('/run/.containerenv')) return 'a container';
  if (platform === 'linux' && !env['DISPLAY'] && !env['WAYLAND_DISPLAY']) return 'no display (neither DISPLAY nor WAYLAND_DISPLAY is set)';
  return undefined;
}

/** A source of a pasted redirect for the authorization code flow; `where` completes "paste it …". */
export interface PastedRedirect {
  read: (redirectUri: string, signal: AbortSignal) => Promise<URLSearchParams>;
  where: string;
  /** Offered because the session looks remote, not asked for (--paste-from): the device grant still goes first. */
  auto?: boolean;
}

/** The PastedRedirect of a source. */
export function pastedRedirect(source: PasteSource, auto = false): PastedRedirect {
  return {
    read: (redirectUri, signal) => readPastedRedirect(source, redirectUri, signal),
    where: source.kind === 'file' ? `into the file ${quote(source.path)}` : `here (${source.name})`,
    ...(auto ? { auto } : {}),
  };
}

/** Where a pasted redirect comes from: a stream (the terminal, stdin) or a file a script writes. */
export type PasteSource = { kind: 'stream'; input: NodeJS.ReadableStream; name: string } | { kind: 'file'; path: string };

/**
 * The parameters of a pasted redirect URL. It must be the redirect URI of this login (same host,
 * port and path; `localhost` and `127.0.0.1` alike), carrying a query: anything else is refused.
 */
export function parsePastedRedirect(text: string, redirectUri: string): URLSearchParams {
  const expected = new URL(redirectUri);
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    throw new AirlockError('AIRLOCK_AUTH_CALLBACK', 'what was pasted is not a URL', {
      hint: `Paste the whole address the browser was sent to after the login, starting with ${expected.origin}${expected.pathname}?`,
    });
  }
  const loopback = (host: string): string => (host === 'localhost' || host === '[::1]' ? '127.0.0.1' : host);
  if (url.protocol !== expected.protocol || loopback(url.hostname) !== loopback(expected.hostname) || url.port !== expected.port || url.pathname !== expected.pathname) {
    throw new AirlockError('AIRLOCK_AUTH_CALLBACK', `the pasted URL is not this login's redirect ${quote(redirectUri)}`, {
      hint: 'Paste the address of the page the browser was sent to after the login (it fails to load there), not the login page itself; or start the login again.',
    });
  }
  return url.searchParams;
}

/** Lines that look like an attempt at the redirect URL (a paste), not stray keystrokes. */
function looksLikeUrl(line: string): boolean {
  return /^\s*https?:\/\//i.test(line);
}

/**
 * Wait for the redirect URL from `source`: the first line that looks like a URL is parsed (and an
 * unusable one refused); other lines are ignored. Rejects when the stream ends first, or when
 * `signal` aborts (the loopback callback won).
 */
export function readPastedRedirect(source: PasteSource, redirectUri: string, signal: AbortSignal): Promise<URLSearchParams> {
  return source.kind === 'file' ? pollFile(source.path, redirectUri, signal) : readStream(source, redirectUri, signal);
}

function readStream(source: Extract<PasteSource, { kind: 'stream' }>, redirectUri: string, signal: AbortSignal): Promise<URLSearchParams> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: source.input, terminal: false });
    let settled = false;
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      lines.close();
      // A terminal's stdin would keep the process alive after the login.
      (source.input as NodeJS.ReadableStream & { pause?: () => void }).pause?.();
      fn();
    };
    const onAbort = (): void => finish(() => reject(new AirlockError('AIRLOCK_AUTH_CALLBACK', 'the login finished without a pasted URL')));
    signal.addEventListener('abort', onAbort);
    lines.on('line', (line) => {
      if (!looksLikeUrl(line)) return;
      try {
        const params = parsePastedRedirect(line, redirectUri);
        finish(() => resolve(params));
      } catch (error) {
        finish(() => reject(error));
      }
    });
    lines.on('close', () => finish(() => reject(new AirlockError('AIRLOCK_AUTH_CALLBACK', `${source.name} ended without the redirect URL`, {
      hint: 'Give the address the browser was sent to after the login, on one line.',
    }))));
  });
}

async function pollFile(path: string, redirectUri: string, signal: AbortSignal): Promise<URLSearchParams> {
  for (;;) {
    if (signal.aborted) throw new AirlockError('AIRLOCK_AUTH_CALLBACK', 'the login finished without a pasted URL');
    const text = await readFile(path, 'utf8').catch(() => '');
    const line = text.split('\n').find(looksLikeUrl);
    if (line !== undefined) return parsePastedRedirect(line, redirectUri);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * What the user is told when the redirect may not reach this machine: paste the address back, or
 * forward the callback port with SSH (`ssh -L PORT:127.0.0.1:PORT host`).
 */
export function pasteInstructions(redirectUri: string, options: { reason?: string; paste: string | undefined }): string {
  const { port } = new URL(redirectUri);
  const why = options.reason ? `This looks like ${options.reason}: ` : '';
  const paste = options.paste
    ? `after you approve, the browser is sent to ${redirectUri}?… which will not load there; copy that whole address and paste it ${options.paste}. `
    : '';
  return `${why}${paste}Or forward the callback port, so the browser's redirect reaches mcp-airlock: ssh -L ${port}:127.0.0.1:${port} <this host> (and log in again with --callback-port ${port} if the port changes).`;
}
