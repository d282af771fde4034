import { describe, expect, it } from 'vitest';
import type { JSONRPCMessage } from '../../../src/bridge/json-rpc.js';
import { ANONYMOUS, callerFromPrincipal } from '../../../src/policy/caller.js';
import { parsePolicy } from '../../../src/policy/policy-file.js';
import { RateLimiter, rateLimitRefusal, TokenBucket } from '../../../src/policy/rate-limit.js';

/** A clock the test moves by hand (ms). */
function clock(start = 1000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

const limiterOf = (rateLimits: unknown[], now: () => number, maxBuckets?: number): RateLimiter =>
  new RateLimiter(parsePolicy(JSON.stringify({ rateLimits }), 'p.json').rateLimits, { now, maxBuckets });

const alice = callerFromPrincipal({ issuer: 'https://idp', subject: 'alice', clientId: 'c', scopes: [] });
const bob = callerFromPrincipal({ issuer: 'https://idp', subject: 'bob', clientId: 'c', scopes: [] });

/** Calls admitted out of `n` in a row, taking tokens. */
function burst(limiter: RateLimiter, n: number, tool = 'search_web', caller = alice): number {
  let admitted = 0;
  for (let i = 0; i < n; i++) if (limiter.admit(caller, tool, true) === undefined) admitted++;
  return admitted;
}

describe('TokenBucket', () => {
  it('starts full, refills at its rate, never above its size', () => {
    const bucket = new TokenBucket(3, 1 / 1000, 0); // 1 token per second
    expect(bucket.available(0)).toBe(3);
    bucket.take(0);
    bucket.take(0);
    bucket.take(0);
    expect(bucket.available(0)).toBe(0);
    expect(bucket.waitFor(1, 0)).toBe(1000);
    expect(bucket.available(500)).toBe(0.5);
    expect(bucket.waitFor(1, 500)).toBe(500);
    expect(bucket.available(60_000)).toBe(3);
    expect(bucket.isFull(60_000)).toBe(true);
  });
});

describe('RateLimiter', () => {
  it('admits a burst of `limit`, then refuses with the time until the next token', () => {
    const c = clock();
    const limiter = limiterOf([{ id: 'search', tools: 'search_*', limit: 5, window: '1m' }], c.now);
    expect(burst(limiter, 8)).toBe(5);
    const refused = limiter.admit(alice, 'search_web', true)!;
    expect(refused.rule.id).toBe('search');
    expect(refused.retryAfterSeconds).toBe(12); // 5 per minute: one token every 12 s
    expect(refused.message).toBe('rate limit "search" (5 calls per 1m per caller) reached for tool "search_web"; retry in 12 s');
    c.advance(11_000);
    expect(limiter.admit(alice, 'search_web', true)?.retryAfterSeconds).toBe(1);
    c.advance(1_000);
    expect(limiter.admit(alice, 'search_web', true)).toBeUndefined();
    expect(limiter.admit(alice, 'search_web', true)).toBeDefined();
  });

  it('counts per caller: one caller cannot use up another one\'s calls', () => {
    const limiter = limiterOf([{ id: 'l', limit: 2, window: '1m' }], clock().now);
    expect(burst(limiter, 3, 't', alice)).toBe(2);
    expect(burst(limiter, 3, 't', bob)).toBe(2);
    expect(burst(limiter, 3, 't', ANONYMOUS)).toBe(2);
  });

  it('per tool, per caller and tool, and global', () => {
    const c = clock();
    const perTool = limiterOf([{ id: 'l', per: 'tool', limit: 2, window: '1m' }], c.now);
    perTool.learnTools(['a', 'b']);
    expect(burst(perTool, 1, 'a', alice) + burst(perTool, 2, 'a', bob)).toBe(2);
    expect(burst(perTool, 2, 'b', bob)).toBe(2);
    const both = limiterOf([{ id: 'l', per: ['caller', 'tool'], limit: 1, window: '1m' }], c.now);
    both.learnTools(['a', 'b']);
    expect([burst(both, 2, 'a', alice), burst(both, 2, 'b', alice), burst(both, 2, 'a', bob)]).toEqual([1, 1, 1]);
    const global = limiterOf([{ id: 'l', per: 'global', limit: 3, window: '1m' }], c.now);
    expect(burst(global, 2, 'a', alice) + burst(global, 2, 'b', bob)).toBe(3);
  });

  it('burst sets the bucket size apart from the average rate', () => {
    const c = clock();
    const limiter = limiterOf([{ id: 'l', limit: 60, window: '1m', burst: 2 }], c.now);
    expect(burst(limiter, 5)).toBe(2);
    c.advance(1000); // 60 per minute: one a second
    expect(burst(limiter, 5)).toBe(1);
  });

  it('only limits that apply: by tool glob and by principal', () => {
    const limiter = limiterOf([{ id: 'bob-only', tools: 'x*', limit: 1, window: '1h', principal: { subject: 'bob' } }], clock().now);
    expect(burst(limiter, 3, 'xy', alice)).toBe(3);
    expect(burst(limiter, 3, 'y', bob)).toBe(3);
    expect(burst(limiter, 3, 'xy', bob)).toBe(1);
    expect(limiter.applicable(bob, 'xy').map((r) => r.id)).toEqual(['bob-only']);
    expect(limiter.applicable(alice, 'xy')).toEqual([]);
  });

  it('takes a token from every limit or from none', () => {
    const limiter = limiterOf([
      { id: 'wide', limit: 10, window: '1m' },
      { id: 'narrow', tools: 'send', limit: 1, window: '1m' },
    ], clock().now);
    expect(burst(limiter, 3, 'send')).toBe(1); // narrow refused the 2nd and 3rd: wide lost only one token
    expect(burst(limiter, 20, 'read')).toBe(9);
  });

  it('a look without take changes nothing', () => {
    const limiter = limiterOf([{ id: 'l', limit: 1, window: '1m' }], clock().now);
    for (let i = 0; i < 5; i++) expect(limiter.admit(alice, 't', false)).toBeUndefined();
    expect(limiter.admit(alice, 't', true)).toBeUndefined();
    expect(limiter.admit(alice, 't', false)?.rule.id).toBe('l');
  });

  // Issue 20: 10,000 made-up tool names in one batch evicted a drained bucket, and the limit started over.
  it('a flood of made-up tool names makes no buckets and cannot reset a drained one', () => {
    const c = clock();
    const limiter = limiterOf([{ id: 'l', per: ['caller', 'tool'], limit: 2, window: '1h' }, { id: 'all', limit: 1000, window: '1h', per: 'global' }], c.now);
    limiter.learnTools(['search']);
    expect(burst(limiter, 3, 'search')).toBe(2);
    expect(burst(limiter, 3, 'search', bob)).toBe(2);
    let admitted = 0;
    for (let i = 0; i < 10_000; i++) if (limiter.admit(alice, `made-up-${i}`, true) === undefined) admitted++;
    expect(admitted).toBe(2); // every unlisted name counts in one bucket
    expect(limiter.admit(alice, 'made-up-x', true)?.message).toBe('rate limit "l" (2 calls per 1h per caller and tool) reached for tool "made-up-x" (tools no tools/list named share one count); retry in 1800 s');
    expect(burst(limiter, 1, 'search')).toBe(0);
    expect(burst(limiter, 1, 'search', bob)).toBe(0);
  });

  it('never drops a bucket that is not full: a new caller waits when every bucket is in use', () => {
    const c = clock();
    const limiter = limiterOf([{ id: 'l', limit: 1, window: '1m' }], c.now, 3);
    const callers = ['a', 'b', 'c', 'd'].map((s) => callerFromPrincipal({ issuer: 'i', subject: s, clientId: '', scopes: [] }));
    expect(callers.slice(0, 3).map((caller) => burst(limiter, 1, 't', caller))).toEqual([1, 1, 1]);
    c.advance(30_000);
    const crowded = limiter.admit(callers[3]!, 't', true)!;
    expect(crowded.message).toBe('rate limit "l" cannot count tool "t" for this caller now: all 3 rate-limit buckets are in use; retry in 30 s');
    expect(crowded.retryAfterSeconds).toBe(30);
    expect(callers.slice(0, 3).map((caller) => burst(limiter, 1, 't', caller))).toEqual([0, 0, 0]); // none was reset
    c.advance(30_000); // all full again: same as new, dropped to make room
    expect(burst(limiter, 1, 't', callers[3])).toBe(1);
  });

  it('a client named like a user has its own bucket; so do caller and tool texts that would run together', () => {
    const limiter = limiterOf([{ id: 'l', per: ['caller', 'tool'], limit: 1, window: '1h' }], clock().now);
    limiter.learnTools(['t', 'x\nt']);
    const aliceClient = callerFromPrincipal({ issuer: 'https://idp', clientId: 'alice', scopes: [] });
    expect(burst(limiter, 2, 't', alice)).toBe(1);
    expect(burst(limiter, 2, 't', aliceClient)).toBe(1);
    const joined = callerFromPrincipal({ issuer: 'https://idp', subject: 'alice\nx', clientId: '', scopes: [] });
    expect(burst(limiter, 2, 'x\nt', alice)).toBe(1);
    expect(burst(limiter, 2, 't', joined)).toBe(1);
  });

  it('keeps a bounded number of buckets, dropping full ones first', () => {
    const c = clock();
    const limiter = limiterOf([{ id: 'l', limit: 1, window: '1m' }], c.now, 2);
    const callers = ['a', 'b', 'c'].map((s) => callerFromPrincipal({ issuer: 'i', subject: s, clientId: '', scopes: [] }));
    expect(burst(limiter, 1, 't', callers[0])).toBe(1);
    c.advance(60_000); // a's bucket is full again: same as new, dropped first
    expect(burst(limiter, 1, 't', callers[1])).toBe(1);
    expect(burst(limiter, 1, 't', callers[2])).toBe(1);
    expect(burst(limiter, 1, 't', callers[1])).toBe(0); // b's empty bucket survived
  });
});

describe('rateLimitRefusal (the HTTP layer)', () => {
  const callMessage = (name: string, id = 7): JSONRPCMessage => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: {} } }) as JSONRPCMessage;

  it('429 with Retry-After and the JSON-RPC error for one tools/call over its limit; takes no token itself', () => {
    const limiter = limiterOf([{ id: 'search', tools: 'search_*', limit: 1, window: '30s' }], clock().now);
    expect(rateLimitRefusal(limiter, [callMessage('search_web')], alice)).toBeUndefined();
    expect(rateLimitRefusal(limiter, [callMessage('search_web')], alice)).toBeUndefined(); // still a token: nothing was taken
    expect(limiter.admit(alice, 'search_web', true)).toBeUndefined(); // the stage takes it
    const refusal = rateLimitRefusal(limiter, [callMessage('search_web')], alice)!;
    expect(refusal).toEqual({
      status: 429,
      headers: { 'Retry-After': '30' },
      answer: {
        jsonrpc: '2.0',
        id: 7,
        error: {
          code: -32000,
          message: 'mcp-airlock policy: rate limit "search" (1 call per 30s per caller) reached for tool "search_web"; retry in 30 s',
          data: { airlock: 'AIRLOCK_RATE_LIMITED', rule: 'search', tool: 'search_web', retryAfterSeconds: 30 },
        },
      },
      request: callMessage('search_web'),
    });
  });

  it('leaves everything else to the session: other methods, notifications, batches, other callers', () => {
    const limiter = limiterOf([{ id: 'l', limit: 1, window: '1m' }], clock().now);
    limiter.admit(alice, 't', true);
    expect(rateLimitRefusal(limiter, [callMessage('t')], alice)).toBeDefined();
    expect(rateLimitRefusal(limiter, [callMessage('t'), callMessage('t', 8)], alice)).toBeUndefined();
    expect(rateLimitRefusal(limiter, [{ jsonrpc: '2.0', id: 1, method: 'tools/list' } as JSONRPCMessage], alice)).toBeUndefined();
    expect(rateLimitRefusal(limiter, [{ jsonrpc: '2.0', method: 'tools/call', params: { name: 't' } } as JSONRPCMessage], alice)).toBeUndefined();
    expect(rateLimitRefusal(limiter, [callMessage('t')], bob)).toBeUndefined();
    expect(rateLimitRefusal(undefined, [callMessage('t')], alice)).toBeUndefined();
  });
});
