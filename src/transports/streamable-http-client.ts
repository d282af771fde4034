/**
 * Outbound streamable HTTP (2025-11-25 basic/transports "Streamable HTTP"), written for a proxy:
 * messages are parsed once and forwarded as they are (no schema re-validation, so new methods and
 * fields pass), `send()` settles when the server has answered that POST completely (so the bridge
 * can fail exactly the request whose exchange broke), and it loads in a few milliseconds.
 *
 * - POST each message with `Accept: application/json, text/event-stream`; 202 for notifications and
 *   responses, JSON or an SSE stream for requests.
 * - `Mcp-Session-Id` from the initialize answer on every later request; `MCP-Protocol-Version`
 *   once negotiated. DELETE on close ends the session (405 is fine).
 * - After `notifications/initialized`, a GET stream for server-initiated messages (405: none).
 * - Resumption: an SSE stream that ends before its answer, after an event id, is resumed with GET
 *   and `Last-Event-ID`, waiting the server's `retry` (SEP-1699 polling) or a backoff.
 */
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import { classify, parseFrame, type Classified, type JSONRPCMessage, type RequestId } from '../bridge/json-rpc.js';
import { messageText } from '../bridge/message-text.js';
import { HttpStatusError } from '../errors.js';
import type { HttpRequester } from './http-request.js';
import { AbortScope, type Exchange } from './abort-scope.js';
import { readSseEvents } from './sse-reader.js';

export interface StreamableHttpClientOptions {
  url: URL;
  headers: Record<string, string>;
  request: HttpRequester;
  /** Attempts to resume a broken stream before giving up on it. */
  maxResumeAttempts?: number;
}

const ACCEPT_BOTH = 'application/json, text/event-stream';

export class StreamableHttpClientTransport implements Transport {
  readonly transportName = 'streamable-http';

  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  sessionId: string | undefined;
  private protocolVersion: string | undefined;
  private readonly exchanges = new AbortScope();
  private retryMs: number | undefined;
  private closed = false;

  constructor(private readonly options: StreamableHttpClientOptions) {}

  async start(): Promise<void> {
    // Nothing to open: the first POST (initialize) starts the conversation.
  }

  /** HTTP exchanges still running (diagnostics and tests). */
  get inFlight(): number {
    return this.exchanges.size;
  }

  setProtocolVersion(version: string): void {
    this.protocolVersion = version;
  }

  private headers(extra: Record<string, string>): Record<string, string> {
    const headers: Record<string, string> = { ...this.options.headers, ...extra };
    if (this.sessionId !== undefined) headers['mcp-session-id'] = this.sessionId;
    if (this.protocolVersion !== undefined) headers['mcp-protocol-version'] = this.protocolVersion;
    return headers;
  }

  async send(message: JSONRPCMessage, _options?: TransportSendOptions): Promise<void> {
    const exchange = this.exchanges.begin();
    try {
      await this.post(message, exchange.signal);
    } finally {
      exchange.release();
    }
  }

  private async post(message: JSONRPCMessage, signal: AbortSignal): Promise<void> {
    const response = await this.options.request(this.options.url, {
      method: 'POST',
      headers: this.headers({ 'content-type': 'application/json', accept: ACCEPT_BOTH }),
      body: messageText(message),
      signal,
    });
    const session = response.header('mcp-session-id');
    if (session) this.sessionId = session;
    if (!response.ok) {
      const text = await response.text().catch(() => '');
      const expired = response.status === 404 && this.sessionId !== undefined && !session;
      throw new HttpStatusError(response.status, expired ? `the upstream session ended (HTTP 404): ${text}` : text || `HTTP ${response.status}`);
    }
    const requestId = 'method' in message && 'id' in message ? (message.id as RequestId) : undefined;
    if (response.status === 202 || requestId === undefined) {
      response.discard();
      if ('method' in message && message.method === 'notifications/initialized') this.openServerStream();
      return;
    }
    const type = response.header('content-type') ?? '';
    if (type.includes('text/event-stream')) {
      await this.readStream(response.body, requestId);
    } else if (type.includes('application/json')) {
      const value: unknown = JSON.parse(await response.text());
      for (const item of Array.isArray(value) ? value : [value]) this.deliver(classify(item));
    } else {
      response.discard();
      throw new HttpStatusError(-1, `unexpected content type ${JSON.stringify(type)} in the answer to a request`);
    }
  }

