/**
 * Spawned servers the hub's clients share (docs/hub.md, "Sharing"). Each attached client keeps
 * its own pipeline (policy, audit, era adapter); only the transport under its era adapter is a
 * *lease* on an upstream of the same key (command, arguments, working directory, environment), so
 * a 2025 client and a 2026 client can share one 2026 server, and every client's policy and audit
 * record stay its own.
 *
 * Who shares what:
 * - A 2026-07-28 server (stateless: every request carries its own version, capabilities and
 *   context) is shared by every client of the key.
 * - A 2025 server holds one session with one client's capabilities and roots: it is shared only
 *   between clients that all asked for it (`--share`); otherwise each client gets its own, as in
 *   process. On a shared 2025 session the first client's `initialize` opens it and later clients
 *   get that answer (under their own id); their `notifications/initialized` stays here.
 * - Until the first exchange says which era it is, an upstream is joined only by clients that
 *   allow sharing either way; others wait (bounded) for the verdict, then join or start their own.
 *
 * What crosses between clients on a shared upstream: nothing a client sends can answer, cancel or
 * read another's call. Every request gets the upstream's own id on the way up and the client's
 * back on the way down (as `serve`'s lanes do, ERA-NOTES 4C); progress tokens and 2026 listen
 * subscriptions are renamed per call; a client's `notifications/cancelled` names only its own
 * calls; a client that detaches has its calls cancelled upstream. Server messages go to the client
 * whose call they belong to (answer id, progress token, subscription); a server request (sampling,
 * elicitation, roots) goes to the one client with calls in flight, or to the longest-attached one
 * when none has any, and is refused to the server when several have (2025 stdio does not say which
 * call asked). Notifications of no call (list changes, resource updates, 2025 logs) reach every
 * client: on a shared 2025 session that is what the clients consented to.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import { AirlockError } from '../errors.js';
import { errorResponse, RpcErrorCode, type JSONRPCMessage, type RequestId } from '../bridge/json-rpc.js';
import { withMessageId } from '../bridge/message-text.js';
import { relatedRequestOf, rememberRelatedRequest } from '../bridge/wire-status.js';
import { META_PROTOCOL_VERSION, META_SUBSCRIPTION_ID } from '../eras/mcp-headers.js';
import type { Logger } from '../log.js';
import type { ChildReaper } from '../transports/child-reaper.js';

/** An upstream a client asks the hub for: what identifies it, and how the client allows it to be shared. */
export interface SharedSpec {
  /**
   * What reaches the server, as JSON: two clients share only when all of it is equal. A spawned
   * server: its command, arguments, working directory and environment; a remote one: the URL, the
   * resolved headers, the command's options, the client's directory and environment (a secret in
   * it, a `--client-secret-env` value say, must never be used for another client's calls).
   */
  identity: unknown;
  /** How `hub status` names it: a command's file name, a URL's origin and path. */
  label: string;
  /** The client allows a shared 2025 session (`--share`); a 2026 server is shared regardless. */
  share: boolean;
  /**
   * `run --idle-stop`: stop the server after this long with no call in flight, even with clients
   * attached, and start it again on the next message (0 or absent: only when no client is left).
   */
  idleStopMs?: number;
}

export type UpstreamTransport = Transport & { closeReason?: string; pid?: number; setProtocolVersion?: (version: string) => void };

/** What the transport of a new upstream gets from the hub: stderr for every client of it, the hub's reaper. */
export interface UpstreamOpenIo {
  writeStderr: (text: string) => void;
  reaper: ChildReaper;
}

/** A client's command asks the hub for its spawned server through this (Invocation.hosted.upstreams). */
export interface UpstreamLeaser {
  lease(spec: SharedSpec, lessee: Lessee, open: (io: UpstreamOpenIo) => UpstreamTransport): UpstreamTransport;
}

export interface Lessee {
  log: Logger;
  /** The client's stderr: the shared server's stderr lines reach every client attached to it. */
  writeStderr?: (text: string) => void;
}

export interface SharedUpstreamsOptions {
  log: Logger;
  /** Records the pids of the servers (the hub's children file), so that none outlives the hub. */
  reaper: ChildReaper;
  /** A shareable upstream with no client left stops after this long (a host restarting finds it running). */
  lingerMs: number;
  /** A replayed opening (the server started again after an idle stop) must be answered within this. */
  replayTimeoutMs?: number;
  /** How long a client waits for an upstream's first exchange to say whether it can be shared. */
  decideWaitMs?: number;
}

