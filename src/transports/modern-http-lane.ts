/**
 * Inbound streamable HTTP for 2026-07-28 callers (basic/transports/streamable-http.mdx): no
 * protocol session. Every POST is one request with its own answer: one JSON body, or an SSE stream
 * opened at the first notification that belongs to it (so an error that comes first still gets the
 * HTTP status a modern server gives it: 400, 404). Closing that stream is the caller's
 * cancellation. `subscriptions/listen` is a POST whose stream stays open while the caller keeps it.
 *
 * A lane carries the traffic of every caller with one identity to one upstream connection (one
 * child process for `serve -- cmd`). Callers cannot be told apart by their ids (two of them may
 * both send id 1), so the lane gives each request its own id on the way up and puts the caller's id
 * back on the way down, and does the same with progress tokens and the subscription id of a listen
 * stream (ERA-NOTES 4C): nothing a caller sends can answer, or cancel, another caller's request.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage, RequestId } from '../bridge/json-rpc.js';
import { messageText, withMessageId } from '../bridge/message-text.js';
import { httpStatusOf, rememberForwardedHeaders } from '../bridge/wire-status.js';
import { ErrorCode, META_LOG_LEVEL, META_SUBSCRIPTION_ID, ToolHeaderIndex } from '../eras/mcp-headers.js';
import { errorCodeOf, modernErrorStatus } from '../eras/modern-wire.js';
import { EventStream } from './event-stream.js';
import type { UnreadBudget } from './unread-budget.js';

type ProgressToken = string | number;

/** The caller's `Mcp-Param-*` headers, to pass on to an HTTP upstream (the ones airlock derives itself win there). */
function paramHeaders(req: IncomingMessage): Record<string, string> | undefined {
  let found: Record<string, string> | undefined;
  for (const [name, value] of Object.entries(req.headers)) {
    if (name.startsWith('mcp-param-') && typeof value === 'string') (found ??= {})[name] = value;
  }
  return found;
}

/** Where one request's answer goes: the response of the POST that carried it. */
class ModernAnswer {
  private stream: EventStream | undefined;
  private finished = false;

  constructor(
    private readonly res: ServerResponse,
    /** The caller accepts text/event-stream (it MUST; one that does not gets only the final answer). */
    private readonly sse: boolean,
    /** Counts what the caller leaves unread (unread-budget.ts). */
    private readonly budget: UnreadBudget | undefined,
  ) {}

  get open(): boolean {
    return !this.finished && !this.res.destroyed && !(this.stream?.ended ?? false);
  }

  /** A notification that belongs to the request: opens the SSE stream if it is not open yet. */
  write(message: JSONRPCMessage): boolean {
    if (!this.open || !this.sse) return false;
    this.stream ??= new EventStream(this.res, { 'X-Accel-Buffering': 'no' });
    this.stream.write(messageText(message));
    this.budget?.note(this.res);
    return true;
  }

  /** The final answer: on the stream when one is open, else one JSON body with `status`. */
  finish(message: JSONRPCMessage, status: number): void {
    if (!this.open) return;
    this.finished = true;
    if (this.stream) {
      this.stream.write(messageText(message));
      this.stream.end();
    } else {
      this.res.writeHead(status, { 'Content-Type': 'application/json' }).end(messageText(message));
    }
    this.budget?.note(this.res);
  }

  /** End without an answer (the upstream tore down a listen stream, the lane closes). */
  end(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.stream) this.stream.end();
    else if (!this.res.headersSent && !this.res.destroyed) this.res.writeHead(204).end();
  }
}

/** One request a caller is waiting on. */
interface Call {
  callerId: RequestId;
  method: string;
  answer: ModernAnswer;
  progressToken: ProgressToken | undefined;
  /** The request asked for log messages (`_meta` logLevel): without it none may reach its stream (logging.mdx). */
  wantsLogs: boolean;
}

export interface ModernHttpLaneOptions {
  /** The bound on bytes callers leave unread, shared by every lane of the server. */
  unreadBudget?: UnreadBudget;
  /** Say what the lane dropped or cut (debug lines). */
  debug?: (text: string) => void;
}

