/**
 * The HTTP client under every outbound request. Not fetch: Node's fetch allocates a Request,
 * Headers and web streams per call, which under load grew airlock's heap past 70 MiB and cost
 * about a millisecond per call. This is node:http/https with keep-alive, and Node streams for
 * bodies. With HTTPS_PROXY / HTTP_PROXY set, undici's `request` through an EnvHttpProxyAgent
 * (which also honours NO_PROXY) is used instead; undici is loaded only then (it takes ~110 ms).
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { TlsConnectOptions } from './outbound-tls.js';

/** The TLS options of outbound connections (outbound-tls.ts), read when the first https connection opens. */
export type TlsSource = () => Promise<TlsConnectOptions | undefined>;

export interface HttpRequestInit {
  method: 'GET' | 'POST' | 'DELETE';
  headers: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  ok: boolean;
  /** A response header by lower-case name. */
  header(name: string): string | undefined;
  body: AsyncIterable<Uint8Array>;
  text(): Promise<string>;
  /** Drop the body unread (keeps the connection reusable). */
  discard(): void;
}

export type HttpRequester = (url: URL, init: HttpRequestInit) => Promise<HttpResponse>;

const proxyVariables = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'] as const;

export function proxyConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  return proxyVariables.some((name) => Boolean(env[name]));
}

export async function createRequester(env: NodeJS.ProcessEnv = process.env, tls?: TlsSource): Promise<HttpRequester> {
  return followRedirects(proxyConfigured(env) ? await proxyRequester(env, tls) : nodeRequester(tls));
}

function nodeRequester(tls?: TlsSource): HttpRequester {
  const http = new HttpAgent({ keepAlive: true });
  let https: Promise<HttpsAgent> | undefined;
  // The https agent, with the CA list and client certificate, is made for the first https request.
  const httpsAgent = (): Promise<HttpsAgent> => (https ??= (tls ? tls() : Promise.resolve(undefined)).then((options) => new HttpsAgent({ keepAlive: true, ...options })).catch((error: unknown) => {
    https = undefined;
    throw error;
  }));
  return async (url, init) => {
    const secure = url.protocol === 'https:';
    const agent = secure ? await httpsAgent() : http;
    return new Promise((resolve, reject) => {
      const headers = init.body === undefined ? init.headers : { ...init.headers, 'content-length': String(Buffer.byteLength(init.body)) };
      const req = (secure ? httpsRequest : httpRequest)(url, { method: init.method, headers, agent, signal: init.signal }, (res) =>
        resolve(fromIncoming(res)),
      );
      req.on('error', reject);
      req.end(init.body);
    });
  };
}

function fromIncoming(res: IncomingMessage): HttpResponse {
  const status = res.statusCode ?? 0;
  return {
    status,
    ok: status >= 200 && status < 300,
    header: (name) => {
      const value = res.headers[name];
      return Array.isArray(value) ? value.join(', ') : value;
    },
    body: res,
    text: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of res) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
    discard: () => void res.resume(),
  };
}

/**
 * The undici dispatcher for `env`'s proxy variables (EnvHttpProxyAgent: HTTPS_PROXY, HTTP_PROXY,
 * NO_PROXY; a `user:pass@` in the proxy URL becomes Proxy-Authorization), with `tls` for the
 * targets, tunnelled or direct, and its CA list for an https proxy; a plain Agent without a proxy.
 */
export async function outboundDispatcher(env: NodeJS.ProcessEnv, tls: TlsConnectOptions | undefined): Promise<import('undici').Dispatcher> {
  const undici = await import('undici');
  if (!proxyConfigured(env)) return new undici.Agent(tls ? { connect: tls } : {});
  return new undici.EnvHttpProxyAgent({
    httpProxy: env.HTTP_PROXY ?? env.http_proxy,
    httpsProxy: env.HTTPS_PROXY ?? env.https_proxy,
    noProxy: env.NO_PROXY ?? env.no_proxy,
    ...(tls ? { connect: tls, requestTls: tls, ...(tls.ca ? { proxyTls: { ca: tls.ca } } : {}) } : {}),
  });
}

async function proxyRequester(env: NodeJS.ProcessEnv, tls?: TlsSource): Promise<HttpRequester> {
  const undici = await import('undici');
  let made: Promise<import('undici').Dispatcher> | undefined;
  const dispatcherFor = (): Promise<import('undici').Dispatcher> => (made ??= (tls ? tls() : Promise.resolve(undefined)).then((options) => outboundDispatcher(env, options)).catch((error: unknown) => {
    made = undefined;
    throw error;
  }));
  return async (url, init) => {
    const dispatcher = await dispatcherFor();
    const res = await undici.request(url, { method: init.method, headers: init.headers, body: init.body, signal: init.signal, dispatcher });
    return {
      status: res.statusCode,
      ok: res.statusCode >= 200 && res.statusCode < 300,
      header: (name) => {
        const value = res.headers[name];
        return Array.isArray(value) ? value.join(', ') : value;
      },
      body: res.body,
      text: () => res.body.text(),
      discard: () => void res.body.dump().catch(() => undefined),
    };
  };
}

