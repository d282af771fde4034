import { createServer, request, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isLoopbackHost, parseHostHeader, readBody, RequestGuard, safeRequestTarget, sendJson, type GuardOptions } from '../../../src/transports/http-guard.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

let server: Server;
let port: number;
let handler: Handler;

beforeAll(async () => {
  server = createServer((req, res) => {
    Promise.resolve(handler(req, res)).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500);
      res.end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

interface Send {
  method?: string;
  path?: string;
  headers?: Record<string, string | number>;
  /** Body chunks, written one after another (chunked unless Content-Length is set). */
  chunks?: (string | Buffer)[];
}

/** A real HTTP request with exactly the Host and Origin headers given (fetch would not allow Host). */
function send({ method = 'GET', path = '/mcp', headers = {}, chunks = [] }: Send): Promise<Reply> {
  return new Promise((resolve, reject) => {
    // setHost: false sends exactly the Host given; HTTP/1.1 needs one, so default to the real address.
    const all = Object.keys(headers).some((name) => name.toLowerCase() === 'host') ? headers : { Host: `127.0.0.1:${port}`, ...headers };
    const req = request({ host: '127.0.0.1', port, method, path, headers: all, agent: false, setHost: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (chunk: Buffer) => parts.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    for (const chunk of chunks) req.write(chunk);
    req.end();
  });
}

/** Answer each request with the guard's verdict: {"refusal": string | null}. */
function verdictOf(options: GuardOptions): void {
  const guard = new RequestGuard(options);
  handler = (req, res) => sendJson(res, 200, { refusal: guard.refusal(req) ?? null });
}

async function refusal(headers: Record<string, string>): Promise<string | null> {
  const reply = await send({ headers });
  expect(reply.status).toBe(200);
  return (JSON.parse(reply.body) as { refusal: string | null }).refusal;
}

describe('isLoopbackHost', () => {
  it.each([['localhost'], ['127.0.0.1'], ['127.1.2.3'], ['[::1]'], ['::1'], ['::ffff:127.0.0.1'], ['[::ffff:127.0.0.2]'], ['0:0:0:0:0:0:0:1'], ['127.1'], ['LOCALHOST']])('%s is loopback', (host) => {
    expect(isLoopbackHost(host)).toBe(true);
  });

  it.each([['0.0.0.0'], ['example.com'], ['localhost.evil.com'], ['127.0.0.1.nip.io'], ['10.0.0.1'], [''], ['::'], ['::ffff:10.0.0.1'], ['user@127.0.0.1']])('%s is not loopback', (host) => {
    expect(isLoopbackHost(host)).toBe(false);
  });
});

describe('RequestGuard Host check', () => {
  describe('bound to 127.0.0.1', () => {
    beforeEach(() => verdictOf({ host: '127.0.0.1', port, allowedHosts: ['mcp.internal', 'proxy.test:8443'], allowedOrigins: [] }));

    it.each([['127.0.0.1'], ['localhost'], ['LOCALHOST'], ['[::1]']])('accepts Host %s:PORT', async (name) => {
      expect(await refusal({ Host: `${name}:${port}` })).toBeNull();
    });

    it('refuses a foreign Host, naming DNS rebinding and --allowed-host', async () => {
      expect(await refusal({ Host: `evil.com:${port}` })).toBe(`Host header "evil.com:${port}" is not allowed (DNS rebinding protection); add it with --allowed-host`);
    });

    it('refuses a loopback name on another port, and without a port', async () => {
      expect(await refusal({ Host: `localhost:${port + 1}` })).toBe(`Host header "localhost:${port + 1}" is not allowed (DNS rebinding protection); add it with --allowed-host`);
      expect(await refusal({ Host: 'localhost' })).toBe('Host header "localhost" is not allowed (DNS rebinding protection); add it with --allowed-host');
    });

    it('accepts an --allowed-host name on any port', async () => {
      expect(await refusal({ Host: 'mcp.internal' })).toBeNull();
      expect(await refusal({ Host: 'MCP.internal:1234' })).toBeNull();
    });

    it('accepts an --allowed-host name:port only on that port', async () => {
      expect(await refusal({ Host: 'proxy.test:8443' })).toBeNull();
      expect(await refusal({ Host: 'proxy.test:8444' })).toBe('Host header "proxy.test:8444" is not allowed (DNS rebinding protection); add it with --allowed-host');
    });
  });

  it('accepts a loopback name without a port when bound to port 80', async () => {
    verdictOf({ host: '127.0.0.1', port: 80, allowedHosts: [], allowedOrigins: [] });
    expect(await refusal({ Host: 'localhost' })).toBeNull();
    expect(await refusal({ Host: '127.0.0.1:80' })).toBeNull();
  });

  // Issue 14 #7: the check switched itself off for a bind it did not know as loopback, so a
  // DNS-rebinding request (Host: the attacker's name) reached a session.
  it('never switches the Host check off: bound to 0.0.0.0 it takes the machine\'s own names and addresses only', async () => {
    verdictOf({ host: '0.0.0.0', port, allowedHosts: [], allowedOrigins: [], localNames: () => ['box', '192.168.1.20', 'fe80::1'] });
    expect(await refusal({ Host: `evil.com:${port}` })).toBe(`Host header "evil.com:${port}" is not allowed (DNS rebinding protection); add it with --allowed-host`);
    expect(await refusal({ Host: `192.168.1.20:${port}` })).toBeNull();
    expect(await refusal({ Host: `box:${port}` })).toBeNull();
    expect(await refusal({ Host: `[fe80::1]:${port}` })).toBeNull();
    expect(await refusal({ Host: `127.0.0.1:${port}` })).toBeNull();
    expect(await refusal({ Host: '192.168.1.20' })).not.toBeNull(); // port 80, not ours
  });

  it.each([['::ffff:127.0.0.1'], ['0:0:0:0:0:0:0:1'], ['::1'], ['127.0.0.2'], ['localhost']])('bound to %s: checks Host, and takes every loopback spelling on its port', async (bind) => {
    verdictOf({ host: bind, port, allowedHosts: [], allowedOrigins: [] });
    expect(await refusal({ Host: `rebind.evil.example:${port}` })).toBe(`Host header "rebind.evil.example:${port}" is not allowed (DNS rebinding protection); add it with --allowed-host`);
    for (const name of ['localhost', '127.0.0.1', '[::1]', '[0:0:0:0:0:0:0:1]', '[::ffff:127.0.0.1]', '127.0.0.2']) {
      expect(await refusal({ Host: `${name}:${port}` }), name).toBeNull();
    }
    expect(await refusal({ Host: `localhost:${port + 1}` })).not.toBeNull();
  });

  it('refuses a Host with anything after host:port (an extra :80, userinfo, a path)', async () => {
    verdictOf({ host: '127.0.0.1', port, allowedHosts: [], allowedOrigins: [] });
    for (const value of [`127.0.0.1:${port}:80`, `user@127.0.0.1:${port}`, `127.0.0.1:${port}/x`, `[::1]:${port}:80`]) {
      expect(await refusal({ Host: value }), value).toMatch(/^Host header .* is not allowed/);
    }
    expect(parseHostHeader('127.0.0.1:3000:80')).toBeUndefined();
    expect(parseHostHeader('[0:0:0:0:0:0:0:1]:3000')).toEqual({ hostname: '[::1]', port: 3000 });
  });

  it('checks Host when bound to 0.0.0.0 with --allowed-host', async () => {
    verdictOf({ host: '0.0.0.0', port, allowedHosts: ['mcp.lan'], allowedOrigins: [] });
    expect(await refusal({ Host: `mcp.lan:${port}` })).toBeNull();
    expect(await refusal({ Host: `evil.com:${port}` })).toBe(`Host header "evil.com:${port}" is not allowed (DNS rebinding protection); add it with --allowed-host`);
  });
});

describe('RequestGuard Origin check', () => {
  const host = (): Record<string, string> => ({ Host: `127.0.0.1:${port}` });

  beforeEach(() => verdictOf({ host: '127.0.0.1', port, allowedHosts: [], allowedOrigins: ['https://app.example'] }));

  it('accepts a request without Origin', async () => {
    expect(await refusal(host())).toBeNull();
  });

  it.each([['http://localhost:5173'], ['http://127.0.0.1:3000'], ['https://localhost'], ['http://[::1]:8080']])('accepts the loopback origin %s without --allow-origin', async (origin) => {
    verdictOf({ host: '127.0.0.1', port, allowedHosts: [], allowedOrigins: [] });
    expect(await refusal({ ...host(), Origin: origin })).toBeNull();
  });

  // Issue 14 #7: CORS could not be narrowed: every loopback origin (any local web page) stayed allowed.
  it.each([['http://localhost:5173'], ['http://127.0.0.1:3000']])('--allow-origin narrows: refuses the loopback origin %s it does not name', async (origin) => {
    expect(await refusal({ ...host(), Origin: origin })).toBe(`Origin ${JSON.stringify(origin)} is not allowed; add it with --allow-origin`);
  });

  it('keeps secrets out of the refusal and the log line', async () => {
    expect(await refusal({ ...host(), Origin: 'https://user:hunter2@evil.example' })).toBe('Origin "https://user:[REDACTED]@evil.example" is not allowed; add it with --allow-origin');
    expect(safeRequestTarget('/mcp?access_token=abc&x=1')).toBe('/mcp?…');
    expect(safeRequestTarget('/sse')).toBe('/sse');
  });

  it('accepts an explicitly allowed origin', async () => {
    expect(await refusal({ ...host(), Origin: 'https://app.example' })).toBeNull();
  });

  it.each([['https://evil.example'], ['null'], ['http://localhost.evil.example'], ['file://localhost'], ['https://app.example:444']])('refuses the origin %s', async (origin) => {
    expect(await refusal({ ...host(), Origin: origin })).toBe(`Origin ${JSON.stringify(origin)} is not allowed; add it with --allow-origin`);
  });

  it("accepts any origin with allowedOrigins ['*']", async () => {
    verdictOf({ host: '127.0.0.1', port, allowedHosts: [], allowedOrigins: ['*'] });
    expect(await refusal({ ...host(), Origin: 'https://evil.example' })).toBeNull();
    expect(await refusal({ ...host(), Origin: 'null' })).toBeNull();
  });

  it('checks Origin when bound to 0.0.0.0 too', async () => {
    verdictOf({ host: '0.0.0.0', port, allowedHosts: [], allowedOrigins: [] });
    expect(await refusal({ Host: `127.0.0.1:${port}`, Origin: 'https://evil.example' })).toBe('Origin "https://evil.example" is not allowed; add it with --allow-origin');
  });
});

describe('RequestGuard.applyCors', () => {
  beforeEach(() => {
    const guard = new RequestGuard({ host: '127.0.0.1', port, allowedHosts: [], allowedOrigins: [] });
    handler = (req, res) => {
      if (guard.applyCors(req, res)) return;
      sendJson(res, 200, { handled: 'by the route' });
    };
  });

  it('answers a preflight itself with 204 and the allowed methods and headers', async () => {
    const reply = await send({ method: 'OPTIONS', headers: { Origin: 'http://localhost:5173', 'Access-Control-Request-Method': 'POST' } });
    expect(reply.status).toBe(204);
    expect(reply.body).toBe('');
    expect(reply.headers['access-control-allow-origin']).toBe('http://localhost:5173');
    expect(reply.headers['access-control-allow-methods']).toBe('GET, POST, DELETE, OPTIONS');
    expect(reply.headers['access-control-allow-headers']).toBe('Content-Type, Accept, Authorization, Mcp-Session-Id, Mcp-Protocol-Version, Last-Event-ID, Mcp-Method, Mcp-Name, DPoP');
    expect(reply.headers['access-control-max-age']).toBe('600');
    expect(reply.headers.vary).toBe('Origin');
  });

  it("lets a browser's 2026 client send its tool's Mcp-Param-* headers, and nothing else it names", async () => {
    const reply = await send({ method: 'OPTIONS', headers: { Origin: 'http://localhost:5173', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'mcp-method, mcp-param-region, x-evil, mcp-param-item-id' } });
    expect(reply.headers['access-control-allow-headers']).toBe('Content-Type, Accept, Authorization, Mcp-Session-Id, Mcp-Protocol-Version, Last-Event-ID, Mcp-Method, Mcp-Name, DPoP, mcp-param-region, mcp-param-item-id');
  });

  it('sets the origin and exposes Mcp-Session-Id on a normal request, and leaves the answer to the route', async () => {
    const reply = await send({ method: 'POST', headers: { Origin: 'http://localhost:5173' }, chunks: ['{}'] });
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body)).toEqual({ handled: 'by the route' });
    expect(reply.headers['access-control-allow-origin']).toBe('http://localhost:5173');
    expect(reply.headers['access-control-expose-headers']).toBe('Mcp-Session-Id, Mcp-Protocol-Version, WWW-Authenticate, DPoP-Nonce');
    expect(reply.headers['access-control-allow-methods']).toBeUndefined();
  });

  it('sets no CORS headers without Origin, even for OPTIONS', async () => {
    const reply = await send({ method: 'OPTIONS' });
    expect(reply.status).toBe(200);
    expect(reply.headers['access-control-allow-origin']).toBeUndefined();
    expect(reply.headers['access-control-expose-headers']).toBeUndefined();
  });
});

describe('readBody', () => {
  const LIMIT = 100;

  beforeEach(() => {
    handler = async (req, res) => {
      const result = await readBody(req, LIMIT);
      sendJson(res, 200, result, { Connection: 'close' });
    };
  });

  it('returns a body under the limit as UTF-8 text', async () => {
    const text = '{"jsonrpc":"2.0","method":"ünïcödé 🙂"}';
    const reply = await send({ method: 'POST', chunks: [Buffer.from(text).subarray(0, 30), Buffer.from(text).subarray(30)] });
    expect(JSON.parse(reply.body)).toEqual({ ok: true, text });
  });

  it('returns a body of exactly the limit', async () => {
    const text = 'x'.repeat(LIMIT);
    const reply = await send({ method: 'POST', headers: { 'Content-Length': LIMIT }, chunks: [text] });
    expect(JSON.parse(reply.body)).toEqual({ ok: true, text });
  });

  it('returns an empty body', async () => {
    expect(JSON.parse((await send({ method: 'GET' })).body)).toEqual({ ok: true, text: '' });
  });

  it('answers 413 from Content-Length alone, before any body is sent', async () => {
    const reply = await new Promise<Reply>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port, method: 'POST', path: '/mcp', agent: false, headers: { 'Content-Length': 1000 } },
        (res) => {
          const parts: Buffer[] = [];
          res.on('data', (chunk: Buffer) => parts.push(chunk));
          res.on('end', () => {
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString('utf8') });
            req.destroy();
          });
        },
      );
      req.on('error', (error) => {
        if (!req.destroyed) reject(error);
      });
      req.flushHeaders(); // headers only: the response can only come from the declared length
    });
    expect(JSON.parse(reply.body)).toEqual({ ok: false, status: 413, message: 'request body of 1000 bytes exceeds the limit of 100 bytes (--max-body)' });
  }, 5000); // a readBody that waited for the body would never answer: fail instead of hanging

  it('answers 413 when a chunked body grows past the limit', async () => {
    const reply = await send({ method: 'POST', chunks: ['x'.repeat(60), 'y'.repeat(60), 'z'.repeat(60)] });
    expect(JSON.parse(reply.body)).toEqual({ ok: false, status: 413, message: 'request body exceeds the limit of 100 bytes (--max-body)' });
  });
});
