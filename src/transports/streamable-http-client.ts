/**
 * Outbound streamable HTTP, written for a proxy: messages are parsed once and forwarded as they are
 * (no schema re-validation, so new methods and fields pass), `send()` settles when the server has
 * answered that POST completely (so the bridge can fail exactly the request whose exchange broke),
 * and it loads in a few milliseconds. It speaks both wire eras, message by message, taking what it
 * puts on the wire from the message itself:
 *
 * - 2025-03-26 .. 2025-11-25 (basic/transports "Streamable HTTP"): `Mcp-Session-Id` from the
 *   initialize answer on every later request, `MCP-Protocol-Version` once negotiated, DELETE on
 *   close, a GET stream opened as soon as initialize is answered (later messages wait for it,
 *   bounded), and resumption of a broken stream with
 *   GET and `Last-Event-ID` (waiting the server's `retry`, SEP-1699 polling, or a backoff).
 * - 2026-07-28 (a message whose `_meta` claims it): no session, no GET stream, no resumption;
 *   `MCP-Protocol-Version` from the `_meta`, `Mcp-Method`, `Mcp-Name` and `Mcp-Param-*` from the
 *   body and the tool schemas seen in tools/list (tools whose `x-mcp-header` annotations are
 *   invalid are dropped from the list, as an HTTP client must); a stdio client's
 *   `notifications/cancelled` closes the request's stream instead of being posted; a -32020 on a
 *   tools/call re-reads tools/list and retries once.
 *
 * Both eras: `Mcp-Method`/`Mcp-Name`/`Mcp-Param-*` go on every POST (a 2025 server ignores them;
 * some require the parameter headers anyway), and a 4xx whose body is a JSON-RPC error answers
 * its request with that error, HTTP status attached (wire-status.ts), instead of failing it.
 */
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import { classify, parseFrame, type Classified, type JSONRPCMessage, type RequestId } from '../bridge/json-rpc.js';
import { messageText, rememberText } from '../bridge/message-text.js';
import { forwardedHeadersOf, rememberHttpStatus, rememberRelatedRequest } from '../bridge/wire-status.js';
import { isModernErrorAnswer, isModernMessage, errorCodeOf } from '../eras/modern-wire.js';
import { ErrorCode, modernRequestHeaders, ToolHeaderIndex, withoutTools } from '../eras/mcp-headers.js';
import { HttpStatusError } from '../errors.js';
import { readErrorBody, readTextWithin, type HttpRequester, type HttpResponse } from './http-request.js';
import { answerTooLarge, oversizeOnCallStream, oversizeVerdict } from './oversize.js';
import { RepeatedWarning } from '../log.js';
import type { SseReadOptions } from './sse-reader.js';
import { AbortScope, type Exchange } from './abort-scope.js';
import { answerHeaders, httpAnswerError, isHtml } from './upstream-diagnosis.js';
import { readSseEvents } from './sse-reader.js';

export interface StreamableHttpClientOptions {
  url: URL;
  headers: Record<string, string>;
  request: HttpRequester;
  /** Attempts to resume a broken stream before giving up on it. */
  maxResumeAttempts?: number;
  /** One line for the user's log (a tool dropped for an invalid x-mcp-header annotation). */
  warn?: (text: string) => void;
  /** The largest message taken from the server (an SSE event or a JSON body); larger ones are dropped (--max-message). */
  maxMessageBytes?: number;
}

/**
 * The default of --max-message: a message (a stdio line, an SSE event, a JSON body) larger than
 * this is dropped with an error naming the limit instead of being held. Generous for tool results
 * with images, small enough that a hostile upstream cannot take the machine's memory.
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 32 * 1024 * 1024;

/** A server's `retry:` is kept within these bounds: 0 would reconnect in a tight loop, a huge one overflows timers. */
function clampRetry(ms: number): number {
  return Math.min(Math.max(ms, 250), 60_000);
}

const ACCEPT_BOTH = 'application/json, text/event-stream';
/** How long the messages after the initialize answer wait for the server to answer the GET stream. */
const SERVER_STREAM_WAIT_MS = 2000;
/** tools/list pages read when re-learning tool schemas after a -32020. */
const MAX_TOOL_PAGES = 20;

