import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as tick } from 'node:timers/promises';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { afterEach, describe, expect, it } from 'vitest';
import { verifyAudit } from '../../../src/audit/audit-reader.js';
import type { AuditRecord } from '../../../src/audit/audit-record.js';
import { AuditTap } from '../../../src/audit/audit-tap.js';
import { AuditWriter } from '../../../src/audit/audit-writer.js';
import { Bridge, type CloseInitiator } from '../../../src/bridge/bridge.js';
import type { JSONRPCMessage } from '../../../src/bridge/json-rpc.js';
import type { MessageTap, Side, Stage } from '../../../src/bridge/stage.js';
import { AirlockError } from '../../../src/errors.js';
import { createLogger } from '../../../src/log.js';
import { ANONYMOUS } from '../../../src/policy/caller.js';
import { emptyPolicy } from '../../../src/policy/policy-document.js';
import { compilePolicy } from '../../../src/policy/policy-stage.js';

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * A tap that logs what it sees and holds back the messages `holds` picks: sending() returns a
 * promise the test settles. closed() returns `closing` when set.
 */
class ControlledTap implements MessageTap {
  readonly seen: string[] = [];
  readonly held: Deferred[] = [];
  closing: Deferred | undefined;

  constructor(private readonly holds: (message: JSONRPCMessage, to: Side) => boolean = () => false) {}

  fromClient(message: JSONRPCMessage): void {
    this.seen.push(`received from client: ${label(message)}`);
  }

  sending(message: JSONRPCMessage, to: Side, byAirlock: boolean): Promise<void> | undefined {
    this.seen.push(`sending to ${to}${byAirlock ? ' (airlock)' : ''}: ${label(message)}`);
    if (!this.holds(message, to)) return undefined;
    const hold = deferred();
    this.held.push(hold);
    return hold.promise;
  }

  closed(reason: string): Promise<void> | undefined {
    this.seen.push(`closed: ${reason}`);
    return this.closing?.promise;
  }
}

function label(message: JSONRPCMessage): string {
  if ('method' in message) return 'id' in message ? `request ${message.method} ${String(message.id)}` : `notification ${message.method}`;
  return `${'error' in message ? 'error' : 'result'} ${String(message.id)}`;
}

const request = (id: number, method: string, params?: Record<string, unknown>) => ({ jsonrpc: '2.0', id, method, ...(params ? { params } : {}) }) as JSONRPCMessage;
const result = (id: number, value: Record<string, unknown> = {}) => ({ jsonrpc: '2.0', id, result: value }) as JSONRPCMessage;
const progress = (n: number) => ({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 't', progress: n } }) as JSONRPCMessage;

interface Harness {
  bridge: Bridge;
  /** The client's end of the inbound pair, and the server's end of the outbound pair. */
  client: InMemoryTransport;
  server: InMemoryTransport;
  toClient: JSONRPCMessage[];
  toServer: JSONRPCMessage[];
  logged: string[];
  closedWith: Array<[string, CloseInitiator]>;
  clientClosed: () => boolean;
}

const bridges: Bridge[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const bridge of bridges.splice(0)) await bridge.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function bridged(tap: MessageTap, stages: Stage[] = []): Promise<Harness> {
  const [client, inbound] = InMemoryTransport.createLinkedPair();
  const [outbound, server] = InMemoryTransport.createLinkedPair();
  const toClient: JSONRPCMessage[] = [];
  const toServer: JSONRPCMessage[] = [];
  const logged: string[] = [];
  const closedWith: Array<[string, CloseInitiator]> = [];
  let clientClosed = false;
  client.onmessage = (message) => void toClient.push(message);
  client.onclose = () => void (clientClosed = true);
  server.onmessage = (message) => void toServer.push(message);
  await client.start();
  await server.start();
  const bridge = new Bridge({
    inbound,
    outbound,
    log: createLogger('error', (line) => logged.push(line)),
    label: 'test',
    stages,
    tap,
    onClosed: (reason, by) => closedWith.push([reason, by]),
  });
  await bridge.start();
  bridges.push(bridge);
  return { bridge, client, server, toClient, toServer, logged, closedWith, clientClosed: () => clientClosed };
}

