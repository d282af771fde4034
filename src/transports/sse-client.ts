/**
 * Outbound legacy HTTP+SSE (2024-11-05 transport): GET opens an event stream whose first event,
 * `endpoint`, names where to POST messages; every server message arrives as a `message` event.
 * When the stream ends the connection is over (this transport cannot resume).
 */
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import { parseFrame, type JSONRPCMessage } from '../bridge/json-rpc.js';
import { messageText } from '../bridge/message-text.js';
import { HttpStatusError } from '../errors.js';
import type { HttpRequester } from './http-request.js';
import { AbortScope } from './abort-scope.js';
import { readErrorBody } from './http-request.js';
import { oversizeVerdict } from './oversize.js';
import { RepeatedWarning } from '../log.js';
import { readSseEvents, type OversizeEvent } from './sse-reader.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from './streamable-http-client.js';
import { answerHeaders, httpAnswerError } from './upstream-diagnosis.js';

export interface SseClientOptions {
  url: URL;
  headers: Record<string, string>;
  request: HttpRequester;
  /** The largest event taken from the server (--max-message); larger ones are answered for and dropped. */
  maxMessageBytes?: number;
  warn?: (text: string) => void;
}

export class SseClientTransport implements Transport {
  readonly transportName = 'sse';

  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  private endpoint: URL | undefined;
  private readonly exchanges = new AbortScope();
  /** The event stream's own exchange, open for the life of the connection. */
  private stream: ReturnType<AbortScope['begin']> | undefined;
  private closed = false;
  private readonly maxMessage: number;
  private readonly junk: RepeatedWarning;

  constructor(private readonly options: SseClientOptions) {
    this.maxMessage = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.junk = new RepeatedWarning((text) => (options.warn ? options.warn(text) : this.onerror?.(new Error(text))));
  }

  /** An event past --max-message: the call it answered gets an error, a server request is refused, anything else is dropped with a warning. */
  private oversize(event: OversizeEvent): 'handled' | undefined {
    const verdict = oversizeVerdict(event, this.maxMessage, (message) => this.onmessage?.(message), (message) => this.send(message), this.junk);
    return verdict === undefined ? undefined : 'handled';
  }

  /** Open the stream and wait for the `endpoint` event. */
  async start(): Promise<void> {
    const { url, headers, request } = this.options;
    this.stream = this.exchanges.begin();
    const response = await request(url, { method: 'GET', headers: { ...headers, accept: 'text/event-stream' }, signal: this.stream.signal });
    if (!response.ok) throw httpAnswerError(response.status, await readErrorBody(response), answerHeaders(response));
    const events = readSseEvents(response.body, { maxEventBytes: this.maxMessage, onOversize: (event) => this.oversize(event) });
    const first = await events.next();
    if (first.done || first.value.event !== 'endpoint') {
      await events.return(undefined);
      throw new HttpStatusError(-1, 'the SSE stream did not start with an "endpoint" event; is this a legacy SSE endpoint?');
    }
    const endpoint = new URL(first.value.data.trim(), url);
    if (endpoint.origin !== url.origin) {
      await events.return(undefined);
      // A server must not send our headers (credentials) to another origin.
      throw new HttpStatusError(-1, `the SSE endpoint event points to another origin (${endpoint.origin}); refusing`);
    }
    this.endpoint = endpoint;
    void this.pump(events);
  }

  private async pump(events: AsyncGenerator<{ event: string; data: string }>): Promise<void> {
    try {
      for await (const event of events) {
        if (event.event !== 'message' || event.data === '') continue;
        const verdict = parseFrame(event.data);
        if (verdict.ok) this.onmessage?.(verdict.message);
        else this.junk.report(`the server sent something that is not JSON-RPC (${verdict.reason}); dropped`);
      }
    } catch (error) {
      if (!this.closed) this.onerror?.(error instanceof Error ? error : new Error(String(error)));
    }
    this.stream?.release();
    if (!this.closed) {
      this.closed = true;
      this.onclose?.();
    }
  }

  async send(message: JSONRPCMessage, _options?: TransportSendOptions): Promise<void> {
    if (!this.endpoint) throw new HttpStatusError(-1, 'not connected');
    const exchange = this.exchanges.begin();
    try {
      const response = await this.options.request(this.endpoint, {
        method: 'POST',
        headers: { ...this.options.headers, 'content-type': 'application/json' },
        body: messageText(message),
        signal: exchange.signal,
      });
      // The answer comes on the event stream; the POST's own body ("Accepted") is not wanted.
      if (response.ok) return response.discard();
      throw httpAnswerError(response.status, await readErrorBody(response), answerHeaders(response));
    } finally {
      exchange.release();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.exchanges.abortAll();
    this.onclose?.();
  }
}
