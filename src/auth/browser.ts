/**
 * Opening the authorization URL in the user's browser (RFC 8252 §4: native apps use the system
 * browser). The URL comes from the authorization server's metadata, so it is checked first: https,
 * or http to a loopback host only (MCP 2025-11-25 security best practices), and it is passed as one
 * argv element to a detached process, never through a shell, so no character in it can run a
 * command.
 */
import { spawn as nodeSpawn, type SpawnOptions } from 'node:child_process';
import { AirlockError, quote } from '../errors.js';
import { isLoopbackHost } from '../transports/http-guard.js';

export interface BrowserCommand {
  command: string;
  args: string[];
}

export interface OpenBrowserOptions {
  env?: NodeJS.ProcessEnv;
  platform?: NodeJS.Platform;
  /** Injected for tests; node:child_process spawn otherwise. */
  spawn?: (command: string, args: readonly string[], options: SpawnOptions) => ReturnType<typeof nodeSpawn>;
}

/** Refuse anything but https or loopback http: never hand `javascript:`, `file:` or a flag-like string to a launcher. */
export function checkBrowserUrl(value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new AirlockError('AIRLOCK_BAD_URL', `the authorization URL is not a URL: ${quote(value)}`, {
      hint: 'The authorization server metadata is broken; report it to its operator.',
    });
  }
  if (url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname))) return url;
  throw new AirlockError('AIRLOCK_INSECURE_URL', `refusing to open ${quote(url.href)} in a browser: only https, or http to a loopback address`, {
    hint: 'The authorization server must use https for its authorization endpoint.',
  });
}

/**
 * The command that opens `url`: `$BROWSER` when set (its first entry of a colon-separated list,
 * split on whitespace, `%s` replaced by the URL or the URL appended), else `open` on macOS,
 * `rundll32 url.dll,FileProtocolHandler` on Windows (`start` is a cmd.exe builtin and would need
 * a shell, where `&` in a URL separates commands), and `xdg-open` elsewhere.
 */
export function browserCommand(url: string, options: Pick<OpenBrowserOptions, 'env' | 'platform'> = {}): BrowserCommand {
  const env = options.env ?? process.env;
  const platform = options.platform ?? process.platform;
  const browser = env['BROWSER']?.split(':').map((s) => s.trim()).find(Boolean);
  if (browser) {
    const [command, ...rest] = browser.split(/\s+/);
    const hasPlaceholder = rest.some((arg) => arg.includes('%s'));
    const args = hasPlaceholder ? rest.map((arg) => arg.replaceAll('%s', url)) : [...rest, url];
    return { command: command!, args };
  }
  if (platform === 'darwin') return { command: 'open', args: [url] };
  if (platform === 'win32') return { command: 'rundll32', args: ['url.dll,FileProtocolHandler', url] };
  return { command: 'xdg-open', args: [url] };
}

/**
 * Open `url` in the system browser. Resolves once the launcher process started (its output is
 * ignored and it is not waited for); rejects when it cannot start, so the caller can print the URL.
 */
export async function openInBrowser(url: string, options: OpenBrowserOptions = {}): Promise<void> {
  const checked = checkBrowserUrl(url);
  const { command, args } = browserCommand(checked.href, options);
  const spawn = options.spawn ?? nodeSpawn;
  await new Promise<void>((resolve, reject) => {
    const child = spawn(command, args, { shell: false, detached: true, stdio: 'ignore', windowsHide: true });
    child.once('error', (error) =>
      reject(new AirlockError('AIRLOCK_SPAWN_FAILED', `cannot start the browser ${quote(command)}: ${error.message}`, {
        hint: 'Open the URL by hand, set $BROWSER, or use --no-browser.',
        cause: error,
      })),
    );
    child.once('spawn', () => {
      child.unref();
      resolve();
    });
  });
}
