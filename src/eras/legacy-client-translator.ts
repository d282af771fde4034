/**
 * A 2025-era client (initialize handshake, server-to-client requests, GET stream) in front of a
 * server that speaks only 2026-07-28 (ERA-NOTES 4A). The translator
 *
 * - answers `initialize` itself from `server/discover`, and drops `notifications/initialized`;
 * - puts the 2026 `_meta` envelope (version, the client's capabilities and info, the log level
 *   chosen with `logging/setLevel`) on every request it forwards;
 * - answers `ping`, `logging/setLevel`, `resources/subscribe` and `unsubscribe` itself, and turns
 *   the subscriptions and list-changed capabilities into one `subscriptions/listen` stream;
 * - unrolls an `InputRequiredResult` into real elicitation, sampling and roots requests to the
 *   client, and retries the call with their answers and the server's `requestState`, byte for byte,
 *   under a new id each round (basic/patterns/mrtr.mdx);
 * - strips what a 2025 client does not know from results (`resultType`, `ttlMs`, `cacheScope`).
 */
import { errorResponse, RpcErrorCode, type JSONRPCMessage, type RequestId } from '../bridge/json-rpc.js';
import { withMessageId } from '../bridge/message-text.js';
import { describeError } from '../errors.js';
import { META_CLIENT_CAPABILITIES, META_CLIENT_INFO, META_LOG_LEVEL, META_PROTOCOL_VERSION, META_SERVER_INFO, META_SUBSCRIPTION_ID, isModernVersion, MODERN_PROTOCOL_VERSION } from './mcp-headers.js';
import { IdMint, isNotification, notForwardedError, isRequest, notificationMessage, paramsOf, relatedTo, requestMessage, responseId, resultMessage, type Translator, type TranslatorPorts } from './translator.js';
import { relatedRequestOf } from '../bridge/wire-status.js';

/** The legacy versions a translated handshake may settle on; the newest is used when the client asks for another. */
const LEGACY_VERSIONS = ['2024-11-05', '2025-03-26', '2025-06-18', '2025-11-25'];
/** Rounds of input requests before a call is given up (the SDK's client driver uses 10). */
const MAX_INPUT_ROUNDS = 10;
/** Pause before a round that carries only `requestState` (nothing asked of the user), as the SDK's driver does. */
const STATE_ONLY_PAUSE_MS = 250;
const LISTEN_BACKOFF_MS = [500, 1000, 2000, 5000, 10_000, 30_000];
const inputMethods = new Set(['elicitation/create', 'sampling/createMessage', 'roots/list']);

export interface LegacyClientTranslatorOptions {
  /** Why the handshake is translated: a pinned --protocol, or the server refused `initialize` (kept to report if discover fails too). */
  initializeFailure?: JSONRPCMessage | Error;
}

/** One client call and its rounds of input requests. */
interface Exchange {
  clientId: RequestId;
  method: string;
  /** The params as forwarded on the first leg (envelope included), without inputResponses/requestState. */
  params: Record<string, unknown>;
  leg: RequestId;
  round: number;
  /** Input request keys waiting for the client's answer, by the id airlock gave the request to the client. */
  asked: Map<RequestId, string>;
  responses: Record<string, unknown>;
  requestState: string | undefined;
  timer: NodeJS.Timeout | undefined;
}

export class LegacyClientTranslator implements Translator {
  private readonly ids = new IdMint('legacy');
  private clientCapabilities: Record<string, unknown> = {};
  private clientInfo: unknown;
  private modernVersion = MODERN_PROTOCOL_VERSION;
  private serverCapabilities: Record<string, unknown> = {};
  private logLevel: string | undefined;
  private pendingHandshake: { initializeId: RequestId; requested: string; discoverId: RequestId } | undefined;
  private readonly byLeg = new Map<RequestId, Exchange>();
  private readonly byClientId = new Map<RequestId, Exchange>();
  private readonly asked = new Map<RequestId, Exchange>();
  private readonly subscriptions = new Set<string>();
  private listen: { id: RequestId; failures: number; timer: NodeJS.Timeout | undefined } | undefined;
  private initialized = false;
  private closed = false;

