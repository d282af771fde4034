/**
 * The pump: carries JSON-RPC messages between an inbound transport (the client side) and an
 * outbound transport (the server side), as they are. It keeps only what a faithful proxy needs:
 * which client requests are still waiting (to fail them with a clear error when the server side
 * dies or a send fails), and which request a server message belongs to (so an HTTP inbound
 * transport can put progress, sampling and logging on the right response stream).
 */
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { describeError, quote, wasLogged, type AirlockError } from '../errors.js';
import type { Logger } from '../log.js';
import { errorResponse, kindOf, RpcErrorCode, type JSONRPCMessage, type RequestId } from './json-rpc.js';
import type { MessageTap, Side, Stage } from './stage.js';
import { relatedRequestOf } from './wire-status.js';

export interface BridgeOptions {
  inbound: Transport;
  outbound: Transport;
  log: Logger;
  /** For log lines: which session or server this bridge serves. */
  label: string;
  /**
   * Set for inbound transports that route by request (streamable HTTP): server->client messages
   * are sent with `relatedRequestId` so they travel on the stream of the call they belong to.
   */
  relateServerMessages?: boolean;
  /** Stages every message passes, in order (the tool policy). */
  stages?: Stage[];
  /** Sees every message that crosses, including airlock's own answers (the audit log). */
  tap?: MessageTap;
  /** Called once, after both sides are closed, with why and which side started it. */
  onClosed?: (reason: string, by: CloseInitiator) => void;
  /**
   * When the client side closes while requests are still waiting, wait this long for their answers
   * before closing the server side (a stdio client that closed its stdin still reads stdout). 0: no wait.
   */
  drainMs?: number;
}

interface PendingRequest {
  method: string;
  progressToken: string | number | undefined;
}

type Closable = Transport & { closeReason?: string };
type SendOptions = Parameters<Transport['send']>[1];

/**
 * Messages to one side leave in the order they were handed over. Normally each is sent at once;
 * while a tap holds one back (`--audit-sync`), later ones queue behind it. `tail` settles once
 * the last queued message has been handed to the transport (not when its send completes: a
 * streamable HTTP send lasts as long as its exchange).
 */
interface Lane {
  tail: Promise<void> | undefined;
  queued: number;
}
export type CloseInitiator = 'client' | 'upstream' | 'airlock';

export class Bridge {
  /** Client->server requests waiting for their response, in send order. */
  private readonly pending = new Map<RequestId, PendingRequest>();
  private readonly progressOwners = new Map<string | number, RequestId>();
  private closing: Promise<void> | undefined;
  /** Resolved when the last waiting request is answered, while a close waits for that. */
  private drained: (() => void) | undefined;
  private readonly lanes: Record<Side, Lane> = { client: { tail: undefined, queued: 0 }, server: { tail: undefined, queued: 0 } };

  private readonly stages: Stage[];

