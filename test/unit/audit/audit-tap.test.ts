import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../../src/audit/audit-record.js';
import { AuditTap, type AuditSink, type AuditTapOptions } from '../../../src/audit/audit-tap.js';
import type { JSONRPCMessage } from '../../../src/bridge/json-rpc.js';
import { messageText, rememberText } from '../../../src/bridge/message-text.js';
import type { AuditArgsMode } from '../../../src/redact.js';

/**
 * A sink that keeps what it is given as the writer would write it (through JSON.stringify, so a
 * member left undefined is no member), and answers as the writer does in buffered mode.
 */
function memorySink(): AuditSink & { events: AuditEvent[] } {
  const events: AuditEvent[] = [];
  return {
    events,
    append(event) {
      events.push(JSON.parse(JSON.stringify(event)) as AuditEvent);
      return undefined;
    },
  };
}

function tapWith(sink: AuditSink, overrides: Partial<AuditTapOptions> = {}): AuditTap {
  return new AuditTap({ sink, session: 'sess-1', server: 'npx some-server', transport: () => 'stdio->stdio', args: 'digest', version: '9.9.9', ...overrides });
}

const request = (id: string | number, method: string, params?: Record<string, unknown>) =>
  ({ jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) }) as JSONRPCMessage;
const result = (id: string | number, value: unknown = {}) => ({ jsonrpc: '2.0', id, result: value }) as JSONRPCMessage;
const failure = (id: string | number, code: number, message: string, data?: unknown) =>
  ({ jsonrpc: '2.0', id, error: { code, message, ...(data === undefined ? {} : { data }) } }) as JSONRPCMessage;
const notification = (method: string, params?: Record<string, unknown>) =>
  ({ jsonrpc: '2.0', method, ...(params === undefined ? {} : { params }) }) as JSONRPCMessage;

const bytes = (message: JSONRPCMessage) => Buffer.byteLength(JSON.stringify(message));

/** Drive one client call through the tap as the bridge does: received from the client, the answer sent to it. */
function call(tap: AuditTap, ask: JSONRPCMessage, answer: JSONRPCMessage, byAirlock = false): void {
  tap.fromClient(ask);
  expect(tap.sending(ask, 'server', false)).toBeUndefined();
  tap.sending(answer, 'client', byAirlock);
}