  constructor(
    private readonly ports: TranslatorPorts,
    private readonly options: LegacyClientTranslatorOptions = {},
  ) {}

  async fromClient(message: JSONRPCMessage): Promise<void> {
    if (isRequest(message)) return this.clientRequest(message);
    if (isNotification(message)) return this.clientNotification(message);
    const id = responseId(message);
    const exchange = id === undefined ? undefined : this.asked.get(id);
    if (exchange && id !== undefined) return this.inputAnswered(exchange, id, message);
    this.ports.log.debug(`era translation: dropped a client response to unknown id ${JSON.stringify(id)}`);
  }

  private async clientRequest(message: JSONRPCMessage & { id: RequestId; method: string; params?: Record<string, unknown> }): Promise<void> {
    const params = paramsOf(message) ?? {};
    switch (message.method) {
      case 'initialize':
        return this.startHandshake(message.id, params);
      case 'ping':
        return this.ports.toClient(resultMessage(message.id, {}));
      case 'logging/setLevel':
        this.logLevel = typeof params.level === 'string' ? params.level : undefined;
        return this.ports.toClient(resultMessage(message.id, {}));
      case 'resources/subscribe':
      case 'resources/unsubscribe': {
        const uri = params.uri;
        if (typeof uri === 'string') {
          if (message.method === 'resources/subscribe') this.subscriptions.add(uri);
          else this.subscriptions.delete(uri);
        }
        this.ports.toClient(resultMessage(message.id, {}));
        return this.reopenListen();
      }
      default: {
        const exchange: Exchange = { clientId: message.id, method: message.method, params: this.withEnvelope(params), leg: message.id, round: 0, asked: new Map(), responses: {}, requestState: undefined, timer: undefined };
        this.byClientId.set(message.id, exchange);
        this.byLeg.set(message.id, exchange);
        return this.sendLeg(exchange, exchange.params);
      }
    }
  }

  private async clientNotification(message: JSONRPCMessage & { method: string }): Promise<void> {
    if (message.method === 'notifications/initialized') {
      this.initialized = true;
      return this.reopenListen();
    }
    if (message.method === 'notifications/roots/list_changed') return; // a 2026 server asks for roots each time
    if (message.method === 'notifications/cancelled') {
      const requestId = paramsOf(message)?.requestId as RequestId | undefined;
      const exchange = requestId === undefined ? undefined : this.byClientId.get(requestId);
      if (!exchange) return;
      this.finish(exchange);
      // Over HTTP the outbound transport turns this into closing the leg's stream.
      return this.ports.toServer(notificationMessage('notifications/cancelled', { ...paramsOf(message), requestId: exchange.leg }));
    }
    return this.ports.toServer(message);
  }

  /** `initialize`: learn who the client is, then ask the server who it is. */
  private async startHandshake(id: RequestId, params: Record<string, unknown>): Promise<void> {
    this.clientCapabilities = (params.capabilities as Record<string, unknown> | undefined) ?? {};
    this.clientInfo = params.clientInfo;
    const requested = typeof params.protocolVersion === 'string' ? params.protocolVersion : LEGACY_VERSIONS.at(-1)!;
    const discoverId = this.ids.mint('discover');
    this.pendingHandshake = { initializeId: id, requested, discoverId };
    await this.ports.toServer(requestMessage(discoverId, 'server/discover', { _meta: this.envelope() })).catch((error: unknown) => this.handshakeFailed(error));
  }

