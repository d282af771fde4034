/**
 * A 2026-07-28 client in front of a server that speaks only the session era (ERA-NOTES 4B). The
 * translator
 *
 * - opens one `initialize` handshake upstream (the client's capabilities and info taken from the
 *   first request's `_meta`), and answers `server/discover` from it;
 * - checks the `_meta` envelope of every request (-32602 when a required key is missing, -32022
 *   for a version it cannot serve), strips it, and turns a changed `logLevel` into `logging/setLevel`;
 * - stamps `resultType: "complete"` on results, and answers -32002 (2025 resource not found) as -32602;
 * - turns a server-to-client request made during a tools/call, prompts/get or resources/read into
 *   an `InputRequiredResult` whose `requestState` names the parked call; the client's retry carries
 *   the answers back to the server, and the legacy call's result answers the retry;
 * - emulates `subscriptions/listen`: acknowledges it at once with what the server can deliver,
 *   subscribes the resources upstream, and stamps each change notification with the subscription id.
 */
import { randomBytes } from 'node:crypto';
import { errorResponse, RpcErrorCode, type JSONRPCMessage, type RequestId } from '../bridge/json-rpc.js';
import { describeError } from '../errors.js';
import { ErrorCode, META_CLIENT_CAPABILITIES, META_CLIENT_INFO, META_LOG_LEVEL, META_PROTOCOL_VERSION, META_SERVER_INFO, META_SUBSCRIPTION_ID, MODERN_PROTOCOL_VERSION, isModernVersion } from './mcp-headers.js';
import { envelopeFault } from './modern-wire.js';
import { RepeatedWarning } from '../log.js';
import { relatedRequestOf } from '../bridge/wire-status.js';
import { IdMint, isNotification, notForwardedError, isRequest, notificationMessage, paramsOf, relatedTo, requestMessage, responseId, resultMessage, type Translator, type TranslatorPorts } from './translator.js';

const LEGACY_PROTOCOL_VERSION = '2025-11-25';
/** How long a call parked for input waits for the client's retry before it is cancelled (a person may be answering). */
const PARKED_CALL_TTL_MS = 5 * 60_000;
/** Calls parked for input at once on one connection; past it the one parked longest is cancelled. */
const MAX_PARKED_CALLS = 64;
/** How long the handshake waits for the server to answer its ping (the barrier after `initialized`). */
const BARRIER_TIMEOUT_MS = 2_000;
/** The client capability a server-to-client request needs (2025-11-25 client features). */
const CAPABILITY_OF: Record<string, string> = { 'elicitation/create': 'elicitation', 'sampling/createMessage': 'sampling', 'roots/list': 'roots' };
/** RFC 5424 severities as MCP names them, least severe first (server/utilities/logging.mdx). */
const LOG_LEVELS = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'];
const INPUT_METHODS = new Set(['tools/call', 'prompts/get', 'resources/read']);
/** Results that 2026-07-28 makes cacheable (CacheableResult): they must carry ttlMs and cacheScope. */
const CACHEABLE_METHODS = new Set(['tools/list', 'prompts/list', 'resources/list', 'resources/templates/list', 'resources/read']);
/** 2025-11-25's resource-not-found code; 2026-07-28 uses InvalidParams instead. */
const LEGACY_RESOURCE_NOT_FOUND = -32002;
const reservedMetaKeys = [META_PROTOCOL_VERSION, META_CLIENT_CAPABILITIES, META_CLIENT_INFO, META_LOG_LEVEL];

/** A client call forwarded upstream, possibly waiting for the client's input. */
interface Call {
  legacyId: RequestId;
  /** The id the client waits on now (the retry's id after a round of input). */
  clientId: RequestId | undefined;
  method: string;
  /** The progress token the server knows the call by (the first request's), and the one the client follows now (the retry's). */
  upstreamToken: string | number | undefined;
  clientToken: string | number | undefined;
  /** The log level this request asked for; without one it gets no log messages (logging.mdx). */
  logLevel: string | undefined;
  /** The client capabilities the request declared: the server may ask it only for what they name. */
  capabilities: Record<string, unknown>;
  /** Server requests waiting for the client's answer, by input key. */
  asked: Map<string, RequestId>;
  /** Server requests that came after the round was sent, for the next round. */
  queued: Array<{ id: RequestId; method: string; params: unknown }>;
  state: string | undefined;
  expiry: NodeJS.Timeout | undefined;
}