describe('AuditTap, client calls', () => {
  it('records a request and its answer as one ok event, with latency and UTF-8 byte counts', () => {
    const sink = memorySink();
    const tap = tapWith(sink, { principal: () => ({ issuer: 'https://idp', subject: 'alice', clientId: 'c1', scopes: ['read'] }) });
    const ask = request(1, 'tools/call', { name: 'greet', arguments: { who: 'Zoë 🙂' } });
    const answer = result(1, { content: [{ type: 'text', text: 'héllo' }] });
    call(tap, ask, answer);
    expect(sink.events).toEqual([
      {
        time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        session: 'sess-1',
        server: 'npx some-server',
        transport: 'stdio->stdio',
        direction: 'client->server',
        kind: 'request',
        method: 'tools/call',
        id: 1,
        name: 'greet',
        args: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
        outcome: 'ok',
        latencyMs: expect.any(Number),
        bytesIn: bytes(ask),
        bytesOut: bytes(answer),
        principal: { issuer: 'https://idp', subject: 'alice', clientId: 'c1', scopes: ['read'] },
        airlock: '9.9.9',
      },
    ]);
    expect(bytes(ask)).toBeGreaterThan(JSON.stringify(ask).length); // the counts are bytes, not characters
    expect(sink.events[0]!.latencyMs).toBeGreaterThanOrEqual(0);
  });

  it('counts the bytes of the text a message arrived as, not of a new serialisation', () => {
    const sink = memorySink();
    const tap = tapWith(sink);
    const text = '{ "jsonrpc": "2.0", "id": 2, "method": "ping" }';
    const ask = JSON.parse(text) as JSONRPCMessage;
    rememberText(ask, text);
    call(tap, ask, result(2));
    expect(sink.events[0]!.bytesIn).toBe(text.length);
  });

  it('serialises an answer airlock built only once: the transport sends the text the tap sized', () => {
    const sink = memorySink();
    const tap = tapWith(sink);
    let serialised = 0;
    // A stand-in for a built answer (a filtered tools/list): it has no text it arrived as.
    const answer = result(3, { toJSON: () => (serialised += 1, { tools: [] }) });
    call(tap, request(3, 'tools/list'), answer);
    expect(messageText(answer)).toBe('{"jsonrpc":"2.0","id":3,"result":{"tools":[]}}');
    expect(serialised).toBe(1);
    expect(sink.events[0]!.bytesOut).toBe(messageText(answer).length);
  });

  it('records the time the request arrived, not the time of the answer', async () => {
    const sink = memorySink();
    const tap = tapWith(sink);
    tap.fromClient(request(1, 'ping'));
    const before = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 15));
    tap.sending(result(1), 'client', false);
    expect(Date.parse(sink.events[0]!.time)).toBeLessThanOrEqual(before);
    expect(sink.events[0]!.latencyMs).toBeGreaterThanOrEqual(10);
  });

  it('records a server error as error, with its code', () => {
    const sink = memorySink();
    call(tapWith(sink), request(3, 'tools/call', { name: 'x' }), failure(3, -32601, 'no such tool'));
    expect(sink.events[0]).toMatchObject({ outcome: 'error', errorCode: -32601 });
    expect(sink.events[0]).not.toHaveProperty('airlockCode');
  });

  it('records a denial airlock made as denied, with the policy code', () => {
    const sink = memorySink();
    const tap = tapWith(sink);
    const ask = request(4, 'tools/call', { name: 'delete_file' });
    tap.fromClient(ask); // the policy answers it: nothing is sent to the server
    tap.sending(failure(4, -32602, 'denied', { airlock: 'AIRLOCK_POLICY_DENIED', tool: 'delete_file' }), 'client', true);
    expect(sink.events[0]).toMatchObject({ outcome: 'denied', errorCode: -32602, airlockCode: 'AIRLOCK_POLICY_DENIED', name: 'delete_file' });
  });

  it('records which policy rule refused a call, for access, flow and rate-limit refusals alike', () => {
    const sink = memorySink();
    const tap = tapWith(sink);
    const refusals: Array<[number, string, string]> = [
      [-32602, 'AIRLOCK_POLICY_DENIED', 'support-reads'],
      [-32000, 'AIRLOCK_FLOW_DENIED', 'no-exfiltration'],
      [-32000, 'AIRLOCK_RATE_LIMITED', 'search'],
    ];
    refusals.forEach(([code, airlock, rule], i) => {
      tap.fromClient(request(20 + i, 'tools/call', { name: 't' }));
      tap.sending(failure(20 + i, code, 'refused', { airlock, tool: 't', rule }), 'client', true);
    });
    expect(sink.events.map((e) => [e.outcome, e.airlockCode, e.rule])).toEqual(refusals.map(([, airlock, rule]) => ['denied', airlock, rule]));
    // The member sits after airlockCode, and is absent from records without one.
    expect(Object.keys(sink.events[0]!).slice(Object.keys(sink.events[0]!).indexOf('airlockCode'), -5)).toEqual(['airlockCode', 'rule']);
  });

  it('takes no rule from a server error or from an airlock error that is not a refusal', () => {
    const sink = memorySink();
    const tap = tapWith(sink);
    call(tap, request(30, 'tools/call', { name: 'x' }), failure(30, -32602, 'denied', { airlock: 'AIRLOCK_POLICY_DENIED', rule: 'forged' }), false);
    tap.fromClient(request(31, 'tools/list'));
    tap.sending(failure(31, -32000, 'upstream closed', { airlock: 'AIRLOCK_UPSTREAM_CLOSED', rule: 'x' }), 'client', true);
    expect(sink.events.map((e) => e.rule)).toEqual([undefined, undefined]);
    expect(sink.events[0]).not.toHaveProperty('rule');
  });

  it('records any other error airlock made as upstream-failure, with its code', () => {
    const sink = memorySink();
    const tap = tapWith(sink);
    tap.fromClient(request(5, 'tools/list'));
    tap.sending(failure(5, -32000, 'upstream closed', { airlock: 'AIRLOCK_UPSTREAM_CLOSED' }), 'client', true);
    tap.fromClient(request(6, 'tools/list'));
    tap.sending(failure(6, -32000, 'no data'), 'client', true);
    expect(sink.events.map((e) => [e.outcome, e.errorCode, e.airlockCode])).toEqual([
      ['upstream-failure', -32000, 'AIRLOCK_UPSTREAM_CLOSED'],
      ['upstream-failure', -32000, undefined],
    ]);
  });

  it('does not let a server forge a denial: its error with data.airlock is an error', () => {
    const sink = memorySink();
    call(tapWith(sink), request(7, 'tools/call', { name: 'x' }), failure(7, -32602, 'denied', { airlock: 'AIRLOCK_POLICY_DENIED' }), false);
    expect(sink.events[0]).toMatchObject({ outcome: 'error', errorCode: -32602 });
    expect(sink.events[0]).not.toHaveProperty('airlockCode');
  });

  it('keeps an error code only when it is a number', () => {
    const sink = memorySink();
    call(tapWith(sink), request(8, 'ping'), { jsonrpc: '2.0', id: 8, error: { code: 'bad', message: 'x' } } as unknown as JSONRPCMessage);
    expect(sink.events[0]).toMatchObject({ outcome: 'error' });
    expect(sink.events[0]).not.toHaveProperty('errorCode');
  });

  it('records a cancelled call, and the cancellation, and ignores the late answer', () => {
    const sink = memorySink();
    const tap = tapWith(sink);
    tap.fromClient(request(9, 'tools/call', { name: 'slow' }));
    const cancel = notification('notifications/cancelled', { requestId: 9, reason: 'user' });
    tap.fromClient(cancel);
    expect(tap.sending(result(9), 'client', false)).toBeUndefined();
    expect(sink.events.map((e) => [e.kind, e.method, e.outcome, e.direction])).toEqual([
      ['notification', 'notifications/cancelled', 'delivered', 'client->server'],
      ['request', 'tools/call', 'cancelled', 'client->server'],
    ]);
    expect(sink.events[0]).toMatchObject({ bytesIn: bytes(cancel), bytesOut: 0 });
    expect(sink.events[1]).toMatchObject({ id: 9, name: 'slow', bytesOut: 0 });
  });

  it('ignores a cancellation of a call it never saw, and answers to nothing', () => {
    const sink = memorySink();
    const tap = tapWith(sink);
    tap.fromClient(notification('notifications/cancelled', { requestId: 99 }));
    expect(tap.sending(result(98), 'client', false)).toBeUndefined();
    expect(sink.events.map((e) => e.method)).toEqual(['notifications/cancelled']);
  });

  it('keeps string and number ids apart', () => {
    const sink = memorySink();
    const tap = tapWith(sink);
    tap.fromClient(request(1, 'ping'));
    tap.sending(result('1'), 'client', false);
    expect(sink.events).toEqual([]);
    tap.sending(result(1), 'client', false);
    expect(sink.events.map((e) => e.id)).toEqual([1]);
  });
});

