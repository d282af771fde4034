/**
 * Rate limits per caller and per tool, in memory: one token bucket per limit and key. A bucket
 * holds `burst` tokens and refills at `limit` per `window`; a call takes one token, and a call
 * that finds the bucket empty is refused with the time until a token is back. Limits live in the
 * process: a restart forgets them, and two airlock processes do not share them.
 *
 * The limiter is shared by every session of the process (a caller's limit holds across its
 * sessions). Calls are counted when airlock forwards them: a call the policy refuses takes no
 * token. Streamable HTTP callers get 429 with Retry-After (RFC 9110 §10.2.3, RFC 6585 §4) from
 * `rateLimitRefusal`, which the HTTP server calls before the session sees the request; stdio and
 * SSE callers get a JSON-RPC error with `data.retryAfterSeconds`.
 */
import { performance } from 'node:perf_hooks';
import { errorResponse, type JSONRPCMessage, type RequestId } from '../bridge/json-rpc.js';
import type { Caller } from './caller.js';
import type { RateLimitRule } from './policy-document.js';
import { compilePrincipal, globsToRegExp, principalMismatch } from './policy-rules.js';

/** JSON-RPC server-error range (JSON-RPC 2.0 §5.1); `data.airlock` says which refusal it is. */
export const RATE_LIMITED_CODE = -32000;
export const RATE_LIMITED = 'AIRLOCK_RATE_LIMITED';

/** A bucket: `tokens` as of `updated` (ms on the limiter's clock). */
export class TokenBucket {
  private tokens: number;
  private updated: number;

  constructor(
    private readonly capacity: number,
    /** Tokens per millisecond. */
    private readonly rate: number,
    now: number,
  ) {
    this.tokens = capacity;
    this.updated = now;
  }

  /** Tokens available at `now`, refilled since the last look (never above the capacity). */
  available(now: number): number {
    const elapsed = Math.max(0, now - this.updated);
    return Math.min(this.capacity, this.tokens + elapsed * this.rate);
  }

  /** Milliseconds until `count` tokens are available at `now` (0 when they are). */
  waitFor(count: number, now: number): number {
    const missing = count - this.available(now);
    return missing <= 0 ? 0 : missing / this.rate;
  }

  take(now: number): void {
    this.tokens = this.available(now) - 1;
    this.updated = now;
  }

  isFull(now: number): boolean {
    return this.available(now) >= this.capacity;
  }
}

export interface RateRefusal {
  rule: RateLimitRule;
  /** Whole seconds until the call would be admitted (at least 1). */
  retryAfterSeconds: number;
  message: string;
}

export interface RateLimiterOptions {
  /** Milliseconds, monotonic (performance.now by default); tests pass their own clock. */
  now?: () => number;
  /** Buckets kept at most; past this, full ones (same as new) are dropped first, then the oldest. */
  maxBuckets?: number;
}

interface CompiledLimit {
  rule: RateLimitRule;
  tools: RegExp;
  principal: ReturnType<typeof compilePrincipal>;
}

export class RateLimiter {
  private readonly limits: CompiledLimit[];
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly now: () => number;
  private readonly maxBuckets: number;

  constructor(rules: readonly RateLimitRule[], options: RateLimiterOptions = {}) {
    this.limits = rules.map((rule) => ({ rule, tools: globsToRegExp(rule.tools), principal: compilePrincipal(rule.principal) }));
    this.now = options.now ?? (() => performance.now());
    this.maxBuckets = options.maxBuckets ?? 10_000;
  }

  /** The limits that apply to this call. */
  applicable(caller: Caller, tool: string): RateLimitRule[] {
    return this.limits.filter((l) => applies(l, caller, tool)).map((l) => l.rule);
  }

  /**
   * Admit one call, or say which limit refuses it. With `take`, an admitted call uses a token of
   * every limit that applies (all or none); without, nothing changes (the HTTP layer's look-ahead).
   */
  admit(caller: Caller, tool: string, take: boolean): RateRefusal | undefined {
    const now = this.now();
    const keys: Array<[CompiledLimit, string]> = [];
    for (const limit of this.limits) {
      if (!applies(limit, caller, tool)) continue;
      const key = bucketKey(limit.rule, caller, tool);
      // A caller without a bucket yet has a full one.
      const wait = this.buckets.get(key)?.waitFor(1, now) ?? 0;
      if (wait > 0) return refusal(limit.rule, tool, wait);
      keys.push([limit, key]);
    }
    if (take) for (const [limit, key] of keys) this.bucketFor(limit.rule, key, now).take(now);
    return undefined;
  }