interface Listen {
  id: RequestId;
  filter: { toolsListChanged?: boolean; promptsListChanged?: boolean; resourcesListChanged?: boolean; resourceSubscriptions?: string[] };
}

export class ModernClientTranslator implements Translator {
  private readonly ids = new IdMint('modern');
  private handshake: Promise<void> | undefined;
  private initializeId: RequestId | undefined;
  private settleHandshake: ((result: Record<string, unknown> | Error) => void) | undefined;
  private server: { capabilities: Record<string, unknown>; serverInfo: unknown; instructions?: string; version: string } | undefined;
  private logLevel: string | undefined;
  private readonly calls = new Map<RequestId, Call>();
  private readonly byClientId = new Map<RequestId, Call>();
  /** Calls by the progress token the server knows them by (their first request's). */
  private readonly byUpstreamToken = new Map<string | number, Call>();
  /** One warning line per 10 s for questions that several calls could own (a server may ask often). */
  private readonly unplaced = new RepeatedWarning((text) => this.ports.log.warn(text));
  private readonly parked = new Map<string, Call>();
  private readonly listens = new Map<RequestId, Listen>();
  private inputKeys = 0;
  private barrierDone: { id: RequestId; resolve: () => void } | undefined;

  constructor(private readonly ports: TranslatorPorts) {}

  async fromClient(message: JSONRPCMessage): Promise<void> {
    if (isRequest(message)) return this.clientRequest(message);
    if (isNotification(message)) return this.clientNotification(message);
    this.ports.log.debug('era translation: dropped a response from a 2026-07-28 client (it sends none)');
  }

  private async clientRequest(message: JSONRPCMessage & { id: RequestId; method: string }): Promise<void> {
    const params = paramsOf(message) ?? {};
    const meta = (params._meta as Record<string, unknown> | undefined) ?? {};
    const fault = envelopeFault(meta);
    if (fault !== undefined) return this.ports.toClient(errorResponse(message.id, RpcErrorCode.invalidParams, fault));
    const version = meta[META_PROTOCOL_VERSION] as string;
    if (!isModernVersion(version)) {
      return this.ports.toClient(errorResponse(message.id, ErrorCode.unsupportedProtocolVersion, `Unsupported protocol version: ${version}`, { supported: [MODERN_PROTOCOL_VERSION], requested: version }));
    }
    if (message.method === 'initialize' || message.method === 'ping') {
      return this.ports.toClient(errorResponse(message.id, RpcErrorCode.methodNotFound, `Method not found: ${message.method} (removed in 2026-07-28)`));
    }
    try {
      await this.open(meta);
    } catch (error) {
      return this.ports.toClient(errorResponse(message.id, RpcErrorCode.upstreamError, `mcp-airlock could not open a session with the 2025-era server: ${describeError(error)}`, { airlock: 'AIRLOCK_ERA_TRANSLATION' }));
    }
    if (message.method === 'server/discover') return this.ports.toClient(resultMessage(message.id, this.discoverResult()));
    if (message.method === 'subscriptions/listen') return this.startListen(message.id, params);
    await this.applyLogLevel(meta[META_LOG_LEVEL]);
    const state = params.requestState;
    if (typeof state === 'string') {
      if (this.parked.has(state)) return this.resume(message.id, state, params, meta);
      // Only airlock hands out requestState here (the server is of the 2025 era): one it does not hold has expired or was never given.
      return this.ports.toClient(
        errorResponse(message.id, RpcErrorCode.invalidParams, 'mcp-airlock: this requestState is unknown or has expired (a call waits for its input at most 5 minutes); send the request again without it'),
      );
    }
    const forwarded = legacyParams(params);
    const call = this.track(newCall(message.id, message.method, meta));
    try {
      await this.ports.toServer(requestMessage(message.id, message.method, forwarded));
    } catch (error) {
      if (!this.calls.has(message.id)) return;
      this.forget(call);
      this.ports.toClient(notForwardedError(message.id, error));
    }
  }