describe('AuditTap, notifications and server calls', () => {
  it('records notifications each way as delivered, counting their bytes on their side', () => {
    const sink = memorySink();
    const tap = tapWith(sink);
    const initialized = notification('notifications/initialized');
    const progress = notification('notifications/progress', { progressToken: 't', progress: 1 });
    tap.fromClient(initialized);
    expect(sink.events).toHaveLength(1);
    tap.sending(progress, 'client', false);
    expect(sink.events.map((e) => [e.direction, e.kind, e.method, e.outcome, e.bytesIn, e.bytesOut])).toEqual([
      ['client->server', 'notification', 'notifications/initialized', 'delivered', bytes(initialized), 0],
      ['server->client', 'notification', 'notifications/progress', 'delivered', 0, bytes(progress)],
    ]);
    expect(sink.events[0]).not.toHaveProperty('id');
    expect(sink.events[0]).not.toHaveProperty('latencyMs');
  });

  it('records a server request answered by the client as one server->client event', () => {
    const sink = memorySink();
    const tap = tapWith(sink);
    const ask = request('s-1', 'sampling/createMessage', { messages: [], maxTokens: 10 });
    const answer = result('s-1', { role: 'assistant', content: { type: 'text', text: 'hi' } });
    expect(tap.sending(ask, 'client', false)).toBeUndefined();
    expect(sink.events).toEqual([]);
    tap.fromClient(answer);
    tap.sending(answer, 'server', false);
    expect(sink.events).toHaveLength(1);
    expect(sink.events[0]).toMatchObject({ direction: 'server->client', kind: 'request', method: 'sampling/createMessage', id: 's-1', outcome: 'ok', bytesIn: bytes(answer), bytesOut: bytes(ask) });
  });

  it('keeps client and server calls with the same id apart', () => {
    const sink = memorySink();
    const tap = tapWith(sink);
    tap.fromClient(request(1, 'tools/list'));
    tap.sending(request(1, 'roots/list'), 'client', false);
    tap.fromClient(result(1, { roots: [] }));
    tap.sending(result(1, { tools: [] }), 'client', false);
    expect(sink.events.map((e) => [e.direction, e.method])).toEqual([
      ['server->client', 'roots/list'],
      ['client->server', 'tools/list'],
    ]);
  });
});

