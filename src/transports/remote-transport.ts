/**
 * Outbound transport to a remote MCP server: streamable HTTP, legacy HTTP+SSE, or either found
 * automatically. Auto follows the 2025-11-25 transports spec's backwards-compatibility rule: POST
 * the initialize request; if the server answers 400, 404 or 405, it is an old HTTP+SSE server:
 * GET the URL and expect an `endpoint` event. The choice is made on the first message (initialize),
 * which is why `start()` does nothing and the first `send()` connects.
 *
 * A 2026-07-28 message (its `_meta` claims the version, or it is `server/discover`) never falls back:
 * HTTP+SSE is a 2024-11-05 transport, and a modern server's refusals are JSON-RPC errors the client
 * must see (streamable-http.mdx "Backward Compatibility"). Such a message goes straight to streamable
 * HTTP; a dual-era client that then falls back to `initialize` gets the full choice again.
 */
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import { AirlockError, describeError, markLogged } from '../errors.js';
import type { Logger } from '../log.js';
import { isModernMessage, isModernOpening } from '../eras/modern-wire.js';
import { errorResponse, RpcErrorCode, type JSONRPCMessage, type RequestId } from '../bridge/json-rpc.js';
import { OwnRequests, reconnectDelay, SessionMemory } from './session-healer.js';
import type { CredentialWaits } from './credential-waits.js';
import { RequestDeadlines, type ExpiredRequest } from './request-deadline.js';
import type { HttpRequester } from './http-request.js';
import { SseClientTransport } from './sse-client.js';
import { StreamableHttpClientTransport } from './streamable-http-client.js';
import { diagnoseUpstream } from './upstream-diagnosis.js';

/** `auto` = streamable HTTP first, then SSE (mcp-remote's http-first); `sse-first` the reverse. */
export type RemoteTransportMode = 'auto' | 'http' | 'sse' | 'sse-first';
type Kind = 'http' | 'sse';

export interface RemoteTransportOptions {
  url: URL;
  mode: RemoteTransportMode;
  headers: Record<string, string>;
  request: HttpRequester;
  log: Logger;
  /** --max-message: the largest SSE event or JSON body taken from the server. */
  maxMessageBytes?: number;
  /** See OutboundContext.onFirstExchange. */
  onFirstExchange?: (failure?: Error) => void;
  /** --request-timeout in ms (0: none); default 10 min for calls, 60 s for the first exchange (request-deadline.ts). */
  requestTimeoutMs?: number;
  /** Exchanges waiting for a login or step-up: deadlines wait for them (credential-waits.ts). */
  credentialWaits?: CredentialWaits;
}

const fallbackStatuses = new Set([400, 404, 405]);
/** How a streamable-HTTP-only server answers the legacy transport's GET (no session: 400; no GET stream: 405; Accept: 406). */
const streamableRefusals = new Set([400, 405, 406]);
const candidatesFor: Record<RemoteTransportMode, Kind[]> = {
  auto: ['http', 'sse'],
  http: ['http'],
  sse: ['sse'],
  'sse-first': ['sse', 'http'],
};

type Inner = Transport & { setProtocolVersion?: (version: string) => void };

