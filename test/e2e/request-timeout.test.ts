/**
 * A server that takes a request and never answers it must not hold the call for ever (issue 21):
 * after --request-timeout the client gets a JSON-RPC error naming the limit and the flag, stderr one
 * line, and the server a cancellation (2025: notifications/cancelled, then the stream is let go;
 * 2026-07-28: the request's stream is closed). Progress notifications start the time again. The
 * first exchange has its own deadline, and connect then exits 4. A server of the test's own on
 * loopback plays the silent upstream, the SDK v1 fixture the one that must see the cancellation
 * (over streamable HTTP and legacy SSE); the client is a raw stdio peer of `mcp-airlock connect`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain JS fixture
import { startFixtureHttpServer } from '../../fixtures/lib/http-fixture.mjs';
import { startAirlock, waitFor, type AirlockProcess } from '../helpers/airlock-process.js';
import { initializeRequest, LineClient } from '../helpers/line-client.js';

const envelope = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };

interface Seen {
  /** params of every notifications/cancelled posted to the server. */
  cancelled: Array<{ requestId: unknown; reason?: string }>;
  /** Tool calls (by name) whose response stream airlock closed before the server ended it. */
  closedEarly: string[];
}

/** A 2025 streamable HTTP server (answering 2026-07-28 requests too) whose `silent` tool takes the call and never answers it. */
async function silentServer(): Promise<{ url: string; seen: Seen; close(): Promise<void> }> {
  const seen: Seen = { cancelled: [], closedEarly: [] };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.method === 'GET') return void res.writeHead(405).end();
    if (req.method === 'DELETE') return void res.writeHead(200).end();
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      const message = JSON.parse(body) as { id?: number; method: string; params?: { name?: string; requestId?: unknown; reason?: string; _meta?: { progressToken?: string | number } } };
      if (message.method === 'notifications/cancelled') seen.cancelled.push(message.params as Seen['cancelled'][number]);
      if (message.id === undefined) return void res.writeHead(202).end();
      const json = (result: unknown): void => void res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'session-1' }).end(JSON.stringify({ jsonrpc: '2.0', id: message.id, result }));
      if (message.method === 'initialize') return json({ protocolVersion: '2025-11-25', capabilities: { tools: {} }, serverInfo: { name: 'silent', version: '1' } });
      const name = message.params?.name;
      const modern = message.params?._meta !== undefined && 'io.modelcontextprotocol/protocolVersion' in message.params._meta;
      const done = (text: string): unknown => ({ content: [{ type: 'text', text }], ...(modern ? { resultType: 'complete' } : {}) });
      if (name === 'silent') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(': taken\n\n');
        res.on('close', () => seen.closedEarly.push(modern ? 'silent (2026)' : 'silent'));
        return;
      }
      if (name === 'progress') {
        // 6 progress notifications 300 ms apart (1.8 s in all), then the answer: longer than the 1 s limit, never silent for 1 s.
        const token = message.params?._meta?.progressToken;
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        let step = 0;
        const timer = setInterval(() => {
          step += 1;
          if (step <= 6) return void res.write(`data: ${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: token, progress: step, total: 6 } })}\n\n`);
          clearInterval(timer);
          res.end(`data: ${JSON.stringify({ jsonrpc: '2.0', id: message.id, result: done('all done') })}\n\n`);
        }, 300);
        return;
      }
      json(done('fine'));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`,
    seen,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

const timeoutLines = (proc: AirlockProcess): string[] => proc.stderr().split('\n').filter((line) => line.includes('got no answer'));

describe('connect --request-timeout', () => {
  let upstream: Awaited<ReturnType<typeof silentServer>>;
  let proc: AirlockProcess;
  let client: LineClient;

  beforeAll(async () => {
    upstream = await silentServer();
    proc = startAirlock(['connect', upstream.url, '--transport', 'http', '--request-timeout', '1', '--no-audit']);
    client = new LineClient(proc);
    await client.handshake();
  });

  afterAll(async () => {
    await proc?.stop();
    await upstream?.close();
  });

  it('answers a call the server took and never answered with an error naming the limit and the flag, cancels it upstream, and says so once on stderr', async () => {
    const started = Date.now();
    const reply = await client.call(2, 'silent');
    expect(Date.now() - started).toBeLessThan(5000);
    expect(reply.error).toMatchObject({ code: -32000, data: { airlock: 'AIRLOCK_UPSTREAM_TIMEOUT' } });
    expect(reply.error!.message).toBe(`mcp-airlock: "tools/call" got no answer from ${upstream.url} within 1 s (--request-timeout 1); the request was cancelled`);
    expect((reply.error!.data as { hint: string }).hint).toContain('--request-timeout <seconds>');
    // 2025-11-25: the server is told (notifications/cancelled), then the call's stream is let go.
    await waitFor(() => upstream.seen.cancelled.some((params) => params.requestId === 2), 'the cancellation to reach the server');
    expect(upstream.seen.cancelled.find((params) => params.requestId === 2)!.reason).toBe('no answer within 1 s (mcp-airlock --request-timeout)');
    await waitFor(() => upstream.seen.closedEarly.includes('silent'), 'the silent stream to be closed');
    expect(timeoutLines(proc)).toEqual([`[mcp-airlock] warn: "tools/call" got no answer from ${upstream.url} within 1 s (--request-timeout); cancelled it`]);
  });

  it('lets a call run past the limit while its progress notifications keep coming', async () => {
    client.send({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'progress', arguments: {}, _meta: { progressToken: 'p3' } } });
    const reply = await client.response(3);
    expect(reply.error).toBeUndefined();
    expect(reply.result).toMatchObject({ content: [{ text: 'all done' }] });
    expect(client.messages().filter((m) => m.method === 'notifications/progress')).toHaveLength(6);
  });

  it('closes the stream of a 2026-07-28 call whose time ran out (that is its cancellation; nothing is posted)', async () => {
    const cancelledBefore = upstream.seen.cancelled.length;
    client.send({ jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'silent', arguments: {}, _meta: envelope } });
    const reply = await client.response(4);
    expect(reply.error).toMatchObject({ data: { airlock: 'AIRLOCK_UPSTREAM_TIMEOUT' } });
    await waitFor(() => upstream.seen.closedEarly.includes('silent (2026)'), 'the 2026-07-28 stream to be closed');
    expect(upstream.seen.cancelled.slice(cancelledBefore)).toEqual([]);
  });

  it('goes on serving calls after that', async () => {
    expect((await client.call(5, 'echo')).result).toMatchObject({ content: [{ text: 'fine' }] });
    expect(proc.child.exitCode).toBeNull();
  });
});

describe('connect: the first exchange has a deadline too', () => {
  it('answers an initialize the server never answers with the timeout error, and exits 4 when the client then closes stdin', async () => {
    let requests = 0;
    const mute = createServer((req) => {
      requests += 1;
      req.resume(); // takes the request, never answers
    });
    await new Promise<void>((resolve) => mute.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(mute.address() as AddressInfo).port}/mcp`;
    const proc = startAirlock(['connect', url, '--request-timeout', '1', '--no-audit']);
    try {
      const client = new LineClient(proc);
      client.send(initializeRequest(0));
      const reply = await client.response(0, 8000);
      expect(reply.error).toMatchObject({ data: { airlock: 'AIRLOCK_UPSTREAM_TIMEOUT' } });
      expect(reply.error!.message).toBe(`mcp-airlock: "initialize" got no answer from ${url} within 1 s (--request-timeout 1); the request was cancelled`);
      expect(timeoutLines(proc)).toHaveLength(1);
      // No fallback to the legacy transport after a timeout: the one POST was all.
      expect(requests).toBe(1);
      client.endInput();
      expect(await proc.exited).toBe(4);
    } finally {
      await proc.stop();
      mute.closeAllConnections();
      await new Promise((resolve) => mute.close(resolve));
    }
  });
});