describe('AuditTap.closed', () => {
  it('records every call still open as unanswered, with the reason', () => {
    const sink = memorySink();
    const tap = tapWith(sink);
    tap.fromClient(request(1, 'tools/call', { name: 'slow' }));
    tap.sending(request('s', 'elicitation/create', { message: 'ok?' }), 'client', false);
    expect(tap.closed('upstream: server process 123 exited with code 3')).toBeUndefined();
    expect(sink.events.map((e) => [e.direction, e.method, e.outcome, e.detail, e.bytesOut])).toEqual([
      ['client->server', 'tools/call', 'unanswered', 'upstream: server process 123 exited with code 3', 0],
      ['server->client', 'elicitation/create', 'unanswered', 'upstream: server process 123 exited with code 3', expect.any(Number)],
    ]);
    expect(tap.closed('again')).toBeUndefined();
    expect(sink.events).toHaveLength(2); // each call once
  });
});

describe('AuditTap, names and arguments', () => {
  function recorded(args: AuditArgsMode, ask: JSONRPCMessage): AuditEvent {
    const sink = memorySink();
    call(tapWith(sink, { args }), ask, result((ask as { id: number }).id));
    return sink.events[0]!;
  }

  it('names the tool, the prompt, the resource, the completion target, and nothing else', () => {
    expect(recorded('none', request(1, 'tools/call', { name: 'read_file', arguments: {} })).name).toBe('read_file');
    expect(recorded('none', request(1, 'prompts/get', { name: 'review' })).name).toBe('review');
    expect(recorded('none', request(1, 'resources/read', { uri: 'file:///etc/hosts' })).name).toBe('file:///etc/hosts');
    expect(recorded('none', request(1, 'resources/subscribe', { uri: 'db://t' })).name).toBe('db://t');
    expect(recorded('none', request(1, 'completion/complete', { ref: { type: 'ref/prompt', name: 'review' } })).name).toBe('review');
    expect(recorded('none', request(1, 'completion/complete', { ref: { type: 'ref/resource', uri: 'db://{t}' } })).name).toBe('db://{t}');
    expect(recorded('none', request(1, 'tools/call', {}))).not.toHaveProperty('name');
    expect(recorded('none', request(1, 'tools/list', { name: 'not a target' }))).not.toHaveProperty('name');
    expect(recorded('none', request(1, 'ping'))).not.toHaveProperty('name');
  });

  // Issue 20: a name that is not a string left the record without one.
  it('records a name that is not a string as its JSON text, redacted and cut short', () => {
    expect(recorded('none', request(1, 'tools/call', { name: ['delete_file'] })).name).toBe('["delete_file"]');
    expect(recorded('none', request(1, 'tools/call', { name: 42 })).name).toBe('42');
    expect(recorded('none', request(1, 'tools/call', { name: null })).name).toBe('null');
    expect(recorded('none', request(1, 'tools/call', { name: ['sk-live-0123456789abcdefghijklmnop'] })).name).toBe('["[REDACTED]"]');
    expect(recorded('none', request(1, 'tools/call', { name: ['x'.repeat(300)] })).name).toBe(`["${'x'.repeat(253)}\u2026`);
  });

  it('none: leaves args out', () => {
    expect(recorded('none', request(1, 'tools/call', { name: 't', arguments: { a: 1 } }))).not.toHaveProperty('args');
  });

  it('digest: the same arguments give the same SHA-256, other arguments another', () => {
    const one = recorded('digest', request(1, 'tools/call', { name: 't', arguments: { path: '/a' } })).args;
    const again = recorded('digest', request(2, 'tools/call', { name: 'other', arguments: { path: '/a' } })).args;
    const other = recorded('digest', request(1, 'tools/call', { name: 't', arguments: { path: '/b' } })).args;
    expect(one).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(again).toBe(one);
    expect(other).not.toBe(one);
  });

  it('digest: a call without arguments has no args', () => {
    expect(recorded('digest', request(1, 'tools/call', { name: 't' }))).not.toHaveProperty('args');
    expect(recorded('digest', request(1, 'tools/list'))).not.toHaveProperty('args');
    expect(recorded('digest', request(1, 'tools/list', { _meta: { progressToken: 1 } }))).not.toHaveProperty('args');
  });

  it('full: records the arguments with secret members and token-shaped strings redacted', () => {
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl';
    const event = recorded('full', request(1, 'tools/call', { name: 'fetch', arguments: { url: 'https://x', api_key: 'k-123', text: `token is ${jwt} ok`, n: 3 } }));
    expect(event.args).toEqual({ url: 'https://x', api_key: '[REDACTED]', text: 'token is [REDACTED] ok', n: 3 });
  });

  it('full: for other methods records the params without _meta', () => {
    const event = recorded('full', request(1, 'resources/read', { uri: 'file:///x', _meta: { progressToken: 7 } }));
    expect(event.args).toEqual({ uri: 'file:///x' });
  });
});