  private handshakeDone(result: Record<string, unknown>): void {
    const handshake = this.pendingHandshake!;
    this.pendingHandshake = undefined;
    const supported = Array.isArray(result.supportedVersions) ? result.supportedVersions.filter((v): v is string => typeof v === 'string' && isModernVersion(v)) : [];
    if (supported.length === 0) {
      return this.handshakeFailed(new Error(`server/discover lists no 2026-07-28 or later version (${JSON.stringify(result.supportedVersions)})`));
    }
    this.modernVersion = supported.includes(MODERN_PROTOCOL_VERSION) ? MODERN_PROTOCOL_VERSION : [...supported].sort().at(-1)!;
    this.serverCapabilities = { ...((result.capabilities as Record<string, unknown> | undefined) ?? {}) };
    const capabilities: Record<string, unknown> = { ...this.serverCapabilities };
    // Resource subscriptions are emulated over subscriptions/listen, and pings are answered here.
    if (capabilities.resources && typeof capabilities.resources === 'object') capabilities.resources = { ...(capabilities.resources as object), subscribe: true };
    const meta = (result._meta as Record<string, unknown> | undefined) ?? {};
    const version = LEGACY_VERSIONS.includes(handshake.requested) ? handshake.requested : LEGACY_VERSIONS.at(-1)!;
    const answer: Record<string, unknown> = { protocolVersion: version, capabilities, serverInfo: meta[META_SERVER_INFO] ?? { name: 'unknown', version: '0' } };
    if (typeof result.instructions === 'string') answer.instructions = result.instructions;
    this.ports.log.info(`the server speaks MCP ${this.modernVersion} only; translating for a ${version} client`);
    this.ports.toClient(resultMessage(handshake.initializeId, answer));
  }

  /** Discover failed as well: the client gets the server's own answer to `initialize` when there was one. */
  private handshakeFailed(reason: unknown): void {
    const handshake = this.pendingHandshake;
    if (!handshake) return;
    this.pendingHandshake = undefined;
    const first = this.options.initializeFailure;
    if (first && !(first instanceof Error)) {
      this.ports.toClient(withMessageId(first, handshake.initializeId));
      return;
    }
    const failure = first instanceof Error ? first : reason;
    const { code, hint } = failure as { code?: unknown; hint?: unknown };
    const data = { airlock: typeof code === 'string' && code.startsWith('AIRLOCK_') ? code : 'AIRLOCK_UPSTREAM_HTTP', ...(typeof hint === 'string' ? { hint } : {}) };
    this.ports.toClient(errorResponse(handshake.initializeId, RpcErrorCode.upstreamError, `mcp-airlock could not open the MCP conversation: ${describeError(failure)}`, data));
  }

  /** The 2026-07-28 `_meta` every request carries (basic/index.mdx). */
  private envelope(): Record<string, unknown> {
    const meta: Record<string, unknown> = { [META_PROTOCOL_VERSION]: this.modernVersion, [META_CLIENT_CAPABILITIES]: this.clientCapabilities };
    if (this.clientInfo !== undefined) meta[META_CLIENT_INFO] = this.clientInfo;
    if (this.logLevel !== undefined) meta[META_LOG_LEVEL] = this.logLevel;
    return meta;
  }

  private withEnvelope(params: Record<string, unknown>): Record<string, unknown> {
    const own = (params._meta as Record<string, unknown> | undefined) ?? {};
    return { ...params, _meta: { ...own, ...this.envelope() } };
  }

  private async sendLeg(exchange: Exchange, params: Record<string, unknown>): Promise<void> {
    try {
      await this.ports.toServer(requestMessage(exchange.leg, exchange.method, params));
    } catch (error) {
      if (!this.byLeg.has(exchange.leg)) return;
      this.finish(exchange);
      this.ports.toClient(notForwardedError(exchange.clientId, error));
    }
  }

  fromServer(message: JSONRPCMessage): void {
    const id = responseId(message);
    if (id !== undefined) {
      if (this.pendingHandshake?.discoverId === id) {
        if ('result' in message) return this.handshakeDone(message.result as Record<string, unknown>);
        return this.handshakeFailed(new Error((message as { error?: { message?: string } }).error?.message ?? 'server/discover failed'));
      }
      if (this.listen?.id === id) return this.listenEnded(id);
      const exchange = this.byLeg.get(id);
      if (exchange) return this.legAnswered(exchange, message);
      return this.ports.toClient(message);
    }
    if (isNotification(message)) return this.serverNotification(message);
    this.ports.toClient(this.forClient(message)); // a server request (not expected in 2026): let the client answer it
  }

  /** A server message the wire ties to one of airlock's legs: tied to the client's own request instead. */
  private forClient(message: JSONRPCMessage): JSONRPCMessage {
    const leg = relatedRequestOf(message);
    const exchange = leg === undefined ? undefined : this.byLeg.get(leg);
    return exchange ? relatedTo(message, exchange.clientId) : message;
  }

