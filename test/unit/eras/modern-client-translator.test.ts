/**
 * Exact routing in the 4B translation (a 2026-07-28 client in front of a 2025 server), through the
 * era adapter with `--protocol 2025-11-25`: a server-to-client request, a progress notification or
 * a log message reaches the call it belongs to, or nobody; never "the newest call". The 2025 server
 * here is driven by hand (it answers the handshake, then the test decides what it sends and when),
 * because the orderings that matter (a question while two calls are in flight, a progress after a
 * retry) are what real servers do only by chance. The same paths run against real processes in
 * test/e2e/shared-lane.test.ts.
 */
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { describe, expect, it } from 'vitest';
import type { JSONRPCMessage } from '../../../src/bridge/json-rpc.js';
import { rememberRelatedRequest } from '../../../src/bridge/wire-status.js';
import { EraAdapter, type ProtocolChoice } from '../../../src/eras/era-adapter.js';
import { createLogger } from '../../../src/log.js';

type Record_ = Record<string, unknown>;

/** A 2025 server: it answers initialize and ping itself; everything else waits for the test. */
class HandDrivenServer implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  readonly sent: Record_[] = [];
  constructor(
    private readonly capabilities: Record_ = { tools: {}, logging: {} },
    /** Milliseconds each message takes to arrive, in order (a pipe): 0 delivers after the current turn. */
    private readonly latency = 0,
  ) {}
  async start(): Promise<void> {}
  async send(message: JSONRPCMessage): Promise<void> {
    const record = message as unknown as Record_;
    this.sent.push(record);
    if (record.method === 'initialize') this.reply({ jsonrpc: '2.0', id: record.id, result: { protocolVersion: '2025-11-25', capabilities: this.capabilities, serverInfo: { name: 'legacy', version: '1' } } });
    if (record.method === 'ping') this.reply({ jsonrpc: '2.0', id: record.id, result: {} });
  }
  /** The server sends a message, after the current turn (as a transport would). */
  reply(message: Record_, relatedTo?: unknown): void {
    const copy = message as unknown as JSONRPCMessage;
    if (relatedTo !== undefined) rememberRelatedRequest(copy, relatedTo as string);
    if (this.latency > 0) setTimeout(() => this.onmessage?.(copy), this.latency);
    else queueMicrotask(() => this.onmessage?.(copy));
  }
  async close(): Promise<void> {
    this.onclose?.();
  }
  /** The requests a method got, in order. */
  requests(method: string): Record_[] {
    return this.sent.filter((m) => m.method === method && 'id' in m);
  }
  /** Answers the server got for its own requests. */
  answers(): Record_[] {
    return this.sent.filter((m) => !('method' in m));
  }
}

const log = createLogger('silent');
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

function envelope(extra: Record_ = {}, capabilities: Record_ = { elicitation: {}, sampling: {}, roots: {} }): Record_ {
  return { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': capabilities, ...extra };
}

async function translating(protocol: ProtocolChoice = '2025-11-25', capabilities?: Record_) {
  const server = new HandDrivenServer(capabilities);
  const adapter = new EraAdapter(server, { protocol, log });
  const received: Record_[] = [];
  adapter.onmessage = (message) => received.push(message as unknown as Record_);
  await adapter.start();
  const call = async (id: string, name: string, meta: Record_ = envelope()) => {
    await adapter.send({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: {}, _meta: meta } } as JSONRPCMessage);
    await settle();
  };
  const to = (id: string) => received.filter((m) => m.id === id);
  return { server, adapter, received, call, to };
}