export class RemoteTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  private active: Inner | undefined;
  private connecting: Promise<Inner> | undefined;
  /** The transport the first message is being tried on (its answer arrives before `active` is set). */
  private trying: Inner | undefined;
  private protocolVersion: string | undefined;
  /** `active` was chosen for 2026-07-28 traffic only; an `initialize` may still choose again. */
  private modernOnly = false;
  private closed = false;
  closeReason: string | undefined;
  /** The message of the last connection failure logged (each is logged once). */
  private lastReported: string | undefined;
  /** The client's handshake and subscriptions, to open the session again when the server loses it. */
  private readonly memory = new SessionMemory();
  private readonly own = new OwnRequests();
  private healing: Promise<void> | undefined;
  /** Set while a dropped SSE connection is being opened again: the attempt number. */
  private reconnecting: number | undefined;
  /** Requests sent over the legacy SSE transport and not answered yet (their answers die with the stream). */
  private readonly awaiting = new Set<RequestId>();

  /** The server has answered something: its first exchange is done. */
  private reached = false;
  /** --request-timeout: each request's time to its answer. */
  private readonly deadlines: RequestDeadlines;

  constructor(private readonly options: RemoteTransportOptions) {
    const waits = options.credentialWaits;
    this.deadlines = new RequestDeadlines({ timeoutMs: options.requestTimeoutMs, waitingForUser: waits && (() => waits.active), onExpired: (expired) => this.expire(expired) });
  }

  async start(): Promise<void> {
    // Connecting waits for the first message: see the module comment.
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    this.deadlines.fromClient(message);
    this.deadlines.start(message, !this.reached);
    try {
      await this.sendNow(message, options);
    } catch (error) {
      // A request whose time ran out has had its error already: how its cancelled exchange ended does not matter.
      if ('method' in message && 'id' in message && this.deadlines.settle(message.id as RequestId)) return;
      if (!this.reached) this.options.onFirstExchange?.(error instanceof Error ? error : new Error(String(error)));
      throw error;
    }
  }

  /**
   * A request got no answer in time (--request-timeout): the client gets an error naming the limit,
   * stderr one line, and the server a cancellation: `notifications/cancelled`, which the streamable
   * HTTP transport turns into closing the request's stream where that is the era's way (2026-07-28)
   * and sends before closing it otherwise. initialize must not be cancelled (2025-11-25
   * basic/utilities/cancellation): its connection attempt is closed instead.
   */
  private expire({ id, method, timeoutMs, first }: ExpiredRequest): void {
    const limit = `${timeoutMs / 1000} s`;
    const error = new AirlockError('AIRLOCK_UPSTREAM_TIMEOUT', `${JSON.stringify(method)} got no answer from ${this.safeUrl} within ${limit}`, {
      hint: 'The server took the request but did not answer it. If it is slow on purpose, raise the limit with --request-timeout <seconds> (0: no limit); otherwise check the server.',
    });
    this.options.log.warn(`${error.message} (--request-timeout); cancelled it`);
    this.awaiting.delete(id);
    this.onmessage?.(errorResponse(id, RpcErrorCode.upstreamError, `mcp-airlock: ${error.message} (--request-timeout ${timeoutMs / 1000}); the request was cancelled`, { airlock: error.code, hint: error.hint }));
    if (first && !this.reached) this.options.onFirstExchange?.(markLogged(error));
    if (method === 'initialize') {
      const attempt = this.trying ?? this.active;
      if (attempt && attempt !== this.active) void attempt.close().catch(() => undefined);
      return;
    }
    const reason = `no answer within ${limit} (mcp-airlock --request-timeout)`;
    void this.active?.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason } } as JSONRPCMessage).catch((cancelError: unknown) => {
      this.options.log.debug(`could not cancel request ${JSON.stringify(id)} upstream: ${describeError(cancelError)}`);
    });
  }

  private async sendNow(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    if (this.closed) throw new AirlockError('AIRLOCK_UPSTREAM_CLOSED', this.closeReason ?? 'upstream connection is closed');
    if (this.reconnecting !== undefined) {
      throw new AirlockError('AIRLOCK_UPSTREAM_UNREACHABLE', `the connection to ${this.safeUrl} dropped; airlock is connecting again (attempt ${this.reconnecting + 1})`, {
        hint: 'Try again in a few seconds; airlock logs one line when the connection is back.',
      });
    }
    if (this.healing) await this.healing.catch(() => undefined);
    this.memory.observe(message);
    if (this.modernOnly && 'method' in message && message.method === 'initialize' && !this.connecting) {
      // A dual-era client whose modern probe failed falls back to the handshake: choose again.
      const probe = this.active;
      this.active = undefined;
      this.modernOnly = false;
      await probe?.close().catch(() => undefined);
    }
    if (!this.active && !this.connecting && (isModernMessage(message) || isModernOpening(message))) {
      this.active = this.modernTransport();
      this.modernOnly = true;
    }
    if (!this.active) {
      if (this.connecting) {
        // Messages sent while the first one is connecting wait for it, in order.
        await this.connecting.catch(() => undefined);
        if (!this.active) throw new AirlockError('AIRLOCK_UPSTREAM_CLOSED', `not connected to ${this.safeUrl}: the first request failed`);
      } else {
        // The first message (initialize) is the one the connection attempt is made with.
        this.connecting = this.connect(message);
        try {
          await this.connecting;
          return;
        } finally {
          this.connecting = undefined;
        }
      }
    }
    const active = this.active!;
    const id = 'method' in message && 'id' in message ? (message.id as RequestId) : undefined;
    if (id !== undefined && active instanceof SseClientTransport) this.awaiting.add(id);
    try {
      await active.send(message, options);
    } catch (error) {
      if (id !== undefined) this.awaiting.delete(id);
      const ended = (error as { sessionEnded?: boolean }).sessionEnded === true;
      if (!ended || !this.memory.canReplay || ('method' in message && message.method === 'initialize')) throw diagnoseUpstream(this.options.url, error);
      // The server ended the session (404, or a 400 saying so): open a new one as the client did, then try this once more.
      await this.heal(active, (error as { code?: unknown }).code);
      try {
        await this.active!.send(message, options);
      } catch (retryError) {
        throw diagnoseUpstream(this.options.url, retryError);
      }
    }
  }

  /** Open the session again after the server ended it (one attempt at a time; concurrent failures wait for it). */
  private heal(inner: Inner, status: unknown): Promise<void> {
    this.healing ??= (async () => {
      this.options.log.info(`the upstream session at ${this.safeUrl} ended (HTTP ${typeof status === 'number' ? status : 404}); opening a new one with the client's initialize`);
      (inner as { resetSession?: () => void }).resetSession?.();
      await this.memory.replay(inner, (request) => this.own.request(inner, request), this.options.log);
      this.options.log.info(`new upstream session at ${this.safeUrl} ready`);
    })()
      .catch((error: unknown) => {
        throw diagnoseUpstream(this.options.url, error);
      })
      .finally(() => (this.healing = undefined));
    return this.healing;
  }

  /**
   * A legacy SSE stream dropped: answer the calls it carried with an error, then connect again with
   * growing pauses (capped, jittered) and open the session again; calls fail fast meanwhile, and
   * airlock does not exit for it.
   */
  private async reconnect(): Promise<void> {
    for (const id of this.awaiting) {
      this.deadlines.settle(id);
      this.onmessage?.(errorResponse(id, RpcErrorCode.upstreamError, `mcp-airlock: the connection to ${this.safeUrl} dropped before the answer; airlock is connecting again`, { airlock: 'AIRLOCK_UPSTREAM_CLOSED' }));
    }
    this.awaiting.clear();
    this.active = undefined;
    for (let attempt = 0; !this.closed; attempt++) {
      this.reconnecting = attempt;
      const delay = reconnectDelay(attempt);
      this.options.log.warn(`the connection to ${this.safeUrl} dropped; connecting again in ${(delay / 1000).toFixed(1)} s (attempt ${attempt + 1})`);
      await new Promise((resolve) => setTimeout(resolve, delay).unref?.());
      if (this.closed) return;
      const inner = this.create('sse');
      try {
        await inner.start();
        this.active = inner;
        if (this.protocolVersion) inner.setProtocolVersion?.(this.protocolVersion);
        await this.memory.replay(inner, (request) => this.own.request(inner, request), this.options.log);
        this.reconnecting = undefined;
        this.options.log.info(`connected to ${this.safeUrl} again (HTTP+SSE); the session is open again`);
        return;
      } catch (error) {
        this.active = undefined;
        await inner.close().catch(() => undefined);
        this.options.log.debug(`reconnecting failed: ${describeError(error)}`);
      }
    }
  }

  private async connect(first: JSONRPCMessage): Promise<Inner> {
    const candidates = candidatesFor[this.options.mode];
    let lastError: unknown;
    for (const [index, kind] of candidates.entries()) {
      const inner = this.create(kind);
      this.trying = inner;
      try {
        await inner.start();
        await inner.send(first);
        if (this.deadlines.hasExpired(first)) throw new AirlockError('AIRLOCK_UPSTREAM_TIMEOUT', 'the first exchange timed out');
      } catch (error) {
        lastError = error;
        await inner.close().catch(() => undefined);
        // Its time ran out (--request-timeout): the client has its error, and no other transport is tried.
        if (this.deadlines.hasExpired(first)) throw error;
        const status = (error as { code?: unknown }).code;
        const more = index < candidates.length - 1;
        if (more && typeof status === 'number' && fallbackStatuses.has(status)) {
          this.options.log.info(`${kind === 'http' ? 'streamable HTTP' : 'SSE'} answered HTTP ${status} at ${this.safeUrl}; trying ${candidates[index + 1] === 'sse' ? 'the legacy HTTP+SSE transport' : 'streamable HTTP'}`);
          continue;
        }
        throw this.reportFailure(this.withTransportHint(diagnoseUpstream(this.options.url, error), error));
      }
      this.options.log.debug(`connected to ${this.safeUrl} over ${kind === 'http' ? 'streamable HTTP' : 'HTTP+SSE'}`);
      this.active = inner;
      if (this.protocolVersion) inner.setProtocolVersion?.(this.protocolVersion);
      return inner;
    }
    throw this.reportFailure(diagnoseUpstream(this.options.url, lastError));
  }

  /**
   * `--transport sse` at an endpoint that speaks only streamable HTTP: its GET is refused the way
   * such servers refuse a GET without a session (400, 405, 406), or the stream opens without the
   * `endpoint` event the legacy transport starts with. The hint says to let airlock choose.
   */
  private withTransportHint(error: AirlockError, cause: unknown): AirlockError {
    if (this.options.mode !== 'sse') return error;
    const status = (cause as { code?: unknown }).code;
    const noEndpoint = cause instanceof Error && cause.message.includes('"endpoint" event');
    if (!noEndpoint && !(typeof status === 'number' && streamableRefusals.has(status))) return error;
    return new AirlockError(error.code, error.message, {
      hint: 'This looks like a streamable HTTP endpoint, which --transport sse cannot use: drop --transport (auto finds the transport), or use --transport http.',
      cause,
    });
  }

  /**
   * A connection attempt failed: one error line and one hint line on stderr, the first time this
   * failure is seen (a client that retries, or the era probe after a refused initialize, would
   * repeat it). Marked as logged, so the bridge does not log it again.
   */
  private reportFailure(error: AirlockError): AirlockError {
    if (error.message !== this.lastReported) {
      this.lastReported = error.message;
      this.options.log.error(error.message);
      if (error.hint) this.options.log.hint(error.hint);
    }
    return markLogged(error);
  }

  /** Streamable HTTP for 2026-07-28 traffic; refused when the user pinned the legacy SSE transport. */
  private modernTransport(): Inner {
    if (this.options.mode === 'sse') {
      throw new AirlockError('AIRLOCK_UPSTREAM_HTTP', `the client speaks MCP 2026-07-28, which the legacy HTTP+SSE transport (--transport sse) cannot carry`, {
        hint: 'Use --transport auto or http for this server.',
      });
    }
    this.options.log.debug(`2026-07-28 request: talking streamable HTTP to ${this.safeUrl}`);
    return this.create('http');
  }

  private create(kind: Kind): Inner {
    const { url, headers, log, maxMessageBytes, credentialWaits } = this.options;
    const request = credentialWaits ? credentialWaits.over(this.options.request) : this.options.request;
    const warn = (text: string): void => log.warn(text);
    const inner: Inner = kind === 'http' ? new StreamableHttpClientTransport({ url, headers, request, warn, maxMessageBytes }) : new SseClientTransport({ url, headers, request, warn, maxMessageBytes });
    inner.onmessage = (message) => {
      if (!this.reached) {
        this.reached = true;
        this.options.onFirstExchange?.();
      }
      if (this.own.take(message)) return;
      if (!this.deadlines.fromServer(message)) {
        this.options.log.debug(`dropped the server's late answer to request ${JSON.stringify((message as { id: RequestId }).id)}: its time had run out`);
        return;
      }
      if (!('method' in message)) this.awaiting.delete((message as { id: RequestId }).id);
      this.onmessage?.(message);
    };
    inner.onerror = (error) => this.onerror?.(error);
    inner.onclose = () => {
      if (inner !== this.active || this.closed) return;
      if (inner instanceof SseClientTransport && this.memory.canReplay) {
        void this.reconnect();
        return;
      }
      this.closed = true;
      this.closeReason = `the connection to ${this.safeUrl} was closed`;
      this.onclose?.();
    };
    return inner;
  }

  /** The transport in use (or being tried, while connecting); before that, the mode asked for. */
  get transportName(): string {
    return ((this.active ?? this.trying) as { transportName?: string } | undefined)?.transportName ?? `remote(${this.options.mode})`;
  }

  /** The URL without credentials or query (which may carry keys), for messages. */
  get safeUrl(): string {
    const { url } = this.options;
    return `${url.protocol}//${url.host}${url.pathname}`;
  }

  setProtocolVersion(version: string): void {
    this.protocolVersion = version;
    this.active?.setProtocolVersion?.(version);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.deadlines.clear();
    const active = this.active;
    if (!active) return;
    // Streamable HTTP: end the server's session (DELETE, 2025-11-25 "Session Management"); 405 is fine.
    const terminate = (active as { terminateSession?: () => Promise<void> }).terminateSession;
    if (terminate && (active as { sessionId?: string }).sessionId) {
      await terminate.call(active).catch((error: unknown) => this.options.log.debug(`session DELETE failed: ${describeError(error)}`));
    }
    await active.close();
    this.onclose?.();
  }
}