  private serverNotification(message: JSONRPCMessage & { method: string }): void {
    const params = paramsOf(message);
    const meta = params?._meta as Record<string, unknown> | undefined;
    if (message.method === 'notifications/subscriptions/acknowledged') {
      if (this.listen) this.listen.failures = 0;
      return;
    }
    if (message.method === 'notifications/cancelled' && this.listen !== undefined && params?.requestId === this.listen.id) return this.listenEnded(this.listen.id);
    if (meta !== undefined && META_SUBSCRIPTION_ID in meta) {
      const { [META_SUBSCRIPTION_ID]: _subscription, ...rest } = meta;
      const cleaned = Object.keys(rest).length > 0 ? { ...params, _meta: rest } : withoutKey(params!, '_meta');
      return this.ports.toClient(notificationMessage(message.method, cleaned));
    }
    this.ports.toClient(this.forClient(message));
  }

  private legAnswered(exchange: Exchange, message: JSONRPCMessage): void {
    this.byLeg.delete(exchange.leg);
    if ('error' in message) {
      this.finish(exchange);
      return this.ports.toClient(withMessageId(message, exchange.clientId));
    }
    const result = ((message as { result?: unknown }).result ?? {}) as Record<string, unknown>;
    if (result.resultType === 'input_required') return this.inputRequired(exchange, result);
    this.finish(exchange);
    this.ports.toClient(resultMessage(exchange.clientId, legacyResult(exchange.method, result)));
  }

  /** An InputRequiredResult: ask the client each question it declared it can answer, then retry. */
  private inputRequired(exchange: Exchange, result: Record<string, unknown>): void {
    exchange.round += 1;
    if (exchange.round > MAX_INPUT_ROUNDS) return this.failExchange(exchange, `the server asked for input more than ${MAX_INPUT_ROUNDS} times`);
    exchange.requestState = typeof result.requestState === 'string' ? result.requestState : undefined;
    exchange.responses = {};
    exchange.asked.clear();
    const requests = (result.inputRequests ?? {}) as Record<string, { method?: unknown; params?: unknown }>;
    for (const [key, request] of Object.entries(requests)) {
      const method = typeof request?.method === 'string' ? request.method : '';
      if (!inputMethods.has(method)) return this.failExchange(exchange, `the server asked for ${JSON.stringify(method)}, which is not an input request`);
      const capability = method === 'elicitation/create' ? 'elicitation' : method === 'sampling/createMessage' ? 'sampling' : 'roots';
      if (this.clientCapabilities[capability] === undefined) return this.failExchange(exchange, `the server asked for ${method}, but the client did not declare the ${capability} capability`);
      const id = this.ids.mint('input');
      exchange.asked.set(id, key);
      this.asked.set(id, exchange);
      this.ports.toClient(relatedTo(requestMessage(id, method, request.params), exchange.clientId));
    }
    if (exchange.asked.size === 0) {
      if (exchange.requestState === undefined) return this.failExchange(exchange, 'the server asked for input without saying what (no inputRequests, no requestState)');
      exchange.timer = setTimeout(() => this.retry(exchange), STATE_ONLY_PAUSE_MS);
      exchange.timer.unref?.();
    }
  }

  private inputAnswered(exchange: Exchange, id: RequestId, message: JSONRPCMessage): void {
    const key = exchange.asked.get(id)!;
    exchange.asked.delete(id);
    this.asked.delete(id);
    if ('error' in message) {
      const error = (message as { error: { message?: string } }).error;
      return this.failExchange(exchange, `the client refused the server's ${JSON.stringify(key)} request: ${error.message ?? 'error'}`);
    }
    exchange.responses[key] = (message as { result?: unknown }).result;
    if (exchange.asked.size === 0) this.retry(exchange);
  }

  /** The same call again, under a new id, with this round's answers and the state exactly as given. */
  private retry(exchange: Exchange): void {
    exchange.timer = undefined;
    if (this.closed || !this.byClientId.has(exchange.clientId)) return;
    exchange.leg = this.ids.mint('retry');
    this.byLeg.set(exchange.leg, exchange);
    const params: Record<string, unknown> = { ...exchange.params, inputResponses: exchange.responses };
    if (exchange.requestState !== undefined) params.requestState = exchange.requestState;
    void this.sendLeg(exchange, params);
  }

