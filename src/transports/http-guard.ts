/**
 * What every inbound HTTP request passes before it reaches a session: Host and Origin checks
 * against DNS rebinding (2025-11-25 transports, "Security Warning": servers MUST validate Origin),
 * CORS for browser clients that are allowed, a bounded body read, and JSON error answers.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorResponse, type RequestId } from '../bridge/json-rpc.js';

export interface GuardOptions {
  /** The address the server is bound to; loopback binds get a strict Host check. */
  host: string;
  port: number;
  /** Extra allowed Host header values (`name` or `name:port`). */
  allowedHosts: string[];
  /** Allowed Origin values; '*' allows any. Loopback origins are always allowed. */
  allowedOrigins: string[];
}

const loopbackNames = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

export function isLoopbackHost(host: string): boolean {
  const name = host.toLowerCase();
  return loopbackNames.has(name) || /^127\.\d+\.\d+\.\d+$/.test(name);
}

export class RequestGuard {
  private readonly hosts: Set<string> | undefined;

  constructor(private readonly options: GuardOptions) {
    const { port, allowedHosts } = options;
    if (isLoopbackHost(options.host) || allowedHosts.length > 0) {
      const hosts = new Set(allowedHosts.map((h) => h.toLowerCase()));
      if (isLoopbackHost(options.host)) {
        for (const name of ['localhost', '127.0.0.1', '[::1]']) {
          hosts.add(`${name}:${port}`);
          if (port === 80) hosts.add(name);
        }
      }
      this.hosts = hosts;
    }
  }

  /** The reason to refuse this request with 403, or undefined to let it in. */
  refusal(req: IncomingMessage): string | undefined {
    if (this.hosts) {
      const host = (req.headers.host ?? '').toLowerCase();
      if (!this.hosts.has(host) && !this.hosts.has(host.replace(/:\d+$/, ''))) {
        return `Host header ${JSON.stringify(host)} is not allowed (DNS rebinding protection); add it with --allowed-host`;
      }
    }
    const origin = req.headers.origin;
    if (origin !== undefined && !this.originAllowed(origin)) {
      return `Origin ${JSON.stringify(origin)} is not allowed; add it with --allow-origin`;
    }
    return undefined;
  }

  originAllowed(origin: string): boolean {
    const { allowedOrigins } = this.options;
    if (allowedOrigins.includes('*') || allowedOrigins.includes(origin)) return true;
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
    res.setHeader('Access-Control-Expose-Headers', 'Mcp-Session-Id, Mcp-Protocol-Version, WWW-Authenticate');
    if (req.method !== 'OPTIONS') return false;
    res.writeHead(204, {
      'Access-Control-Allow-Methods': 'GET, POST, DELETE, OPTIONS',
      'Access-Control-Allow-Headers': 'Content-Type, Accept, Authorization, Mcp-Session-Id, Mcp-Protocol-Version, Last-Event-ID',
      'Access-Control-Max-Age': '600',
    });
    res.end();
    return true;
  }
}

export type BodyResult = { ok: true; text: string } | { ok: false; status: 413 | 400; message: string };

/** Read a request body up to `limit` bytes; past it, stop reading and report 413. */
export function readBody(req: IncomingMessage, limit: number): Promise<BodyResult> {
  const declared = Number(req.headers['content-length']);
  if (declared > limit) {
    req.resume();
    return Promise.resolve({ ok: false, status: 413, message: `request body of ${declared} bytes exceeds the limit of ${limit} bytes (--max-body)` });
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        done = true;
        chunks.length = 0;
        resolve({ ok: false, status: 413, message: `request body exceeds the limit of ${limit} bytes (--max-body)` });
        return;
      }
      chunks.push(chunk);
    });
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
  const headers: Record<string, string> = status === 413 ? { Connection: 'close' } : {};
  sendJson(res, status, errorResponse(id, code, message), headers);
}
