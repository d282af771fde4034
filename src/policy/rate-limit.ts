/**
 * Rate limits per caller and per tool: one token bucket per limit and key. A bucket holds `burst`
 * tokens and refills at `limit` per `window`; a call takes one token, and a call that finds the
 * bucket empty is refused with the time until a token is back. The buckets live in the process
 * (MemoryRateBuckets: a restart forgets them, and two airlock processes do not share them), or in
 * a shared store behind the same `RateBuckets` interface (serve --state: redis-state.ts, where
 * replicas together let through exactly the limit).
 *
 * The limiter is shared by every session of the process (a caller's limit holds across its
 * sessions). Calls are counted when airlock forwards them: a call the policy refuses takes no
 * token. Streamable HTTP callers get 429 with Retry-After (RFC 9110 §10.2.3, RFC 6585 §4) from
 * `rateLimitRefusal`, which the HTTP server calls before the session sees the request; stdio and
 * SSE callers get a JSON-RPC error with `data.retryAfterSeconds`.
 *
 * Buckets are bounded, and flooding them cannot reset a limit (issue 20: 10,000 made-up tool names
 * in one batch evicted a drained bucket). Only a full bucket is ever dropped (it is the same as a
 * new one); with no full one to drop, a call that needs a new bucket is refused until one refills.
 * A limit `per` tool counts each tool some tools/list of this process named in its own bucket, and
 * every other name in one shared bucket per limit (and caller), so made-up names make no buckets.
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

  /** Milliseconds until the bucket is full again (0 when it is). */
  untilFull(now: number): number {
    return this.waitFor(this.capacity, now);
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
  /** Buckets kept at most; past this, full ones (same as new) are dropped, and never one that is not. */
  maxBuckets?: number;
  /** Tool names kept at most from tools/list answers (a hostile list cannot grow memory without bound). */
  maxKnownTools?: number;
  /** Where the buckets live: this process's memory by default, or a shared store (serve --state). */
  buckets?: RateBuckets;
}

/** One bucket a call needs a token of: its key, and its limit's size and refill rate. */
export interface BucketSpec {
  key: string;
  capacity: number;
  /** Tokens per millisecond. */
  ratePerMs: number;
}

/**
 * What a bucket store says of a call: undefined when every bucket has a token; else which one
 * (index into the specs) is empty and the milliseconds until it has one, or `crowded` when the
 * store has no room for a new bucket (memory only).
 */
export type BucketVerdict = undefined | { refused: number; waitMs: number; crowded?: boolean };

/**
 * Where the token buckets live. `take` uses one token of every bucket (all or none) or says which
 * is empty; `peek` only looks, and never waits (the HTTP layer asks it before a request reaches
 * its session). The memory store answers at once; a shared one (redis-state.ts) answers `take`
 * with a promise, and `peek` from what its last answers said.
 */
export interface RateBuckets {
  /** True when `take` answers with a promise (the policy stage then decides before the bridge sees the call). */
  readonly shared: boolean;
  take(specs: readonly BucketSpec[]): BucketVerdict | Promise<BucketVerdict>;
  peek(specs: readonly BucketSpec[]): BucketVerdict;
}

/**
 * The buckets in this process's memory: what a single airlock has always used. Bounded: only a
 * full bucket is ever dropped (issue 20), see the module comment.
 */
export class MemoryRateBuckets implements RateBuckets {
  readonly shared = false;
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(
    private readonly now: () => number,
    private readonly maxBuckets: number,
  ) {}

  take(specs: readonly BucketSpec[]): BucketVerdict {
    return this.admit(specs, true);
  }

  peek(specs: readonly BucketSpec[]): BucketVerdict {
    return this.admit(specs, false);
  }