export interface SharedUpstreamStatus {
  key: string;
  command: string;
  pid?: number;
  era: 'unknown' | '2025' | '2026';
  /** Whether more clients may join (2026, or 2025 with --share). */
  shareable: boolean;
  clients: string[];
  calls: number;
  startedAt: string;
  /** Set while no client is attached: when it stops unless one comes. */
  stopsAt?: string;
  /** `idle`: stopped after `run --idle-stop` with clients attached; the next message starts it again. */
  state: 'running' | 'idle';
  /** Answers that were errors, since it started. */
  errors: number;
  /** When the last call ended or a client last sent something (ISO 8601). */
  lastActivity: string;
}

const DECIDE_WAIT_MS = 10_000;
const REPLAY_TIMEOUT_MS = 60_000;
/** Why a request an upstream refuses to route gets this code: the server asked something nobody can answer. */
const UNROUTABLE = RpcErrorCode.internalError;

/** Keys are HMACs under this, made when the hub starts: a key shown in `hub status` tells nothing about a value in the environment. */
const KEY_SECRET = randomBytes(32);

/** The key an upstream is shared under: a keyed hash, so that status output names no value of its identity. */
export function upstreamKey(spec: SharedSpec): string {
  return createHmac('sha256', KEY_SECRET).update(JSON.stringify(spec.identity)).digest('hex').slice(0, 16);
}