/** Redirects followed per request. */
export const MAX_REDIRECTS = 5;

/**
 * Where a redirect airlock follows leads: within the same origin only (a Starlette app answers
 * /mcp with 307 to /mcp/), since our headers may carry credentials, which must not travel to
 * another origin. Undefined for any other answer, which the caller reports as it is.
 */
export function sameOriginRedirect(status: number, location: string | null | undefined, current: URL): URL | undefined {
  if (![301, 302, 303, 307, 308].includes(status) || !location) return undefined;
  const next = new URL(location, current);
  return next.origin === current.origin ? next : undefined;
}

function followRedirects(inner: HttpRequester, limit = MAX_REDIRECTS): HttpRequester {
  return async (url, init) => {
    let current = url;
    let request = init;
    for (let hop = 0; ; hop++) {
      const response = await inner(current, request);
      const next = hop < limit ? sameOriginRedirect(response.status, response.header('location'), current) : undefined;
      if (!next) return response;
      response.discard();
      // 303, and 301/302 after a POST, turn into a GET without body (RFC 9110 §15.4).
      if (response.status === 303 || (response.status !== 307 && response.status !== 308 && request.method === 'POST')) {
        request = { ...request, method: 'GET', body: undefined };
      }
      current = next;
    }
  };
}

/**
 * A body as text, reading at most `limit` bytes: past it the rest is not read (the stream is
 * ended) and `complete` is false. A hostile or broken server cannot make airlock hold more. Any
 * body that can be iterated will do (a web ReadableStream too: the JWKS of inbound-auth.ts). A
 * body that breaks midway rejects, unless `keepPartial` asks for what came (an error's text).
 */
export async function readTextWithin(response: { body: AsyncIterable<Uint8Array> }, limit: number, keepPartial = false): Promise<{ text: string; complete: boolean; bytes: number }> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  const iterator = response.body[Symbol.asyncIterator]();
  try {
    for (;;) {
      const { value, done } = await iterator.next();
      if (done) break;
      const chunk = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
      if (bytes + chunk.length > limit) {
        if (keepPartial) chunks.push(chunk.subarray(0, limit - bytes));
        bytes += chunk.length;
        await iterator.return?.(undefined);
        // A body past the limit is refused whole: its start is kept only when asked (an error's text).
        return { text: keepPartial ? Buffer.concat(chunks).toString('utf8') : '', complete: false, bytes };
      }
      bytes += chunk.length;
      chunks.push(chunk);
    }
  } catch (error) {
    // A cut-off body is not passed off as complete (a JSON answer would fail as "not JSON").
    if (!keepPartial || chunks.length === 0) throw error;
    return { text: Buffer.concat(chunks).toString('utf8'), complete: false, bytes };
  }
  return { text: Buffer.concat(chunks).toString('utf8'), complete: true, bytes };
}

/** How much of an error answer's body airlock reads: enough for any JSON-RPC error or message. */
const ERROR_BODY_LIMIT = 64 * 1024;

/** The start of an error answer's body (bounded), for its message; '' when it cannot be read. */
export function readErrorBody(response: HttpResponse): Promise<string> {
  return readTextWithin(response, ERROR_BODY_LIMIT, true).then(
    (body) => body.text,
    () => '',
  );
}

/**
 * `fetch` for the authorization traffic (discovery, registration, tokens) over the same TLS options
 * and proxy as the MCP traffic: Node's fetch with an undici dispatcher, made (and undici loaded) at
 * the first request. Without a proxy and without TLS options, Node's fetch as it is.
 */
export function outboundFetch(env: NodeJS.ProcessEnv, tls: TlsSource | undefined): typeof fetch {
  let dispatcher: Promise<import('undici').Dispatcher | undefined> | undefined;
  const dispatcherFor = (): Promise<import('undici').Dispatcher | undefined> =>
    (dispatcher ??= (tls ? tls() : Promise.resolve(undefined))
      .then((options) => (options || proxyConfigured(env) ? outboundDispatcher(env, options) : undefined))
      .catch((error: unknown) => {
        dispatcher = undefined;
        throw error;
      }));
  return (async (input: Parameters<typeof fetch>[0], init?: RequestInit) => {
    const chosen = await dispatcherFor();
    return globalThis.fetch(input, chosen ? ({ ...init, dispatcher: chosen } as unknown as RequestInit) : init);
  }) as typeof fetch;
}
