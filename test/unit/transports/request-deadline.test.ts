import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { JSONRPCMessage } from '../../../src/bridge/json-rpc.js';
import { CredentialWaits } from '../../../src/transports/credential-waits.js';
import type { HttpResponse } from '../../../src/transports/http-request.js';
import { DEFAULT_REQUEST_TIMEOUT_MS, FIRST_EXCHANGE_TIMEOUT_MS, RequestDeadlines, type ExpiredRequest } from '../../../src/transports/request-deadline.js';

const message = (value: object): JSONRPCMessage => ({ jsonrpc: '2.0', ...value }) as JSONRPCMessage;
const call = (id: number, progressToken?: string) => message({ id, method: 'tools/call', params: { name: 't', ...(progressToken ? { _meta: { progressToken } } : {}) } });

describe('RequestDeadlines', () => {
  let expired: ExpiredRequest[];
  let waiting: boolean;
  let deadlines: RequestDeadlines;

  beforeEach(() => {
    vi.useFakeTimers();
    expired = [];
    waiting = false;
    deadlines = new RequestDeadlines({ timeoutMs: 1000, waitingForUser: () => waiting, onExpired: (e) => expired.push(e) });
  });
  afterEach(() => {
    deadlines.clear();
    vi.useRealTimers();
  });

  it('expires a request nothing answered, once, and drops its late answer', () => {
    deadlines.start(call(1), false);
    vi.advanceTimersByTime(999);
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(expired).toEqual([{ id: 1, method: 'tools/call', timeoutMs: 1000, first: false }]);
    expect(deadlines.fromServer(message({ id: 1, result: {} }))).toBe(false);
    // Only once: a second late answer with that id is an ordinary message again.
    expect(deadlines.fromServer(message({ id: 1, result: {} }))).toBe(true);
  });

  it('ends the deadline at the answer, and at the client\'s cancellation', () => {
    deadlines.start(call(1), false);
    deadlines.start(call(2), false);
    expect(deadlines.fromServer(message({ id: 1, result: {} }))).toBe(true);
    deadlines.fromClient(message({ method: 'notifications/cancelled', params: { requestId: 2 } }));
    vi.advanceTimersByTime(5000);
    expect(expired).toEqual([]);
  });

  it('starts the time again at each progress notification for the request', () => {
    deadlines.start(call(1, 'tok'), false);
    for (let i = 0; i < 5; i++) {
      vi.advanceTimersByTime(900);
      deadlines.fromServer(message({ method: 'notifications/progress', params: { progressToken: 'tok', progress: i } }));
    }
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(1000);
    expect(expired.map((e) => e.id)).toEqual([1]);
  });

  it('holds every deadline while a request of the server\'s waits for the client, and gives full time again after its answer', () => {
    deadlines.start(call(1), false);
    vi.advanceTimersByTime(900);
    deadlines.fromServer(message({ id: 'elicit-1', method: 'elicitation/create', params: {} }));
    vi.advanceTimersByTime(900);
    expect(expired).toEqual([]);
    deadlines.fromClient(message({ id: 'elicit-1', result: { action: 'accept' } }));
    vi.advanceTimersByTime(999);
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(expired.map((e) => e.id)).toEqual([1]);
  });

  it('holds for a request of the server\'s the client never answers only as long as the server gets', () => {
    deadlines.start(call(1), false);
    vi.advanceTimersByTime(900);
    deadlines.fromServer(message({ id: 'elicit-1', method: 'elicitation/create', params: {} }));
    vi.advanceTimersByTime(999);
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(expired.map((e) => e.id)).toEqual([1]);
  });

  it('holds while a login waits for the user', () => {
    deadlines.start(call(1), true);
    waiting = true;
    vi.advanceTimersByTime(10_000);
    expect(expired).toEqual([]);
    waiting = false;
    vi.advanceTimersByTime(1000);
    expect(expired).toEqual([{ id: 1, method: 'tools/call', timeoutMs: 1000, first: true }]);
  });

  it('gives a subscriptions/listen stream no deadline: it has no answer due', () => {
    deadlines.start(message({ id: 'listen-1', method: 'subscriptions/listen', params: {} }), false);
    vi.advanceTimersByTime(60 * 60_000);
    expect(expired).toEqual([]);
  });

  it('defaults: 10 min for calls, 60 s for the first exchange; 0 switches them off', () => {
    const seen: ExpiredRequest[] = [];
    const defaults = new RequestDeadlines({ onExpired: (e) => seen.push(e) });
    defaults.start(message({ id: 0, method: 'initialize', params: {} }), true);
    defaults.start(call(1), false);
    vi.advanceTimersByTime(FIRST_EXCHANGE_TIMEOUT_MS);
    expect(seen.map((e) => e.id)).toEqual([0]);
    vi.advanceTimersByTime(DEFAULT_REQUEST_TIMEOUT_MS - FIRST_EXCHANGE_TIMEOUT_MS);
    expect(seen.map((e) => e.id)).toEqual([0, 1]);
    const off = new RequestDeadlines({ timeoutMs: 0, onExpired: (e) => seen.push(e) });
    off.start(call(2), false);
    vi.advanceTimersByTime(DEFAULT_REQUEST_TIMEOUT_MS * 10);
    expect(seen.map((e) => e.id)).toEqual([0, 1]);
  });
});

describe('CredentialWaits', () => {
  const response = (status: number): HttpResponse => ({ status, ok: status < 300, header: () => undefined, body: (async function* () {})(), text: async () => '', discard: () => undefined });

  it('marks an exchange answered 401 until it is sent again, and forgets it when the authorized requester gives up', async () => {
    const waits = new CredentialWaits();
    const statuses = [401, 200];
    const under = waits.under(async () => response(statuses.shift()!));
    const signal = new AbortController().signal;
    const init = { method: 'POST' as const, headers: {}, signal };
    const url = new URL('http://127.0.0.1/mcp');
    expect((await under(url, init)).status).toBe(401);
    expect(waits.active).toBe(true); // a login runs now
    expect((await under(url, init)).status).toBe(200);
    expect(waits.active).toBe(false);

    const failing = waits.over(async (u, i) => {
      await waits.under(async () => response(401))(u, i);
      throw new Error('no OAuth login here');
    });
    await expect(failing(url, init)).rejects.toThrow('no OAuth login here');
    expect(waits.active).toBe(false);
  });
});
