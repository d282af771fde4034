/**
 * Our outbound streamable HTTP transport against the SDK's real server transport on loopback:
 * JSON and SSE answers, resumption with Last-Event-ID after the server closes a stream early
 * (SEP-1699 polling), an ended session, DELETE.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { InMemoryEventStore } from '@modelcontextprotocol/sdk/examples/shared/inMemoryEventStore.js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { JSONRPCMessage } from '../../../src/bridge/json-rpc.js';
import { messageText } from '../../../src/bridge/message-text.js';
import { HttpStatusError } from '../../../src/errors.js';
import { createRequester, type HttpRequester } from '../../../src/transports/http-request.js';
import { StreamableHttpClientTransport } from '../../../src/transports/streamable-http-client.js';

interface Upstream {
  url: URL;
  server: Server;
  transports: Map<string, StreamableHTTPServerTransport>;
}

const open: Upstream[] = [];
afterEach(async () => {
  for (const upstream of open.splice(0)) {
    for (const t of upstream.transports.values()) await t.close();
    upstream.server.closeAllConnections();
    await new Promise((resolve) => upstream.server.close(resolve));
  }
});

async function startUpstream(options: { json?: boolean; askRootsOnInit?: boolean } = {}): Promise<Upstream> {
  const transports = new Map<string, StreamableHTTPServerTransport>();
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
    const sid = req.headers['mcp-session-id'] as string | undefined;
    let transport = sid ? transports.get(sid) : undefined;
    if (sid && !transport) {
      res.writeHead(404).end('{"jsonrpc":"2.0","id":null,"error":{"code":-32001,"message":"Session not found"}}');
      return;
    }
    if (!transport) {
      const created = new StreamableHTTPServerTransport({
        sessionIdGenerator: randomUUID,
        enableJsonResponse: options.json ?? false,
        eventStore: new InMemoryEventStore(),
        retryInterval: 20,
        onsessioninitialized: (id) => void transports.set(id, created),
        onsessionclosed: (id) => void transports.delete(id),
      });
      const mcp = new McpServer({ name: 'resume-fixture', version: '1.0.0' });
      mcp.registerTool('poll', { inputSchema: {} }, async (_args, extra) => {
        // Close this call's stream before answering: the client must come back with Last-Event-ID.
        extra.closeSSEStream?.();
        await new Promise((r) => setTimeout(r, 60));
        return { content: [{ type: 'text', text: 'answered after resume' }] };
      });
      mcp.registerTool('ping', { inputSchema: {} }, async () => ({ content: [{ type: 'text', text: 'pong' }] }));
      // Ask the client something the moment it is initialized: only the GET stream can carry it.
      if (options.askRootsOnInit) mcp.server.oninitialized = () => void mcp.server.listRoots().catch(() => undefined);
      await mcp.connect(created);
      transport = created;
    }
    await transport.handleRequest(req, res, body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const upstream = { url: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`), server, transports };
  open.push(upstream);
  return upstream;
}

const initialize = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } } as JSONRPCMessage;
const call = (id: number, name: string) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: {} } }) as JSONRPCMessage;

async function connected(upstream: Upstream): Promise<{ client: StreamableHttpClientTransport; received: JSONRPCMessage[] }> {
  const client = new StreamableHttpClientTransport({ url: upstream.url, headers: { 'x-test': '1' }, request: await createRequester({}) });
  const received: JSONRPCMessage[] = [];
  client.onmessage = (m) => received.push(m);
  await client.start();
  await client.send(initialize);
  client.setProtocolVersion('2025-11-25');
  await client.send({ jsonrpc: '2.0', method: 'notifications/initialized' } as JSONRPCMessage);
  return { client, received };
}

describe('StreamableHttpClientTransport', () => {
  it('opens the GET stream before notifications/initialized goes out, so a request the server makes at once arrives', async () => {
    // Regression: the stream used to open only after initialized was accepted, and a server asking
    // for roots at that moment sent its request into nothing (the call never reached the client).
    for (let round = 0; round < 3; round++) {
      const upstream = await startUpstream({ askRootsOnInit: true });
      const { client, received } = await connected(upstream);
      await vi.waitFor(() => expect(received.some((m) => 'method' in m && m.method === 'roots/list')).toBe(true), { timeout: 3000 });
      await client.close();
    }
  });

  it('settles send() once the answer arrived, over SSE and over JSON', async () => {
    for (const json of [false, true]) {
      const upstream = await startUpstream({ json });
      const { client, received } = await connected(upstream);
      expect(client.sessionId).toMatch(/^[0-9a-f-]{36}$/);
      await client.send(call(1, 'ping'));
      expect(received.find((m) => 'id' in m && m.id === 1)).toMatchObject({ result: { content: [{ text: 'pong' }] } });
      await client.close();
    }
  });

  it('passes a JSON answer on as the text it came as, not serialised again', async () => {
    const text = '{"jsonrpc": "2.0", "id": 1, "result": {"content": [{"type": "text", "text": "spaced"}]}}';
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(`${text}\n`));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`);
      const client = new StreamableHttpClientTransport({ url, headers: {}, request: await createRequester({}) });
      const received: JSONRPCMessage[] = [];
      client.onmessage = (m) => received.push(m);
      await client.send(call(1, 'spaced'));
      expect(received).toEqual([JSON.parse(text)]);
      expect(messageText(received[0]!)).toBe(text);
      await client.close();
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('resumes a stream the server closed early, with Last-Event-ID, and delivers the answer', async () => {
    const upstream = await startUpstream();
    const { client, received } = await connected(upstream);
    await client.send(call(7, 'poll'));
    expect(received.find((m) => 'id' in m && m.id === 7)).toMatchObject({ result: { content: [{ text: 'answered after resume' }] } });
    await client.close();
  });

  it('does not hang an abort listener per request on one signal (MaxListenersExceededWarning under load)', async () => {
    const upstream = await startUpstream();
    const { client } = await connected(upstream);
    const signals = new Set<AbortSignal>();
    const options = (client as unknown as { options: { request: HttpRequester } }).options;
    const real = options.request;
    options.request = (url, init) => {
      if (init.signal) signals.add(init.signal);
      return real(url, init);
    };
    // The standalone GET stream (opened after initialized) stays open: that is the baseline.
    await new Promise((r) => setTimeout(r, 50));
    const baseline = client.inFlight;
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    try {
      const calls = Array.from({ length: 40 }, (_, i) => client.send(call(100 + i, 'ping')));
      expect(client.inFlight).toBeGreaterThan(baseline);
      await Promise.all(calls);
    } finally {
      process.off('warning', onWarning);
    }
    expect(signals.size).toBe(40); // one signal per exchange, not one shared by all
    expect(baseline).toBeLessThanOrEqual(1);
    expect(client.inFlight).toBe(baseline); // and none kept once answered
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
    await client.close();
  });

  it('reports an ended session as HTTP 404 naming the session end, and DELETE ends it', async () => {
    const upstream = await startUpstream();
    const { client } = await connected(upstream);
    const sessionId = client.sessionId!;
    await client.terminateSession();
    expect(upstream.transports.has(sessionId)).toBe(false);
    // Pretend we still have it: the server must answer 404, and we say the session ended.
    client.sessionId = sessionId;
    const error = await client.send(call(2, 'ping')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpStatusError);
    expect((error as HttpStatusError).code).toBe(404);
    expect((error as Error).message).toMatch(/^the upstream session ended \(HTTP 404\)/);
    await client.close();
  });
});

describe('StreamableHttpClientTransport with a server that sends junk', () => {
  it('drops a non-JSON event with an error report and still delivers the answer after it', async () => {
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'mcp-session-id': 's1' });
        res.write('event: message\ndata: this is not json\n\n');
        res.end('event: message\ndata: {"jsonrpc":"2.0","id":0,"result":{"ok":true}}\n\n');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`);
      const client = new StreamableHttpClientTransport({ url, headers: {}, request: await createRequester({}) });
      const received: JSONRPCMessage[] = [];
      const errors: Error[] = [];
      client.onmessage = (m) => received.push(m);
      client.onerror = (e) => errors.push(e);
      await client.send(initialize);
      expect(received).toEqual([{ jsonrpc: '2.0', id: 0, result: { ok: true } }]);
      expect(errors.map((e) => e.message)).toEqual([expect.stringMatching(/^the server sent something that is not JSON-RPC \(Parse error: /)]);
      await client.close();
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('StreamableHttpClientTransport: which 400 means a lost session', () => {
  it('takes a 400 whose body says the session id is unknown for an ended session, and any other 400 for the server\'s answer', async () => {
    let refusal = '';
    const server = createServer((req, res) => {
      if (req.method !== 'POST') return void res.writeHead(405).end(); // no GET stream
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      req.on('end', () => {
        const message = JSON.parse(body) as { id?: number; method: string };
        if (message.method === 'initialize') {
          res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 's1' });
          return void res.end(JSON.stringify({ jsonrpc: '2.0', id: message.id, result: { protocolVersion: '2025-11-25', capabilities: {}, serverInfo: { name: 'x', version: '1' } } }));
        }
        res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32000, message: refusal } }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const client = new StreamableHttpClientTransport({ url: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`), headers: {}, request: await createRequester() });
      const received: JSONRPCMessage[] = [];
      client.onmessage = (message) => received.push(message);
      await client.send({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '1' } } } as JSONRPCMessage);
      for (const lost of ['Bad Request: No valid session ID provided', 'Bad Request: Server not initialized', 'Invalid or expired sessionId']) {
        refusal = lost;
        const error = await client.send(call(1, 'ping')).catch((e: unknown) => e);
        expect((error as { sessionEnded?: boolean }).sessionEnded).toBe(true);
        expect((error as Error).message).toMatch(/^the upstream session ended \(HTTP 400\)/);
      }
      refusal = 'Bad Request: Unsupported protocol version (supported versions: 2025-06-18)';
      received.length = 0;
      await client.send(call(2, 'ping'));
      expect(received).toEqual([{ jsonrpc: '2.0', id: 2, error: { code: -32000, message: refusal } }]);
      await client.close();
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