describe('AuditTap with a sink that syncs', () => {
  /** A promise that never settles, and says whether anyone subscribed to it. */
  function watched(): { promise: Promise<void>; observed: () => boolean } {
    const promise = new Promise<void>(() => undefined);
    let observed = false;
    const then = promise.then.bind(promise);
    Object.defineProperty(promise, 'then', {
      value: (...args: Parameters<typeof then>) => {
        observed = true;
        return then(...args);
      },
    });
    return { promise, observed: () => observed };
  }

  it('returns the sink promise for answers and notifications to the client, so the bridge waits for it', () => {
    const promises: Array<Promise<void>> = [];
    const tap = tapWith({ append: () => promises[promises.push(new Promise<void>(() => undefined)) - 1] });
    tap.fromClient(request(1, 'ping'));
    expect(tap.sending(result(1), 'client', false)).toBe(promises[0]);
    expect(tap.sending(notification('notifications/message', { level: 'info' }), 'client', false)).toBe(promises[1]);
    expect(tap.sending(request(2, 'roots/list'), 'client', false)).toBeUndefined(); // only opened
    expect(tap.sending(notification('notifications/cancelled', { requestId: 5 }), 'server', false)).toBeUndefined();
  });

  it('closed() returns a promise that waits for every record it wrote', async () => {
    const resolvers: Array<() => void> = [];
    const tap = tapWith({ append: () => new Promise<void>((resolve) => resolvers.push(resolve)) });
    tap.fromClient(request(1, 'ping'));
    tap.fromClient(request(2, 'ping'));
    let done = false;
    const closing = tap.closed('client: gone')!.then(() => (done = true));
    resolvers[0]!();
    await Promise.resolve();
    await Promise.resolve();
    expect(done).toBe(false);
    resolvers[1]!();
    await closing;
    expect(done).toBe(true);
  });

  // Regression test, fixed since (audit-tap.ts:82 and :147): in sync mode the sink's promise for a notification from the
  // client (fromClient() returns void) and for a cancelled call (`void this.write(...)`) is dropped.
  // When the write fails, that promise rejects with nobody listening: an unhandled rejection, which
  // ends a Node 20 process (checked: `tap.fromClient({method:'notifications/initialized'})`
  // with a rejecting sink exits with code 1). Every record promise must be returned or handled.
  it('leaves no record promise unobserved, so a failed write cannot crash the process', () => {
    const made: Array<ReturnType<typeof watched>> = [];
    const tap = tapWith({ append: () => made[made.push(watched()) - 1]!.promise });
    tap.fromClient(notification('notifications/initialized'));
    tap.fromClient(request(1, 'tools/call', { name: 'slow' }));
    tap.fromClient(notification('notifications/cancelled', { requestId: 1 }));
    expect(made).toHaveLength(3);
    expect(made.map((m) => m.observed())).toEqual([true, true, true]);
  });
});

// Issue 14 #6: resource URIs went verbatim into the record's name in every mode.
describe('AuditTap, resource URIs', () => {
  it.each([['none'], ['digest'], ['full']] as Array<[AuditArgsMode]>)('records a resource URI without its credentials (--audit-args %s)', (args) => {
    const sink = memorySink();
    const tap = tapWith(sink, { args });
    call(tap, request(1, 'resources/read', { uri: 'postgres://admin:PASS@db/app?ssl_password=x' }), result(1, { contents: [] }));
    call(tap, request(2, 'completion/complete', { ref: { type: 'ref/resource', uri: 'https://h/r?access_token=abc' }, argument: { name: 'a', value: 'b' } }), result(2, {}));
    expect(sink.events.map((e) => e.name)).toEqual(['postgres://admin:[REDACTED]@db/app?ssl_password=[REDACTED]', 'https://h/r?access_token=[REDACTED]']);
    expect(JSON.stringify(sink.events)).not.toContain('PASS');
  });
});
