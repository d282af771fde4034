/**
 * The shared policy state in Redis or Valkey (serve --state redis://… or rediss://…), through
 * ioredis. This module is imported only when --state is given (serve.ts imports it dynamically),
 * so no other command loads the client.
 *
 * Rate limits: each call runs one Lua script (EVALSHA) that refills and takes a token of every
 * bucket the call needs, all or none, on the server's clock (TIME): scripts run one at a time, so
 * N replicas together let through exactly the limit, and their clocks need not agree. A bucket's
 * key expires when it would be full again (a full bucket is the same as none), so Redis holds only
 * buckets in use.
 *
 * Flow rules: a hash per caller and session (label -> first tool called with it), written with
 * HSETNX (the first call wins, as in memory) and expiring FLOW_TTL_MS after its last write. The
 * check (HGETALL) and the record are two round trips: two calls of one caller racing on two
 * replicas within one round trip can both pass (in one process they cannot: the stage decides
 * a session's calls in order).
 *
 * Failures: commands are not queued while the connection is down (enableOfflineQueue false) and
 * time out after COMMAND_TIMEOUT_MS, so a call that needs the store is refused (or let through,
 * --state-failure open) at once; the client reconnects by itself, at most a second apart, and the
 * first answer after that ends the refusals. One warning line per interval says what fails.
 */
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { AirlockError, describeError, quote } from '../errors.js';
import { RepeatedWarning, type Logger } from '../log.js';
import type { FlowRule } from './policy-document.js';
import type { BucketSpec, BucketVerdict, RateBuckets } from './rate-limit.js';
import { flowRefusal, type FlowHistory, type FlowRefusal } from './session-flow.js';
import type { SharedPolicyState, StateFailureMode } from './shared-state.js';

/** How long a caller's flow history outlives its last recorded call. */
export const FLOW_TTL_MS = 24 * 60 * 60 * 1000;
const COMMAND_TIMEOUT_MS = 1000;
const CONNECT_TIMEOUT_MS = 2000;
/** Refusals the HTTP look-ahead remembers (bucket key -> when it has a token again). */
const MAX_REMEMBERED_EMPTY = 10_000;

/**
 * KEYS: the buckets; ARGV: capacity and tokens per millisecond of each. Returns {0, "0"} when a
 * token of each was taken, else {i, ms}: bucket i (1-based) is empty for ms more.
 */
const TAKE_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local avail = {}
for i, key in ipairs(KEYS) do
  local cap = tonumber(ARGV[2 * i - 1])
  local rate = tonumber(ARGV[2 * i])
  local state = redis.call('HMGET', key, 't', 'u')
  local tokens = tonumber(state[1])
  local updated = tonumber(state[2])
  local a = cap
  if tokens ~= nil and updated ~= nil then
    a = math.min(cap, tokens + math.max(0, now - updated) * rate)
  end
  if a < 1 then
    return {i, string.format('%.3f', (1 - a) / rate)}
  end
  avail[i] = a
end
for i, key in ipairs(KEYS) do
  local cap = tonumber(ARGV[2 * i - 1])
  local rate = tonumber(ARGV[2 * i])
  local left = avail[i] - 1
  redis.call('HSET', key, 't', string.format('%.17g', left), 'u', string.format('%.3f', now))
  redis.call('PEXPIRE', key, math.ceil((cap - left) / rate) + 1000)
end
return {0, '0'}
`;

/** KEYS[1]: the history; ARGV[1]: its TTL in ms, then label and entry pairs (the first call with a label wins). */
const RECORD_SCRIPT = `
for i = 2, #ARGV, 2 do
  redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
`;

interface ScriptedRedis extends Redis {
  airlockTake(numberOfKeys: number, ...args: Array<string | number>): Promise<[number, string]>;
  airlockRecord(key: string, ...args: Array<string | number>): Promise<number>;
}

export interface RedisStateOptions {
  /** redis://[user:password@]host[:port][/db] or rediss://… (TLS). */
  url: string;
  failureMode: StateFailureMode;
  /** Prefix of every key airlock writes ("mcp-airlock"): replicas that share limits share it. */
  prefix: string;
  log: Logger;
}

/** The URL as logs and refusals show it: no user, no password, no query. */
export function storeName(url: string): string {
  const parsed = parseStateUrl(url);
  return `${parsed.protocol}//${parsed.host}${parsed.pathname === '/' ? '' : parsed.pathname}`;
}

export function parseStateUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    // The text is not quoted: it may hold the password.
    throw new AirlockError('AIRLOCK_USAGE', 'the --state URL is not a URL', { hint: 'Use redis://[user:password@]host[:port][/db], or rediss://… for TLS.', cause: error });
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new AirlockError('AIRLOCK_USAGE', `the --state URL must start with redis:// or rediss://, not ${quote(parsed.protocol)}`, {
      hint: 'Use redis://[user:password@]host[:port][/db], or rediss://… for TLS (Valkey speaks the same protocol).',
    });
  }
  return parsed;
}

