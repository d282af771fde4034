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
import { IdMint, isNotification, notForwardedError, isRequest, notificationMessage, paramsOf, requestMessage, responseId, resultMessage, type Translator, type TranslatorPorts } from './translator.js';

const LEGACY_PROTOCOL_VERSION = '2025-11-25';
/** How long a call parked for input waits for the client's retry before it is cancelled. */
const PARKED_CALL_TTL_MS = 10 * 60_000;
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
  params: Record<string, unknown>;
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
  private readonly parked = new Map<string, Call>();
  private readonly listens = new Map<RequestId, Listen>();
  private inputKeys = 0;

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
    if (typeof state === 'string' && this.parked.has(state)) return this.resume(message.id, state, params);
    const forwarded = legacyParams(params);
    const call: Call = { legacyId: message.id, clientId: message.id, method: message.method, params: forwarded, asked: new Map(), queued: [], state: undefined, expiry: undefined };
    this.calls.set(message.id, call);
    this.byClientId.set(message.id, call);
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
      this.ports.log.info(`the server speaks MCP ${version} only; translating for a 2026-07-28 client`);
    })();
    return this.handshake;
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

  /** 2026 sends the log level with each request; a 2025 session keeps one, set with logging/setLevel. */
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
    const call: Call = { legacyId: (request as { id: RequestId }).id, clientId: (request as { id: RequestId }).id, method, params: {}, asked: new Map(), queued: [], state: undefined, expiry: undefined };
    this.ports.log.info('the server answers like a 2025-era server; translating for the 2026-07-28 client');
    this.callAnswered(call, answer);
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
    let target: Call | undefined;
    for (const call of this.calls.values()) if (INPUT_METHODS.has(call.method)) target = call; // the newest
    if (!target) {
      void this.ports.toServer(errorResponse(message.id, RpcErrorCode.methodNotFound, `mcp-airlock: a 2026-07-28 client can answer ${message.method} only during a tools/call, prompts/get or resources/read`)).catch(() => undefined);
      return;
    }
    target.queued.push({ id: message.id, method: message.method, params: paramsOf(message) });
    if (target.clientId !== undefined && target.asked.size === 0) this.askClient(target);
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
    this.parked.set(state, call);
    const clientId = call.clientId!;
    this.byClientId.delete(clientId);
    call.clientId = undefined;
    call.expiry = setTimeout(() => this.expire(call), PARKED_CALL_TTL_MS);
    call.expiry.unref?.();
    this.ports.toClient(resultMessage(clientId, { resultType: 'input_required', inputRequests, requestState: state }));
  }

  /** The client's retry of a parked call: pass its answers to the server, then wait for the call again. */
  private resume(id: RequestId, state: string, params: Record<string, unknown>): void {
    const call = this.parked.get(state)!;
    this.parked.delete(state);
    if (call.expiry) clearTimeout(call.expiry);
    call.state = undefined;
    call.clientId = id;
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

  private forget(call: Call): void {
    this.calls.delete(call.legacyId);
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
    if (wants === undefined) return this.ports.toClient(message); // progress, log messages: they belong to calls
    for (const listen of this.listens.values()) {
      if (!wants(listen)) continue;
      const meta = { ...((params._meta as Record<string, unknown> | undefined) ?? {}), [META_SUBSCRIPTION_ID]: listen.id };
      this.ports.toClient(notificationMessage(message.method, { ...params, _meta: meta }));
    }
  }

  close(): void {
    for (const call of this.calls.values()) if (call.expiry) clearTimeout(call.expiry);
    this.settleHandshake?.(new Error('the connection closed during the handshake'));
  }

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