describe('4B routing: a server request reaches the call it belongs to, or nobody', () => {
  it('refuses a question it cannot place between two calls in flight, instead of asking the newest caller', async () => {
    const { server, call, received } = await translating();
    await call('alice', 'pin');
    await call('bob', 'agent_task');
    server.reply({ jsonrpc: '2.0', id: 'q1', method: 'elicitation/create', params: { message: 'Enter your PIN', requestedSchema: { type: 'object', properties: {} } } });
    await settle();
    expect(received.filter((m) => (m.result as Record_ | undefined)?.resultType === 'input_required')).toEqual([]);
    expect(server.answers()).toMatchObject([{ id: 'q1', error: { code: -32601, message: expect.stringContaining('2 calls are in flight') } }]);
  });

  it('puts a question the wire ties to a call (its POST stream) to that call, even with another in flight', async () => {
    const { server, call, to } = await translating();
    await call('alice', 'pin');
    await call('bob', 'agent_task');
    server.reply({ jsonrpc: '2.0', id: 'q1', method: 'elicitation/create', params: { message: 'Enter your PIN' } }, 'alice');
    await settle();
    expect(to('alice')).toMatchObject([{ result: { resultType: 'input_required', inputRequests: { 'input-1': { method: 'elicitation/create', params: { message: 'Enter your PIN' } } } } }]);
    expect(to('bob')).toEqual([]);
  });

  it('narrows by the capabilities each request declared: an agent without elicitation is never asked', async () => {
    const { server, call, to } = await translating();
    await call('alice', 'pin', envelope({}, { elicitation: {} }));
    await call('bob', 'agent_task', envelope({}, {}));
    server.reply({ jsonrpc: '2.0', id: 'q1', method: 'elicitation/create', params: { message: 'Enter your PIN' } });
    await settle();
    expect(to('alice')).toMatchObject([{ result: { resultType: 'input_required' } }]);
    expect(to('bob')).toEqual([]);
  });

  it('answers a request the server makes as soon as it is initialized, before any call goes up (server-everything roots/list)', async () => {
    const server = new HandDrivenServer(undefined, 5);
    const send = server.send.bind(server);
    server.send = async (message) => {
      await send(message);
      // Like server-everything: roots/list in reaction to initialized, before it reads the next line;
      // it reaches airlock a moment later, as everything on a pipe does.
      if ((message as { method?: string }).method === 'notifications/initialized') server.reply({ jsonrpc: '2.0', id: 'roots-1', method: 'roots/list' });
    };
    const adapter = new EraAdapter(server, { protocol: '2025-11-25', log });
    const received: Record_[] = [];
    adapter.onmessage = (message) => received.push(message as unknown as Record_);
    await adapter.start();
    await adapter.send({ jsonrpc: '2.0', id: 'alice', method: 'tools/call', params: { name: 'pin', arguments: {}, _meta: envelope() } } as JSONRPCMessage);
    await settle();
    expect(received).toEqual([]); // no input_required for roots alice never asked for
    expect(server.answers()).toMatchObject([{ id: 'roots-1', error: { code: -32601 } }]);
    expect(server.requests('tools/call')).toHaveLength(1);
  });
});

describe('4B: progress and logs follow their call', () => {
  it("renames progress to the retry's token after a round of input (the client closed the first one)", async () => {
    const { server, adapter, call, to, received } = await translating();
    await call('first', 'ask', envelope({ progressToken: 'p1' }));
    server.reply({ jsonrpc: '2.0', id: 'q1', method: 'elicitation/create', params: { message: 'name?' } });
    await settle();
    const state = (to('first')[0]!.result as Record_).requestState as string;
    // While the call waits for input nobody follows p1 any more: progress then is dropped.
    server.reply({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 'p1', progress: 0 } });
    await settle();
    await adapter.send({ jsonrpc: '2.0', id: 'retry', method: 'tools/call', params: { name: 'ask', arguments: {}, inputResponses: { 'input-1': { action: 'accept', content: {} } }, requestState: state, _meta: envelope({ progressToken: 'p2' }) } } as JSONRPCMessage);
    await settle();
    expect(server.answers()).toMatchObject([{ id: 'q1', result: { action: 'accept' } }]);
    server.reply({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 'p1', progress: 1, total: 2 } });
    server.reply({ jsonrpc: '2.0', id: 'first', result: { content: [] } });
    await settle();
    expect(received.filter((m) => m.method === 'notifications/progress')).toEqual([{ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 'p2', progress: 1, total: 2 } }]);
    expect(to('retry')).toMatchObject([{ result: { resultType: 'complete' } }]);
  });

  it('gives log messages only to a call that asked for them, at or above its level', async () => {
    const { server, call, received } = await translating();
    await call('quiet', 'work', envelope());
    await call('loud', 'work', envelope({ 'io.modelcontextprotocol/logLevel': 'warning' }));
    expect(server.requests('logging/setLevel')).toMatchObject([{ params: { level: 'warning' } }]);
    server.reply({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'chatty' } });
    server.reply({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'error', data: 'broken' } });
    await settle();
    const logs = received.filter((m) => m.method === 'notifications/message');
    expect(logs.map((m) => (m.params as Record_).data)).toEqual(['broken']);
  });
});

