/**
 * The era adapter: wraps the outbound transport and, when the client and the server speak
 * different MCP eras, translates between them (DESIGN.md "Protocol eras"; ERA-NOTES 2, 4). Where
 * both ends speak the same era it forwards every message untouched, at the cost of one look at
 * the first exchange.
 *
 * How the server's era is found (`--protocol auto`): the client's own opening goes first, as it
 * is, so a server of the client's era costs nothing extra. A 2025 client's `initialize` that the
 * server refuses makes airlock probe with `server/discover` (a 2026-only server answers it) and,
 * if that works, translate (4A). A 2026 client's first request that the server answers with an
 * error that is not a 2026 one (basic/versioning.mdx: "a recognized modern JSON-RPC error
 * identifies a modern server ... anything else identifies a legacy server") makes airlock open a
 * 2025 session for it and translate (4B). The verdict holds for the connection. `--protocol
 * 2025-11-25` or `2026-07-28` skips the look and translates whenever the client's era differs.
 *
 * A client that opens with `server/discover` is negotiating: it can fall back to `initialize`, and
 * directly it would get the 2025 era from a 2025 server. So a 2025 server's refusal of that probe
 * reaches the client as the 2026 refusal it stands for (-32022, `supported` naming 2025-11-25),
 * the client falls back as it would directly, and its `initialize` is looked at afresh. A client
 * pinned to 2026-07-28 gets the same refusal, with `--protocol 2025-11-25` named in its message:
 * the two send the same probe, and only the user knows which one a config line starts.
 */
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import { errorResponse, RpcErrorCode, type JSONRPCMessage, type RequestId } from '../bridge/json-rpc.js';
import type { Logger } from '../log.js';
import { describeError } from '../errors.js';
import { LegacyClientTranslator } from './legacy-client-translator.js';
import { ModernClientTranslator } from './modern-client-translator.js';
import { errorCodeOf, isModernErrorAnswer, isModernOpening } from './modern-wire.js';
import { ErrorCode, META_PROTOCOL_VERSION, MODERN_PROTOCOL_VERSION } from './mcp-headers.js';
import type { Translator, TranslatorPorts } from './translator.js';
import { httpStatusOf } from '../bridge/wire-status.js';

/** Requests held at most while the server's era is being found; past it a request is refused. */
const MAX_HELD = 64;

export type ProtocolChoice = 'auto' | '2025-11-25' | '2026-07-28';
export const PROTOCOL_CHOICES: ProtocolChoice[] = ['auto', '2025-11-25', '2026-07-28'];

export interface EraAdapterOptions {
  protocol: ProtocolChoice;
  /** The transport itself says the server is 2025-era (HTTP+SSE): probes are refused without asking it. */
  knownLegacy?: boolean;
  log: Logger;
}

/** The version a probing client is told a 2025 server speaks (the one airlock translates to). */
const LEGACY_PROTOCOL_VERSION = '2025-11-25';

type Inner = Transport & { setProtocolVersion?: (version: string) => void; closeReason?: string; transportName?: string };

/** The client's first exchange, watched to learn the server's era. */
interface Opening {
  id: RequestId;
  message: JSONRPCMessage;
  era: 'legacy' | 'modern';
}