/** A request whose POST is running. */
interface InFlight {
  method: string;
  modern: boolean;
  exchange: Exchange;
  /** The client cancelled it: its POST was aborted on purpose. */
  cancelled: boolean;
}

type PostOutcome = 'done' | 'refresh-tools';

export class StreamableHttpClientTransport implements Transport {
  readonly transportName = 'streamable-http';

  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  sessionId: string | undefined;
  private protocolVersion: string | undefined;
  private readonly exchanges = new AbortScope();
  private readonly running = new Map<RequestId, InFlight>();
  private readonly toolHeaders = new ToolHeaderIndex();
  private retryMs: number | undefined;
  /** The server has answered a POST with 2xx: later JSON-RPC errors in 4xx bodies are its answers. */
  private established = false;
  private closed = false;
  private internalIds = 0;
  private readonly maxMessage: number;
  private readonly junk: RepeatedWarning;
  /** Set from the initialize answer until the GET stream is answered: session messages wait for it. */
  private streamGate: Promise<unknown> | undefined;
  private serverStreamStarted = false;
  /** Which session's GET stream loop may run: a reset session's loop stops. */
  private streamEpoch = 0;
  private serverStream: Exchange | undefined;

  constructor(private readonly options: StreamableHttpClientOptions) {
    this.maxMessage = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.junk = new RepeatedWarning((text) => (options.warn ? options.warn(text) : this.onerror?.(new Error(text))));
  }

  /** How every SSE stream of this transport is read: retry clamped, events capped, oversize ones answered for (on a request's own stream, they end the call). */
  private sseOptions(onAnswered?: () => void, requestId?: RequestId): SseReadOptions {
    return {
      onRetry: (ms) => (this.retryMs = clampRetry(ms)),
      maxEventBytes: this.maxMessage,
      onOversize: (event) => {
        if (requestId !== undefined) {
          // A request's own stream: the call fails at once and the stream is closed (oversize.ts).
          oversizeOnCallStream(event, this.maxMessage, requestId, (message) => this.onmessage?.(message), (message) => this.send(message));
          onAnswered?.();
          return 'stop';
        }
        const verdict = oversizeVerdict(event, this.maxMessage, (message) => this.onmessage?.(message), (message) => this.send(message), this.junk);
        return verdict === undefined ? undefined : 'handled';
      },
    };
  }

  async start(): Promise<void> {
    // Nothing to open: the first POST starts the conversation.
  }

  /** HTTP exchanges still running (diagnostics and tests). */
  get inFlight(): number {
    return this.exchanges.size;
  }

  setProtocolVersion(version: string): void {
    this.protocolVersion = version;
  }

  /** The headers of a POST of this message: era headers derived from the body, then session state (2025 only). */
  private postHeaders(message: JSONRPCMessage, modern: boolean): Record<string, string> {
    const headers: Record<string, string> = { ...forwardedHeadersOf(message), ...this.options.headers, 'content-type': 'application/json', accept: ACCEPT_BOTH, ...modernRequestHeaders(message, this.toolHeaders) };
    if (!modern) {
      if (this.sessionId !== undefined) headers['mcp-session-id'] = this.sessionId;
      if (this.protocolVersion !== undefined && headers['mcp-protocol-version'] === undefined) headers['mcp-protocol-version'] = this.protocolVersion;
    }
    return headers;
  }

  /** Headers of the session era's GET and DELETE. */
  private sessionHeaders(extra: Record<string, string>): Record<string, string> {
    const headers: Record<string, string> = { ...this.options.headers, ...extra };
    if (this.sessionId !== undefined) headers['mcp-session-id'] = this.sessionId;
    if (this.protocolVersion !== undefined) headers['mcp-protocol-version'] = this.protocolVersion;
    return headers;
  }

  async send(message: JSONRPCMessage, _options?: TransportSendOptions): Promise<void> {
    const target = isCancellation(message) ? this.running.get((message as unknown as { params: { requestId: RequestId } }).params.requestId) : undefined;
    if (target?.modern) {
      // 2026-07-28 over HTTP: closing the request's stream is the cancellation; nothing is posted.
      target.cancelled = true;
      target.exchange.abort();
      return;
    }
    try {
      await this.sendMessage(message);
    } finally {
      // 2025: the cancellation is posted; then the request's stream, which may never carry an answer now, is let go.
      if (target) {
        target.cancelled = true;
        target.exchange.abort();
      }
    }
  }