describe('4B: what a parked call keeps', () => {
  it('refuses a requestState it does not hold (expired or never given) instead of passing it to the server', async () => {
    const { server, adapter, to } = await translating();
    await adapter.send({ jsonrpc: '2.0', id: 'late', method: 'tools/call', params: { name: 'ask', arguments: {}, requestState: 'made-up', inputResponses: {}, _meta: envelope() } } as JSONRPCMessage);
    await settle();
    expect(to('late')).toMatchObject([{ error: { code: -32602, message: expect.stringContaining('requestState is unknown or has expired') } }]);
    expect(server.requests('tools/call')).toEqual([]);
  });

  it('cancels the call parked longest once 64 wait for input', async () => {
    const { server, call } = await translating();
    for (let i = 0; i < 65; i++) {
      await call(`c${i}`, 'ask', envelope({}, { elicitation: {} }));
      server.reply({ jsonrpc: '2.0', id: `q${i}`, method: 'elicitation/create', params: { message: 'x' } }, `c${i}`);
      await settle();
    }
    const cancelled = server.sent.filter((m) => m.method === 'notifications/cancelled');
    expect(cancelled).toMatchObject([{ params: { requestId: 'c0' } }]);
    expect(server.answers()).toMatchObject([{ id: 'q0', error: { message: 'the client did not answer in time' } }]);
  });
});

describe('era detection holds what arrives before the verdict', () => {
  it('holds at most 64 requests while the first is unanswered, and refuses the next with a reason (a server that never answers)', async () => {
    const server = new HandDrivenServer();
    const adapter = new EraAdapter(server, { protocol: 'auto', log });
    await adapter.start();
    const list = (id: number) => adapter.send({ jsonrpc: '2.0', id, method: 'tools/list', params: { _meta: envelope() } } as JSONRPCMessage);
    void list(0); // the opening: never answered
    const held = Array.from({ length: 64 }, (_, i) => list(i + 1).then(() => 'sent', (error: Error) => error.message));
    await expect(list(65)).rejects.toThrow("64 requests already wait for the server's first answer");
    await adapter.close();
    // Every held request is told why it never went up.
    expect(new Set(await Promise.all(held))).toEqual(new Set(["the connection closed before the server's era was known"]));
    expect(server.sent.map((m) => m.id)).toEqual([0]); // nothing held went up
  });

  it("takes a server request during a 2026 client's first call as a 2025 server's, and puts it to that call", async () => {
    const { server, call, to } = await translating('auto');
    await call('first', 'sample');
    // A 2025 stdio server runs the call without any initialize and asks the client to sample.
    server.reply({ jsonrpc: '2.0', id: 'q1', method: 'sampling/createMessage', params: { messages: [] } });
    await settle();
    expect(to('first')).toMatchObject([{ result: { resultType: 'input_required', inputRequests: { 'input-1': { method: 'sampling/createMessage' } } } }]);
    expect(server.requests('initialize')).toEqual([]);
  });


  it('translates a 2026 request sent while the first was still being answered (a fresh lane, several callers)', async () => {
    const server = new HandDrivenServer();
    const adapter = new EraAdapter(server, { protocol: 'auto', log });
    const received: Record_[] = [];
    adapter.onmessage = (message) => received.push(message as unknown as Record_);
    await adapter.start();
    const first = adapter.send({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: envelope() } } as JSONRPCMessage);
    const second = adapter.send({ jsonrpc: '2.0', id: 2, method: 'tools/list', params: { _meta: envelope() } } as JSONRPCMessage);
    await settle();
    // Only the opening went up: the second waits for the verdict.
    expect(server.sent.map((m) => m.method)).toEqual(['tools/list']);
    // The server answers like a 2025 server (no resultType): a session is opened, and both are asked on it.
    server.reply({ jsonrpc: '2.0', id: 1, result: { tools: [] } });
    await settle();
    await Promise.all([first, second]);
    const lists = server.requests('tools/list');
    expect(lists.slice(1).map((m) => m.params)).toEqual([{}, {}]); // no 2026 envelope reached the 2025 server
    for (const id of [1, 2]) {
      server.reply({ jsonrpc: '2.0', id, result: { tools: [{ name: `t${id}` }] } });
    }
    await settle();
    expect(received.map((m) => [m.id, (m.result as Record_).resultType])).toEqual([
      [1, 'complete'],
      [2, 'complete'],
    ]);
  });
});