/** An environment as sorted [name, value] pairs: the same variables give the same identity in any order. */
export function sortedEnv(env: NodeJS.ProcessEnv): Array<[string, string]> {
  return Object.entries(env)
    .filter((entry): entry is [string, string] => typeof entry[1] === 'string')
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

export class SharedUpstreams {
  private readonly byKey = new Map<string, Set<Upstream>>();

  constructor(private readonly options: SharedUpstreamsOptions) {}

  /** The leaser for one attached client (its id names it in `hub status`). */
  forClient(client: string): UpstreamLeaser {
    return { lease: (spec, lessee, open) => new Lease(this, client, spec, lessee, open) };
  }

  status(): SharedUpstreamStatus[] {
    return [...this.byKey.values()].flatMap((set) => [...set].map((upstream) => upstream.status()));
  }

  /**
   * Stop the servers `name` names (a key, its first characters, or the command's file name): their
   * clients' sessions end as when a server exits. Returns the keys stopped.
   */
  stop(name: string): string[] {
    const matching = this.status().filter((upstream) => name !== '' && (upstream.key.startsWith(name) || upstream.command === name));
    for (const set of this.byKey.values()) for (const upstream of [...set]) if (matching.some((m) => m.key === upstream.key)) void upstream.close();
    return [...new Set(matching.map((m) => m.key))];
  }

  /** Stop every upstream now (the hub stops). */
  async closeAll(): Promise<void> {
    await Promise.all([...this.byKey.values()].flatMap((set) => [...set].map((upstream) => upstream.close())));
  }

  /** @internal: a lease starting: join an upstream of its key that it may share, or start one. */
  async bind(lease: Lease): Promise<Upstream> {
    const key = upstreamKey(lease.spec);
    const deadline = Date.now() + (this.options.decideWaitMs ?? DECIDE_WAIT_MS);
    for (;;) {
      const candidates = [...(this.byKey.get(key) ?? [])].filter((upstream) => upstream.open);
      const joinable = candidates.find((upstream) => upstream.accepts(lease.spec.share));
      if (joinable) {
        joinable.join(lease);
        await joinable.ready;
        return joinable;
      }
      // An upstream whose era is not known yet may turn out to be a 2026 server, which this client may share.
      const undecided = candidates.filter((upstream) => upstream.era === 'unknown');
      const left = deadline - Date.now();
      if (undecided.length === 0 || left <= 0) break;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([...undecided.map((upstream) => upstream.decided), new Promise<void>((resolve) => (timer = setTimeout(resolve, left)))]);
      clearTimeout(timer);
    }
    const upstream = new Upstream(this, key, lease.spec, this.options);
    let set = this.byKey.get(key);
    if (!set) this.byKey.set(key, (set = new Set()));
    set.add(upstream);
    upstream.join(lease);
    upstream.start(lease.open);
    await upstream.ready;
    return upstream;
  }

  /** @internal */
  forget(upstream: Upstream): void {
    const set = this.byKey.get(upstream.key);
    set?.delete(upstream);
    if (set?.size === 0) this.byKey.delete(upstream.key);
  }
}

/** A client's transport to a shared upstream: what its era adapter sends and receives. */
class Lease implements UpstreamTransport {
  readonly transportName = 'stdio';
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  upstream: Upstream | undefined;
  /** The client's open requests: its id (as JSON text) to the upstream's. */
  readonly calls = new Map<string, number>();
  private ended = false;

  constructor(
    private readonly registry: SharedUpstreams,
    readonly client: string,
    readonly spec: SharedSpec,
    readonly lessee: Lessee,
    readonly open: (io: UpstreamOpenIo) => UpstreamTransport,
  ) {}

  get closeReason(): string | undefined {
    return this.upstream?.closeReason;
  }

  get pid(): number | undefined {
    return this.upstream?.pid;
  }

  get isOpen(): boolean {
    return !this.ended;
  }

  async start(): Promise<void> {
    this.upstream = await this.registry.bind(this);
  }

  /** The version the session's opening agreed (an HTTP upstream sends it on every request). */
  setProtocolVersion(version: string): void {
    this.upstream?.setProtocolVersion(version);
  }

  async send(message: JSONRPCMessage, _options?: TransportSendOptions): Promise<void> {
    if (this.ended || !this.upstream) throw new AirlockError('AIRLOCK_UPSTREAM_CLOSED', this.closeReason ?? 'server process is not running');
    await this.upstream.fromClient(this, message);
  }

  /** A message for this client (already under its own ids). */
  deliver(message: JSONRPCMessage): void {
    if (!this.ended) this.onmessage?.(message);
  }

  /** The client is done with the upstream (its session closed). */
  async close(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    this.upstream?.release(this);
    this.onclose?.();
  }

  /** The upstream ended (its server exited): the client's session ends as it would in process. */
  upstreamClosed(): void {
    if (this.ended) return;
    this.ended = true;
    this.onclose?.();
  }
}

interface Call {
  lease: Lease;
  clientId: RequestId;
  method: string;
  progressToken: string | number | undefined;
  /** Sent with a 2026-07-28 `_meta` version: its answer tells the era. */
  modern: boolean;
  /** A list request: its answer is kept under this key, for when the server is stopped while idle. */
  listKey?: string;
}

/** The list requests whose last answer is kept: a server stopped while idle is not started again for them. */
const LIST_METHODS = new Set(['tools/list', 'prompts/list', 'resources/list', 'resources/templates/list']);
/** At most this many list answers are kept per server (pages, 2026 clients of several kinds). */
const MAX_KEPT_LISTS = 32;
/** Which kept lists a list_changed notification makes stale. */
const STALE_ON: Record<string, string[]> = {
  'notifications/tools/list_changed': ['tools/list'],
  'notifications/prompts/list_changed': ['prompts/list'],
  'notifications/resources/list_changed': ['resources/list', 'resources/templates/list'],
};

/** A list request's key: its method and parameters, the progress token aside. */
function listKey(message: JSONRPCMessage & { method: string }): string | undefined {
  if (!LIST_METHODS.has(message.method)) return undefined;
  const params = (message as { params?: Record<string, unknown> }).params;
  const meta = params?._meta as Record<string, unknown> | undefined;
  const { progressToken: _token, ...rest } = meta ?? {};
  return JSON.stringify([message.method, params === undefined ? null : { ...params, ...(meta ? { _meta: rest } : {}) }]);
}

type SessionOpening =
  | { state: 'none' }
  | { state: 'pending'; waiters: Array<{ lease: Lease; message: JSONRPCMessage }> }
  | { state: 'done'; result: unknown };

const idKey = (id: RequestId): string => JSON.stringify(id);

/** One spawned server and the clients that lease it. */
class Upstream {
  era: 'unknown' | 'modern' | 'legacy' = 'unknown';
  readonly leases = new Set<Lease>();
  readonly ready: Promise<void>;
  readonly decided: Promise<void>;
  private resolveReady!: () => void;
  private rejectReady!: (error: unknown) => void;
  private decide!: () => void;
  private inner: UpstreamTransport | undefined;
  private nextId = 0;
  private readonly calls = new Map<number, Call>();
  /** Server requests sent to a client, by their id (as JSON text): only its answer goes back. */
  private readonly serverRequests = new Map<string, Lease>();
  private opening: SessionOpening = { state: 'none' };
  /** The 2025 session was told `notifications/initialized` (once, whichever client says it first). */
  private initializedSent = false;
  private lingerTimer: NodeJS.Timeout | undefined;
  private stopsAt: Date | undefined;
  private readonly startedAt = new Date();
  private closing = false;
  private ended = false;
  private openTransport: ((io: UpstreamOpenIo) => UpstreamTransport) | undefined;
  /** Stopped while idle (`--idle-stop`): the next message starts the server again. */
  private asleep = false;
  private waking: Promise<void> | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  /** The client's `initialize` that opened the 2025 session, replayed when the server starts again. */
  private openingRequest: JSONRPCMessage | undefined;
  private pendingOpening: JSONRPCMessage | undefined;
  /** The last `logging/setLevel` of a 2025 session, replayed with it. */
  private logLevel: unknown;
  /** A 2025 client subscribed to a resource: the server would forget it, so it is not stopped while idle. */
  private subscribed = false;
  /** Answers to requests the hub itself sent (a replayed opening), by id. */
  private readonly own = new Map<number, (message: JSONRPCMessage) => void>();
  /** Why the server could not be started again. */
  private failure: string | undefined;
  /** The protocol version the session agreed, for an HTTP upstream (given again to a connection opened after an idle stop). */
  private protocolVersion: string | undefined;
  private errors = 0;
  /** Date.now() of the last client message or answer (a number: it is set for every message). */
  private lastActivity = Date.now();
  /** The last answer to each list request (listKey), in the order kept. */
  private readonly lists = new Map<string, unknown>();

  constructor(
    private readonly registry: SharedUpstreams,
    readonly key: string,
    private readonly spec: SharedSpec,
    private readonly options: SharedUpstreamsOptions,
  ) {
    this.ready = new Promise<void>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.ready.catch(() => undefined);
    this.decided = new Promise<void>((resolve) => (this.decide = resolve));
  }

  get open(): boolean {
    return !this.closing && !this.ended;
  }

  get closeReason(): string | undefined {
    return this.failure ?? this.inner?.closeReason;
  }

  get pid(): number | undefined {
    return this.inner?.pid;
  }

  /** Whether a client with this `--share` may join now. */
  accepts(share: boolean): boolean {
    if (!this.open) return false;
    if (this.era === 'modern') return true;
    return this.spec.share && share;
  }

  join(lease: Lease): void {
    this.leases.add(lease);
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    this.stopsAt = undefined;
  }

  start(open: (io: UpstreamOpenIo) => UpstreamTransport): void {
    this.openTransport = open;
    this.launch().then(
      () => this.resolveReady(),
      (error: unknown) => {
        this.ended = true;
        this.registry.forget(this);
        this.decide();
        this.rejectReady(error);
      },
    );
  }

  private launch(): Promise<void> {
    const inner = this.openTransport!({ writeStderr: (text) => this.toEveryClient(text), reaper: this.options.reaper });
    this.inner = inner;
    inner.onmessage = (message) => this.fromServer(message);
    inner.onerror = (error) => {
      for (const lease of this.leases) lease.onerror?.(error);
    };
    inner.onclose = () => this.innerClosed(inner);
    if (this.protocolVersion !== undefined) inner.setProtocolVersion?.(this.protocolVersion);
    return inner.start();
  }

  setProtocolVersion(version: string): void {
    this.protocolVersion = version;
    this.inner?.setProtocolVersion?.(version);
  }

  /** The call a server message came with (an HTTP upstream tags what arrives on a request's stream), if one of ours. */
  private taggedCall(message: JSONRPCMessage): { upstreamId: number; call: Call } | undefined {
    const tag = relatedRequestOf(message);
    const call = typeof tag === 'number' ? this.calls.get(tag) : undefined;
    return call ? { upstreamId: tag as number, call } : undefined;
  }

  /** The message for the client of `call`, tagged with the client's own id for that request. */
  private forCall(message: JSONRPCMessage, call: Call): JSONRPCMessage {
    if (relatedRequestOf(message) !== undefined) rememberRelatedRequest(message, call.clientId);
    return message;
  }

  /** Whether the server may be stopped while idle now: nothing in flight, nothing it must remember. */
  private canSleep(): boolean {
    const opened = this.era === 'modern' || (this.era === 'legacy' && this.opening.state === 'done' && this.openingRequest !== undefined);
    return this.open && !this.asleep && opened && !this.subscribed && this.leases.size > 0 && this.calls.size === 0 && this.serverRequests.size === 0;
  }

  private armIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    const idleMs = this.spec.idleStopMs ?? 0;
    if (idleMs <= 0 || !this.canSleep()) return;
    this.idleTimer = setTimeout(() => this.sleep(idleMs), idleMs);
    this.idleTimer.unref();
  }

  private sleep(idleMs: number): void {
    if (!this.canSleep()) return;
    this.asleep = true;
    const inner = this.inner;
    this.inner = undefined;
    this.debug(`no call for ${Math.round(idleMs / 1000)} s: stopped (--idle-stop); the next message starts it again`);
    void inner?.close();
  }

  /** Start the server again after an idle stop, and give it back the 2025 session it had. */
  private wake(): Promise<void> {
    this.waking ??= (async () => {
      try {
        await this.launch();
        if (this.era === 'legacy' && this.openingRequest) {
          const answer = await this.ask(this.openingRequest);
          if (!('result' in answer)) throw new AirlockError('AIRLOCK_UPSTREAM_CLOSED', `the server, started again after --idle-stop, refused the session's initialize: ${JSON.stringify((answer as { error?: unknown }).error)}`);
          if (this.initializedSent) await this.toServer({ jsonrpc: '2.0', method: 'notifications/initialized' } as JSONRPCMessage);
          if (this.logLevel !== undefined) await this.ask({ jsonrpc: '2.0', id: 0, method: 'logging/setLevel', params: this.logLevel } as JSONRPCMessage);
        }
        this.asleep = false;
        this.debug('started again after an idle stop');
      } catch (error) {
        this.failure = `the server could not be started again after an idle stop: ${error instanceof Error ? error.message : String(error)}`;
        const inner = this.inner;
        this.innerClosed(inner);
        void inner?.close();
        throw new AirlockError('AIRLOCK_UPSTREAM_CLOSED', this.failure);
      } finally {
        this.waking = undefined;
      }
    })();
    return this.waking;
  }

  /** A request of the hub's own (a replayed opening): its answer, bounded in time. */
  private ask(message: JSONRPCMessage): Promise<JSONRPCMessage> {
    const id = ++this.nextId;
    return new Promise<JSONRPCMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.own.delete(id);
        reject(new Error(`no answer to ${(message as { method?: string }).method} within ${Math.round((this.options.replayTimeoutMs ?? REPLAY_TIMEOUT_MS) / 1000)} s`));
      }, this.options.replayTimeoutMs ?? REPLAY_TIMEOUT_MS);
      this.own.set(id, (answer) => {
        clearTimeout(timer);
        resolve(answer);
      });
      this.toServer({ ...message, id } as JSONRPCMessage).catch((error: unknown) => {
        clearTimeout(timer);
        this.own.delete(id);
        reject(error);
      });
    });
  }

  status(): SharedUpstreamStatus {
    return {
      key: this.key,
      command: this.spec.label,
      ...(this.pid !== undefined ? { pid: this.pid } : {}),
      era: this.era === 'modern' ? '2026' : this.era === 'legacy' ? '2025' : 'unknown',
      shareable: this.era === 'modern' || this.spec.share,
      clients: [...new Set([...this.leases].map((lease) => lease.client))],
      calls: this.calls.size,
      startedAt: this.startedAt.toISOString(),
      ...(this.stopsAt ? { stopsAt: this.stopsAt.toISOString() } : {}),
      state: this.asleep ? 'idle' : 'running',
      errors: this.errors,
      lastActivity: new Date(this.lastActivity).toISOString(),
    };
  }

  private toEveryClient(text: string): void {
    for (const lease of this.leases) lease.lessee.writeStderr?.(text);
  }

  private debug(text: string): void {
    this.options.log.debug(`shared server ${this.key}: ${text}`);
  }

  async fromClient(lease: Lease, message: JSONRPCMessage): Promise<void> {
    this.lastActivity = Date.now();
    if (this.idleTimer) clearTimeout(this.idleTimer);
    try {
      await this.handleClient(lease, message);
    } finally {
      // Whatever the message was (a notification, a request answered here), the idle clock starts
      // again once nothing is in flight: a call's answer restarts it too (answer).
      this.armIdle();
    }
  }

  private async handleClient(lease: Lease, message: JSONRPCMessage): Promise<void> {
    if (this.asleep) {
      // Only a request starts the server again: a notification or an answer was for the process that stopped.
      if (!('method' in message && 'id' in message)) return this.debug('dropped a client message for a server stopped while idle');
      // A list it answered before, and has not said changed since: answered without starting it.
      const key = listKey(message as JSONRPCMessage & { method: string });
      if (key !== undefined && this.lists.has(key)) return lease.deliver({ jsonrpc: '2.0', id: (message as { id: RequestId }).id, result: this.lists.get(key) } as JSONRPCMessage);
      await this.wake();
    }
    if ('method' in message && 'id' in message) return this.request(lease, message);
    if ('method' in message) return this.notification(lease, message);
    // The client answers a server request: only the one it was sent to, once.
    const key = idKey((message as { id: RequestId }).id);
    if (this.serverRequests.get(key) !== lease) return this.debug(`dropped an answer to server request ${key} that was not put to this client`);
    this.serverRequests.delete(key);
    await this.toServer(message);
  }

  private async request(lease: Lease, message: JSONRPCMessage & { id: RequestId; method: string }): Promise<void> {
    if (message.method === 'initialize') {
      // A 2026 server is never sent initialize: a dual-era server would pin the connection to 2025
      // for every client. Refused as a 2026-only server refuses it, the client's era adapter translates.
      if (this.era === 'modern') return lease.deliver(errorResponse(message.id, RpcErrorCode.methodNotFound, 'Method not found: initialize (the server speaks 2026-07-28)'));
      if (this.opening.state === 'done') return lease.deliver({ jsonrpc: '2.0', id: message.id, result: this.opening.result } as JSONRPCMessage);
      if (this.opening.state === 'pending') {
        // One waiting initialize per client: a client that sends more (a second initialize is a
        // protocol error anyway) must not make the hub hold what it sends while the opening runs.
        if (this.opening.waiters.some((waiter) => waiter.lease === lease)) return lease.deliver(errorResponse(message.id, RpcErrorCode.invalidRequest, 'initialize is already in progress for this session'));
        return void this.opening.waiters.push({ lease, message });
      }
      this.opening = { state: 'pending', waiters: [] };
      this.pendingOpening = message;
    } else if (message.method === 'logging/setLevel') {
      this.logLevel = (message as { params?: unknown }).params;
    } else if (message.method === 'resources/subscribe') {
      this.subscribed = true;
    } else if (message.method === 'server/discover' && this.era === 'legacy') {
      // The session is 2025 (a dual-era server is pinned to it now): answered as a 2025 server would.
      return lease.deliver(errorResponse(message.id, RpcErrorCode.methodNotFound, 'Method not found: server/discover (the server speaks 2025-11-25)'));
    }
    const upstreamId = ++this.nextId;
    const params = (message as { params?: Record<string, unknown> }).params;
    const meta = params?._meta as Record<string, unknown> | undefined;
    const token = meta?.progressToken as string | number | undefined;
    const kept = listKey(message);
    this.calls.set(upstreamId, { lease, clientId: message.id, method: message.method, progressToken: token, modern: typeof meta?.[META_PROTOCOL_VERSION] === 'string', ...(kept !== undefined ? { listKey: kept } : {}) });
    lease.calls.set(idKey(message.id), upstreamId);
    const upward =
      token === undefined
        ? withMessageId(message, upstreamId)
        : ({ ...message, id: upstreamId, params: { ...params, _meta: { ...meta, progressToken: String(upstreamId) } } } as JSONRPCMessage);
    try {
      await this.toServer(upward);
    } catch (error) {
      this.calls.delete(upstreamId);
      lease.calls.delete(idKey(message.id));
      throw error;
    }
  }

  private async notification(lease: Lease, message: JSONRPCMessage & { method: string }): Promise<void> {
    const params = (message as { params?: Record<string, unknown> }).params;
    if (message.method === 'notifications/initialized') {
      // The session is opened once: the first client to say so after the opening tells the server.
      if (this.opening.state !== 'done' || this.initializedSent) return;
      this.initializedSent = true;
      return this.toServer(message);
    }
    if (message.method === 'notifications/cancelled') {
      const requested = params?.requestId as RequestId | undefined;
      const upstreamId = requested === undefined ? undefined : lease.calls.get(idKey(requested));
      if (upstreamId === undefined) {
        if (this.opening.state === 'pending') this.opening.waiters = this.opening.waiters.filter((w) => w.lease !== lease || (w.message as { id: RequestId }).id !== requested);
        return this.debug('dropped a notifications/cancelled that names no open request of this client');
      }
      // The answer may still come: it is dropped then (the call is forgotten).
      this.calls.delete(upstreamId);
      lease.calls.delete(idKey(requested!));
      return this.toServer({ ...message, params: { ...params, requestId: upstreamId } } as JSONRPCMessage);
    }
    return this.toServer(message);
  }

  private async toServer(message: JSONRPCMessage): Promise<void> {
    if (!this.inner || this.ended) throw new AirlockError('AIRLOCK_UPSTREAM_CLOSED', this.closeReason ?? 'server process is not running');
    await this.inner.send(message);
  }

  private fromServer(message: JSONRPCMessage): void {
    if (!('method' in message)) return this.answer(message);
    if ('id' in message) return this.serverRequest(message as JSONRPCMessage & { id: RequestId; method: string });
    const params = (message as { params?: Record<string, unknown> }).params;
    // However it is routed, a list change makes the kept answers of that list stale.
    const stale = STALE_ON[message.method];
    if (stale) for (const key of [...this.lists.keys()]) if (stale.some((method) => key.startsWith(`["${method}"`))) this.lists.delete(key);
    const tagged = this.taggedCall(message);
    if (tagged && message.method !== 'notifications/progress' && message.method !== 'notifications/cancelled') {
      // It came on the stream of a request of ours: it belongs to that call's client, and only to it.
      return tagged.call.lease.deliver(this.forCall(message, tagged.call));
    }
    if (message.method === 'notifications/progress' && params?.progressToken !== undefined) {
      const call = this.calls.get(Number(params.progressToken));
      if (call?.progressToken !== undefined && String(params.progressToken) === String(Number(params.progressToken))) {
        return call.lease.deliver({ ...message, params: { ...params, progressToken: call.progressToken } } as JSONRPCMessage);
      }
      return this.debug('dropped a progress notification for no open call');
    }
    const meta = params?._meta as Record<string, unknown> | undefined;
    const subscription = meta?.[META_SUBSCRIPTION_ID];
    if (subscription !== undefined) {
      const call = this.calls.get(Number(subscription));
      if (call) return call.lease.deliver({ ...message, params: { ...params, _meta: { ...meta, [META_SUBSCRIPTION_ID]: call.clientId } } } as JSONRPCMessage);
      return this.debug('dropped a notification for a subscription no client holds');
    }
    if (message.method === 'notifications/cancelled' && params?.requestId !== undefined) {
      const requestId = params.requestId as RequestId;
      const call = typeof requestId === 'number' ? this.calls.get(requestId) : undefined;
      if (call) {
        // The server ends a call (a 2026 listen stream): its client is told under its own id.
        this.forgetCall(requestId as number, call);
        return call.lease.deliver({ ...message, params: { ...params, requestId: call.clientId } } as JSONRPCMessage);
      }
      const lease = this.serverRequests.get(idKey(requestId));
      if (lease) {
        this.serverRequests.delete(idKey(requestId));
        return lease.deliver(message);
      }
      return this.debug('dropped a notifications/cancelled that names nothing open');
    }
    if (message.method === 'notifications/message' && this.era === 'modern') {
      // A 2026 log belongs to a request; over stdio it does not say which: only an unambiguous one gets it.
      const busy = this.busyLeases();
      if (busy.length === 1) return busy[0]!.deliver(message);
      return this.debug('dropped a log message no single client could be named for');
    }
    for (const lease of this.leases) lease.deliver(message);
  }

  private answer(message: JSONRPCMessage): void {
    const upstreamId = (message as { id?: unknown }).id;
    const own = typeof upstreamId === 'number' ? this.own.get(upstreamId) : undefined;
    if (own) {
      this.own.delete(upstreamId as number);
      return own(message);
    }
    const call = typeof upstreamId === 'number' ? this.calls.get(upstreamId) : undefined;
    if (!call) return this.debug(`dropped an answer to ${JSON.stringify(upstreamId)}: no client waits for it (cancelled, or the client went away)`);
    this.forgetCall(upstreamId as number, call);
    this.lastActivity = Date.now();
    if ('error' in message) this.errors++;
    if (call.listKey !== undefined && 'result' in message) this.keepList(call.listKey, message.result);
    this.learnEra(call, message);
    call.lease.deliver(withMessageId(message, call.clientId));
    if (this.calls.size === 0) this.armIdle();
  }

  private keepList(key: string, result: unknown): void {
    this.lists.delete(key);
    this.lists.set(key, result);
    if (this.lists.size > MAX_KEPT_LISTS) this.lists.delete(this.lists.keys().next().value!);
  }

  private forgetCall(upstreamId: number, call: Call): void {
    this.calls.delete(upstreamId);
    call.lease.calls.delete(idKey(call.clientId));
  }

  /**
   * What an answer says about the server's era: an `initialize` result opens a 2025 session; a 2026
   * request answered with a 2026 result (`resultType`) means a 2026 server. That includes the
   * `server/discover` probe: a dual-era stdio server answers it before it commits to an era, and
   * commits to 2025 at an `initialize`, which from then on never reaches it (refused here).
   */
  private learnEra(call: Call, message: JSONRPCMessage): void {
    if (call.method === 'initialize') {
      const waiters = this.opening.state === 'pending' ? this.opening.waiters : [];
      if ('result' in message) {
        this.era = 'legacy';
        this.opening = { state: 'done', result: message.result };
        this.openingRequest = this.pendingOpening;
        this.decide();
        for (const { lease, message: init } of waiters) lease.deliver({ jsonrpc: '2.0', id: (init as { id: RequestId }).id, result: message.result } as JSONRPCMessage);
        return;
      }
      // Refused (a 2026-only server): the next client's initialize is sent as it is, and refused as well.
      this.opening = { state: 'none' };
      for (const { lease, message: init } of waiters) void this.fromClient(lease, init).catch((error: unknown) => lease.onerror?.(error as Error));
      return;
    }
    if (this.era !== 'unknown' || !call.modern || !('result' in message)) return;
    if ((message.result as { resultType?: unknown } | undefined)?.resultType !== undefined) {
      this.era = 'modern';
      this.decide();
      this.debug('the server speaks 2026-07-28: shared by every client of its key');
    }
  }

  private serverRequest(message: JSONRPCMessage & { id: RequestId; method: string }): void {
    if (message.method === 'ping') return void this.toServer({ jsonrpc: '2.0', id: message.id, result: {} } as JSONRPCMessage).catch(() => undefined);
    const tagged = this.taggedCall(message);
    if (tagged) {
      // Asked on the stream of a request of ours (2025 streamable HTTP): exactly that call's client.
      this.serverRequests.set(idKey(message.id), tagged.call.lease);
      return tagged.call.lease.deliver(this.forCall(message, tagged.call));
    }
    const busy = this.busyLeases();
    const lease = busy.length === 1 ? busy[0] : busy.length === 0 ? this.leases.values().next().value : undefined;
    if (!lease) {
      void this.toServer(
        errorResponse(message.id, UNROUTABLE, `mcp-airlock: ${busy.length} clients share this server and each has a call in flight; the ${message.method} request cannot be put to one of them`),
      ).catch(() => undefined);
      return this.debug(`refused server request ${message.method}: ${busy.length} clients have calls in flight`);
    }
    this.serverRequests.set(idKey(message.id), lease);
    lease.deliver(message);
  }

  /** Clients with a call in flight (the session's own initialize aside). */
  private busyLeases(): Lease[] {
    const busy = new Set<Lease>();
    for (const call of this.calls.values()) if (call.method !== 'initialize') busy.add(call.lease);
    return [...busy];
  }

  /** A client let go: its calls are cancelled upstream; the last one out stops the server, or lets it linger if it can be shared. */
  release(lease: Lease): void {
    if (!this.leases.delete(lease)) return;
    for (const [upstreamId, call] of [...this.calls]) {
      // The session's opening stays: its answer opens the session for the clients still waiting on it.
      if (call.lease !== lease || call.method === 'initialize') continue;
      this.calls.delete(upstreamId);
      if (this.ended) continue;
      void this.toServer({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: upstreamId, reason: 'the client detached from mcp-airlock' } } as JSONRPCMessage).catch(() => undefined);
    }
    lease.calls.clear();
    for (const [key, owner] of [...this.serverRequests]) {
      if (owner !== lease) continue;
      this.serverRequests.delete(key);
      void this.toServer(errorResponse(JSON.parse(key) as RequestId, UNROUTABLE, 'mcp-airlock: the client this request was put to detached')).catch(() => undefined);
    }
    if (this.opening.state === 'pending') this.opening.waiters = this.opening.waiters.filter((w) => w.lease !== lease);
    if (this.leases.size > 0) return this.armIdle();
    if (!this.open) return;
    if (this.asleep) return void this.close();
    const shareable = this.era === 'modern' || (this.spec.share && this.era === 'legacy');
    if (!shareable || this.options.lingerMs <= 0) return void this.close();
    this.stopsAt = new Date(Date.now() + this.options.lingerMs);
    this.lingerTimer = setTimeout(() => void this.close(), this.options.lingerMs);
    this.lingerTimer.unref();
    this.debug(`no client left; stops in ${Math.round(this.options.lingerMs / 1000)} s unless one attaches`);
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.registry.forget(this);
    this.decide();
    await this.inner?.close();
  }

  private innerClosed(inner: UpstreamTransport | undefined): void {
    // A server stopped while idle closes as it goes: its clients stay, and the next message starts it again.
    if (inner !== this.inner || this.ended) return;
    this.ended = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.registry.forget(this);
    this.decide();
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    for (const lease of [...this.leases]) lease.upstreamClosed();
    this.leases.clear();
    this.calls.clear();
  }
}