  private async clientNotification(message: JSONRPCMessage & { method: string }): Promise<void> {
    if (message.method === 'notifications/cancelled') {
      const requestId = paramsOf(message)?.requestId as RequestId | undefined;
      if (requestId !== undefined && this.listens.has(requestId)) return this.endListen(requestId);
      const call = requestId === undefined ? undefined : this.byClientId.get(requestId);
      if (!call) return;
      this.forget(call);
      return this.ports.toServer(notificationMessage('notifications/cancelled', { ...paramsOf(message), requestId: call.legacyId }));
    }
    if (!this.server) return; // nothing to tell a session that does not exist yet
    return this.ports.toServer(message);
  }

  /** One `initialize` per connection, as the client that the first request's `_meta` describes. */
  private open(meta: Record<string, unknown>): Promise<void> {
    this.handshake ??= (async () => {
      const id = this.ids.mint('initialize');
      this.initializeId = id;
      const answered = new Promise<Record<string, unknown> | Error>((resolve) => (this.settleHandshake = resolve));
      await this.ports.toServer(
        requestMessage(id, 'initialize', {
          protocolVersion: LEGACY_PROTOCOL_VERSION,
          capabilities: meta[META_CLIENT_CAPABILITIES] ?? {},
          clientInfo: meta[META_CLIENT_INFO] ?? { name: 'mcp-airlock', version: '0' },
        }),
      );
      const result = await answered;
      if (result instanceof Error) throw result;
      const version = typeof result.protocolVersion === 'string' ? result.protocolVersion : LEGACY_PROTOCOL_VERSION;
      this.server = {
        capabilities: (result.capabilities as Record<string, unknown> | undefined) ?? {},
        serverInfo: result.serverInfo,
        version,
        ...(typeof result.instructions === 'string' ? { instructions: result.instructions } : {}),
      };
      this.ports.setProtocolVersion(version);
      await this.ports.toServer(notificationMessage('notifications/initialized'));
      await this.barrier();
      this.ports.log.info(`the server speaks MCP ${version} only; translating for a 2026-07-28 client`);
    })();
    return this.handshake;
  }

  /**
   * A ping after `initialized`, answered before any call goes up: a server that asks something
   * as soon as it is initialized (server-everything's roots/list) asks it before this answer, while
   * no call is in flight, so it is answered here instead of being taken for a call's question.
   * Bounded: a server that never answers pings only costs the wait.
   */
  private async barrier(): Promise<void> {
    const id = this.ids.mint('barrier');
    let timer: NodeJS.Timeout | undefined;
    const answered = new Promise<void>((resolve) => {
      this.barrierDone = { id, resolve };
      timer = setTimeout(resolve, BARRIER_TIMEOUT_MS);
      timer.unref?.();
    });
    await this.ports.toServer(requestMessage(id, 'ping', {})).catch(() => this.barrierDone?.resolve());
    await answered;
    clearTimeout(timer);
    this.barrierDone = undefined;
  }

  /** server/discover, answered from the handshake (server/discover.mdx). */
  private discoverResult(): Record<string, unknown> {
    const server = this.server!;
    const { tasks: _tasks, ...capabilities } = server.capabilities;
    const result: Record<string, unknown> = {
      resultType: 'complete',
      supportedVersions: [MODERN_PROTOCOL_VERSION],
      capabilities,
      ttlMs: 0,
      cacheScope: 'private',
      _meta: { [META_SERVER_INFO]: server.serverInfo },
    };
    if (server.instructions !== undefined) result.instructions = server.instructions;
    return result;
  }

  /**
   * 2026 sends the log level with each request; a 2025 session keeps one, set with logging/setLevel
   * to the last level asked for. Each call then gets only the messages at or above its own level
   * (serverNotification), and a request without one changes nothing.
   */
  private async applyLogLevel(level: unknown): Promise<void> {
    if (typeof level !== 'string' || level === this.logLevel || this.server?.capabilities.logging === undefined) return;
    this.logLevel = level;
    await this.ports.toServer(requestMessage(this.ids.mint('loglevel'), 'logging/setLevel', { level })).catch(() => undefined);
  }