export class EraAdapter implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  private translator: Translator | undefined;
  private decided = false;
  private opening: Opening | undefined;
  /** A server/discover airlock sent to settle an ambiguous refusal of a modern opening. */
  private probe: { id: RequestId; opening: Opening; answer: JSONRPCMessage } | undefined;
  /**
   * What the client sent while the server's era was still being found: held, then passed through or
   * translated once the verdict is in. Without this, a 2026 client's second request, sent before
   * the answer to its first, would reach a 2025 server untranslated.
   */
  private readonly held: Array<{ message: JSONRPCMessage; options: TransportSendOptions | undefined; done: (error?: unknown) => void }> = [];

  constructor(
    private readonly inner: Inner,
    private readonly options: EraAdapterOptions,
  ) {}

  get transportName(): string {
    return this.inner.transportName ?? 'unknown';
  }

  get closeReason(): string | undefined {
    return this.inner.closeReason;
  }

  /** Which translation runs, for logs and tests: none, 4A or 4B. */
  get translation(): 'none' | 'legacy-client' | 'modern-client' {
    if (this.translator instanceof LegacyClientTranslator) return 'legacy-client';
    if (this.translator instanceof ModernClientTranslator) return 'modern-client';
    return 'none';
  }

  async start(): Promise<void> {
    this.inner.onmessage = (message) => this.fromServer(message);
    this.inner.onerror = (error) => this.onerror?.(error);
    this.inner.onclose = () => {
      this.translator?.close();
      this.onclose?.();
    };
    await this.inner.start();
  }

  setProtocolVersion(version: string): void {
    // A translated handshake's version is the client's, not the server's: the translator sets the server's.
    if (!this.translator) this.inner.setProtocolVersion?.(version);
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    if (this.translator) return this.translator.fromClient(message);
    if ((this.opening || this.probe) && 'method' in message) {
      if ('id' in message) {
        // Bounded: a client (or the callers of a lane) can send without end while a server never answers.
        if (this.held.length >= MAX_HELD) throw new Error(`${MAX_HELD} requests already wait for the server's first answer (its MCP era is not known yet); try again once it has answered`);
        return new Promise<void>((resolve, reject) => this.held.push({ message, options, done: (error) => (error === undefined ? resolve() : reject(error)) }));
      }
      const opening = this.opening ?? this.probe?.opening;
      if (message.method === 'notifications/cancelled' && opening && (message as { params?: { requestId?: unknown } }).params?.requestId === opening.id) {
        // The client gave up its opening: no verdict will come from it; the next request looks again.
        this.opening = undefined;
        this.probe = undefined;
        this.decided = false;
        const sent = this.inner.send(message, options);
        this.release();
        return sent;
      }
    }
    if (!this.decided && 'method' in message) {
      this.decided = true;
      const legacyOpening = message.method === 'initialize' && 'id' in message;
      const modernOpening = isModernOpening(message);
      const { protocol } = this.options;
      if (legacyOpening && protocol === '2026-07-28') return this.translate('legacy-client', message);
      if (modernOpening && this.options.knownLegacy && protocol === 'auto' && message.method === 'server/discover') {
        return this.declineModernEra({ id: (message as { id: RequestId }).id, message, era: 'modern' }, 'the server is reached over HTTP+SSE, a 2025-era transport');
      }
      if (modernOpening && (protocol === '2025-11-25' || this.options.knownLegacy)) return this.translate('modern-client', message);
      if (protocol === 'auto' && !this.options.knownLegacy && (legacyOpening || modernOpening)) return this.sendOpening({ id: (message as { id: RequestId }).id, message, era: legacyOpening ? 'legacy' : 'modern' });
    }
    return this.inner.send(message, options);
  }

  /** Forward the client's opening as it is; a failure that says "other era" starts translation. */
  private async sendOpening(opening: Opening): Promise<void> {
    this.opening = opening;
    try {
      await this.inner.send(opening.message);
    } catch (error) {
      if (this.opening !== opening) return;
      this.opening = undefined;
      const status = httpStatusOfError(error);
      // Credentials and unreachable servers are not era evidence (SDK #2564): report them as they are.
      if (status === undefined || status === 401 || status === 403 || status <= 0) {
        this.release();
        throw error;
      }
      if (this.isNegotiating(opening)) return this.declineModernEra(opening, `the server refused server/discover: ${describeError(error)}`);
      this.options.log.debug(`the server refused the ${opening.era === 'legacy' ? 'initialize' : '2026-07-28'} request (${describeError(error)}); trying the other era`);
      return this.translate(opening.era === 'legacy' ? 'legacy-client' : 'modern-client', opening.message, error as Error);
    }
  }

  private fromServer(message: JSONRPCMessage): void {
    if (this.translator) return this.translator.fromServer(message);
    const id = 'method' in message ? undefined : (message as { id?: RequestId }).id;
    const probe = this.probe;
    if (probe && id === probe.id) {
      this.probe = undefined;
      // The server answers server/discover: it is modern, and refused the client's request as such.
      if ('result' in message) {
        this.onmessage?.(probe.answer);
        return this.release();
      }
      return this.startTranslation('modern-client', probe.opening.message);
    }
    const opening = this.opening;
    if (opening?.era === 'modern' && 'method' in message && 'id' in message) {
      // A server request during a 2026 client's first call: only a 2025 server sends one (2026 has
      // none; it asks with InputRequiredResult). It is already running that call without any
      // initialize, so the translator takes the call over as it runs and puts the question to it.
      this.opening = undefined;
      const translator = this.createTranslator('modern-client') as ModernClientTranslator;
      translator.adoptRunning(opening.message);
      translator.fromServer(message);
      return this.release();
    }
    if (opening && id === opening.id) {
      this.opening = undefined;
      const verdict = this.verdictOn(opening, message);
      if (verdict === 'probe') return this.sendProbe(opening, message);
      if (verdict === 'legacy-result') {
        // A 2025 server answered a 2026 request before any initialize: without the client's
        // capabilities it may answer differently (a published server lists fewer tools then). A
        // request that changes nothing is asked again on a proper session; a tool call, which must
        // not run twice, keeps that answer, shaped for the client.
        if (readOnly(opening.message)) return this.startTranslation('modern-client', opening.message);
        const translator = this.createTranslator('modern-client') as ModernClientTranslator;
        translator.adopt(opening.message, message);
        return this.release();
      }
      if (verdict === 'other-era') {
        if (this.isNegotiating(opening)) return this.declineModernEra(opening, `the server answered server/discover with ${JSON.stringify((message as { error?: unknown }).error)}`);
        this.options.log.debug(`the server answered the client's ${opening.era} opening with ${JSON.stringify((message as { error?: unknown }).error)}; trying the other era`);
        return this.startTranslation(opening.era === 'legacy' ? 'legacy-client' : 'modern-client', opening.message, message);
      }
      this.onmessage?.(message);
      return this.release();
    }
    this.onmessage?.(message);
  }

  /** A `server/discover` of a client left to find the era itself (not translated by --protocol). */
  private isNegotiating(opening: Opening): boolean {
    return this.options.protocol === 'auto' && opening.era === 'modern' && (opening.message as { method: string }).method === 'server/discover';
  }

  /**
   * Tell a probing 2026 client that the server speaks the 2025 era, as a 2026 server that does not
   * speak the client's version would (-32022 with `supported`): a client that can fall back opens
   * with `initialize` next, which is looked at afresh. The data's `airlock` member marks the answer
   * as airlock's, so no one mistakes it for the server's own list (a lane learning versions).
   */
  private declineModernEra(opening: Opening, why: string): void {
    const meta = (opening.message as { params?: { _meta?: Record<string, unknown> } }).params?._meta;
    const requested = typeof meta?.[META_PROTOCOL_VERSION] === 'string' ? (meta[META_PROTOCOL_VERSION] as string) : MODERN_PROTOCOL_VERSION;
    this.options.log.debug(`${why}; the server speaks the 2025 era, so the client's server/discover is refused with -32022 for it to fall back to initialize (a client pinned to ${requested} needs --protocol ${LEGACY_PROTOCOL_VERSION})`);
    this.decided = false;
    this.onmessage?.(
      errorResponse(
        opening.id,
        ErrorCode.unsupportedProtocolVersion,
        `Unsupported protocol version: ${requested} (the server behind mcp-airlock speaks ${LEGACY_PROTOCOL_VERSION}; a client that can fall back gets that era, as it would directly; for a client that speaks only ${requested}, start mcp-airlock with --protocol ${LEGACY_PROTOCOL_VERSION} and it translates)`,
        { supported: [LEGACY_PROTOCOL_VERSION], requested, airlock: 'era' },
      ),
    );
    this.release();
  }

  /** The era is known: what the client sent meanwhile goes on, in order, the way everything now goes. */
  private release(): void {
    for (const item of this.held.splice(0)) this.send(item.message, item.options).then(() => item.done(), (error: unknown) => item.done(error ?? new Error('not sent')));
  }

  /**
   * What an answer to the client's opening says about the server's era. Any refusal of
   * `initialize` is worth a discover probe (the legacy translator's first step). A modern opening
   * keeps its verdict on success and on a recognized modern error; server/discover refused
   * otherwise means a legacy server; any other refused request is ambiguous (a modern server may
   * refuse it too), so airlock asks server/discover before deciding.
   */
  private verdictOn(opening: Opening, answer: JSONRPCMessage): 'same-era' | 'other-era' | 'probe' | 'legacy-result' {
    const code = errorCodeOf(answer);
    if (code === undefined) {
      // Every 2026-07-28 result carries resultType; a 2025 server that handled the request anyway sends none.
      const result = (answer as { result?: { resultType?: unknown } }).result;
      return opening.era === 'modern' && result !== undefined && result.resultType === undefined ? 'legacy-result' : 'same-era';
    }
    // An error airlock made itself (an answer too large, an upstream that failed) says nothing about the server's era.
    if ((answer as { error?: { data?: { airlock?: unknown } } }).error?.data?.airlock !== undefined) return 'same-era';
    if (opening.era === 'legacy') return 'other-era';
    const status = httpStatusOf(answer);
    if (isModernErrorAnswer(status ?? 400, answer) || code === ErrorCode.missingClientCapability) return 'same-era';
    if (code === RpcErrorCode.methodNotFound && status === 404) return 'same-era';
    return (opening.message as { method: string }).method === 'server/discover' ? 'other-era' : 'probe';
  }

  private sendProbe(opening: Opening, answer: JSONRPCMessage): void {
    const meta = (opening.message as { params?: { _meta?: Record<string, unknown> } }).params?._meta ?? {};
    const { progressToken: _token, ...envelope } = meta;
    const probe = { id: `mcp-airlock-era-probe-${Date.now()}`, opening, answer };
    this.probe = probe;
    this.inner.send({ jsonrpc: '2.0', id: probe.id, method: 'server/discover', params: { _meta: envelope } } as JSONRPCMessage).catch(() => {
      if (this.probe !== probe) return;
      this.probe = undefined;
      this.startTranslation('modern-client', opening.message);
    });
  }

  private startTranslation(kind: 'legacy-client' | 'modern-client', first: JSONRPCMessage, failure?: JSONRPCMessage): void {
    void this.translate(kind, first, failure).catch((error: unknown) => this.onerror?.(error instanceof Error ? error : new Error(describeError(error))));
  }

  private async translate(kind: 'legacy-client' | 'modern-client', first: JSONRPCMessage, failure?: JSONRPCMessage | Error): Promise<void> {
    const sent = this.createTranslator(kind, failure).fromClient(first);
    this.release();
    return sent;
  }

  private createTranslator(kind: 'legacy-client' | 'modern-client', failure?: JSONRPCMessage | Error): Translator {
    const ports: TranslatorPorts = {
      toServer: (message) => this.inner.send(message),
      toClient: (message) => this.onmessage?.(message),
      setProtocolVersion: (version) => this.inner.setProtocolVersion?.(version),
      log: this.options.log,
    };
    this.translator = kind === 'legacy-client' ? new LegacyClientTranslator(ports, { initializeFailure: failure }) : new ModernClientTranslator(ports);
    return this.translator;
  }

  async close(): Promise<void> {
    for (const item of this.held.splice(0)) item.done(new Error('the connection closed before the server\'s era was known'));
    this.translator?.close();
    await this.inner.close();
  }
}

/** The HTTP status an outbound failure carries (on the error or one of its causes), if any. */
function httpStatusOfError(error: unknown): number | undefined {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'number') return code;
  }
  return undefined;
}

/** Requests that change nothing on the server, so asking again is safe. */
function readOnly(message: JSONRPCMessage): boolean {
  const method = (message as { method?: string }).method ?? '';
  return method.endsWith('/list') || ['server/discover', 'resources/read', 'prompts/get', 'completion/complete'].includes(method);
}