  private bucketFor(rule: RateLimitRule, key: string, now: number): TokenBucket {
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      if (this.buckets.size >= this.maxBuckets) this.evict(now);
      bucket = new TokenBucket(rule.burst, rateOf(rule), now);
      this.buckets.set(key, bucket);
    }
    return bucket;
  }

  private evict(now: number): void {
    for (const [key, bucket] of this.buckets) if (bucket.isFull(now)) this.buckets.delete(key);
    while (this.buckets.size >= this.maxBuckets) this.buckets.delete(this.buckets.keys().next().value!);
  }
}

function applies(limit: CompiledLimit, caller: Caller, tool: string): boolean {
  return limit.tools.test(tool) && (limit.principal === undefined || principalMismatch(limit.principal, caller) === undefined);
}

/** Tokens per millisecond. */
function rateOf(rule: RateLimitRule): number {
  return rule.limit / (rule.windowSeconds * 1000);
}

function bucketKey(rule: RateLimitRule, caller: Caller, tool: string): string {
  return `${rule.id}\n${rule.per.includes('caller') ? caller.key : ''}\n${rule.per.includes('tool') ? tool : ''}`;
}

function refusal(rule: RateLimitRule, tool: string, waitMs: number): RateRefusal {
  // Whole milliseconds first: 1 / (2 per hour) is 1800000.0000000002 ms in floating point.
  const retryAfterSeconds = Math.max(1, Math.ceil(Math.round(waitMs) / 1000));
  const per = rule.per.length === 0 ? 'for everybody' : `per ${rule.per.join(' and ')}`;
  return {
    rule,
    retryAfterSeconds,
    message: `rate limit ${JSON.stringify(rule.id)} (${rule.limit} call${rule.limit === 1 ? '' : 's'} per ${rule.window} ${per}) reached for tool ${JSON.stringify(tool)}; retry in ${retryAfterSeconds} s`,
  };
}

/** The JSON-RPC error for a refused call: the same in every transport. */
export function rateLimitAnswer(id: RequestId, tool: string, refused: RateRefusal): JSONRPCMessage {
  return errorResponse(id, RATE_LIMITED_CODE, `mcp-airlock policy: ${refused.message}`, {
    airlock: RATE_LIMITED,
    rule: refused.rule.id,
    tool,
    retryAfterSeconds: refused.retryAfterSeconds,
  });
}

/** What the HTTP server sends instead of handing the request to its session. */
export interface HttpPolicyRefusal {
  status: 429;
  headers: { 'Retry-After': string };
  /** The JSON-RPC error, also the body. */
  answer: JSONRPCMessage;
  /** The refused call, for the session's audit tap. */
  request: JSONRPCMessage;
}

/**
 * For the HTTP server, before a POST reaches its session: 429 when the request is one tools/call
 * over a rate limit. It only looks (takes no token): the session's policy stage takes it when it
 * forwards the call, and refuses with a JSON-RPC error if another request got there first. A
 * batch is left to the stage, so that its other messages are not refused with it.
 */
export function rateLimitRefusal(limiter: RateLimiter | undefined, messages: readonly JSONRPCMessage[], caller: Caller): HttpPolicyRefusal | undefined {
  if (limiter === undefined || messages.length !== 1) return undefined;
  const message = messages[0]!;
  if (!('method' in message) || message.method !== 'tools/call' || !('id' in message)) return undefined;
  const tool = (message.params as { name?: unknown } | undefined)?.name;
  if (typeof tool !== 'string') return undefined;
  const refused = limiter.admit(caller, tool, false);
  if (refused === undefined) return undefined;
  return { status: 429, headers: { 'Retry-After': String(refused.retryAfterSeconds) }, answer: rateLimitAnswer(message.id as RequestId, tool, refused), request: message };
}
