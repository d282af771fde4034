/**
 * What every inbound HTTP request passes before it reaches a session: Host and Origin checks
 * against DNS rebinding (2025-11-25 transports, "Security Warning": servers MUST validate Origin),
 * CORS for browser clients that are allowed, a bounded body read, and JSON error answers.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { hostname as osHostname, networkInterfaces } from 'node:os';
import { errorResponse, type RequestId } from '../bridge/json-rpc.js';
import { redactString } from '../redact.js';

export interface GuardOptions {
  /** The address the server is bound to; its own spellings are always allowed as Host. */
  host: string;
  port: number;
  /** Extra allowed Host header values (`name` or `name:port`). */
  allowedHosts: string[];
  /** Allowed Origin values; '*' allows any. Empty: loopback origins only. Given: only these (narrows CORS). */
  allowedOrigins: string[];
  /** The machine's own names and addresses, for a wildcard or LAN bind; default from os (tests inject). */
  localNames?: () => string[];
}

/**
 * A Host name or address as a URL spells it: lower case, IPv4 in dotted decimal ("127.1" ->
 * "127.0.0.1"), IPv6 compressed in brackets ("0:0:0:0:0:0:0:1" -> "[::1]"). Undefined when it is
 * not a host at all.
 */
function normalizeHostname(name: string): string | undefined {
  const bare = name.startsWith('[') && name.endsWith(']') ? name.slice(1, -1) : name;
  if (bare === '' || /[\s/?#@\\]/.test(bare)) return undefined;
  try {
    return new URL(`http://${bare.includes(':') ? `[${bare}]` : bare}/`).hostname.toLowerCase();
  } catch {
    return undefined;
  }
}

/**
 * Whether a host is this machine's loopback, in any spelling: `localhost`, 127.0.0.0/8 (also as
 * "127.1" or hex), `::1` in any form, and IPv4-mapped `::ffff:127.x.y.z`.
 */
export function isLoopbackHost(host: string): boolean {
  const name = normalizeHostname(host);
  if (name === undefined) return false;
  if (name === 'localhost' || name === '[::1]') return true;
  if (/^127\.\d+\.\d+\.\d+$/.test(name)) return true;
  return /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(name);
}

/** A Host header as hostname and port; undefined for anything but `host[:port]` (an extra `:80`, userinfo, a path). */
export function parseHostHeader(value: string): { hostname: string; port: number } | undefined {
  const match = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(value);
  if (!match) return undefined;
  const hostname = normalizeHostname(match[1]!);
  if (hostname === undefined) return undefined;
  const port = match[2] === undefined ? 80 : Number(match[2]);
  return port > 65535 ? undefined : { hostname, port };
}

const WILDCARD = new Set(['0.0.0.0', '[::]']);

/** This machine's names and interface addresses: what a client on the LAN may use to reach a wildcard bind. */
function machineNames(): string[] {
  const names = [osHostname()];
  for (const list of Object.values(networkInterfaces())) for (const item of list ?? []) names.push(item.address);
  return names;
}

/** A request target for a log line: the path, never the query (it can hold `?access_token=`). */
export function safeRequestTarget(url: string | undefined): string {
  const text = url ?? '';
  const cut = text.search(/[?#]/);
  return redactString(cut < 0 ? text : `${text.slice(0, cut)}?…`);
}

export class RequestGuard {
  /** Hostnames allowed on the bound port. */
  private readonly ownNames = new Set<string>();
  /** --allowed-host names without a port: any port. */
  private readonly anyPort = new Set<string>();
  /** --allowed-host name:port. */
  private readonly withPort = new Set<string>();

  constructor(private readonly options: GuardOptions) {
    const { allowedHosts } = options;
    for (const entry of allowedHosts) {
      const hasPort = /^(\[[^\]]*\]|[^:]+):\d+$/.test(entry);
      const parsed = parseHostHeader(entry);
      if (!parsed) continue;
      if (hasPort) this.withPort.add(`${parsed.hostname}:${parsed.port}`);
      else this.anyPort.add(parsed.hostname);
    }
    // The Host check is never off: a loopback bind takes loopback spellings; any other bind also
    // the address it is bound to, or for a wildcard bind the machine's own names and addresses.
    for (const name of ['localhost', '127.0.0.1', '[::1]']) this.ownNames.add(name);
    const bound = normalizeHostname(options.host);
    if (bound !== undefined && !WILDCARD.has(bound)) this.ownNames.add(bound);
    else {
      for (const name of (options.localNames ?? machineNames)()) {
        const normal = normalizeHostname(name);
        if (normal !== undefined) this.ownNames.add(normal);
      }
    }
  }

  private hostAllowed(value: string): boolean {
    const parsed = parseHostHeader(value);
    if (!parsed) return false;
    const { hostname, port } = parsed;
    if (this.anyPort.has(hostname) || this.withPort.has(`${hostname}:${port}`)) return true;
    if (port !== this.options.port) return false;
    // Every spelling of loopback names this machine: a rebinding attack needs a DNS name, which is not one.
    return this.ownNames.has(hostname) || isLoopbackHost(hostname);
  }

  /** The reason to refuse this request with 403, or undefined to let it in. */
  refusal(req: IncomingMessage): string | undefined {
    const host = (req.headers.host ?? '').toLowerCase();
    if (!this.hostAllowed(host)) {
      return `Host header ${JSON.stringify(redactString(host))} is not allowed (DNS rebinding protection); add it with --allowed-host`;
    }
    const origin = req.headers.origin;
    if (origin !== undefined && !this.originAllowed(origin)) {
      return `Origin ${JSON.stringify(redactString(origin))} is not allowed; add it with --allow-origin`;
    }
    return undefined;
  }

  /** Allowed: any with '*'; only the listed ones when --allow-origin names some; else loopback origins. */
  originAllowed(origin: string): boolean {
    const { allowedOrigins } = this.options;
    if (allowedOrigins.includes('*') || allowedOrigins.includes(origin)) return true;
    if (allowedOrigins.length > 0) return false;
    try {
      const url = new URL(origin);
      return (url.protocol === 'http:' || url.protocol === 'https:') && isLoopbackHost(url.hostname);
    } catch {
      return false; // "null" and other opaque origins
    }
  }

  /** CORS headers for an allowed browser origin; preflight answered here. Returns true when done. */
  applyCors(req: IncomingMessage, res: ServerResponse): boolean {
    const origin = req.headers.origin;
    if (origin === undefined) return false;
    res.setHeader('Access-Control-Allow-Origin', origin);
    res.setHeader('Vary', 'Origin');
    res.setHeader('Access-Control-Expose-Headers', EXPOSED_HEADERS);
    if (req.method !== 'OPTIONS') return false;
    res.writeHead(204, {
      'Access-Control-Allow-Methods': 'GET, POST, DELETE, OPTIONS',
      'Access-Control-Allow-Headers': allowedHeaders(req.headers['access-control-request-headers']),
      'Access-Control-Max-Age': '600',
    });
    res.end();
    return true;
  }
}

/** What a browser client may read of an answer: the session, the version, the login challenge, a DPoP nonce (RFC 9449 §8, §9). */
const EXPOSED_HEADERS = 'Mcp-Session-Id, Mcp-Protocol-Version, WWW-Authenticate, DPoP-Nonce';

/**
 * The request headers a browser client may send: the 2025 ones, the 2026-07-28 ones (`Mcp-Method`,
 * `Mcp-Name`), a DPoP proof, and each `Mcp-Param-*` header its preflight names (a tool's
 * x-mcp-header parameters: their names are the tool's, so they are echoed, never a wildcard, which
 * would not cover Authorization).
 */
function allowedHeaders(requested: string | undefined): string {
  const base = 'Content-Type, Accept, Authorization, Mcp-Session-Id, Mcp-Protocol-Version, Last-Event-ID, Mcp-Method, Mcp-Name, DPoP';
  const params = (requested ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter((name) => /^mcp-param-[a-z0-9-]{1,64}$/i.test(name))
    .slice(0, 64);
  return params.length > 0 ? `${base}, ${params.join(', ')}` : base;
}

export type BodyResult = { ok: true; text: string } | { ok: false; status: 413 | 400; message: string };

/** How long a refused body may pause before the 413 goes out anyway (and the connection is cut). */
const DISCARD_IDLE_MS = 1000;

/** The most of a refused (too large) body airlock reads and throws away, so the client sees the 413. */
export function discardLimit(limit: number): number {
  return Math.max(4 * limit, 64 * 1024 * 1024);
}

/**
 * Read a request body up to `limit` bytes; past it, go on reading the rest without keeping it and
 * report 413 once the client has sent it all. A client that does not wait for `100-continue`
 * (most HTTP libraries, the Python SDK) sends its whole body before it reads any answer: a 413
 * written early, on a connection closed at once, reaches it as a broken pipe instead. Past
 * `discardLimit`, or after a pause of a second in the body, the 413 goes out at once and the
 * connection is cut.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<BodyResult> {
  const declared = Number(req.headers['content-length']);
  if (declared > limit) return discardRest(req, 0, limit, `request body of ${declared} bytes exceeds the limit of ${limit} bytes (--max-body)`);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        done = true;
        chunks.length = 0;
        req.off('data', onData);
        resolve(discardRest(req, size, limit, `request body exceeds the limit of ${limit} bytes (--max-body)`));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('end', () => {
      if (done) return;
      done = true;
      resolve({ ok: true, text: Buffer.concat(chunks, size).toString('utf8') });
    });
    req.on('error', (error) => {
      if (done) return;
      done = true;
      resolve({ ok: false, status: 400, message: `could not read the request body: ${error.message}` });
    });
  });
}

/** Read and drop the rest of a refused body, then report the 413; past `discardLimit`, report it at once and cut the connection. */
function discardRest(req: IncomingMessage, already: number, limit: number, message: string): Promise<BodyResult> {
  const refused: BodyResult = { ok: false, status: 413, message };
  if (req.complete) return Promise.resolve(refused);
  let seen = already;
  const cap = discardLimit(limit);
  return new Promise((resolve) => {
    let idle: NodeJS.Timeout | undefined;
    const settle = (cut: boolean): void => {
      clearTimeout(idle);
      resolve(refused);
      // Answer first, then cut: the rest of the body is not read.
      if (cut) setImmediate(() => req.socket.destroy()).unref?.();
    };
    // A client that sends nothing more (it waits for an answer before its body) gets it after a pause.
    const wait = (): void => {
      clearTimeout(idle);
      idle = setTimeout(() => settle(true), DISCARD_IDLE_MS);
      idle.unref?.();
    };
    req.on('data', (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > cap) settle(true);
      else wait();
    });
    req.on('end', () => settle(false));
    req.on('error', () => settle(false));
    req.on('close', () => settle(false));
    wait();
    req.resume();
  });
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** An HTTP error whose body is a JSON-RPC error, so MCP clients can show its message. */
export function sendRpcError(res: ServerResponse, status: number, code: number, message: string, id: RequestId | null = null): void {
  sendJson(res, status, errorResponse(id, code, message));
}
