/**
 * The outbound requester against real loopback servers: bodies, keep-alive, and the redirect rule
 * (same origin followed, another origin never: our headers may carry credentials).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRequester, proxyConfigured, readErrorBody, readTextWithin } from '../../../src/transports/http-request.js';

interface Seen {
  method: string;
  url: string;
  auth: string | undefined;
  body: string;
}

async function listen(handler: (req: IncomingMessage, body: string, res: import('node:http').ServerResponse) => void): Promise<{ server: Server; origin: string }> {
  const server = createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    handler(req, body, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const seen: Seen[] = [];
const foreignSeen: Seen[] = [];
let main: { server: Server; origin: string };
let foreign: { server: Server; origin: string };

beforeAll(async () => {
  foreign = await listen((req, body, res) => {
    foreignSeen.push({ method: req.method!, url: req.url!, auth: req.headers.authorization, body });
    res.end('foreign');
  });
  main = await listen((req, body, res) => {
    seen.push({ method: req.method!, url: req.url!, auth: req.headers.authorization, body });
    if (req.url === '/mcp') return void res.writeHead(307, { location: '/mcp/' }).end();
    if (req.url === '/old') return void res.writeHead(302, { location: '/mcp/' }).end();
    if (req.url === '/away') return void res.writeHead(307, { location: `${foreign.origin}/steal` }).end();
    if (req.url === '/loop') return void res.writeHead(308, { location: '/loop' }).end();
    if (req.url === '/chunked') {
      // No content-length: the size is known only by reading.
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"a":"');
      res.write('x'.repeat(1000));
      return void res.end('"}');
    }
    if (req.url === '/cut') {
      // A body that breaks midway: the connection dies before the chunked body ends.
      res.writeHead(400, { 'content-type': 'application/json' });
      res.write('{"jsonrpc":"2.0","error":');
      return void setTimeout(() => res.socket?.destroy(), 20);
    }
    res.writeHead(200, { 'content-type': 'text/plain', 'x-multi': ['a', 'b'] }).end(`${req.method} ${body}`);
  });
});

afterAll(async () => {
  for (const s of [main.server, foreign.server]) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

describe('createRequester (no proxy)', () => {
  const init = { method: 'POST' as const, headers: { authorization: 'Bearer secret-token', 'content-type': 'application/json' }, body: '{"x":1}' };

  it('follows a same-origin 307 with method, body and headers kept', async () => {
    seen.length = 0;
    const request = await createRequester({});
    const response = await request(new URL(`${main.origin}/mcp`), init);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('POST {"x":1}');
    expect(seen.map((s) => `${s.method} ${s.url} ${s.auth} ${s.body}`)).toEqual(['POST /mcp Bearer secret-token {"x":1}', 'POST /mcp/ Bearer secret-token {"x":1}']);
    expect(response.header('x-multi')).toBe('a, b');
  });

  it('turns a 302 after POST into a GET without body', async () => {
    seen.length = 0;
    const response = await (await createRequester({}))(new URL(`${main.origin}/old`), init);
    expect(await response.text()).toBe('GET ');
    expect(seen[1]).toMatchObject({ method: 'GET', url: '/mcp/', body: '' });
  });

  it('never follows a redirect to another origin, so credentials stay home', async () => {
    foreignSeen.length = 0;
    const response = await (await createRequester({}))(new URL(`${main.origin}/away`), init);
    expect(response.status).toBe(307);
    response.discard();
    expect(foreignSeen).toEqual([]);
  });

  it('stops after five hops', async () => {
    seen.length = 0;
    const response = await (await createRequester({}))(new URL(`${main.origin}/loop`), { method: 'GET', headers: {} });
    expect(response.status).toBe(308);
    response.discard();
    expect(seen).toHaveLength(6);
  });

  it('rejects with the connection error when nothing listens', async () => {
    const closed = await listen(() => undefined);
    closed.server.close();
    await new Promise((r) => setTimeout(r, 20));
    await expect((await createRequester({}))(new URL(`${closed.origin}/mcp`), { method: 'GET', headers: {} })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('sees a proxy only in the proxy variables', () => {
    expect(proxyConfigured({})).toBe(false);
    expect(proxyConfigured({ https_proxy: 'http://proxy:3128' })).toBe(true);
    expect(proxyConfigured({ NO_PROXY: '*' })).toBe(false);
  });
});

describe('readTextWithin', () => {
  const get = async (path: string) => (await createRequester({}))(new URL(`${main.origin}${path}`), { method: 'GET', headers: {} });

  it('reads a body within the limit whole', async () => {
    const body = await readTextWithin(await get('/chunked'), 2000);
    expect(body).toEqual({ text: `{"a":"${'x'.repeat(1000)}"}`, complete: true, bytes: 1008 });
  });

  it('stops past the limit: nothing kept, or the start when asked', async () => {
    expect(await readTextWithin(await get('/chunked'), 100)).toMatchObject({ text: '', complete: false });
    const partial = await readTextWithin(await get('/chunked'), 100, true);
    expect(partial.complete).toBe(false);
    expect(partial.text.startsWith('{"a":"x')).toBe(true);
    expect(partial.text.length).toBeLessThanOrEqual(100);
  });

  it('rejects for a body that breaks midway, instead of passing its start off as complete', async () => {
    await expect(readTextWithin(await get('/cut'), 1000)).rejects.toThrow();
  });

  it('keeps what came of a broken error body (readErrorBody)', async () => {
    expect(await readErrorBody(await get('/cut'))).toBe('{"jsonrpc":"2.0","error":');
  });

  it('reads a web ReadableStream (a fetch body) within the limit too', async () => {
    const whole = await fetch(`${main.origin}/chunked`);
    expect(await readTextWithin({ body: whole.body! }, 2000)).toMatchObject({ complete: true, bytes: 1008 });
    const over = await fetch(`${main.origin}/chunked`);
    expect(await readTextWithin({ body: over.body! }, 100)).toMatchObject({ text: '', complete: false });
  });
});
