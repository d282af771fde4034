/**
 * The loopback redirect endpoint of a native client (RFC 8252 §7.3): an HTTP server on 127.0.0.1
 * that receives the authorization response once. Anything on this machine, and any web page the
 * user visits, can send requests to it, so it is treated as hostile: only `GET /callback` with the
 * right Host header counts, the response is checked by the caller's `verify` (state, iss) before
 * anything else happens, the first checked response ends the wait either way (fail closed), the
 * wait is bounded, the page shown never repeats what the request carried, and the server closes
 * itself afterwards.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AirlockError, quote } from '../errors.js';
import type { Logger } from '../log.js';
import { isLoopbackHost } from '../transports/http-guard.js';

export const CALLBACK_PATH = '/callback';

export interface CallbackServerOptions {
  /** Loopback address to bind (default 127.0.0.1; RFC 8252 §8.3 prefers the IP literal). */
  host?: string;
  /** Port to bind; 0 (default) picks a free one. */
  port?: number;
  /** With port 0: try this port first (the one a stored registration names), else a free one. */
  preferredPort?: number;
  log: Logger;
}

export interface WaitOptions {
  /**
   * Checks the authorization response (state, iss, error, code) and throws an AirlockError to
   * reject it. Runs before the browser gets its answer, so the page reflects the verdict.
   */
  verify: (params: URLSearchParams) => void;
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface CallbackServer {
  /** The exact redirect URI to register and send (`http://127.0.0.1:PORT/callback`). */
  readonly redirectUri: string;
  readonly port: number;
  /** Resolves with the verified response parameters; rejects on a bad response, timeout or abort. */
  waitForCallback(options: WaitOptions): Promise<URLSearchParams>;
  close(): Promise<void>;
}

const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'",
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  // One answer per connection: the server can close at once instead of waiting on keep-alive.
  connection: 'close',
};

/** A fixed page: nothing from the request is ever written into it. */
function page(title: string, text: string): string {
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${title}</title>` +
    '<style>body{font-family:system-ui,sans-serif;margin:4em auto;max-width:32em}</style></head>' +
    `<body><h1>${title}</h1><p>${text}</p></body></html>`;
}

/** What the browser is told when the response is refused: by our verdict, never by the server's words. */
function failureText(error: unknown): string {
  const code = error instanceof AirlockError ? error.code : undefined;
  switch (code) {
    case 'AIRLOCK_AUTH_STATE_MISMATCH':
      return 'This response does not belong to the login mcp-airlock started. Start the login again.';
    case 'AIRLOCK_AUTH_ISS_MISMATCH':
      return 'This response came from an unexpected authorization server and was ignored.';
    case 'AIRLOCK_AUTH_DENIED':
      return 'The authorization server did not grant access. See the terminal for details.';
    default:
      return 'The login did not complete. See the terminal for details.';
  }
}

async function listen(server: Server, host: string, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

/** Start the loopback redirect endpoint (RFC 8252 §7.3). */
export async function startCallbackServer(options: CallbackServerOptions): Promise<CallbackServer> {
  const host = options.host ?? '127.0.0.1';
  if (!isLoopbackHost(host)) {
    throw new AirlockError('AIRLOCK_USAGE', `the callback host must be a loopback address, not ${quote(host)}`, {
      hint: 'Use 127.0.0.1 (the default), ::1 or localhost (RFC 8252 §7.3).',
    });
  }
  /** Ends the wait once: set by waitForCallback, a no-op after the first call. */
  let finish: ((params: URLSearchParams | undefined, error?: unknown) => void) | undefined;
  let verify: WaitOptions['verify'] | undefined;
  let done = false;
  let closing: Promise<void> | undefined;

  const server = createServer((req, res) => handle(req, res));
  let port: number;
  const wanted = options.port ?? 0;
  try {
    if (wanted === 0 && options.preferredPort) {
      port = await listen(server, host, options.preferredPort).catch(() => listen(server, host, 0));
    } else {
      port = await listen(server, host, wanted);
    }
  } catch (error) {
    throw new AirlockError('AIRLOCK_LISTEN_FAILED', `cannot listen for the login callback on ${host}:${wanted}: ${(error as Error).message}`, {
      hint: 'Pick another --callback-port, or 0 for any free port.',
      cause: error,
    });
  }
  const urlHost = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  const redirectUri = `http://${urlHost}:${port}${CALLBACK_PATH}`;
  const allowedHosts = new Set([`${urlHost}:${port}`, `localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`]);

  function answer(res: ServerResponse, status: number, title: string, text: string, extra: Record<string, string> = {}): void {
    res.writeHead(status, { ...PAGE_HEADERS, ...extra }).end(page(title, text));
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const hostHeader = (req.headers.host ?? '').toLowerCase();
    if (!allowedHosts.has(hostHeader)) return answer(res, 400, 'Bad request', 'Unexpected Host header.');
    const url = new URL(req.url ?? '/', `http://${urlHost}:${port}`);
    if (url.pathname !== CALLBACK_PATH) return answer(res, 404, 'Not found', 'Nothing here.');
    if (req.method !== 'GET') return answer(res, 405, 'Method not allowed', 'Only GET.', { allow: 'GET' });
    if (done || !finish || !verify) return answer(res, 410, 'Login over', 'This login is no longer waiting for a response. Start it again.');
    try {
      verify(url.searchParams);
    } catch (error) {
      answer(res, 400, 'Login failed', failureText(error));
      finish(undefined, error);
      return;
    }
    answer(res, 200, 'Logged in', 'mcp-airlock received the authorization. You can close this tab.');
    finish(url.searchParams);
  }

  /** Stop listening; a wait still pending is rejected. Safe to call more than once. */
  function close(): Promise<void> {
    finish?.(undefined, new AirlockError('AIRLOCK_AUTH_TIMEOUT', 'the login was cancelled'));
    done = true;
    closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      // Let answers in flight reach the browser; drop idle keep-alive sockets.
      server.closeIdleConnections();
      setTimeout(() => server.closeAllConnections(), 1000).unref();
    });
    return closing;
  }

  function waitForCallback(wait: WaitOptions): Promise<URLSearchParams> {
    if (done || finish) return Promise.reject(new Error('waitForCallback may be called once'));
    return new Promise<URLSearchParams>((resolve, reject) => {
      const onAbort = (): void => finish?.(undefined, new AirlockError('AIRLOCK_AUTH_TIMEOUT', 'the login was cancelled'));
      const timer = setTimeout(() => {
        finish?.(undefined, new AirlockError('AIRLOCK_AUTH_TIMEOUT', `no authorization response within ${Math.ceil(wait.timeoutMs / 1000)} s`, {
          hint: 'Finish the login in the browser sooner, raise --auth-timeout, or use --no-browser / --device when no browser can reach this machine.',
        }));
      }, wait.timeoutMs);
      wait.signal?.addEventListener('abort', onAbort, { once: true });
      verify = wait.verify;
      finish = (params, error) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        wait.signal?.removeEventListener('abort', onAbort);
        void close();
        if (params) resolve(params);
        else reject(error);
      };
      if (wait.signal?.aborted) onAbort();
    });
  }

  options.log.debug(`login callback listening at ${redirectUri}`);
  return { redirectUri, port, waitForCallback, close };
}
