/**
 * What one client of a shared upstream can do to another, against a scripted server (an in-memory
 * transport that records what it is sent and answers when the test says): the forgeries and races
 * a real server does not show on demand. The common paths run against real servers in
 * test/e2e/hub-sharing.test.ts.
 */
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { describe, expect, it } from 'vitest';
import type { JSONRPCMessage } from '../../../src/bridge/json-rpc.js';
import { createHash } from 'node:crypto';
import { SharedUpstreams, sortedEnv, upstreamKey, type SharedSpec } from '../../../src/hub/shared-upstreams.js';
import { createLogger } from '../../../src/log.js';
import { relatedRequestOf, rememberRelatedRequest } from '../../../src/bridge/wire-status.js';
import { ChildReaper } from '../../../src/transports/child-reaper.js';

type Message = Record<string, unknown>;

class ScriptedServer implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  readonly sent: Message[] = [];
  starts = 0;
  async start(): Promise<void> {
    this.starts++;
  }
  async send(message: JSONRPCMessage): Promise<void> {
    this.sent.push(message as unknown as Message);
  }
  async close(): Promise<void> {
    this.onclose?.();
  }
  /** The server speaks: an answer, a request, a notification. */
  say(message: Message): void {
    this.onmessage?.(message as unknown as JSONRPCMessage);
  }
  last(method?: string): Message {
    const found = this.sent.filter((m) => method === undefined || m.method === method);
    return found[found.length - 1]!;
  }
}

const log = createLogger('silent');
const identity = (env: NodeJS.ProcessEnv = { PATH: '/usr/bin' }, cwd = '/work') => ['command', '/usr/bin/server', ['--x'], cwd, sortedEnv(env)];
const spec = (share: boolean, idleStopMs?: number): SharedSpec => ({ identity: identity(), label: 'server', share, ...(idleStopMs ? { idleStopMs } : {}) });
const initialize = (id: number) => ({ jsonrpc: '2.0', id, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'c', version: '1' } } });
const tick = () => new Promise((resolve) => setImmediate(resolve));

function setUp(lingerMs = 0, idleStopMs?: number) {
  const servers: ScriptedServer[] = [];
  const upstreams = new SharedUpstreams({ log, reaper: new ChildReaper(), lingerMs, decideWaitMs: 200 });
  async function client(name: string, share = true) {
    const received: Message[] = [];
    let closed = false;
    const lease = upstreams.forClient(name).lease(spec(share, idleStopMs), { log }, () => {
      const server = new ScriptedServer();
      servers.push(server);
      return server;
    });
    lease.onmessage = (message) => void received.push(message as unknown as Message);
    lease.onclose = () => void (closed = true);
    await lease.start();
    return { lease, received, closed: () => closed, send: (message: Message) => lease.send(message as unknown as JSONRPCMessage) };
  }
  return { upstreams, servers, client };
}

/** Open a shared 2025 session: A's initialize answered by the server, B's from that answer. */
async function sharedLegacySession(idleStopMs?: number) {
  const setup = setUp(0, idleStopMs);
  const a = await setup.client('a');
  const b = await setup.client('b');
  expect(setup.servers).toHaveLength(1);
  const server = setup.servers[0]!;
  await a.send(initialize(0));
  await b.send(initialize(0));
  // B waits for the session's opening; only A's initialize reached the server.
  expect(server.sent.filter((m) => m.method === 'initialize')).toHaveLength(1);
  server.say({ jsonrpc: '2.0', id: server.last('initialize').id, result: { protocolVersion: '2025-11-25', capabilities: { tools: {} }, serverInfo: { name: 's', version: '1' } } });
  expect(a.received.at(-1)).toMatchObject({ id: 0, result: { serverInfo: { name: 's' } } });
  expect(b.received.at(-1)).toMatchObject({ id: 0, result: { serverInfo: { name: 's' } } });
  await b.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  await a.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  expect(server.sent.filter((m) => m.method === 'notifications/initialized')).toHaveLength(1);
  return { ...setup, server, a, b };
}