export class ModernHttpLane implements Transport {
  readonly transportName = 'streamable-http';

  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  /** Requests waiting for their answer, by the id the lane gave them upstream. */
  private readonly calls = new Map<number, Call>();
  /** x-mcp-header annotations of the upstream's tools, learned from tools/list answers, to check Mcp-Param-* headers. */
  readonly toolHeaders = new ToolHeaderIndex();
  /**
   * The protocol versions the upstream serves, learned from the server/discover answers (and -32022
   * refusals) that pass. A stdio server checks the version of a connection's first message only;
   * `serve` answers for it as a 2026 HTTP server must, refusing any other version with -32022.
   */
  supportedVersions: string[] | undefined;
  private nextId = 0;
  private closed = false;
  /** Last time a request came in or an answer went out (for the idle sweep). */
  lastActive = Date.now();

  constructor(
    readonly label: string,
    private readonly options: ModernHttpLaneOptions = {},
  ) {}

  get isClosed(): boolean {
    return this.closed;
  }

  /** Requests still waiting (a listen stream counts: it is held open on purpose). */
  get openCalls(): number {
    return this.calls.size;
  }

  async start(): Promise<void> {}

  /** The id the caller gave a request the lane renumbered (for its audit record); undefined when none is open. */
  callerIdOf(laneId: RequestId): RequestId | undefined {
    return this.calls.get(Number(laneId))?.callerId;
  }

