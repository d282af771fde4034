/**
 * `connect` outlives what ends its upstream connection: a server that drops its sessions (a
 * restart, an expiry) gets a new session opened with the client's own initialize, subscriptions
 * included, and the call that met the 404 is tried once more; a legacy SSE stream that drops is
 * connected again with growing pauses while calls fail fast, and airlock never exits for it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { SubscribeRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, describe, expect, it } from 'vitest';
import { startAirlock } from '../helpers/airlock-process.js';
import { LineClient } from '../helpers/line-client.js';

const httpFixture = fileURLToPath(new URL('../../fixtures/http-server.mjs', import.meta.url));
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

/** A 2025 streamable HTTP server (the SDK's) that can forget every session at once, as a restart does. */
async function forgetfulServer(): Promise<{ url: string; forgetSessions: () => void; subscriptions: Array<{ session: string; uri: string }> }> {
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  const subscriptions: Array<{ session: string; uri: string }> = [];
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
    const sid = req.headers['mcp-session-id'] as string | undefined;
    let transport = sid ? sessions.get(sid) : undefined;
    if (sid && !transport) return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"jsonrpc":"2.0","id":null,"error":{"code":-32001,"message":"Session not found"}}');
    if (!transport) {
      const created: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({ sessionIdGenerator: randomUUID, onsessioninitialized: (id) => void sessions.set(id, created) });
      const mcp = new McpServer({ name: 'forgetful', version: '1.0.0' }, { capabilities: { resources: { subscribe: true } } });
      mcp.registerTool('whoami', { inputSchema: {} }, async () => ({ content: [{ type: 'text', text: created.sessionId ?? '?' }] }));
      mcp.server.setRequestHandler(SubscribeRequestSchema, async (request) => {
        subscriptions.push({ session: created.sessionId ?? '?', uri: request.params.uri });
        return {};
      });
      await mcp.connect(created);
      transport = created;
    }
    await transport.handleRequest(req, res, body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`, forgetSessions: () => sessions.clear(), subscriptions };
}

/** fixtures/http-server.mjs offering only legacy SSE on `port` (0: a free one); resolves with its base URL. */
function sseFixture(port: number): Promise<{ base: string; child: ChildProcess }> {
  return httpFixtureProcess(port, ['--only', 'sse']);
}

/** fixtures/http-server.mjs (the SDK v1's transports) as a process of its own on `port`, so that it can be killed and started again. */
async function httpFixtureProcess(port: number, args: string[]): Promise<{ base: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [httpFixture, '--port', String(port), ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`fixture exited (${code})`)));
  });
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  });
  return { base: (JSON.parse(line) as { url: string }).url, child };
}

const text = (message: { result?: Record<string, unknown> }) => (message.result as { content: Array<{ text: string }> }).content[0]!.text;

describe('connect heals its upstream connection', () => {
  it('opens a new session when the server forgot its own (404): the same initialize, subscriptions restored, the call tried again', async () => {
    const server = await forgetfulServer();
    const proc = startAirlock(['connect', server.url, '--transport', 'http', '--no-audit']);
    cleanups.push(() => proc.stop());
    const client = new LineClient(proc);
    await client.handshake();
    client.send({ jsonrpc: '2.0', id: 2, method: 'resources/subscribe', params: { uri: 'test://watched' } });
    await client.response(2);
    const first = text(await client.call(3, 'whoami'));

    server.forgetSessions();
    const second = text(await client.call(4, 'whoami'));
    expect(second).not.toBe(first);
    expect(second).toMatch(/^[0-9a-f-]{36}$/);
    expect(server.subscriptions).toEqual([
      { session: first, uri: 'test://watched' },
      { session: second, uri: 'test://watched' },
    ]);
    expect(proc.stderr()).toMatch(/the upstream session at http:\/\/127\.0\.0\.1:\d+\/mcp ended \(HTTP 404\); opening a new one with the client's initialize/);
    expect(proc.stderr()).toMatch(/1 of 1 resource subscription\(s\) restored/);
    // Nothing of airlock's own requests reached the client.
    expect(client.messages().filter((m) => typeof m.id === 'string' && m.id.startsWith('mcp-airlock'))).toEqual([]);
  });

  it('opens a new session when a restarted SDK v1 server answers the old one with 400 "No valid session ID provided" (server-everything)', async () => {
    // The SDK v1's StreamableHTTPServerTransport behind the routing of server-everything and the SDK's
    // own examples of its time: an unknown session id gets 400, not the 404 the spec names.
    const first = await httpFixtureProcess(0, ['--only', 'http', '--unknown-session', '400']);
    const port = new URL(first.base).port;
    const proc = startAirlock(['connect', `${first.base}/mcp`, '--no-audit']);
    cleanups.push(() => proc.stop());
    const client = new LineClient(proc);
    await client.handshake();
    expect(text(await client.call(2, 'echo', { text: 'before' }))).toBe('before');

    first.child.kill('SIGKILL'); // a restart: the new process knows no session
    await once(first.child, 'exit');
    await httpFixtureProcess(Number(port), ['--only', 'http', '--unknown-session', '400']);
    const after = await client.call(3, 'echo', { text: 'after' });
    expect(after.error).toBeUndefined();
    expect(text(after)).toBe('after');
    expect(proc.stderr()).toMatch(/the upstream session at http:\/\/127\.0\.0\.1:\d+\/mcp ended \(HTTP 400\); opening a new one with the client's initialize/);
    expect(text(await client.call(4, 'echo', { text: 'later' }))).toBe('later');
    // The old session's GET stream, refused the same way, stops asking: no warning per retry.
    expect(proc.stderr()).not.toContain('GET stream refused');
    expect(proc.child.exitCode).toBeNull();
  });

  it('connects a dropped legacy SSE stream again, failing calls fast meanwhile, and never exits for it', async () => {
    const first = await sseFixture(0);
    const port = new URL(first.base).port;
    const proc = startAirlock(['connect', `${first.base}/sse`, '--transport', 'sse', '--no-audit']);
    cleanups.push(() => proc.stop());
    const client = new LineClient(proc);
    await client.handshake();
    expect(text(await client.call(2, 'echo', { text: 'before' }))).toBe('before');

    first.child.kill('SIGKILL'); // the server goes away, and its stream with it
    await proc.waitForStderr(/the connection to http:\/\/127\.0\.0\.1:\d+\/sse dropped; connecting again in/);
    const during = await client.call(3, 'echo', { text: 'during' });
    expect(during.error).toMatchObject({ data: { airlock: 'AIRLOCK_UPSTREAM_UNREACHABLE' } });
    expect(during.error!.message).toMatch(/dropped; airlock is connecting again \(attempt \d+\)/);

    await sseFixture(Number(port)); // the server is back, on the same address
    await proc.waitForStderr(/connected to http:\/\/127\.0\.0\.1:\d+\/sse again \(HTTP\+SSE\); the session is open again/, 30_000);
    expect(text(await client.call(4, 'echo', { text: 'after' }))).toBe('after');
    expect(proc.child.exitCode).toBeNull();
  });
});