describe('shared upstreams', () => {
  it('keys by the identity (an environment in any order), never by a value shown', () => {
    expect(upstreamKey(spec(true))).toBe(upstreamKey({ ...spec(false), identity: identity({ PATH: '/usr/bin' }) }));
    expect(upstreamKey({ ...spec(true), identity: identity({ A: '1', B: '2' }) })).toBe(upstreamKey({ ...spec(true), identity: identity({ B: '2', A: '1' }) }));
    expect(upstreamKey(spec(true))).not.toBe(upstreamKey({ ...spec(true), identity: identity({ PATH: '/usr/bin', TOKEN: 'a' }) }));
    expect(upstreamKey(spec(true))).not.toBe(upstreamKey({ ...spec(true), identity: identity(undefined, '/other') }));
    expect(upstreamKey(spec(true))).toMatch(/^[0-9a-f]{16}$/);
    // Keyed: not the plain SHA-256 of the identity, which anyone could compute from a guess.
    expect(upstreamKey(spec(true))).not.toBe(createHash('sha256').update(JSON.stringify(identity())).digest('hex').slice(0, 16));
  });

  it('the same id from two clients: each answer goes to its own caller', async () => {
    const { server, a, b } = await sharedLegacySession();
    await a.send({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'x' } });
    await b.send({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'y' } });
    const [upA, upB] = server.sent.filter((m) => m.method === 'tools/call');
    expect(upA!.id).not.toBe(upB!.id);
    server.say({ jsonrpc: '2.0', id: upB!.id, result: { content: [{ type: 'text', text: 'for b' }] } });
    server.say({ jsonrpc: '2.0', id: upA!.id, result: { content: [{ type: 'text', text: 'for a' }] } });
    expect(a.received.at(-1)).toEqual({ jsonrpc: '2.0', id: 7, result: { content: [{ type: 'text', text: 'for a' }] } });
    expect(b.received.at(-1)).toEqual({ jsonrpc: '2.0', id: 7, result: { content: [{ type: 'text', text: 'for b' }] } });
  });

  it("a client cannot cancel another's call, nor answer a question put to another", async () => {
    const { server, a, b } = await sharedLegacySession();
    await a.send({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'x' } });
    const upA = server.last('tools/call').id;
    // B names A's id (and the upstream's): neither is one of B's calls.
    await b.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 1 } });
    await b.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: upA } });
    expect(server.sent.filter((m) => m.method === 'notifications/cancelled')).toEqual([]);
    // The server asks during A's call: the question goes to A; B's answer to it is dropped.
    server.say({ jsonrpc: '2.0', id: 'q1', method: 'sampling/createMessage', params: {} });
    expect(a.received.at(-1)).toMatchObject({ id: 'q1', method: 'sampling/createMessage' });
    expect(b.received.some((m) => m.id === 'q1')).toBe(false);
    await b.send({ jsonrpc: '2.0', id: 'q1', result: { forged: true } });
    expect(server.sent.some((m) => m.id === 'q1')).toBe(false);
    await a.send({ jsonrpc: '2.0', id: 'q1', result: { content: 'ok' } });
    expect(server.last()).toEqual({ jsonrpc: '2.0', id: 'q1', result: { content: 'ok' } });
    // A cancels its own call: the server is told under the upstream's id.
    await a.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 1, reason: 'user' } });
    expect(server.last('notifications/cancelled')).toMatchObject({ params: { requestId: upA, reason: 'user' } });
  });

  it('progress reaches only the caller whose token it is, under its own token', async () => {
    const { server, a, b } = await sharedLegacySession();
    await a.send({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'x', _meta: { progressToken: 'same' } } });
    await b.send({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'y', _meta: { progressToken: 'same' } } });
    const upB = server.last('tools/call') as { params: { _meta: { progressToken: string } } };
    server.say({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: upB.params._meta.progressToken, progress: 1 } });
    expect(b.received.at(-1)).toEqual({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 'same', progress: 1 } });
    expect(a.received.some((m) => m.method === 'notifications/progress')).toBe(false);
    // A token no call holds reaches nobody.
    server.say({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 'same', progress: 2 } });
    expect([...a.received, ...b.received].filter((m) => m.method === 'notifications/progress')).toHaveLength(1);
  });

  it('a question while two clients have calls in flight is refused to the server; notifications of no call reach all', async () => {
    const { server, a, b } = await sharedLegacySession();
    await a.send({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'x' } });
    await b.send({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'y' } });
    server.say({ jsonrpc: '2.0', id: 9, method: 'roots/list' });
    expect(server.last()).toMatchObject({ id: 9, error: { code: -32603 } });
    expect([...a.received, ...b.received].some((m) => m.method === 'roots/list')).toBe(false);
    server.say({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' });
    expect(a.received.at(-1)).toMatchObject({ method: 'notifications/tools/list_changed' });
    expect(b.received.at(-1)).toMatchObject({ method: 'notifications/tools/list_changed' });
  });

  it('a server message tagged with the stream it came on (HTTP) goes to that call\'s client, with several calls in flight', async () => {
    const { server, a, b } = await sharedLegacySession();
    await a.send({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'x' } });
    await b.send({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'y' } });
    const upB = server.last('tools/call').id as number;
    const question = { jsonrpc: '2.0', id: 'q', method: 'sampling/createMessage', params: {} } as unknown as JSONRPCMessage;
    rememberRelatedRequest(question, upB);
    server.onmessage?.(question);
    expect(b.received.at(-1)).toMatchObject({ id: 'q', method: 'sampling/createMessage' });
    expect(relatedRequestOf(b.received.at(-1) as unknown as JSONRPCMessage)).toBe(1);
    expect(a.received.some((m) => m.id === 'q')).toBe(false);
    const log = { jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'for b' } } as unknown as JSONRPCMessage;
    rememberRelatedRequest(log, upB);
    server.onmessage?.(log);
    expect(b.received.at(-1)).toMatchObject({ method: 'notifications/message' });
    expect(a.received.some((m) => m.method === 'notifications/message')).toBe(false);
  });

  it('a client that detaches: its calls are cancelled upstream, its questions refused; the others keep the server', async () => {
    const { server, a, b } = await sharedLegacySession();
    await a.send({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'x' } });
    const upA = server.last('tools/call').id;
    server.say({ jsonrpc: '2.0', id: 'q', method: 'elicitation/create', params: {} });
    await a.lease.close();
    expect(server.sent.filter((m) => m.method === 'notifications/cancelled')).toMatchObject([{ params: { requestId: upA } }]);
    expect(server.last()).toMatchObject({ id: 'q', error: { code: -32603 } });
    // A late answer to A's call is dropped, not given to B.
    server.say({ jsonrpc: '2.0', id: upA, result: {} });
    expect(b.received.some((m) => m.id === 1)).toBe(false);
    expect(b.closed()).toBe(false);
    await b.send({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
    expect(server.last('tools/list')).toBeDefined();
  });

  it('the client that opened the session leaves before its answer: the others waiting on it are still answered', async () => {
    const { servers, client } = setUp();
    const a = await client('a');
    const b = await client('b');
    const server = servers[0]!;
    await a.send(initialize(0));
    await b.send(initialize(5));
    await a.lease.close();
    server.say({ jsonrpc: '2.0', id: server.last('initialize').id, result: { protocolVersion: '2025-11-25', capabilities: {}, serverInfo: { name: 's', version: '1' } } });
    expect(b.received.at(-1)).toMatchObject({ id: 5, result: { serverInfo: { name: 's' } } });
    await b.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    expect(server.sent.filter((m) => m.method === 'notifications/initialized')).toHaveLength(1);
  });

  it('a client that floods initialize while the opening runs gets refusals, and the hub holds one of them', async () => {
    const { servers, client } = setUp();
    const a = await client('a');
    const b = await client('b');
    const server = servers[0]!;
    await a.send(initialize(0));
    for (let id = 1; id <= 100; id++) await b.send(initialize(id));
    expect(b.received).toHaveLength(99);
    expect(b.received.every((m) => (m as { error?: { code?: number } }).error?.code === -32600)).toBe(true);
    server.say({ jsonrpc: '2.0', id: server.last('initialize').id, result: { protocolVersion: '2025-11-25', capabilities: {}, serverInfo: { name: 's', version: '1' } } });
    expect(b.received.at(-1)).toMatchObject({ id: 1, result: { serverInfo: { name: 's' } } });
    expect(server.sent.filter((m) => m.method === 'initialize')).toHaveLength(1);
  });

  it('a 2025 session without --share is one client\'s: the next client waits for the verdict, then gets its own server', async () => {
    const { servers, client } = setUp();
    const a = await client('a', false);
    await a.send(initialize(0));
    const pending = client('b', false);
    await tick();
    expect(servers).toHaveLength(1);
    servers[0]!.say({ jsonrpc: '2.0', id: servers[0]!.last('initialize').id, result: { protocolVersion: '2025-11-25', capabilities: {}, serverInfo: { name: 's', version: '1' } } });
    await pending;
    expect(servers).toHaveLength(2);
    // Its last client gone, an unshared session's server stops at once.
    await a.lease.close();
    expect(a.closed()).toBe(true);
  });

  it('a 2026 server is shared by clients without --share once its first 2026 answer says so; initialize is refused there', async () => {
    const { servers, client } = setUp();
    const a = await client('a', false);
    const modern = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };
    await a.send({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: modern } });
    const pending = client('b', false);
    await tick();
    servers[0]!.say({ jsonrpc: '2.0', id: servers[0]!.last('tools/list').id, result: { resultType: 'complete', tools: [] } });
    const b = await pending;
    expect(servers).toHaveLength(1);
    // A 2025 client's initialize never reaches a 2026 server (a dual-era one would pin 2025 for all).
    await b.send(initialize(3));
    expect(b.received.at(-1)).toMatchObject({ id: 3, error: { code: -32601 } });
    expect(servers[0]!.sent.some((m) => m.method === 'initialize')).toBe(false);
  });

  it('--idle-stop: a quiet server stops, its clients stay, and the next request opens the same session on a new one', async () => {
    const { servers, server, a, b } = await sharedLegacySession(30);
    await a.send({ jsonrpc: '2.0', id: 1, method: 'logging/setLevel', params: { level: 'debug' } });
    server.say({ jsonrpc: '2.0', id: server.last('logging/setLevel').id, result: {} });
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(servers).toHaveLength(1);
    expect([a.closed(), b.closed()]).toEqual([false, false]);
    // A notification alone does not start it again.
    await b.send({ jsonrpc: '2.0', method: 'notifications/roots/list_changed' });
    expect(servers).toHaveLength(1);
    const sent = b.send({ jsonrpc: '2.0', id: 4, method: 'tools/list' });
    await tick();
    expect(servers).toHaveLength(2);
    const fresh = servers[1]!;
    expect(fresh.sent[0]).toMatchObject({ method: 'initialize', params: { clientInfo: { name: 'c' } } });
    fresh.say({ jsonrpc: '2.0', id: fresh.sent[0]!.id, result: { protocolVersion: '2025-11-25', capabilities: {}, serverInfo: { name: 's', version: '2' } } });
    await tick();
    await tick();
    expect(fresh.sent.map((m) => m.method)).toEqual(['initialize', 'notifications/initialized', 'logging/setLevel']);
    fresh.say({ jsonrpc: '2.0', id: fresh.last('logging/setLevel').id, result: {} });
    await sent;
    expect(fresh.last()).toMatchObject({ method: 'tools/list' });
    fresh.say({ jsonrpc: '2.0', id: fresh.last().id, result: { tools: [] } });
    expect(b.received.at(-1)).toEqual({ jsonrpc: '2.0', id: 4, result: { tools: [] } });
  });

  it('--idle-stop: a list the server answered is answered again without starting it, until the server says it changed', async () => {
    const { servers, server, a, b } = await sharedLegacySession(30);
    await a.send({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: { progressToken: 'p1' } } });
    server.say({ jsonrpc: '2.0', id: server.last('tools/list').id, result: { tools: [{ name: 'echo' }] } });
    await new Promise((resolve) => setTimeout(resolve, 80));
    // Stopped while idle: B's tools/list (another progress token) is answered from the kept list.
    await b.send({ jsonrpc: '2.0', id: 9, method: 'tools/list', params: { _meta: { progressToken: 'p2' } } });
    expect(b.received.at(-1)).toEqual({ jsonrpc: '2.0', id: 9, result: { tools: [{ name: 'echo' }] } });
    expect(servers).toHaveLength(1);
    // Another list, never answered: it starts the server again.
    const prompts = b.send({ jsonrpc: '2.0', id: 10, method: 'prompts/list' });
    await tick();
    expect(servers).toHaveLength(2);
    const fresh = servers[1]!;
    fresh.say({ jsonrpc: '2.0', id: fresh.sent[0]!.id, result: { protocolVersion: '2025-11-25', capabilities: {}, serverInfo: { name: 's', version: '2' } } });
    await prompts;
    fresh.say({ jsonrpc: '2.0', id: fresh.last('prompts/list').id, result: { prompts: [] } });
    // The new process says its tools changed: the kept tools list is stale, the next one goes to it.
    fresh.say({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' });
    await new Promise((resolve) => setTimeout(resolve, 80));
    const again = a.send({ jsonrpc: '2.0', id: 11, method: 'tools/list', params: { _meta: { progressToken: 'p3' } } });
    await tick();
    expect(servers).toHaveLength(3);
    void again;
  });

  it('--idle-stop: a client notification after the last answer does not keep the server up for good', async () => {
    const { servers, server, a, b } = await sharedLegacySession(30);
    await a.send({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'x' } });
    server.say({ jsonrpc: '2.0', id: server.last('tools/call').id, result: {} });
    // B's notification arrives after the answer (another host, another socket): the idle clock runs again.
    await b.send({ jsonrpc: '2.0', method: 'notifications/roots/list_changed' });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const sent = b.send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'y' } });
    await tick();
    expect(servers).toHaveLength(2);
    void sent;
  });

  it('--idle-stop leaves a server alone while a client holds a resource subscription', async () => {
    const { servers, server, a } = await sharedLegacySession(30);
    await a.send({ jsonrpc: '2.0', id: 1, method: 'resources/subscribe', params: { uri: 'x://y' } });
    server.say({ jsonrpc: '2.0', id: server.last('resources/subscribe').id, result: {} });
    await new Promise((resolve) => setTimeout(resolve, 80));
    await a.send({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
    expect(servers).toHaveLength(1);
    expect(server.last()).toMatchObject({ method: 'tools/list' });
  });

  it('a server that exits closes every lease; the next client starts a new one', async () => {
    const { servers, client, a, b } = await sharedLegacySession();
    await servers[0]!.close();
    expect([a.closed(), b.closed()]).toEqual([true, true]);
    const c = await client('c');
    expect(servers).toHaveLength(2);
    expect(c.closed()).toBe(false);
  });
});