  /**
   * Read a POST's SSE stream until the answer to `requestId` arrives; resume with Last-Event-ID
   * when the stream ends early. Throws when the answer cannot be had.
   */
  private async readStream(body: AsyncIterable<Uint8Array>, requestId: RequestId): Promise<void> {
    let lastId: string | undefined;
    let answered = false;
    let stream: AsyncIterable<Uint8Array> | undefined = body;
    const attempts = this.options.maxResumeAttempts ?? 3;
    let resumed: Exchange | undefined;
    for (let attempt = 0; stream; attempt++) {
      try {
        for await (const event of readSseEvents(stream, { onRetry: (ms) => (this.retryMs = ms) })) {
          lastId = event.id ?? lastId;
          if (event.event !== 'message' || event.data === '') continue;
          if (this.deliver(parseFrame(event.data), requestId)) answered = true;
        }
      } catch (error) {
        if (this.closed) return;
        if (lastId === undefined) throw error;
      } finally {
        resumed?.release();
      }
      if (answered || this.closed) return;
      if (lastId === undefined) throw new HttpStatusError(-1, 'the server closed the response stream without answering');
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
      headers: this.headers({ accept: 'text/event-stream', 'last-event-id': lastEventId }),
      signal: exchange.signal,
    });
    if (!response.ok) {
      response.discard();
      throw new HttpStatusError(response.status, `could not resume the response stream: HTTP ${response.status}`);
    }
    return response.body;
  }

  /** The standalone GET stream for server-initiated requests and notifications; reopened on loss. */
  private openServerStream(): void {
    const run = async (): Promise<void> => {
      let lastId: string | undefined;
      for (let failures = 0; !this.closed && failures < 5; ) {
        const headers = this.headers({ accept: 'text/event-stream' });
        if (lastId !== undefined) headers['last-event-id'] = lastId;
        const exchange = this.exchanges.begin();
        try {
          const response = await this.options.request(this.options.url, { method: 'GET', headers, signal: exchange.signal });
          if (response.status === 405) return; // This server offers no standalone stream.
          if (!response.ok) {
            response.discard();
            failures++;
            this.onerror?.(new HttpStatusError(response.status, `GET stream refused: HTTP ${response.status}`));
          } else {
            failures = 0;
            for await (const event of readSseEvents(response.body, { onRetry: (ms) => (this.retryMs = ms) })) {
              lastId = event.id ?? lastId;
              if (event.event === 'message' && event.data !== '') this.deliver(parseFrame(event.data));
            }
          }
        } finally {
          exchange.release();
        }
        await this.exchanges.sleep(this.retryMs ?? 1000);
      }
    };
    run().catch((error: unknown) => {
      if (!this.closed) this.onerror?.(error instanceof Error ? error : new Error(String(error)));
    });
  }

  /** Forward one classified message (junk is reported and dropped); true when it answers `requestId`. */
  private deliver(verdict: Classified, requestId?: RequestId): boolean {
    if (!verdict.ok) {
      this.onerror?.(new Error(`the server sent something that is not JSON-RPC (${verdict.reason}); dropped`));
      return false;
    }
    this.onmessage?.(verdict.message);
    return verdict.kind === 'response' && requestId !== undefined && (verdict.message as { id: RequestId }).id === requestId;
  }

  /** End the session on the server (DELETE); a 405 means the server does not allow it, which is fine. */
  async terminateSession(): Promise<void> {
    if (this.sessionId === undefined) return;
    const response = await this.options.request(this.options.url, { method: 'DELETE', headers: this.headers({}), signal: AbortSignal.timeout(2000) });
    response.discard();
    if (!response.ok && response.status !== 405) throw new HttpStatusError(response.status, `session DELETE answered HTTP ${response.status}`);
    this.sessionId = undefined;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.exchanges.abortAll();
    this.onclose?.();
  }
}