describe('connect --request-timeout against the SDK v1 server, over each transport', () => {
  let fixture: { url: string; close(): Promise<void> };
  beforeAll(async () => {
    fixture = await startFixtureHttpServer({ port: 0 });
  });
  afterAll(async () => {
    await fixture?.close();
  });

  it.each([
    ['streamable HTTP', '/mcp', 'http'],
    ['legacy HTTP+SSE', '/sse', 'sse'],
  ])('%s: the server sees the cancellation of the call whose time ran out, and the session goes on', async (_name, path, transport) => {
    const proc = startAirlock(['connect', `${fixture.url}${path}`, '--transport', transport, '--request-timeout', '1', '--no-audit']);
    try {
      const client = new LineClient(proc);
      await client.handshake();
      const reply = await client.call(2, 'slow', { steps: 100, delayMs: 50 });
      expect(reply.error).toMatchObject({ data: { airlock: 'AIRLOCK_UPSTREAM_TIMEOUT' } });
      // The SDK's server aborted the handler on notifications/cancelled and recorded it.
      await waitFor(async () => {
        const state = await client.call(Date.now(), 'state');
        return (JSON.parse((state.result as { content: Array<{ text: string }> }).content[0]!.text) as { cancelled: unknown[] }).cancelled.includes(2);
      }, 'the server to record the cancellation');
      expect(proc.child.exitCode).toBeNull();
    } finally {
      await proc.stop();
    }
  });
});