/** Let every pending promise callback and I/O callback run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await tick();
}

/** Waits by the clock, not by ticks: an fdatasync on a busy disk can take many milliseconds. */
async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
  if (!condition()) throw new Error(`timed out waiting until ${what}`);
}

describe('Bridge with a tap that holds messages to the client', () => {
  it('delivers nothing to the client while a message is held, then everything in the original order', async () => {
    const tap = new ControlledTap((message, to) => to === 'client' && !('method' in message) && message.id === 1);
    const h = await bridged(tap);
    await h.client.send(request(1, 'tools/call', { name: 'a' }));
    await h.client.send(request(2, 'tools/call', { name: 'b' }));
    await h.server.send(result(1));
    await h.server.send(progress(1));
    await h.server.send(result(2));
    await settle();
    expect(h.toClient).toEqual([]);
    expect(tap.held).toHaveLength(1);
    tap.held[0]!.resolve();
    await settle();
    expect(h.toClient).toEqual([result(1), progress(1), result(2)]);
  });

  it('keeps messages to the server flowing while the client side is held', async () => {
    const tap = new ControlledTap((_message, to) => to === 'client');
    const h = await bridged(tap);
    await h.client.send(request(1, 'ping'));
    await h.server.send(result(1));
    await h.client.send(request(2, 'ping'));
    await h.client.send({ jsonrpc: '2.0', method: 'notifications/initialized' } as JSONRPCMessage);
    expect(h.toServer).toEqual([request(1, 'ping'), request(2, 'ping'), { jsonrpc: '2.0', method: 'notifications/initialized' }]);
    expect(h.toClient).toEqual([]);
    expect(tap.seen).toContain('sending to server: request ping 2');
    tap.held[0]!.resolve();
    await settle();
    expect(h.toClient).toEqual([result(1)]);
  });

  it('waits for the earliest hold even when a later one settles first', async () => {
    const tap = new ControlledTap((_message, to) => to === 'client');
    const h = await bridged(tap);
    await h.server.send(progress(1));
    await h.server.send(progress(2));
    await h.server.send(progress(3));
    tap.held[2]!.resolve();
    tap.held[1]!.resolve();
    await settle();
    expect(h.toClient).toEqual([]);
    tap.held[0]!.resolve();
    await settle();
    expect(h.toClient).toEqual([progress(1), progress(2), progress(3)]);
  });

  it('sends straight on again once nothing is held', async () => {
    let holding = true;
    const tap = new ControlledTap((_message, to) => to === 'client' && holding);
    const h = await bridged(tap);
    await h.server.send(progress(1));
    holding = false;
    tap.held[0]!.resolve();
    await settle();
    await h.server.send(progress(2));
    expect(h.toClient).toEqual([progress(1), progress(2)]); // delivered within send(): no queue left behind
  });

  it('turns a held answer whose hold failed into a JSON-RPC error with the code of the failure', async () => {
    const tap = new ControlledTap((message, to) => to === 'client' && !('method' in message));
    const h = await bridged(tap);
    for (const id of [1, 2, 3]) await h.client.send(request(id, 'tools/call', { name: 't' }));
    for (const id of [1, 2, 3]) await h.server.send(result(id, { content: [] }));
    tap.held[0]!.reject(new AirlockError('AIRLOCK_AUDIT_WRITE', 'cannot write the audit log "a.jsonl": ENOSPC'));
    tap.held[1]!.reject(new AirlockError('AIRLOCK_AUDIT_BROKEN', 'chain broken'));
    tap.held[2]!.reject(new Error('disk gone'));
    await settle();
    expect(h.toClient).toEqual([
      { jsonrpc: '2.0', id: 1, error: { code: -32000, message: 'mcp-airlock withheld this answer: cannot write the audit log "a.jsonl": ENOSPC', data: { airlock: 'AIRLOCK_AUDIT_WRITE' } } },
      { jsonrpc: '2.0', id: 2, error: { code: -32000, message: 'mcp-airlock withheld this answer: chain broken', data: { airlock: 'AIRLOCK_AUDIT_BROKEN' } } },
      { jsonrpc: '2.0', id: 3, error: { code: -32000, message: 'mcp-airlock withheld this answer: disk gone', data: { airlock: 'AIRLOCK_AUDIT_WRITE' } } },
    ]);
    expect(h.logged).toEqual([
      '[mcp-airlock] error: test: response (id 1) withheld: cannot write the audit log "a.jsonl": ENOSPC\n',
      '[mcp-airlock] error: test: response (id 2) withheld: chain broken\n',
      '[mcp-airlock] error: test: response (id 3) withheld: disk gone\n',
    ]);
  });

  it('drops a held notification whose hold failed, and delivers what came after it', async () => {
    const tap = new ControlledTap((message, to) => to === 'client' && 'method' in message && (message.params as { progress?: number }).progress === 1);
    const h = await bridged(tap);
    await h.server.send(progress(1));
    await h.server.send(progress(2));
    tap.held[0]!.reject(new Error('disk gone'));
    await settle();
    expect(h.toClient).toEqual([progress(2)]);
    expect(h.logged).toEqual(['[mcp-airlock] error: test: notification "notifications/progress" withheld: disk gone\n']);
  });
});

