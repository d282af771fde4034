/**
 * Inbound legacy HTTP+SSE (2024-11-05): the client GETs an event stream whose first event,
 * `endpoint`, tells it where to POST; our messages go out as `message` events. The session ends
 * when the stream closes. Bodies are parsed and checked by the HTTP server before `receive()`.
 */
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '../bridge/json-rpc.js';
import { messageText } from '../bridge/message-text.js';
import { EventStream } from './event-stream.js';

export class SseServerSession implements Transport {
  readonly transportName = 'sse';

  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  readonly sessionId = randomUUID();
  private stream: EventStream | undefined;
  private closed = false;

  /** Closed sessions stay findable until their child has exited; they must answer 404 by then. */
  get isClosed(): boolean {
    return this.closed;
  }

  constructor(
    private readonly res: ServerResponse,
    private readonly messagesPath: string,
  ) {}

  async start(): Promise<void> {
    const stream = new EventStream(this.res);
    this.stream = stream;
    stream.write(`${this.messagesPath}?sessionId=${this.sessionId}`, 'endpoint');
    this.res.once('close', () => void this.close());
  }

  /** A message the client POSTed to the messages endpoint. */
  receive(message: JSONRPCMessage): void {
    this.onmessage?.(message);
  }

  async send(message: JSONRPCMessage, _options?: TransportSendOptions): Promise<void> {
    if (!this.stream || this.closed) throw new Error('the SSE stream to the client is closed');
    this.stream.write(messageText(message));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stream?.end();
    this.onclose?.();
  }
}