/** Connect (without waiting for the connection: calls fail closed until it is up) and return the shared state. */
export async function openRedisState(options: RedisStateOptions): Promise<SharedPolicyState> {
  const name = storeName(options.url);
  const password = decodeURIComponent(parseStateUrl(options.url).password);
  const { log } = options;
  const warning = new RepeatedWarning((text) => log.warn(text));
  /** Never a password in a line we write, whatever a library put in its message. */
  const clean = (text: string): string => (password.length > 0 ? text.split(password).join('***') : text);
  const redis = new Redis(options.url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: COMMAND_TIMEOUT_MS,
    connectTimeout: CONNECT_TIMEOUT_MS,
    retryStrategy: (times) => Math.min(100 * times, 1000),
  }) as ScriptedRedis;
  redis.defineCommand('airlockTake', { lua: TAKE_SCRIPT });
  redis.defineCommand('airlockRecord', { lua: RECORD_SCRIPT, numberOfKeys: 1 });
  let down = false;
  /** Why the connection is down, for the refusals (ioredis says only that its stream is not writeable). */
  let lastProblem: string | undefined;
  const failed = (error: unknown): void => {
    down = true;
    if (redis.status !== 'ready') lastProblem = clean(describeError(error));
    const mode = options.failureMode;
    warning.report(
      `shared state store ${name} cannot be used (${clean(describeError(error))}): calls to rate-limited or flow-ruled tools are ${mode === 'closed' ? 'refused' : 'let through uncounted'} until it is back (--state-failure ${mode})`,
    );
  };
  redis.on('error', failed);
  redis.on('ready', () => {
    if (down) log.info(`shared state store ${name} is back`);
    else log.info(`shared state in ${name}`);
    down = false;
    lastProblem = undefined;
  });
  /** A command, with a failure that names the store's state when it is not connected. */
  const run = async <T>(command: () => Promise<T>): Promise<T> => {
    if (redis.status !== 'ready') throw new Error(`not connected${lastProblem && !lastProblem.startsWith('not connected') ? `: ${lastProblem}` : ''}`);
    try {
      return await command();
    } catch (error) {
      throw new Error(clean(describeError(error)), { cause: error });
    }
  };
  await redis.connect().catch((error: unknown) => failed(error));
  const key = (kind: string, text: string): string => `${options.prefix}:${kind}:${createHash('sha256').update(text).digest('base64url')}`;
  const buckets = new RedisRateBuckets(redis, run, (text) => key('rate', text));
  return {
    name,
    failureMode: options.failureMode,
    buckets,
    flowFor: (rules, flowKey) => new RedisFlowHistory(redis, run, rules, key('flow', flowKey)),
    failed,
    close: async () => {
      redis.off('error', failed);
      redis.on('error', () => undefined);
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

type Run = <T>(command: () => Promise<T>) => Promise<T>;

class RedisRateBuckets implements RateBuckets {
  readonly shared = true;
  /** Buckets the store last called empty, and until when (performance.now): what `peek` answers from. */
  private readonly emptyUntil = new Map<string, number>();

  constructor(
    private readonly redis: ScriptedRedis,
    private readonly run: Run,
    private readonly keyOf: (bucket: string) => string,
  ) {}

  async take(specs: readonly BucketSpec[]): Promise<BucketVerdict> {
    const args = specs.flatMap((spec) => [String(spec.capacity), String(spec.ratePerMs)]);
    const [index, wait] = await this.run(() => this.redis.airlockTake(specs.length, ...specs.map((spec) => this.keyOf(spec.key)), ...args));
    if (index === 0) return undefined;
    const refused = index - 1;
    const waitMs = Number(wait);
    this.remember(specs[refused]!.key, waitMs);
    return { refused, waitMs };
  }

  /** Only what the store said last: a bucket it called empty stays empty until then (no round trip). */
  peek(specs: readonly BucketSpec[]): BucketVerdict {
    const now = performance.now();
    for (const [index, spec] of specs.entries()) {
      const until = this.emptyUntil.get(spec.key);
      if (until === undefined) continue;
      if (until > now) return { refused: index, waitMs: until - now };
      this.emptyUntil.delete(spec.key);
    }
    return undefined;
  }

  private remember(bucket: string, waitMs: number): void {
    if (this.emptyUntil.size >= MAX_REMEMBERED_EMPTY) this.emptyUntil.delete(this.emptyUntil.keys().next().value!);
    this.emptyUntil.set(bucket, performance.now() + waitMs);
  }
}

class RedisFlowHistory implements FlowHistory {
  constructor(
    private readonly redis: ScriptedRedis,
    private readonly run: Run,
    private readonly rules: readonly FlowRule[],
    private readonly key: string,
  ) {}

  async check(tool: string, labels: readonly string[], unlisted = false): Promise<FlowRefusal | undefined> {
    const stored = await this.run(() => this.redis.hgetall(this.key));
    const seen = new Map<string, { tool: string; unlisted: boolean }>();
    for (const [label, text] of Object.entries(stored)) {
      try {
        const entry = JSON.parse(text) as { tool?: unknown; unlisted?: unknown };
        if (typeof entry.tool === 'string') seen.set(label, { tool: entry.tool, unlisted: entry.unlisted === true });
      } catch {
        // Not ours: a value another program wrote under our prefix counts as nothing.
      }
    }
    return flowRefusal(this.rules, seen, tool, labels, unlisted);
  }

  async record(tool: string, labels: readonly string[], unlisted = false): Promise<void> {
    if (labels.length === 0) return;
    const entry = JSON.stringify({ tool, unlisted });
    await this.run(() => this.redis.airlockRecord(this.key, String(FLOW_TTL_MS), ...labels.flatMap((label) => [label, entry])));
  }
}