  /**
   * Take over after a 2025 server answered the client's first (2026) request as if it were its own:
   * that answer goes to the client shaped as a 2026 result; the session is opened with the next request.
   */
  adopt(request: JSONRPCMessage, answer: JSONRPCMessage): void {
    const method = (request as { method: string }).method;
    const call = newCall((request as { id: RequestId }).id, method, {});
    this.ports.log.info('the server answers like a 2025-era server; translating for the 2026-07-28 client');
    this.callAnswered(call, answer);
  }

  /**
   * Take over a 2026 request that a 2025 server is running already (it asked the client something
   * before any initialize): the call is tracked as if forwarded here, so its question, progress
   * and answer are translated; the session is opened with the client's next request.
   */
  adoptRunning(request: JSONRPCMessage): void {
    const { id, method } = request as { id: RequestId; method: string };
    const meta = (paramsOf(request)?._meta as Record<string, unknown> | undefined) ?? {};
    this.track(newCall(id, method, meta));
    this.ports.log.info('the server asks like a 2025-era server; translating for the 2026-07-28 client');
  }

  fromServer(message: JSONRPCMessage): void {
    const id = responseId(message);
    if (id !== undefined) {
      if (id === this.initializeId && this.settleHandshake) {
        const settle = this.settleHandshake;
        this.settleHandshake = undefined;
        return settle('result' in message ? (message.result as Record<string, unknown>) : new Error((message as { error?: { message?: string } }).error?.message ?? 'initialize failed'));
      }
      const call = this.calls.get(id);
      if (call) return this.callAnswered(call, message);
      if (this.barrierDone?.id === id) return this.barrierDone.resolve();
      if (typeof id === 'string' && id.startsWith('mcp-airlock-modern-')) return; // our own logging/setLevel
      return this.ports.toClient(message);
    }
    if (isRequest(message)) return this.serverRequest(message);
    if (isNotification(message)) return this.serverNotification(message);
  }

  private callAnswered(call: Call, message: JSONRPCMessage): void {
    const clientId = call.clientId;
    this.forget(call);
    if (clientId === undefined) return; // the client cancelled, or has not retried yet and never will
    if ('error' in message) {
      const error = (message as { error: { code: number; message: string; data?: unknown } }).error;
      const code = error.code === LEGACY_RESOURCE_NOT_FOUND ? RpcErrorCode.invalidParams : error.code;
      return this.ports.toClient({ jsonrpc: '2.0', id: clientId, error: { ...error, code } } as JSONRPCMessage);
    }
    const result = ((message as { result?: Record<string, unknown> }).result ?? {}) as Record<string, unknown>;
    // A 2025 server gives no cache hints: "immediately stale", and never shared across callers.
    const hints = CACHEABLE_METHODS.has(call.method) ? { ttlMs: 0, cacheScope: 'private' } : {};
    this.ports.toClient(resultMessage(clientId, { ...result, ...hints, resultType: 'complete' }));
  }

  /**
   * A server-to-client request: inside a call that may ask for input, it becomes an input request
   * of that call (basic/patterns/mrtr.mdx); anything else is answered here.
   */
  private serverRequest(message: JSONRPCMessage & { id: RequestId; method: string }): void {
    if (message.method === 'ping') return void this.ports.toServer(resultMessage(message.id, {})).catch(() => undefined);
    const target = this.askingCall(message);
    if (typeof target === 'string') {
      this.ports.log.debug(`era translation: answered the server's ${JSON.stringify(message.method)} with an error: ${target}`);
      void this.ports.toServer(errorResponse(message.id, RpcErrorCode.methodNotFound, `mcp-airlock: ${target}`)).catch(() => undefined);
      return;
    }
    target.queued.push({ id: message.id, method: message.method, params: paramsOf(message) });
    if (target.clientId !== undefined && target.asked.size === 0) this.askClient(target);
  }