  constructor(private readonly options: BridgeOptions) {
    this.stages = options.stages ?? [];
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  /** Start the server side first, so the first client message has somewhere to go. */
  async start(): Promise<void> {
    const { inbound, outbound } = this.options;
    outbound.onmessage = (message) => this.fromServer(message);
    outbound.onerror = (error) => this.options.log.warn(`${this.options.label}: upstream: ${describeError(error)}`);
    outbound.onclose = () => this.close((outbound as Closable).closeReason ?? 'upstream connection closed', 'upstream');
    inbound.onmessage = (message) => this.fromClient(message);
    inbound.onerror = (error) => this.options.log.debug(`${this.options.label}: client side: ${describeError(error)}`);
    inbound.onclose = () => this.close('client disconnected', 'client');
    await outbound.start();
    await inbound.start();
  }

  private fromClient(message: JSONRPCMessage): void {
    this.options.tap?.fromClient(message);
    for (const stage of this.stages) {
      const verdict = stage.fromClient?.(message);
      if (verdict) {
        this.send('client', verdict.reply, undefined, true).catch(() => undefined);
        return;
      }
    }
    const kind = kindOf(message);
    if (kind === 'request') {
      const request = message as { id: RequestId; method: string; params?: { _meta?: { progressToken?: string | number } } };
      const progressToken = request.params?._meta?.progressToken;
      this.pending.set(request.id, { method: request.method, progressToken });
      if (progressToken !== undefined) this.progressOwners.set(progressToken, request.id);
    } else if (kind === 'notification' && (message as { method: string }).method === 'notifications/cancelled') {
      // After a cancellation the server may never answer (MCP cancellation §behaviour): stop waiting.
      const id = (message as { params?: { requestId?: RequestId } }).params?.requestId;
      if (id !== undefined && this.settle(id)) {
        // Streamable HTTP keeps the call's response stream open until an answer that may never
        // come; end it so neither side holds a dead stream.
        (this.options.inbound as { closeSSEStream?: (id: RequestId) => void }).closeSSEStream?.(id);
      }
    }
    this.send('server', message, undefined, false).catch((error: unknown) => this.sendFailed(message, kind, error));
  }

  /** Hand a message to one side, in order, after whatever the tap holds it for. */
  private send(to: Side, message: JSONRPCMessage, options: SendOptions, byAirlock: boolean): Promise<void> {
    const transport = to === 'client' ? this.options.inbound : this.options.outbound;
    const hold = this.options.tap?.sending(message, to, byAirlock);
    const lane = this.lanes[to];
    if (hold === undefined && lane.queued === 0) return transport.send(message, options);
    lane.queued += 1;
    const prior = lane.tail;
    let handedOver: () => void = () => undefined;
    lane.tail = new Promise<void>((resolve) => (handedOver = resolve));
    const release = (): void => {
      handedOver();
      handedOver = () => undefined;
    };
    return (async () => {
      let sending: Promise<void> | undefined;
      try {
        if (prior) await prior;
        let outgoing: JSONRPCMessage | undefined = message;
        if (hold) outgoing = await hold.then(() => message, (error: unknown) => this.heldBackFailed(message, error));
        if (outgoing) sending = transport.send(outgoing, options);
      } finally {
        lane.queued -= 1;
        release();
      }
      await sending;
    })();
  }

  /**
   * The tap could not do what the message waited for (the audit record could not be synced):
   * fail closed. An answer becomes an error naming why; anything else is dropped, with a log line.
   */
  private heldBackFailed(message: JSONRPCMessage, error: unknown): JSONRPCMessage | undefined {
    const text = describeError(error);
    this.options.log.error(`${this.options.label}: ${describeMessage(message)} withheld: ${text}`);
    if ('method' in message || message.id === undefined || message.id === null) return undefined;
    const code = (error as Partial<AirlockError>).code ?? 'AIRLOCK_AUDIT_WRITE';
    return errorResponse(message.id as RequestId, RpcErrorCode.upstreamError, `mcp-airlock withheld this answer: ${text}`, { airlock: code });
  }

  private fromServer(received: JSONRPCMessage): void {
    let message = received;
    let relatedRequestId: RequestId | undefined;
    let entry: PendingRequest | undefined;
    if ('method' in message) {
      if (this.options.relateServerMessages) relatedRequestId = this.relatedRequest(message);
    } else {
      entry = this.settle(message.id as RequestId);
      if (entry?.method === 'initialize' && 'result' in message) this.onInitialized(message.result);
    }
    for (const stage of this.stages) message = stage.fromServer?.(message, entry) ?? message;
    const options = relatedRequestId === undefined ? undefined : { relatedRequestId };
    this.send('client', message, options, false).catch((error: unknown) => {
      // The client went away mid-response, or cancelled and closed its stream: nothing to do but say so.
      this.options.log.debug(`${this.options.label}: could not deliver ${describeMessage(message)} to the client: ${describeError(error)}`);
      // A server request nobody can answer would leave the server waiting forever: answer it.
      if ('method' in message && 'id' in message) {
        const reply = errorResponse(message.id as RequestId, RpcErrorCode.upstreamError, `mcp-airlock could not deliver ${message.method} to the client: ${describeError(error)}`);
        this.send('server', reply, undefined, true).catch(() => undefined);
      }
    });
  }

  /**
   * The call a server->client message belongs to, when that can be known: the request whose POST
   * stream it came on (wire-status.ts), the owner of its progress token, or the one request still
   * waiting. Sampling, elicitation, roots and logging carry no request id over stdio, so with
   * several requests waiting nobody can tell: then it is undefined, and the inbound side decides
   * (a 2025 session's standalone stream; a 2026 lane drops what no call of its callers can own).
   * Never "the newest call": with callers sharing one upstream that hands one caller's question
   * or log to another.
   */
  private relatedRequest(message: JSONRPCMessage & { method: string }): RequestId | undefined {
    const tagged = relatedRequestOf(message);
    if (tagged !== undefined) return tagged;
    const token = (message as { params?: { progressToken?: string | number } }).params?.progressToken;
    if (message.method === 'notifications/progress' && token !== undefined) return this.progressOwners.get(token);
    let only: RequestId | undefined;
    let waiting = 0;
    for (const [id, entry] of this.pending) {
      // A listen stream is held open on purpose; progress and logs never go there (subscriptions.mdx).
      if (entry.method === 'subscriptions/listen') continue;
      if (++waiting > 1) return undefined;
      only = id;
    }
    return only;
  }

  private onInitialized(result: unknown): void {
    // Outbound HTTP needs the negotiated version for its MCP-Protocol-Version header (2025-06-18+).
    const version = (result as { protocolVersion?: unknown } | undefined)?.protocolVersion;
    const outbound = this.options.outbound as Transport & { setProtocolVersion?: (v: string) => void };
    if (typeof version === 'string') outbound.setProtocolVersion?.(version);
  }

  private settle(id: RequestId): PendingRequest | undefined {
    const entry = this.pending.get(id);
    if (entry === undefined) return undefined;
    this.pending.delete(id);
    if (entry.progressToken !== undefined) this.progressOwners.delete(entry.progressToken);
    if (this.pending.size === 0) this.drained?.();
    return entry;
  }

  /** The client is gone but may still read: let the answers it asked for arrive (bounded by drainMs). */
  private async drain(): Promise<void> {
    const { log, label, drainMs: ms = 0 } = this.options;
    if (ms <= 0 || this.pending.size === 0) return;
    log.debug(`${label}: the client closed its input; waiting up to ${ms} ms for ${this.pending.size} answer(s) it asked for`);
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.drained = resolve;
      timer = setTimeout(resolve, ms);
      timer.unref?.();
    });
    clearTimeout(timer);
    this.drained = undefined;
    if (this.pending.size > 0) log.warn(`${label}: ${this.pending.size} answer(s) did not come within ${ms} ms of the client closing its input`);
  }

  private sendFailed(message: JSONRPCMessage, kind: string, error: unknown): void {
    const text = describeError(error);
    // A connection failure the transport already showed (with its hint) is not logged twice.
    if (!wasLogged(error)) this.options.log.warn(`${this.options.label}: could not forward ${describeMessage(message)} to the server: ${text}`);
    if (kind !== 'request') return;
    const id = (message as { id: RequestId }).id;
    if (!this.settle(id)) return;
    const { code, hint } = error as Partial<AirlockError>;
    this.replyError(id, `mcp-airlock: the upstream server did not accept the request: ${text}`, code, hint);
  }

  private replyError(id: RequestId, text: string, code: string | undefined, hint?: string): void {
    const response = errorResponse(id, RpcErrorCode.upstreamError, text, { airlock: code ?? 'AIRLOCK_UPSTREAM_HTTP', ...(hint ? { hint } : {}) });
    this.send('client', response, undefined, true).catch(() => undefined);
  }

  /**
   * Close both sides once. Requests still waiting get a JSON-RPC error naming the reason
   * (e.g. "server process 123 exited with code 3"), so no client call hangs forever.
   */
  close(reason = 'closed', by: CloseInitiator = 'airlock'): Promise<void> {
    if (this.closing && this.drained && by !== 'client') {
      // Waiting for answers, and now the server side is gone (or airlock stops): they will not come.
      if (by === 'upstream') this.failPending(reason);
      this.drained();
    }
    // A second caller waits for the first close to finish, not just to start.
    this.closing ??= this.closeOnce(reason, by);
    return this.closing;
  }

  /** The server side is gone: every request still waiting gets an error naming why. */
  private failPending(reason: string): void {
    for (const id of this.pending.keys()) this.replyError(id, `mcp-airlock: the upstream server closed before answering: ${reason}`, 'AIRLOCK_UPSTREAM_CLOSED');
  }

  private async closeOnce(reason: string, by: CloseInitiator): Promise<void> {
    const { inbound, outbound, log, label } = this.options;
    if (by === 'client') await this.drain();
    if (by === 'upstream') this.failPending(reason);
    this.pending.clear();
    this.progressOwners.clear();
    log.debug(`${label}: closing (${by}: ${reason})`);
    // The record of every call still open is written before anything closes, and answers held
    // back for it reach the client first.
    await this.options.tap?.closed(`${by}: ${reason}`)?.catch((error: unknown) => log.error(`${label}: audit: ${describeError(error)}`));
    await this.lanes.client.tail;
    // Each side is closed even when the other throws; the one that closed first is a no-op.
    await Promise.allSettled([outbound.close(), inbound.close()]);
    this.options.onClosed?.(reason, by);
  }
}

function describeMessage(message: JSONRPCMessage): string {
  if ('method' in message) return 'id' in message ? `request ${quote(message.method)} (id ${String(message.id)})` : `notification ${quote(message.method)}`;
  return `response (id ${String(message.id)})`;
}