describe('Bridge.close with a tap', () => {
  it('fails the pending requests first, then calls tap.closed() and waits for it before closing the sides', async () => {
    const tap = new ControlledTap();
    tap.closing = deferred();
    const h = await bridged(tap);
    await h.client.send(request(5, 'tools/call', { name: 'slow' }));
    await h.server.close(); // the upstream goes away
    await settle();
    expect(tap.seen.slice(-2)).toEqual(['sending to client (airlock): error 5', 'closed: upstream: upstream connection closed']);
    expect(h.toClient).toEqual([
      {
        jsonrpc: '2.0',
        id: 5,
        error: { code: -32000, message: 'mcp-airlock: the upstream server closed before answering: upstream connection closed', data: { airlock: 'AIRLOCK_UPSTREAM_CLOSED' } },
      },
    ]);
    let closed = false;
    const closing = h.bridge.close().then(() => (closed = true));
    await settle();
    expect([closed, h.clientClosed(), h.closedWith]).toEqual([false, false, []]);
    tap.closing.resolve();
    await closing;
    expect([closed, h.clientClosed(), h.closedWith]).toEqual([true, true, [['upstream connection closed', 'upstream']]]);
  });

  it('still closes when tap.closed() fails, and logs why', async () => {
    const tap = new ControlledTap();
    tap.closing = deferred();
    const h = await bridged(tap);
    const closing = h.bridge.close('bye');
    tap.closing.reject(new Error('disk gone'));
    await closing;
    expect(h.clientClosed()).toBe(true);
    expect(h.logged).toEqual(['[mcp-airlock] error: test: audit: disk gone\n']);
  });

  it('returns, to a second caller, the promise of the first close', async () => {
    const tap = new ControlledTap();
    tap.closing = deferred();
    const h = await bridged(tap);
    const first = h.bridge.close('asked to stop', 'airlock');
    const second = h.bridge.close('client disconnected', 'client');
    expect(second).toBe(first);
    let done = false;
    void second.then(() => (done = true));
    await settle();
    expect(done).toBe(false);
    tap.closing.resolve();
    await second;
    expect(tap.seen.filter((s) => s.startsWith('closed'))).toEqual(['closed: airlock: asked to stop']);
    expect(h.closedWith).toEqual([['asked to stop', 'airlock']]);
  });

  it('lets the answers it holds reach the client before closing it', async () => {
    const tap = new ControlledTap((_message, to) => to === 'client');
    const h = await bridged(tap);
    await h.client.send(request(1, 'ping'));
    await h.server.send(result(1));
    const closing = h.bridge.close('bye');
    await settle();
    expect(h.clientClosed()).toBe(false);
    tap.held[0]!.resolve();
    await closing;
    expect(h.toClient).toEqual([result(1)]);
    expect(h.clientClosed()).toBe(true);
  });
});