  /**
   * The call a server-to-client request was made for, or why none can be named. Exact when the
   * wire says (an HTTP server sends it on that call's POST stream). stdio says nothing: then it is
   * the one call in flight that may be asked this (a tools/call, prompts/get or resources/read
   * whose request declared the capability), and when several may, nobody can tell whose question
   * it is: it is refused rather than put to a client that did not ask (another caller's PIN prompt).
   */
  private askingCall(message: JSONRPCMessage & { method: string }): Call | string {
    const tagged = relatedRequestOf(message);
    const capability = CAPABILITY_OF[message.method];
    const allowed = (call: Call): boolean => INPUT_METHODS.has(call.method) && (capability === undefined || call.capabilities[capability] !== undefined);
    if (tagged !== undefined) {
      const call = this.calls.get(tagged);
      if (call && allowed(call)) return call;
      return call ? `the request it was sent for did not declare the ${capability ?? 'needed'} capability` : 'the request it was sent for is no longer in flight';
    }
    const candidates = [...this.calls.values()].filter(allowed);
    if (candidates.length === 1) return candidates[0]!;
    if (candidates.length === 0) return `a 2026-07-28 client can answer ${message.method} only during a tools/call, prompts/get or resources/read whose request declared the ${capability ?? 'needed'} capability`;
    this.unplaced.report(
      `the server asked ${JSON.stringify(message.method)} while ${candidates.length} calls that could answer it are in flight, and its transport does not say for which: refused rather than put to the wrong caller`,
    );
    return `${candidates.length} calls are in flight and the server's transport does not say which one this ${message.method} is for`;
  }

  /** Answer the client's current id with an InputRequiredResult for the queued server requests; park the call. */
  private askClient(call: Call): void {
    const inputRequests: Record<string, unknown> = {};
    for (const request of call.queued.splice(0)) {
      const key = `input-${++this.inputKeys}`;
      call.asked.set(key, request.id);
      inputRequests[key] = request.params === undefined ? { method: request.method } : { method: request.method, params: withoutElicitationId(request.method, request.params) };
    }
    const state = randomBytes(18).toString('base64url');
    call.state = state;
    if (this.parked.size >= MAX_PARKED_CALLS) {
      const oldest = this.parked.values().next().value as Call;
      this.ports.log.warn(`more than ${MAX_PARKED_CALLS} calls are waiting for their client's input: the one waiting longest is cancelled`);
      this.expire(oldest);
    }
    this.parked.set(state, call);
    const clientId = call.clientId!;
    this.byClientId.delete(clientId);
    call.clientId = undefined;
    call.expiry = setTimeout(() => this.expire(call), PARKED_CALL_TTL_MS);
    call.expiry.unref?.();
    this.ports.toClient(resultMessage(clientId, { resultType: 'input_required', inputRequests, requestState: state }));
  }

  /** The client's retry of a parked call: pass its answers to the server, then wait for the call again. */
  private resume(id: RequestId, state: string, params: Record<string, unknown>, meta: Record<string, unknown>): void {
    const call = this.parked.get(state)!;
    this.parked.delete(state);
    if (call.expiry) clearTimeout(call.expiry);
    call.state = undefined;
    call.clientId = id;
    // The retry is a new request: its progress token and log level are the ones the client follows now.
    call.clientToken = progressTokenOf(meta);
    call.logLevel = typeof meta[META_LOG_LEVEL] === 'string' ? (meta[META_LOG_LEVEL] as string) : undefined;
    call.capabilities = capabilitiesOf(meta);
    this.byClientId.set(id, call);
    const responses = (params.inputResponses ?? {}) as Record<string, unknown>;
    for (const [key, serverId] of call.asked) {
      const answer = responses[key];
      const reply = answer === undefined ? errorResponse(serverId, RpcErrorCode.invalidRequest, 'the client gave no answer to this request') : resultMessage(serverId, answer);
      void this.ports.toServer(reply).catch(() => undefined);
    }
    call.asked.clear();
    if (call.queued.length > 0) this.askClient(call);
  }

