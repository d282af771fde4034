/**
 * Inbound streamable HTTP (2025-11-25 basic/transports), one session, written for a proxy: the
 * HTTP server has already parsed and checked each body, messages go to the bridge as they are
 * (no schema, so any protocol version passes through to the upstream, which decides), and
 * answers are routed by request id to the response stream of the POST that carried the request.
 *
 * - POST with only notifications or responses: 202. With requests: an SSE stream that ends once
 *   every request in it is answered, or, for a client that does not accept text/event-stream,
 *   one JSON body.
 * - GET: the standalone stream for server messages not tied to a request (one at a time: 409).
 * - DELETE: ends the session.
 * No resumability: events carry no ids, so clients do not try to resume (airlock keeps no log
 * of sent events to replay from).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import { errorResponse, RpcErrorCode, type JSONRPCMessage, type RequestId } from '../bridge/json-rpc.js';
import { messageText } from '../bridge/message-text.js';
import { EventStream } from './event-stream.js';

/** The answer channel of one POST that carried requests. */
class PostAnswer {
  private readonly waiting: Set<RequestId>;
  private readonly stream: EventStream | undefined;
  private readonly collected: JSONRPCMessage[] = [];

  constructor(
    private readonly res: ServerResponse,
    ids: RequestId[],
    sse: boolean,
    private readonly headers: Record<string, string>,
  ) {
    this.waiting = new Set(ids);
    this.stream = sse ? new EventStream(res, headers) : undefined;
  }

  get open(): boolean {
    return this.stream ? !this.stream.ended : !this.res.writableEnded && !this.res.destroyed;
  }

  get streaming(): boolean {
    return this.stream !== undefined && !this.stream.ended;
  }

  /** Write a message on this POST's stream (requests and notifications, SSE only). */
  write(message: JSONRPCMessage): void {
    this.stream!.write(messageText(message));
  }

  /** Deliver the answer to one of its requests; true when it was the last one. */
  answer(id: RequestId, message: JSONRPCMessage): boolean {
    this.waiting.delete(id);
    if (this.stream) this.stream.write(messageText(message));
    else this.collected.push(message);
    if (this.waiting.size > 0) return false;
    this.end();
    return true;
  }

  end(): void {
    if (this.stream) {
      this.stream.end();
    } else if (!this.res.writableEnded && this.collected.length === 0) {
      this.res.writeHead(204, this.headers).end(); // ended before any answer (cancelled, closing)
    } else if (!this.res.writableEnded) {
      const body = JSON.stringify(this.collected.length === 1 ? this.collected[0] : this.collected);
      this.res.writeHead(200, { 'Content-Type': 'application/json', ...this.headers }).end(body);
    }
  }

  get ids(): Iterable<RequestId> {
    return this.waiting;
  }
}

export class StreamableHttpServerSession implements Transport {
  readonly transportName = 'streamable-http';

  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  private readonly answers = new Map<RequestId, PostAnswer>();
  private standalone: EventStream | undefined;
  private closed = false;

  /** Closed sessions stay findable until their child has exited; they must answer 404 by then. */
  get isClosed(): boolean {
    return this.closed;
  }

  constructor(readonly sessionId: string) {}

  async start(): Promise<void> {}

  /** A POST whose body the server has parsed and checked. */
  handlePost(req: IncomingMessage, res: ServerResponse, messages: JSONRPCMessage[]): void {
    const ids = messages.flatMap((m) => ('method' in m && 'id' in m ? [m.id as RequestId] : []));
    if (ids.length === 0) {
      res.writeHead(202, { 'Mcp-Session-Id': this.sessionId }).end();
    } else {
      const accept = req.headers.accept ?? '';
      // Clients MUST accept both; one that only takes JSON still gets a useful answer.
      const sse = accept === '' || accept.includes('text/event-stream') || accept.includes('*/*');
      const answer = new PostAnswer(res, ids, sse, { 'Mcp-Session-Id': this.sessionId });
      for (const id of ids) this.answers.set(id, answer);
      res.once('close', () => {
        // The client went away before all answers: forget where they would have gone.
        for (const id of answer.ids) if (this.answers.get(id) === answer) this.answers.delete(id);
      });
    }
    for (const message of messages) this.onmessage?.(message);
  }

  /** Whether the client holds a stream a server message or an answer could still reach it on. */
  get reachable(): boolean {
    return this.answers.size > 0 || (this.standalone !== undefined && !this.standalone.ended);
  }

  handleGet(res: ServerResponse): void {
    if (this.standalone && !this.standalone.ended) {
      const body = JSON.stringify(errorResponse(null, RpcErrorCode.invalidRequest, 'Conflict: this session already has an open GET stream'));
      res.writeHead(409, { 'Content-Type': 'application/json' }).end(body);
      return;
    }
    this.standalone = new EventStream(res, { 'Mcp-Session-Id': this.sessionId });
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    if (this.closed) throw new Error('the session is closed');
    if (!('method' in message)) {
      const id = message.id as RequestId;
      const answer = this.answers.get(id);
      if (!answer) throw new Error(`no open request ${String(id)} to answer (the client cancelled or went away)`);
      this.answers.delete(id);
      answer.answer(id, message);
      return;
    }
    const related = options?.relatedRequestId === undefined ? undefined : this.answers.get(options.relatedRequestId);
    if (related?.streaming) return related.write(message);
    if (this.standalone && !this.standalone.ended) return this.standalone.write(messageText(message));
    // One session is one client: a message no call can be named for still reaches it on a stream of
    // its own calls, rather than nowhere (a client that opened no GET stream).
    for (const answer of this.answers.values()) if (answer.streaming) return answer.write(message);
    throw new Error('the client has no open stream for a server message (no GET stream, no call in progress)');
  }

  /** End the stream of a cancelled call: its answer may never come. */
  closeSSEStream(requestId: RequestId): void {
    const answer = this.answers.get(requestId);
    if (!answer) return;
    this.answers.delete(requestId);
    for (const [id, other] of this.answers) if (other === answer) this.answers.delete(id);
    answer.end();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const answer of new Set(this.answers.values())) answer.end();
    this.answers.clear();
    this.standalone?.end();
    this.onclose?.();
  }
}