  private async sendMessage(message: JSONRPCMessage): Promise<void> {
    const modern = isModernMessage(message);
    if (this.streamGate && !modern) await this.streamGate;
    const exchange = this.exchanges.begin();
    const id = 'method' in message && 'id' in message ? (message.id as RequestId) : undefined;
    const entry: InFlight | undefined = id === undefined ? undefined : { method: (message as { method: string }).method, modern, exchange, cancelled: false };
    if (id !== undefined) this.running.set(id, entry!);
    try {
      let outcome = await this.post(message, exchange.signal, modern, entry);
      if (outcome === 'refresh-tools') {
        await this.relearnTools(message, exchange.signal);
        outcome = await this.post(message, exchange.signal, modern, undefined);
      }
    } catch (error) {
      if (entry?.cancelled) return; // aborted because the client cancelled: nobody waits for it
      throw error;
    } finally {
      exchange.release();
      if (id !== undefined && this.running.get(id) === entry) this.running.delete(id);
    }
  }

  /**
   * POST one message and read its answer. `retryable` is the request's entry when a -32020 on a
   * tools/call may still be retried after re-reading tools/list (streamable-http.mdx "Client
   * Behavior"): then 'refresh-tools' comes back instead of the error.
   */
  private async post(message: JSONRPCMessage, signal: AbortSignal, modern: boolean, retryable: InFlight | undefined): Promise<PostOutcome> {
    const response = await this.options.request(this.options.url, {
      method: 'POST',
      headers: this.postHeaders(message, modern),
      body: messageText(message),
      signal,
    });
    const session = modern ? undefined : response.header('mcp-session-id');
    if (session) this.sessionId = session;
    const requestId = 'method' in message && 'id' in message ? (message.id as RequestId) : undefined;
    if (!response.ok) {
      const text = await readErrorBody(response);
      const expired = this.sessionId !== undefined && !session && !modern && sessionLost(response.status, text);
      if (requestId !== undefined && !expired) {
        const answer = this.errorAnswer(response.status, text, modern);
        if (answer !== undefined) {
          if (retryable?.method === 'tools/call' && errorCodeOf(answer) === ErrorCode.headerMismatch) return 'refresh-tools';
          this.deliverAnswer(answer, requestId, response.status);
          return 'done';
        }
      }
      const answer = answerHeaders(response);
      if (expired) throw Object.assign(httpAnswerError(response.status, text, { ...answer, prefix: `the upstream session ended (HTTP ${response.status}): ` }), { sessionEnded: true });
      throw httpAnswerError(response.status, text, answer);
    }
    this.established = true;
    if (response.status === 202 || requestId === undefined) {
      response.discard();
      return 'done';
    }
    await this.readAnswer(response, requestId, modern);
    return 'done';
  }

  /** Read a request's answer: one JSON body or an SSE stream. */
  private async readAnswer(response: HttpResponse, requestId: RequestId, modern: boolean): Promise<void> {
    const type = response.header('content-type') ?? '';
    if (type.includes('text/event-stream')) {
      await this.readStream(response.body, requestId, modern);
    } else if (type.includes('application/json')) {
      const body = await readTextWithin(response, this.maxMessage);
      if (!body.complete) {
        this.onmessage?.(answerTooLarge(requestId, this.maxMessage, body.bytes));
        return;
      }
      const value: unknown = JSON.parse(body.text);
      if (Array.isArray(value)) {
        for (const item of value) this.deliver(classify(item), requestId);
        return;
      }
      const verdict = classify(value);
      // One message: its text goes on as it came (message-text.ts), not serialised again at the next hop.
      if (verdict.ok) rememberText(verdict.message, body.text.trim());
      this.deliver(verdict, requestId);
    } else if (isHtml('', type)) {
      // A web page where the MCP endpoint should be: its title says whose (the page itself is never passed on).
      throw httpAnswerError(-1, await readErrorBody(response), { contentType: type });
    } else {
      response.discard();
      throw new HttpStatusError(-1, `unexpected content type ${JSON.stringify(type)} in the answer to a request`);
    }
  }