  /** A parked call whose client never retried: cancel it upstream. */
  private expire(call: Call): void {
    if (call.state) this.parked.delete(call.state);
    for (const serverId of call.asked.values()) void this.ports.toServer(errorResponse(serverId, RpcErrorCode.internalError, 'the client did not answer in time')).catch(() => undefined);
    this.forget(call);
    void this.ports.toServer(notificationMessage('notifications/cancelled', { requestId: call.legacyId, reason: 'the client did not retry the call' })).catch(() => undefined);
  }

  /** Start keeping a call forwarded upstream, by each of the ids and tokens it is known by. */
  private track(call: Call): Call {
    this.calls.set(call.legacyId, call);
    this.byClientId.set(call.legacyId, call);
    if (call.upstreamToken !== undefined) this.byUpstreamToken.set(call.upstreamToken, call);
    return call;
  }

  private forget(call: Call): void {
    this.calls.delete(call.legacyId);
    if (call.upstreamToken !== undefined && this.byUpstreamToken.get(call.upstreamToken) === call) this.byUpstreamToken.delete(call.upstreamToken);
    if (call.clientId !== undefined) this.byClientId.delete(call.clientId);
    if (call.state) this.parked.delete(call.state);
    if (call.expiry) clearTimeout(call.expiry);
  }

  private async startListen(id: RequestId, params: Record<string, unknown>): Promise<void> {
    const asked = (params.notifications ?? {}) as Listen['filter'];
    const caps = this.server!.capabilities as Record<string, { listChanged?: boolean; subscribe?: boolean } | undefined>;
    const filter: Listen['filter'] = {};
    if (asked.toolsListChanged && caps.tools?.listChanged) filter.toolsListChanged = true;
    if (asked.promptsListChanged && caps.prompts?.listChanged) filter.promptsListChanged = true;
    if (asked.resourcesListChanged && caps.resources?.listChanged) filter.resourcesListChanged = true;
    if (Array.isArray(asked.resourceSubscriptions) && caps.resources?.subscribe) filter.resourceSubscriptions = asked.resourceSubscriptions.filter((uri): uri is string => typeof uri === 'string');
    this.listens.set(id, { id, filter });
    this.ports.toClient(notificationMessage('notifications/subscriptions/acknowledged', { _meta: { [META_SUBSCRIPTION_ID]: id }, notifications: filter }));
    for (const uri of filter.resourceSubscriptions ?? []) {
      await this.ports.toServer(requestMessage(this.ids.mint('subscribe'), 'resources/subscribe', { uri })).catch(() => undefined);
    }
  }

  private async endListen(id: RequestId): Promise<void> {
    const listen = this.listens.get(id);
    if (!listen) return;
    this.listens.delete(id);
    const still = new Set([...this.listens.values()].flatMap((other) => other.filter.resourceSubscriptions ?? []));
    for (const uri of listen.filter.resourceSubscriptions ?? []) {
      if (!still.has(uri)) await this.ports.toServer(requestMessage(this.ids.mint('unsubscribe'), 'resources/unsubscribe', { uri })).catch(() => undefined);
    }
  }

  private serverNotification(message: JSONRPCMessage & { method: string }): void {
    const params = paramsOf(message) ?? {};
    let wants: ((listen: Listen) => boolean) | undefined;
    if (message.method === 'notifications/tools/list_changed') wants = (l) => l.filter.toolsListChanged === true;
    else if (message.method === 'notifications/prompts/list_changed') wants = (l) => l.filter.promptsListChanged === true;
    else if (message.method === 'notifications/resources/list_changed') wants = (l) => l.filter.resourcesListChanged === true;
    else if (message.method === 'notifications/resources/updated') wants = (l) => (l.filter.resourceSubscriptions ?? []).includes(params.uri as string);
    if (wants === undefined) return this.callNotification(message, params);
    for (const listen of this.listens.values()) {
      if (!wants(listen)) continue;
      const meta = { ...((params._meta as Record<string, unknown> | undefined) ?? {}), [META_SUBSCRIPTION_ID]: listen.id };
      this.ports.toClient(notificationMessage(message.method, { ...params, _meta: meta }));
    }
  }

