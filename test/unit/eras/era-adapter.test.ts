/**
 * The era adapter's verdicts on the client's first exchange, against a scripted server (an
 * in-memory transport that answers each request as the test says): the edge cases a real server
 * rarely shows on demand (discover failing after initialize did, an ambiguous refusal settled by a
 * probe, an upstream that throws). The common paths run against real servers in
 * test/e2e/protocol-eras.test.ts.
 */
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { describe, expect, it } from 'vitest';
import type { JSONRPCMessage } from '../../../src/bridge/json-rpc.js';
import { rememberHttpStatus } from '../../../src/bridge/wire-status.js';
import { EraAdapter, type ProtocolChoice } from '../../../src/eras/era-adapter.js';
import { HttpStatusError } from '../../../src/errors.js';
import { createLogger } from '../../../src/log.js';

type Answer = (request: Record<string, unknown>) => JSONRPCMessage | Error | undefined;

/** A server that answers each request with `answer(request)` (undefined: no answer), recording what it was sent. */
class ScriptedServer implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  readonly sent: Array<Record<string, unknown>> = [];
  constructor(private readonly answer: Answer) {}
  async start(): Promise<void> {}
  async send(message: JSONRPCMessage): Promise<void> {
    const record = message as unknown as Record<string, unknown>;
    this.sent.push(record);
    if (!('method' in record) || !('id' in record)) return;
    const reply = this.answer(record);
    if (reply instanceof Error) throw reply;
    if (reply) queueMicrotask(() => this.onmessage?.(reply));
  }
  async close(): Promise<void> {
    this.onclose?.();
  }
  methods(): string[] {
    return this.sent.map((m) => String(m.method ?? 'response'));
  }
}

const log = createLogger('silent');
const ok = (id: unknown, result: Record<string, unknown>) => ({ jsonrpc: '2.0', id, result }) as JSONRPCMessage;
const fail = (id: unknown, code: number, message: string, data?: unknown) => ({ jsonrpc: '2.0', id, error: { code, message, ...(data ? { data } : {}) } }) as JSONRPCMessage;
const meta = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };
const initialize = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'c', version: '1' } } } as JSONRPCMessage;
const discoverResult = { resultType: 'complete', supportedVersions: ['2026-07-28'], capabilities: { tools: {} }, ttlMs: 0, cacheScope: 'public', _meta: { 'io.modelcontextprotocol/serverInfo': { name: 'modern', version: '2' } } };