  private admit(specs: readonly BucketSpec[], take: boolean): BucketVerdict {
    const now = this.now();
    let missing = 0;
    for (const [index, spec] of specs.entries()) {
      const bucket = this.buckets.get(spec.key);
      // A caller without a bucket yet has a full one.
      const wait = bucket?.waitFor(1, now) ?? 0;
      if (wait > 0) return { refused: index, waitMs: wait };
      if (bucket === undefined) missing += 1;
    }
    if (!take || specs.length === 0) return undefined;
    if (missing > 0 && this.buckets.size + missing > this.maxBuckets) {
      const wait = this.makeRoom(now, missing);
      if (wait !== undefined) return { refused: 0, waitMs: wait, crowded: true };
    }
    for (const spec of specs) this.bucketFor(spec, now).take(now);
    return undefined;
  }

  private bucketFor(spec: BucketSpec, now: number): TokenBucket {
    let bucket = this.buckets.get(spec.key);
    if (bucket === undefined) {
      bucket = new TokenBucket(spec.capacity, spec.ratePerMs, now);
      this.buckets.set(spec.key, bucket);
    }
    return bucket;
  }

  /**
   * Drop full buckets (a full bucket is the same as none) until `needed` new ones fit. Never one
   * that is not full: that would hand its caller a fresh burst. Undefined when there is room now;
   * else the milliseconds until the first bucket is full again.
   */
  private makeRoom(now: number, needed: number): number | undefined {
    let soonest = Number.POSITIVE_INFINITY;
    for (const [key, bucket] of this.buckets) {
      if (this.buckets.size + needed <= this.maxBuckets) return undefined;
      if (bucket.isFull(now)) this.buckets.delete(key);
      else soonest = Math.min(soonest, bucket.untilFull(now));
    }
    return this.buckets.size + needed <= this.maxBuckets ? undefined : soonest;
  }
}

interface CompiledLimit {
  rule: RateLimitRule;
  tools: RegExp;
  principal: ReturnType<typeof compilePrincipal>;
}

export class RateLimiter {
  private readonly limits: CompiledLimit[];
  private readonly buckets: RateBuckets;
  private readonly maxBuckets: number;
  private readonly maxKnownTools: number;
  /** Tools a tools/list answer named, in any session of the process: only these get a bucket of their own. */
  private readonly knownTools = new Set<string>();

  constructor(rules: readonly RateLimitRule[], options: RateLimiterOptions = {}) {
    this.limits = rules.map((rule) => ({ rule, tools: globsToRegExp(rule.tools), principal: compilePrincipal(rule.principal) }));
    this.maxBuckets = options.maxBuckets ?? 10_000;
    this.maxKnownTools = options.maxKnownTools ?? 10_000;
    this.buckets = options.buckets ?? new MemoryRateBuckets(options.now ?? (() => performance.now()), this.maxBuckets);
  }

  /** Whether the buckets live in a shared store (serve --state): `take` then answers with a promise. */
  get shared(): boolean {
    return this.buckets.shared;
  }

  /** The limits that apply to this call. */
  applicable(caller: Caller, tool: string): RateLimitRule[] {
    return this.limits.filter((l) => applies(l, caller, tool)).map((l) => l.rule);
  }

  /** Tools the server listed (a session's tools/list answer): from now on each is counted on its own. */
  learnTools(names: Iterable<string>): void {
    for (const name of names) {
      if (this.knownTools.size >= this.maxKnownTools) return;
      this.knownTools.add(name);
    }
  }

  /**
   * Admit one call, or say which limit refuses it. With `take`, an admitted call uses a token of
   * every limit that applies (all or none); without, nothing changes (the HTTP layer's look-ahead).
   * For the memory buckets only: a shared store takes tokens through `take`.
   */
  admit(caller: Caller, tool: string, take: boolean): RateRefusal | undefined {
    if (!take) return this.peek(caller, tool);
    const verdict = this.take(caller, tool);
    if (verdict instanceof Promise) throw new Error('RateLimiter.admit: the buckets are shared; use take()');
    return verdict;
  }

  /** Use a token of every limit that applies to this call (all or none), or say which limit refuses it. */
  take(caller: Caller, tool: string): RateRefusal | undefined | Promise<RateRefusal | undefined> {
    const plan = this.plan(caller, tool);
    if (plan.specs.length === 0) return undefined;
    const verdict = this.buckets.take(plan.specs);
    return verdict instanceof Promise ? verdict.then((v) => this.refusalOf(v, plan, tool)) : this.refusalOf(verdict, plan, tool);
  }