  /**
   * The JSON-RPC error a non-2xx answer carries, when it is the server's answer to the request: any
   * JSON-RPC error body once the conversation is established or for a modern request, else only a
   * recognized modern error (before that, a 4xx is how a legacy HTTP+SSE server says it is one, and
   * the caller may fall back: streamable-http.mdx "Backward Compatibility"). 401 and 403 stay
   * HTTP errors: they are about credentials, and their hint says what to do.
   */
  private errorAnswer(status: number, text: string, modern: boolean): object | undefined {
    if (status === 401 || status === 403 || text === '') return undefined;
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return undefined;
    }
    if (errorCodeOf(body) === undefined) return undefined;
    return modern || this.established || isModernErrorAnswer(status, body) ? (body as object) : undefined;
  }

  /** Hand the client an error the server answered with over HTTP, under the request's own id. */
  private deliverAnswer(body: object, requestId: RequestId, status: number): void {
    const record = body as { id?: unknown };
    const message = (record.id === requestId ? body : { ...body, id: requestId }) as JSONRPCMessage;
    rememberHttpStatus(message, status);
    this.onmessage?.(message);
  }

  /**
   * Read a POST's SSE stream until the answer to `requestId` arrives; for the 2025 era, resume with
   * Last-Event-ID when the stream ends early (2026-07-28 streams cannot be resumed). Throws when
   * the answer cannot be had.
   */
  private async readStream(body: AsyncIterable<Uint8Array>, requestId: RequestId, modern: boolean): Promise<void> {
    let lastId: string | undefined;
    let answered = false;
    let stream: AsyncIterable<Uint8Array> | undefined = body;
    const attempts = modern ? 0 : (this.options.maxResumeAttempts ?? 3);
    let resumed: Exchange | undefined;
    for (let attempt = 0; stream; attempt++) {
      try {
        for await (const event of readSseEvents(stream, this.sseOptions(() => (answered = true), requestId))) {
          lastId = event.id ?? lastId;
          if (event.event !== 'message' || event.data === '') continue;
          // The answer ends what this stream is for; a server that keeps it open (a replayed stream
          // whose request already finished) must not hold the call.
          if (this.deliver(parseFrame(event.data), requestId)) {
            answered = true;
            break;
          }
        }
      } catch (error) {
        if (this.closed) return;
        if (lastId === undefined || modern) throw error;
      } finally {
        resumed?.release();
      }
      if (answered || this.closed) return;
      if (lastId === undefined || modern) throw new HttpStatusError(-1, 'the server closed the response stream without answering');
      if (attempt >= attempts) throw new HttpStatusError(-1, `the response stream broke and could not be resumed after ${attempts} attempts`);
      await this.exchanges.sleep(this.retryMs ?? 500 * 2 ** attempt);
      if (this.closed) return;
      resumed = this.exchanges.begin();
      stream = await this.resume(lastId, resumed);
    }
  }

  /** GET with Last-Event-ID; the caller releases `exchange` once the stream is read. */
  private async resume(lastEventId: string, exchange: Exchange): Promise<AsyncIterable<Uint8Array> | undefined> {
    const response = await this.options.request(this.options.url, {
      method: 'GET',
      headers: this.sessionHeaders({ accept: 'text/event-stream', 'last-event-id': lastEventId }),
      signal: exchange.signal,
    });
    if (!response.ok) {
      response.discard();
      throw new HttpStatusError(response.status, `could not resume the response stream: HTTP ${response.status}`);
    }
    return response.body;
  }

  /**
   * Re-read tools/list after a -32020 on a tools/call (its schema may have gained x-mcp-header
   * annotations since the client listed tools, or the client never did), as the same client: the
   * call's own `_meta` envelope, progress token left out.
   */
  private async relearnTools(call: JSONRPCMessage, signal: AbortSignal): Promise<void> {
    const meta = { ...((call as { params?: { _meta?: Record<string, unknown> } }).params?._meta ?? {}) };
    delete meta.progressToken;
    const pages: unknown[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < MAX_TOOL_PAGES; page++) {
      const id = `mcp-airlock-tools-${++this.internalIds}`;
      const request = { jsonrpc: '2.0', id, method: 'tools/list', params: { _meta: meta, ...(cursor === undefined ? {} : { cursor }) } } as JSONRPCMessage;
      const result = await this.internalRequest(request, signal);
      if (result === undefined) break;
      pages.push(result);
      const next = (result as { nextCursor?: unknown }).nextCursor;
      if (typeof next !== 'string' || next === '') break;
      cursor = next;
    }
    if (pages.length === 0) return;
    this.toolHeaders.clear();
    for (const page of pages) this.learnTools(page, false);
  }

  /** A request airlock makes itself: its result, or undefined when the server refused it. Nothing reaches the client. */
  private async internalRequest(request: JSONRPCMessage, signal: AbortSignal): Promise<unknown> {
    const response = await this.options.request(this.options.url, { method: 'POST', headers: this.postHeaders(request, isModernMessage(request)), body: JSON.stringify(request), signal });
    if (!response.ok) {
      response.discard();
      return undefined;
    }
    const id = (request as { id: RequestId }).id;
    const type = response.header('content-type') ?? '';
    let answer: unknown;
    if (type.includes('text/event-stream')) {
      for await (const event of readSseEvents(response.body, { maxEventBytes: this.maxMessage })) {
        const verdict = event.data === '' ? undefined : parseFrame(event.data);
        if (verdict?.ok && verdict.kind === 'response' && (verdict.message as { id: RequestId }).id === id) answer = verdict.message;
      }
    } else if (type.includes('application/json')) {
      const body = await readTextWithin(response, this.maxMessage);
      answer = body.complete ? JSON.parse(body.text) : undefined;
    } else {
      response.discard();
    }
    return (answer as { result?: unknown } | undefined)?.result;
  }

  /**
   * Open the standalone GET stream (2025 era) for server-initiated requests and notifications; it is
   * reopened on loss. Resolves once the server has answered the first GET
   * (whatever it said), so that the requests after `notifications/initialized` can wait for it:
   * a server that sends a request there as soon as the client is initialized would otherwise send
   * it into nowhere.
   */
  private openServerStream(): Promise<void> {
    let answered: () => void = () => undefined;
    const ready = new Promise<void>((resolve) => (answered = resolve));
    const epoch = this.streamEpoch;
    const run = async (): Promise<void> => {
      let lastId: string | undefined;
      for (let failures = 0; !this.closed && failures < 5 && epoch === this.streamEpoch; ) {
        const headers = this.sessionHeaders({ accept: 'text/event-stream' });
        if (lastId !== undefined) headers['last-event-id'] = lastId;
        const exchange = this.exchanges.begin();
        this.serverStream = exchange;
        try {
          const response = await this.options.request(this.options.url, { method: 'GET', headers, signal: exchange.signal }).finally(answered);
          if (response.status === 405) return; // This server offers no standalone stream.
          if (!response.ok) {
            const text = await readErrorBody(response);
            // The server lost the session (a restart): asking again cannot help; the next request
            // opens a new session (RemoteTransport heals it), and a new stream with it.
            if (this.sessionId !== undefined && sessionLost(response.status, text)) return;
            failures++;
            this.onerror?.(new HttpStatusError(response.status, `GET stream refused: HTTP ${response.status}`));
          } else {
            failures = 0;
            for await (const event of readSseEvents(response.body, this.sseOptions())) {
              lastId = event.id ?? lastId;
              if (event.event === 'message' && event.data !== '') this.deliver(parseFrame(event.data));
            }
          }
        } catch (error) {
          if (this.closed || epoch !== this.streamEpoch) return;
          failures++; // a broken stream: open it again after the pause, up to the limit
          this.junk.report(`the server's GET stream broke: ${error instanceof Error ? error.message : String(error)}`);
        } finally {
          exchange.release();
        }
        await this.exchanges.sleep(this.retryMs ?? 1000);
      }
    };
    run()
      .catch((error: unknown) => {
        if (!this.closed) this.onerror?.(error instanceof Error ? error : new Error(String(error)));
      })
      .finally(answered);
    return ready;
  }

  /** Forward one classified message (junk is reported and dropped); true when it answers `requestId`. */
  private deliver(verdict: Classified, requestId?: RequestId): boolean {
    if (!verdict.ok) {
      this.junk.report(`the server sent something that is not JSON-RPC (${verdict.reason}); dropped`);
      return false;
    }
    let message = verdict.message;
    const answers = verdict.kind === 'response' && requestId !== undefined && (message as { id: RequestId }).id === requestId;
    const request = answers ? this.running.get(requestId) : undefined;
    // A request or notification on a POST's stream belongs to that POST's request: say so, so it is
    // routed to the caller whose call it is, never guessed (wire-status.ts).
    if (!answers && requestId !== undefined && verdict.kind !== 'response') rememberRelatedRequest(message, requestId);
    if (request?.method === 'tools/list' && 'result' in message) {
      const result = this.learnTools(message.result, request.modern);
      if (result !== message.result) message = { ...message, result } as JSONRPCMessage;
    }
    this.onmessage?.(message);
    if (request?.method === 'initialize' && 'result' in message) this.startServerStream();
    return answers;
  }

  /**
   * The session exists once initialize is answered: open its GET stream now, before
   * `notifications/initialized` goes out, and hold every later message until the server has answered
   * the GET (bounded). A server that asks the client something as soon as it is initialized (roots,
   * sampling) or early in a call would otherwise send it into a stream that is not open yet.
   */
  private startServerStream(): void {
    if (this.serverStreamStarted) return;
    this.serverStreamStarted = true;
    const opened = this.openServerStream();
    const gate = Promise.race([opened, this.exchanges.sleep(SERVER_STREAM_WAIT_MS)]).then(() => {
      if (this.streamGate === gate) this.streamGate = undefined;
    });
    this.streamGate = gate;
  }

  /**
   * Remember the x-mcp-header annotations of a tools/list page; for a 2026-07-28 listing, return it
   * without the tools whose annotations are invalid (an HTTP client MUST exclude them, and SHOULD
   * say which and why).
   */
  private learnTools(result: unknown, drop: boolean): unknown {
    const { dropped } = this.toolHeaders.learn(result);
    if (!drop || dropped.length === 0) return result;
    for (const tool of dropped) this.options.warn?.(`tool ${JSON.stringify(tool.name)} left out of tools/list: ${tool.reason}`);
    return withoutTools(result, new Set(dropped.map((tool) => tool.name)));
  }

  /**
   * Forget the session the server ended (404), so the next initialize starts a new one: no session
   * id, and the old GET stream is let go (its loop sees the epoch change and stops).
   */
  resetSession(): void {
    this.sessionId = undefined;
    this.serverStreamStarted = false;
    this.streamGate = undefined;
    this.streamEpoch += 1;
    this.serverStream?.abort();
    this.serverStream = undefined;
  }

  /** End the session on the server (DELETE); a 405 means the server does not allow it, which is fine. */
  async terminateSession(): Promise<void> {
    if (this.sessionId === undefined) return;
    const response = await this.options.request(this.options.url, { method: 'DELETE', headers: this.sessionHeaders({}), signal: AbortSignal.timeout(2000) });
    response.discard();
    if (!response.ok && response.status !== 405) throw new HttpStatusError(response.status, `session DELETE answered HTTP ${response.status}`);
    this.sessionId = undefined;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.exchanges.abortAll();
    this.running.clear();
    this.onclose?.();
  }
}