  private failExchange(exchange: Exchange, reason: string): void {
    this.finish(exchange);
    this.ports.toClient(errorResponse(exchange.clientId, RpcErrorCode.internalError, `mcp-airlock: ${reason}`, { airlock: 'AIRLOCK_ERA_TRANSLATION' }));
  }

  private finish(exchange: Exchange): void {
    if (exchange.timer) clearTimeout(exchange.timer);
    this.byClientId.delete(exchange.clientId);
    this.byLeg.delete(exchange.leg);
    for (const id of exchange.asked.keys()) this.asked.delete(id);
    exchange.asked.clear();
  }

  /** The notifications the client can use, as a listen filter (basic/patterns/subscriptions.mdx). */
  private listenFilter(): Record<string, unknown> | undefined {
    const caps = this.serverCapabilities as Record<string, { listChanged?: boolean; subscribe?: boolean } | undefined>;
    const filter: Record<string, unknown> = {};
    if (caps.tools?.listChanged) filter.toolsListChanged = true;
    if (caps.prompts?.listChanged) filter.promptsListChanged = true;
    if (caps.resources?.listChanged) filter.resourcesListChanged = true;
    if (this.subscriptions.size > 0) filter.resourceSubscriptions = [...this.subscriptions];
    return Object.keys(filter).length > 0 ? filter : undefined;
  }

  /** (Re)open the listen stream with the current filter; the previous one is cancelled. */
  private async reopenListen(): Promise<void> {
    if (!this.initialized || this.closed) return;
    const previous = this.listen;
    this.listen = undefined;
    if (previous) {
      if (previous.timer) clearTimeout(previous.timer);
      else await this.ports.toServer(notificationMessage('notifications/cancelled', { requestId: previous.id, reason: 'subscriptions changed' })).catch(() => undefined);
    }
    this.openListen(previous?.failures ?? 0);
  }

  private openListen(failures: number): void {
    const filter = this.listenFilter();
    if (!filter || this.closed) return;
    const listen = { id: this.ids.mint('listen'), failures, timer: undefined as NodeJS.Timeout | undefined };
    this.listen = listen;
    // Over HTTP a stream that ends without its result rejects the send; over stdio the server ends
    // the stream with a result or a notifications/cancelled (fromServer).
    this.ports.toServer(requestMessage(listen.id, 'subscriptions/listen', { notifications: filter, _meta: this.envelope() })).catch((error: unknown) => {
      this.ports.log.debug(`subscriptions/listen failed: ${describeError(error)}`);
      this.listenEnded(listen.id);
    });
  }

  /** The listen stream ended (the server closed it, or it failed): open it again after a growing pause. */
  private listenEnded(id: RequestId): void {
    const listen = this.listen;
    if (!listen || listen.id !== id || listen.timer || this.closed) return;
    const delay = LISTEN_BACKOFF_MS[Math.min(listen.failures, LISTEN_BACKOFF_MS.length - 1)]!;
    listen.timer = setTimeout(() => {
      if (this.listen !== listen) return;
      this.listen = undefined;
      this.openListen(listen.failures + 1);
    }, delay);
    listen.timer.unref?.();
  }

  close(): void {
    this.closed = true;
    if (this.listen?.timer) clearTimeout(this.listen.timer);
    for (const exchange of this.byClientId.values()) if (exchange.timer) clearTimeout(exchange.timer);
  }
}

/** A 2026 result for a 2025 client: no result type or cache hints; tools/call with object structured content and a content array. */
function legacyResult(method: string, result: Record<string, unknown>): Record<string, unknown> {
  const { resultType: _type, ttlMs: _ttl, cacheScope: _scope, ...rest } = result;
  if (method !== 'tools/call') return rest;
  const out = rest;
  if ('structuredContent' in out && (typeof out.structuredContent !== 'object' || out.structuredContent === null || Array.isArray(out.structuredContent))) {
    out.structuredContent = { result: out.structuredContent };
  }
  if (!Array.isArray(out.content)) out.content = [];
  return out;
}

function withoutKey(record: Record<string, unknown>, key: string): Record<string, unknown> {
  const { [key]: _dropped, ...rest } = record;
  return rest;
}