describe('Bridge with the audit tap and a synced audit log', () => {
  it('records each call before its answer reaches the client, denials and upstream failures included', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'airlock-bridge-tap-'));
    dirs.push(dir);
    const file = join(dir, 'audit.jsonl');
    const writer = AuditWriter.open({ file, maxBytes: 0, sync: true, log: createLogger('silent') });
    const tap = new AuditTap({ sink: writer, session: 'sess', server: 'test-server', transport: () => 'memory->memory', args: 'digest', version: 'test' });
    const policy = compilePolicy({ ...emptyPolicy(), tools: { allow: [], deny: ['delete_*'], readOnly: false } }).stageFor(() => ANONYMOUS)!;
    const h = await bridged(tap, [policy]);
    const recordsOnDisk = () =>
      readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as AuditRecord);
    // When the client gets a message, what is on disk at that moment.
    const onDiskAtDelivery: Array<Array<[string, string]>> = [];
    h.client.onmessage = (message) => {
      h.toClient.push(message);
      onDiskAtDelivery.push(recordsOnDisk().map((r) => [r.method, r.outcome]));
    };

    await h.client.send(request(1, 'tools/call', { name: 'read_file', arguments: { path: '/x' } }));
    await h.server.send(result(1, { content: [] }));
    await until(() => h.toClient.length === 1, 'the answer arrives');
    await h.client.send(request(2, 'tools/call', { name: 'delete_file', arguments: {} }));
    await until(() => h.toClient.length === 2, 'the denial arrives');
    expect(h.toServer.map((m) => (m as { id?: number }).id)).toEqual([1]); // the denied call never left
    await h.client.send(request(3, 'tools/call', { name: 'slow', arguments: {} }));
    await h.server.close();
    await h.bridge.close();
    await writer.close();

    expect(onDiskAtDelivery).toEqual([
      [['tools/call', 'ok']],
      [['tools/call', 'ok'], ['tools/call', 'denied']],
      [['tools/call', 'ok'], ['tools/call', 'denied'], ['tools/call', 'upstream-failure']],
    ]);
    const records = recordsOnDisk();
    expect(records.map((r) => [r.id, r.name, r.outcome, r.airlockCode])).toEqual([
      [1, 'read_file', 'ok', undefined],
      [2, 'delete_file', 'denied', 'AIRLOCK_POLICY_DENIED'],
      [3, 'slow', 'upstream-failure', 'AIRLOCK_UPSTREAM_CLOSED'],
    ]);
    expect(records.every((r) => r.transport === 'memory->memory' && r.session === 'sess')).toBe(true);
    expect(await verifyAudit([file])).toMatchObject({ records: 3, chains: 1, problems: [] });
  });

  it('records a call still open when the client goes away as unanswered', async () => {
    const events: Array<{ method: string; outcome: string; detail?: string }> = [];
    const tap = new AuditTap({ sink: { append: (e) => void events.push(e) }, session: 's', server: 'x', transport: () => 't', args: 'none', version: 'test' });
    const h = await bridged(tap);
    await h.client.send(request(1, 'tools/call', { name: 'slow' }));
    await h.client.close();
    await settle();
    expect(events.map((e) => [e.method, e.outcome, e.detail])).toEqual([['tools/call', 'unanswered', 'client: client disconnected']]);
    expect(h.closedWith).toEqual([['client disconnected', 'client']]);
  });
});