  /**
   * Progress and log messages belong to calls. Progress names its call by token: the server keeps
   * the first request's, the client follows the retry's, so it is renamed (and dropped while the
   * call waits for input: the client has closed that request). A log message goes to the call the
   * wire names, or the only call in flight that asked for logs, at or above that call's level;
   * otherwise nobody asked for it, and it is dropped.
   */
  private callNotification(message: JSONRPCMessage & { method: string }, params: Record<string, unknown>): void {
    if (message.method === 'notifications/progress') {
      const token = params.progressToken as string | number | undefined;
      const owner = token === undefined ? undefined : this.byUpstreamToken.get(token);
      if (!owner) return this.ports.toClient(message);
      if (owner.clientId === undefined || owner.clientToken === undefined) return;
      if (owner.clientToken === token) return this.ports.toClient(relatedTo(message, owner.clientId));
      return this.ports.toClient(relatedTo(notificationMessage(message.method, { ...params, progressToken: owner.clientToken }), owner.clientId));
    }
    if (message.method === 'notifications/message') {
      const tagged = relatedRequestOf(message);
      let target: Call | undefined;
      if (tagged !== undefined) target = this.calls.get(tagged);
      else {
        for (const call of this.calls.values()) {
          if (call.logLevel === undefined || call.clientId === undefined) continue;
          if (target) return this.ports.log.debug('era translation: dropped a log message that several calls could own');
          target = call;
        }
      }
      if (!target || target.clientId === undefined || !atOrAbove(params.level, target.logLevel)) return;
      return this.ports.toClient(relatedTo(message, target.clientId));
    }
    const tagged = relatedRequestOf(message);
    const call = tagged === undefined ? undefined : this.calls.get(tagged);
    this.ports.toClient(call?.clientId === undefined ? message : relatedTo(message, call.clientId));
  }

  close(): void {
    this.barrierDone?.resolve();
    for (const call of this.calls.values()) if (call.expiry) clearTimeout(call.expiry);
    this.settleHandshake?.(new Error('the connection closed during the handshake'));
  }

}

function newCall(id: RequestId, method: string, meta: Record<string, unknown>): Call {
  const token = progressTokenOf(meta);
  const logLevel = typeof meta[META_LOG_LEVEL] === 'string' ? (meta[META_LOG_LEVEL] as string) : undefined;
  return { legacyId: id, clientId: id, method, upstreamToken: token, clientToken: token, logLevel, capabilities: capabilitiesOf(meta), asked: new Map(), queued: [], state: undefined, expiry: undefined };
}

function progressTokenOf(meta: Record<string, unknown>): string | number | undefined {
  const token = meta.progressToken;
  return typeof token === 'string' || typeof token === 'number' ? token : undefined;
}

function capabilitiesOf(meta: Record<string, unknown>): Record<string, unknown> {
  const capabilities = meta[META_CLIENT_CAPABILITIES];
  return typeof capabilities === 'object' && capabilities !== null ? (capabilities as Record<string, unknown>) : {};
}

/** Whether a log message's level is at or above the level a request asked for (unknown levels pass). */
function atOrAbove(level: unknown, wanted: string | undefined): boolean {
  if (wanted === undefined) return false;
  const have = LOG_LEVELS.indexOf(String(level));
  const want = LOG_LEVELS.indexOf(wanted);
  return have === -1 || want === -1 || have >= want;
}

/** The request's params for a 2025 server: the 2026 envelope keys removed from `_meta` (and `_meta` itself when nothing else is left). */
function legacyParams(params: Record<string, unknown>): Record<string, unknown> {
  const meta = params._meta as Record<string, unknown> | undefined;
  if (!meta) return params;
  const kept = Object.fromEntries(Object.entries(meta).filter(([key]) => !reservedMetaKeys.includes(key)));
  const { _meta: _dropped, ...rest } = params;
  return Object.keys(kept).length > 0 ? { ...rest, _meta: kept } : rest;
}

/** A 2025-11-25 URL elicitation carries an elicitationId that 2026 input requests do not. */
function withoutElicitationId(method: string, params: unknown): unknown {
  if (method !== 'elicitation/create' || typeof params !== 'object' || params === null) return params;
  const { elicitationId: _id, ...rest } = params as Record<string, unknown>;
  return rest;
}
