/**
 * HTTPS_PROXY / HTTP_PROXY / NO_PROXY are honoured for outbound HTTP (undici EnvHttpProxyAgent),
 * checked against a real forward proxy on loopback that counts what passes through it.
 */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain JS fixture
import { startFixtureHttpServer } from '../../fixtures/lib/http-fixture.mjs';
import { startAirlock } from '../helpers/airlock-process.js';
import { LineClient } from '../helpers/line-client.js';
import { tunnel } from '../helpers/loopback.js';

let fixture: { url: string; close(): Promise<void> };
let proxy: Server;
let proxyUrl: string;
const seen: string[] = [];

beforeAll(async () => {
  fixture = await startFixtureHttpServer({ port: 0 });
  proxy = createServer((req, res) => {
    // Absolute-form request (plain http through a proxy).
    seen.push(`${req.method} ${req.url}`);
    const target = new URL(req.url!);
    const upstream = request(target, { method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode!, up.headers);
      up.pipe(res);
    });
    req.pipe(upstream);
  });
  proxy.on('connect', (req, socket, head) => {
    // Tunnel (CONNECT host:port), which undici uses for every target.
    seen.push(`CONNECT ${req.url}`);
    tunnel(req.url!, socket as Socket, head);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
});

afterAll(async () => {
  proxy.closeAllConnections();
  await new Promise((resolve) => proxy.close(resolve));
  await fixture.close();
});

async function callThrough(env: NodeJS.ProcessEnv): Promise<void> {
  const proc = startAirlock([`${fixture.url}/mcp`, '--transport', 'http'], { env });
  const client = new LineClient(proc);
  await client.handshake();
  expect((await client.call(1, 'add', { a: 3, b: 4 })).result).toEqual({ content: [{ type: 'text', text: '7' }] });
  client.endInput();
  expect(await proc.exited).toBe(0);
}

const clean = (): NodeJS.ProcessEnv => {
  const env = { ...process.env };
  for (const name of ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'NO_PROXY', 'no_proxy']) delete env[name];
  return env;
};

describe('outbound proxy', () => {
  it('sends upstream traffic through HTTP_PROXY', async () => {
    seen.length = 0;
    await callThrough({ ...clean(), HTTP_PROXY: proxyUrl });
    const host = new URL(fixture.url).host;
    expect(seen.some((line) => line === `CONNECT ${host}` || line.startsWith(`POST ${fixture.url}/mcp`))).toBe(true);
  });

  it('goes direct for hosts in NO_PROXY', async () => {
    seen.length = 0;
    await callThrough({ ...clean(), HTTP_PROXY: proxyUrl, HTTPS_PROXY: proxyUrl, NO_PROXY: '127.0.0.1' });
    expect(seen).toEqual([]);
  });
});