async function adapterWith(answer: Answer, protocol: ProtocolChoice = 'auto') {
  const server = new ScriptedServer(answer);
  const adapter = new EraAdapter(server, { protocol, log });
  const received: JSONRPCMessage[] = [];
  adapter.onmessage = (message) => received.push(message);
  await adapter.start();
  const next = async (): Promise<Record<string, unknown>> => {
    for (let i = 0; i < 50 && received.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    const message = received.shift();
    if (!message) throw new Error('the client got nothing');
    return message as unknown as Record<string, unknown>;
  };
  return { server, adapter, next };
}

describe('EraAdapter with --protocol auto', () => {
  it('passes a 2025 handshake through untouched when the server takes it: no probe', async () => {
    const { server, adapter, next } = await adapterWith((r) => ok(r.id, { protocolVersion: '2025-11-25', capabilities: {}, serverInfo: { name: 'legacy', version: '1' } }));
    await adapter.send(initialize);
    expect(await next()).toMatchObject({ id: 0, result: { serverInfo: { name: 'legacy' } } });
    expect(server.methods()).toEqual(['initialize']);
    expect(adapter.translation).toBe('none');
  });

  it('answers a refused initialize from server/discover, and translates from then on', async () => {
    const { server, adapter, next } = await adapterWith((r) =>
      r.method === 'initialize' ? fail(r.id, -32022, 'Unsupported protocol version', { supported: ['2026-07-28'] }) : r.method === 'server/discover' ? ok(r.id, discoverResult) : ok(r.id, { resultType: 'complete', tools: [] }),
    );
    await adapter.send(initialize);
    expect(await next()).toMatchObject({ id: 0, result: { protocolVersion: '2025-11-25', serverInfo: { name: 'modern' }, capabilities: { tools: {} } } });
    expect(adapter.translation).toBe('legacy-client');
    await adapter.send({ jsonrpc: '2.0', id: 1, method: 'tools/list' } as JSONRPCMessage);
    expect(await next()).toEqual({ jsonrpc: '2.0', id: 1, result: { tools: [] } }); // resultType and cache hints stripped
    expect(server.sent.at(-1)).toMatchObject({ method: 'tools/list', params: { _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name: 'c' } } } });
  });

  it("gives the client the server's own refusal of initialize when discover fails too", async () => {
    const { adapter, next } = await adapterWith((r) => (r.method === 'initialize' ? fail(r.id, -32600, 'go away') : fail(r.id, -32601, 'Method not found')));
    await adapter.send(initialize);
    expect(await next()).toMatchObject({ id: 0, error: { code: -32600, message: 'go away' } });
  });

  it('keeps a 2026 opening modern when the refusal is a 2026 error (-32022 with its supported list)', async () => {
    const refusal = fail(1, -32022, 'Unsupported protocol version', { supported: ['2026-07-28'], requested: '2099-01-01' });
    rememberHttpStatus(refusal, 400);
    const { server, adapter, next } = await adapterWith(() => refusal);
    await adapter.send({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: meta } } as JSONRPCMessage);
    expect(await next()).toMatchObject({ id: 1, error: { code: -32022, data: { supported: ['2026-07-28'] } } });
    expect(server.methods()).toEqual(['tools/list']);
    expect(adapter.translation).toBe('none');
  });

  it('settles an ambiguous refusal of a 2026 request with a discover probe: a modern server keeps its answer', async () => {
    const { server, adapter, next } = await adapterWith((r) => (r.method === 'server/discover' ? ok(r.id, discoverResult) : fail(r.id, -32602, 'Invalid params: bad cursor')));
    await adapter.send({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { cursor: 'x', _meta: meta } } as JSONRPCMessage);
    expect(await next()).toMatchObject({ id: 1, error: { code: -32602, message: 'Invalid params: bad cursor' } });
    expect(server.methods()).toEqual(['tools/list', 'server/discover']);
    expect(adapter.translation).toBe('none');
  });

  it('asks a read-only request again on a proper 2025 session when the server answered it without resultType (before any initialize)', async () => {
    // A published 2025 server (server-everything) lists fewer tools to a client it has not been told the capabilities of.
    let initialized = false;
    const { server, adapter, next } = await adapterWith((r) => {
      if (r.method === 'initialize') {
        initialized = true;
        return ok(r.id, { protocolVersion: '2025-11-25', capabilities: { tools: {} }, serverInfo: { name: 'legacy', version: '1' } });
      }
      return ok(r.id, { tools: initialized ? [{ name: 'echo' }, { name: 'sample' }] : [{ name: 'echo' }] });
    });
    await adapter.send({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: meta } } as JSONRPCMessage);
    expect(await next()).toMatchObject({ id: 1, result: { resultType: 'complete', ttlMs: 0, cacheScope: 'private', tools: [{ name: 'echo' }, { name: 'sample' }] } });
    expect(adapter.translation).toBe('modern-client');
    expect(server.methods()).toEqual(['tools/list', 'initialize', 'notifications/initialized', 'ping', 'tools/list']);
    // The 2026 envelope does not reach the 2025 server.
    expect(server.sent.at(-1)).toEqual({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} });
  });

  it('keeps the answer to a tool call a 2025 server made without resultType (it must not run twice), and opens a session for what follows', async () => {
    const { server, adapter, next } = await adapterWith((r) => {
      if (r.method === 'initialize') return ok(r.id, { protocolVersion: '2025-11-25', capabilities: { tools: {} }, serverInfo: { name: 'legacy', version: '1' } });
      return ok(r.id, { content: [{ type: 'text', text: `called ${String(r.id)}` }] });
    });
    await adapter.send({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: {}, _meta: meta } } as JSONRPCMessage);
    expect(await next()).toMatchObject({ id: 1, result: { resultType: 'complete', content: [{ text: 'called 1' }] } });
    expect(adapter.translation).toBe('modern-client');
    await adapter.send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: {}, _meta: meta } } as JSONRPCMessage);
    expect(await next()).toMatchObject({ id: 2, result: { resultType: 'complete', content: [{ text: 'called 2' }] } });
    expect(server.methods()).toEqual(['tools/call', 'initialize', 'notifications/initialized', 'ping', 'tools/call']);
    expect(server.sent.at(-1)).toEqual({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: {} } });
  });

  it("refuses a probing client's server/discover for a 2025 server with -32022, so it falls back to initialize as it would directly", async () => {
    const { server, adapter, next } = await adapterWith((r) =>
      r.method === 'initialize' ? ok(r.id, { protocolVersion: '2025-11-25', capabilities: {}, serverInfo: { name: 'legacy', version: '1' } }) : fail(r.id, -32601, 'Method not found'),
    );
    await adapter.send({ jsonrpc: '2.0', id: 'probe', method: 'server/discover', params: { _meta: meta } } as JSONRPCMessage);
    const refusal = await next();
    expect(refusal).toMatchObject({ id: 'probe', error: { code: -32022, data: { supported: ['2025-11-25'], requested: '2026-07-28' } } });
    expect((refusal.error as { message: string }).message).toContain('--protocol 2025-11-25');
    expect(adapter.translation).toBe('none');
    // The fallback is looked at afresh and passes through: the client speaks 2025 with the 2025 server.
    await adapter.send(initialize);
    expect(await next()).toMatchObject({ id: 0, result: { serverInfo: { name: 'legacy' } } });
    await adapter.send({ jsonrpc: '2.0', id: 1, method: 'ping' } as JSONRPCMessage);
    expect(await next()).toMatchObject({ id: 1, error: { code: -32601 } }); // the scripted server's own answer, untranslated
    expect(server.methods()).toEqual(['server/discover', 'initialize', 'ping']);
    expect(adapter.translation).toBe('none');
  });

  it('refuses the probe the same way when the 2025 server answers it with an HTTP error (no session)', async () => {
    const { server, adapter, next } = await adapterWith((r) => (r.method === 'server/discover' ? new HttpStatusError(400, 'Bad Request: No valid session ID provided') : undefined));
    await adapter.send({ jsonrpc: '2.0', id: 7, method: 'server/discover', params: { _meta: meta } } as JSONRPCMessage);
    expect(await next()).toMatchObject({ id: 7, error: { code: -32022, data: { supported: ['2025-11-25'] } } });
    expect(server.methods()).toEqual(['server/discover']);
  });

  it('still translates for a 2026 client that does not probe (its first request is a call)', async () => {
    let initialized = false;
    const { server, adapter, next } = await adapterWith((r) => {
      if (r.method === 'initialize') {
        initialized = true;
        return ok(r.id, { protocolVersion: '2025-11-25', capabilities: { tools: {} }, serverInfo: { name: 'legacy', version: '1' } });
      }
      return initialized ? ok(r.id, { tools: [] }) : fail(r.id, -32600, 'Server not initialized');
    });
    await adapter.send({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: meta } } as JSONRPCMessage);
    expect(await next()).toMatchObject({ id: 1, result: { resultType: 'complete', tools: [] } });
    expect(adapter.translation).toBe('modern-client');
    expect(server.methods().slice(0, 3)).toEqual(['tools/list', 'server/discover', 'initialize']);
  });

  it('reports an unreachable or unauthorized server as it is, never as an era verdict', async () => {
    const unauthorized = await adapterWith(() => new HttpStatusError(401, 'Unauthorized'));
    await expect(unauthorized.adapter.send(initialize)).rejects.toThrow('Unauthorized');
    expect(unauthorized.server.methods()).toEqual(['initialize']);
    const down = await adapterWith(() => new Error('connect ECONNREFUSED 127.0.0.1:1'));
    await expect(down.adapter.send({ jsonrpc: '2.0', id: 1, method: 'server/discover', params: { _meta: meta } } as JSONRPCMessage)).rejects.toThrow('ECONNREFUSED');
    expect(down.adapter.translation).toBe('none');
  });
});