/**
 * Whether an answer to a request that carried a session id says that session is gone. 404 is the
 * spec's way (2025-11-25 basic/transports "Session Management"); the SDK v1's examples, and
 * server-everything and most servers built on them, answer an id they do not know (after a
 * restart) with 400 "Bad Request: No valid session ID provided", and a restarted server holding one
 * SDK transport with 400 "Bad Request: Server not initialized". A 400 about anything else (a bad
 * header, an unsupported version) is not a lost session.
 */
function sessionLost(status: number, body: string): boolean {
  if (status === 404) return true;
  if (status !== 400) return false;
  let text = body;
  try {
    const message = (JSON.parse(body) as { error?: { message?: unknown } }).error?.message;
    if (typeof message === 'string') text = message;
  } catch {
    // not JSON: the body's own words
  }
  return /session/i.test(text) ? /\b(no valid|invalid|unknown|not found|expired|terminated|no longer|no such|does not exist)\b/i.test(text) : /\bnot initiali[sz]ed\b/i.test(text);
}

function isCancellation(message: JSONRPCMessage): boolean {
  if (!('method' in message) || message.method !== 'notifications/cancelled' || 'id' in message) return false;
  const id = (message as { params?: { requestId?: unknown } }).params?.requestId;
  return typeof id === 'string' || typeof id === 'number';
}