  /** Whether this call would be refused now, taking nothing. */
  peek(caller: Caller, tool: string): RateRefusal | undefined {
    const plan = this.plan(caller, tool);
    return plan.specs.length === 0 ? undefined : this.refusalOf(this.buckets.peek(plan.specs), plan, tool);
  }

  private plan(caller: Caller, tool: string): { limits: CompiledLimit[]; specs: BucketSpec[]; listed: boolean } {
    const listed = this.knownTools.has(tool);
    const limits = this.limits.filter((limit) => applies(limit, caller, tool));
    const specs = limits.map((limit) => ({ key: bucketKey(limit.rule, caller, tool, listed), capacity: limit.rule.burst, ratePerMs: rateOf(limit.rule) }));
    return { limits, specs, listed };
  }

  private refusalOf(verdict: BucketVerdict, plan: { limits: CompiledLimit[]; listed: boolean }, tool: string): RateRefusal | undefined {
    if (verdict === undefined) return undefined;
    const rule = plan.limits[verdict.refused]!.rule;
    return verdict.crowded ? crowded(rule, tool, verdict.waitMs, this.maxBuckets) : refusal(rule, tool, verdict.waitMs, sharedBucket(rule, plan.listed));
  }
}

function applies(limit: CompiledLimit, caller: Caller, tool: string): boolean {
  return limit.tools.test(tool) && (limit.principal === undefined || principalMismatch(limit.principal, caller) === undefined);
}

/** Tokens per millisecond. */
function rateOf(rule: RateLimitRule): number {
  return rule.limit / (rule.windowSeconds * 1000);
}

/** Whether calls of `tool` share the limit's bucket for unlisted tools. */
function sharedBucket(rule: RateLimitRule, listed: boolean): boolean {
  return rule.per.includes('tool') && !listed;
}

/**
 * The bucket of a limit for this call: a JSON array, so no caller key or tool name can spell the
 * key of another (a subject with a newline, a client named like a user). A tool no tools/list named
 * shares one bucket per limit (and caller).
 */
function bucketKey(rule: RateLimitRule, caller: Caller, tool: string, listed: boolean): string {
  const byCaller = rule.per.includes('caller') ? caller.key : null;
  const byTool = rule.per.includes('tool') ? (listed ? ['tool', tool] : ['unlisted']) : null;
  return JSON.stringify([rule.id, byCaller, byTool]);
}

/** Whole seconds, at least 1. Whole milliseconds first: 1 / (2 per hour) is 1800000.0000000002 ms in floating point. */
function wholeSeconds(waitMs: number): number {
  return Math.max(1, Math.ceil(Math.round(waitMs) / 1000));
}

function refusal(rule: RateLimitRule, tool: string, waitMs: number, shared: boolean): RateRefusal {
  const retryAfterSeconds = wholeSeconds(waitMs);
  const per = rule.per.length === 0 ? 'for everybody' : `per ${rule.per.join(' and ')}`;
  const unlisted = shared ? ' (tools no tools/list named share one count)' : '';
  return {
    rule,
    retryAfterSeconds,
    message: `rate limit ${JSON.stringify(rule.id)} (${rule.limit} call${rule.limit === 1 ? '' : 's'} per ${rule.window} ${per}) reached for tool ${JSON.stringify(tool)}${unlisted}; retry in ${retryAfterSeconds} s`,
  };
}

/** Every bucket is in use and none is full: a new caller (or tool) waits until one refills. */
function crowded(rule: RateLimitRule, tool: string, waitMs: number, maxBuckets: number): RateRefusal {
  const retryAfterSeconds = wholeSeconds(waitMs);
  return {
    rule,
    retryAfterSeconds,
    message: `rate limit ${JSON.stringify(rule.id)} cannot count tool ${JSON.stringify(tool)} for this caller now: all ${maxBuckets} rate-limit buckets are in use; retry in ${retryAfterSeconds} s`,
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