describe('EraAdapter over HTTP+SSE (a 2025 transport)', () => {
  it('refuses a probe without asking the server, and translates a 2026 client that does not probe', async () => {
    const server = new ScriptedServer((r) => (r.method === 'initialize' ? ok(r.id, { protocolVersion: '2025-11-25', capabilities: { tools: {} }, serverInfo: { name: 'legacy', version: '1' } }) : ok(r.id, { tools: [] })));
    const adapter = new EraAdapter(server, { protocol: 'auto', knownLegacy: true, log });
    const received: JSONRPCMessage[] = [];
    adapter.onmessage = (message) => received.push(message);
    await adapter.start();
    await adapter.send({ jsonrpc: '2.0', id: 1, method: 'server/discover', params: { _meta: meta } } as JSONRPCMessage);
    expect(received.shift()).toMatchObject({ id: 1, error: { code: -32022, data: { supported: ['2025-11-25'] } } });
    expect(server.methods()).toEqual([]);
    await adapter.send({ jsonrpc: '2.0', id: 2, method: 'tools/list', params: { _meta: meta } } as JSONRPCMessage);
    for (let i = 0; i < 50 && received.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(received.shift()).toMatchObject({ id: 2, result: { resultType: 'complete', tools: [] } });
    expect(adapter.translation).toBe('modern-client');
  });
});

describe('EraAdapter with a pinned --protocol', () => {
  it('2026-07-28: probes with discover at once instead of sending initialize', async () => {
    const { server, adapter, next } = await adapterWith((r) => ok(r.id, discoverResult), '2026-07-28');
    await adapter.send(initialize);
    expect(await next()).toMatchObject({ id: 0, result: { serverInfo: { name: 'modern' } } });
    expect(server.methods()).toEqual(['server/discover']);
  });

  it('2025-11-25: a 2026 request opens a 2025 session first, and -32022 answers a version it cannot serve', async () => {
    const { server, adapter, next } = await adapterWith((r) => ok(r.id, r.method === 'initialize' ? { protocolVersion: '2025-06-18', capabilities: {}, serverInfo: { name: 'legacy', version: '1' } } : {}), '2025-11-25');
    await adapter.send({ jsonrpc: '2.0', id: 1, method: 'server/discover', params: { _meta: meta } } as JSONRPCMessage);
    expect(await next()).toMatchObject({ id: 1, result: { supportedVersions: ['2026-07-28'], _meta: { 'io.modelcontextprotocol/serverInfo': { name: 'legacy' } } } });
    expect(server.methods()).toEqual(['initialize', 'notifications/initialized', 'ping']);
    await adapter.send({ jsonrpc: '2.0', id: 2, method: 'tools/list', params: { _meta: { ...meta, 'io.modelcontextprotocol/protocolVersion': '2025-11-25' } } } as JSONRPCMessage);
    expect(await next()).toMatchObject({ id: 2, error: { code: -32022, data: { supported: ['2026-07-28'], requested: '2025-11-25' } } });
  });
});