  /** One POST, already authenticated, parsed and validated: a request or a notification. */
  handlePost(req: IncomingMessage, res: ServerResponse, message: JSONRPCMessage): void {
    this.lastActive = Date.now();
    if (!('id' in message) || !('method' in message)) {
      res.writeHead(202).end();
      // A 2026-07-28 caller over HTTP cancels by closing its stream; a notifications/cancelled it
      // POSTs could only name lane ids, which belong to every caller of the lane: never forwarded.
      if ((message as { method?: string }).method === 'notifications/cancelled') {
        this.options.debug?.(`${this.label}: dropped a notifications/cancelled POST (2026-07-28 over HTTP cancels by closing the request's stream)`);
        return;
      }
      this.onmessage?.(message);
      return;
    }
    const accept = req.headers.accept ?? '';
    const answer = new ModernAnswer(res, accept === '' || accept.includes('text/event-stream') || accept.includes('*/*'), this.options.unreadBudget);
    const laneId = ++this.nextId;
    const params = (message as { params?: Record<string, unknown> }).params;
    const meta = params?._meta as Record<string, unknown> | undefined;
    const token = meta?.progressToken as ProgressToken | undefined;
    const call: Call = { callerId: message.id as RequestId, method: message.method, answer, progressToken: token, wantsLogs: typeof meta?.[META_LOG_LEVEL] === 'string' };
    this.calls.set(laneId, call);
    // A new progress token changes params, so the message is serialised afresh: patching its text first would be wasted.
    let upward: JSONRPCMessage;
    if (token === undefined) {
      upward = withMessageId(message, laneId);
    } else {
      upward = { ...message, id: laneId, params: { ...params, _meta: { ...meta, progressToken: String(laneId) } } } as JSONRPCMessage;
    }
    const forwarded = paramHeaders(req);
    if (forwarded) rememberForwardedHeaders(upward, forwarded);
    res.once('close', () => {
      if (this.calls.get(laneId) !== call || this.closed) return;
      // The caller closed the answer's stream before the answer: that is its cancellation (2026-07-28).
      this.calls.delete(laneId);
      this.onmessage?.({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: laneId, reason: 'the client closed the response stream' } } as JSONRPCMessage);
    });
    this.onmessage?.(upward);
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    if (this.closed) throw new Error('the lane is closed');
    this.lastActive = Date.now();
    if (!('method' in message)) return this.answer(message);
    if ('id' in message) {
      // 2026-07-28 has no server-to-client requests over HTTP (they travel inside InputRequiredResult).
      throw new Error(`a 2026-07-28 client over HTTP cannot be sent the server request ${JSON.stringify(message.method)}`);
    }
    const params = (message as { params?: Record<string, unknown> }).params;
    if (message.method === 'notifications/progress' && params?.progressToken !== undefined) {
      // The lane gave the request's progress token as its lane id, in text (handlePost).
      const laneId = Number(params.progressToken);
      const call = this.calls.get(laneId);
      if (call?.progressToken !== undefined && String(params.progressToken) === String(laneId)) {
        call.answer.write({ ...message, params: { ...params, progressToken: call.progressToken } } as JSONRPCMessage);
        return;
      }
    }
    const meta = params?._meta as Record<string, unknown> | undefined;
    const subscription = meta?.[META_SUBSCRIPTION_ID];
    if (subscription !== undefined) {
      const call = this.calls.get(Number(subscription));
      if (call) {
        call.answer.write({ ...message, params: { ...params, _meta: { ...meta, [META_SUBSCRIPTION_ID]: call.callerId } } } as JSONRPCMessage);
        return;
      }
    }
    if (message.method === 'notifications/cancelled' && params?.requestId !== undefined) {
      // The server tears a listen stream down (basic/patterns/cancellation.mdx): end that stream.
      const laneId = Number(params.requestId);
      const call = this.calls.get(laneId);
      if (call) {
        this.calls.delete(laneId);
        call.answer.end();
      }
      return;
    }
    const related = this.callFor(message.method, options?.relatedRequestId);
    if (related?.answer.write(message)) return;
    if (message.method === 'notifications/message') {
      // A log no call of this lane can be named for (several asked, none is known): dropped, never guessed.
      this.options.debug?.(`${this.label}: dropped a log message no single open request asked for`);
      return;
    }
    // No open request it could belong to: a 2026-07-28 caller has no other channel for it.
    throw new Error(`no open request to carry ${JSON.stringify(message.method)} (2026-07-28 has no standalone stream)`);
  }

  /**
   * The call a server notification goes to. The bridge names it when the wire says which request
   * it belongs to (or only one request waits). A log message goes only to a request that asked for
   * logs: named, or else the only open one that asked (logging.mdx: none without `logLevel`).
   */
  private callFor(method: string, relatedRequestId: RequestId | undefined): Call | undefined {
    const named = relatedRequestId === undefined ? undefined : this.calls.get(Number(relatedRequestId));
    if (method !== 'notifications/message') return named;
    if (named) return named.wantsLogs && named.method !== 'subscriptions/listen' ? named : undefined;
    if (relatedRequestId !== undefined) return undefined;
    let only: Call | undefined;
    for (const call of this.calls.values()) {
      if (!call.wantsLogs || call.method === 'subscriptions/listen') continue;
      if (only) return undefined;
      only = call;
    }
    return only;
  }

  private answer(message: JSONRPCMessage): void {
    const laneId = Number((message as { id?: RequestId }).id);
    const call = this.calls.get(laneId);
    if (!call) throw new Error(`no open request ${String(laneId)} to answer (the client cancelled or went away)`);
    this.calls.delete(laneId);
    if (call.method === 'tools/list' && 'result' in message) this.toolHeaders.learn(message.result);
    const code = errorCodeOf(message);
    this.learnVersions(call.method, message, code);
    const status = httpStatusOf(message) ?? (code === undefined ? 200 : modernErrorStatus(code));
    call.answer.finish(withMessageId(message, call.callerId), status);
  }

  private learnVersions(method: string, message: JSONRPCMessage, code: number | undefined): void {
    const versions =
      method === 'server/discover' && 'result' in message
        ? (message.result as { supportedVersions?: unknown }).supportedVersions
        : code === ErrorCode.unsupportedProtocolVersion
          ? airlockMade(message) ? undefined : (message as { error: { data?: { supported?: unknown } } }).error.data?.supported
          : undefined;
    if (Array.isArray(versions) && versions.length > 0 && versions.every((v) => typeof v === 'string')) this.supportedVersions = versions as string[];
  }

  /** End the stream of a cancelled request: its answer may never come. */
  closeSSEStream(requestId: RequestId): void {
    const laneId = Number(requestId);
    const call = this.calls.get(laneId);
    if (!call) return;
    this.calls.delete(laneId);
    call.answer.end();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const call of this.calls.values()) call.answer.end();
    this.calls.clear();
    this.onclose?.();
  }
}

/**
 * An error airlock's era adapter made (its `data.airlock`): a probe it refused for a 2025 server
 * lists 2025-11-25, which is not a version this lane's upstream refuses 2026 requests with (a
 * client that does not probe is translated).
 */
function airlockMade(message: JSONRPCMessage): boolean {
  return (message as { error?: { data?: { airlock?: unknown } } }).error?.data?.airlock !== undefined;
}
