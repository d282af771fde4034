/**
 * How long a request to a remote server may go unanswered (--request-timeout). A server that
 * accepts a request and never answers held the call for ever, silently (issue 21); now its time
 * runs out, the client gets a JSON-RPC error naming the limit, and the request is cancelled
 * upstream by whoever owns the connection (`onExpired`).
 *
 * The clock measures the server's silence, not the user's: a progress notification for the
 * request starts its time again (2025-11-25 basic/utilities/progress), and no deadline runs out
 * while the server waits on the user: while a login or step-up runs after a 401/403, or while a
 * request of the server's (elicitation, sampling, roots) is unanswered by the client, for as long
 * again as the limit (a client that never answers must not hold calls for ever either); its
 * answer gives every request its full time again.
 */
import type { JSONRPCMessage, RequestId } from '../bridge/json-rpc.js';

/**
 * The default for calls: 10 minutes. Tool calls are human-paced: one may run a build, a search or a
 * crawl, or wait on an elicitation the user answers; those that take long usually report progress,
 * which starts the time again. Ten minutes of silence is far past any of that, yet bounded.
 */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10 * 60_000;

/**
 * The default for the first exchange (initialize, or server/discover): 60 s. It does no tool work
 * and asks nothing of the user (a login is not counted); a healthy server answers in well under a
 * second, a cold start (a container scaled from zero, a serverless function) in tens of seconds.
 * MCP hosts give up on a server that does not start within about a minute, so airlock says why
 * before they do. `--request-timeout` given sets both.
 */
export const FIRST_EXCHANGE_TIMEOUT_MS = 60_000;

/**
 * Requests whose answer is not due in any set time: a 2026-07-28 `subscriptions/listen` stream
 * stays open for the notifications it carries, and a 2025-11-25 `tasks/result` waits, by design,
 * until a long-running task ends (the task itself is what the server works on meanwhile).
 */
const STREAMS = new Set(['subscriptions/listen', 'tasks/result']);

/** Requests whose time ran out are remembered (to drop their late answers) up to this many. */
const MAX_EXPIRED = 1000;

export interface ExpiredRequest {
  id: RequestId;
  method: string;
  timeoutMs: number;
  /** It was the first exchange with the server (nothing had been answered yet). */
  first: boolean;
}

export interface RequestDeadlineOptions {
  /** --request-timeout in ms: every request, the first exchange included; 0 switches deadlines off. Default: 10 min for calls, 60 s for the first exchange. */
  timeoutMs?: number;
  /** True while a request waits on the user (a login or step-up after a 401/403): nothing expires meanwhile. */
  waitingForUser?: () => boolean;
  onExpired: (expired: ExpiredRequest) => void;
}

interface Running {
  method: string;
  timeoutMs: number;
  first: boolean;
  progressToken: string | number | undefined;
  timer: NodeJS.Timeout;
}

export class RequestDeadlines {
  private readonly running = new Map<RequestId, Running>();
  private readonly byProgress = new Map<string | number, RequestId>();
  /** Requests of the server's the client has not answered yet, and since when: the server waits on the client (and maybe its user). */
  private readonly serverAsks = new Map<RequestId, number>();
  private readonly expired = new Set<RequestId>();

  constructor(
    private readonly options: RequestDeadlineOptions,
    private readonly now: () => number = Date.now,
  ) {}

  /** A request of the client's goes out: its time starts. */
  start(message: JSONRPCMessage, first: boolean): void {
    if (!('method' in message) || !('id' in message) || STREAMS.has(message.method)) return;
    const timeoutMs = this.options.timeoutMs ?? (first ? FIRST_EXCHANGE_TIMEOUT_MS : DEFAULT_REQUEST_TIMEOUT_MS);
    if (timeoutMs <= 0) return;
    const id = message.id as RequestId;
    this.end(id);
    this.expired.delete(id);
    const progressToken = (message as { params?: { _meta?: { progressToken?: string | number } } }).params?._meta?.progressToken;
    this.running.set(id, { method: message.method, timeoutMs, first, progressToken, timer: this.arm(id, timeoutMs) });
    if (progressToken !== undefined) this.byProgress.set(progressToken, id);
  }

  /**
   * A message from the server. An answer ends its request's deadline; a progress notification
   * starts its request's time again; a request of the server's holds every deadline until the
   * client answers it. False when the message answers a request whose time already ran out: the
   * client has had its error, and the late answer is dropped.
   */
  fromServer(message: JSONRPCMessage): boolean {
    if ('method' in message) {
      if ('id' in message && message.id !== undefined && message.id !== null) {
        this.serverAsks.set(message.id as RequestId, this.now());
        // A server may ask far more than a client ever answers: keep the newest, as `expired` does.
        if (this.serverAsks.size > MAX_EXPIRED) this.serverAsks.delete(this.serverAsks.keys().next().value as RequestId);
      }
      else if (message.method === 'notifications/progress') {
        const token = (message as { params?: { progressToken?: string | number } }).params?.progressToken;
        const id = token === undefined ? undefined : this.byProgress.get(token);
        if (id !== undefined) this.restart(id);
      }
      return true;
    }
    const id = (message as { id?: RequestId }).id;
    if (id === undefined || id === null) return true;
    if (this.expired.delete(id)) return false;
    this.end(id);
    return true;
  }

  /** A message from the client: its answer to a server request releases the hold; its cancellation ends the request's deadline. */
  fromClient(message: JSONRPCMessage): void {
    if (!('method' in message)) {
      const id = (message as { id?: RequestId }).id;
      if (id !== undefined && id !== null && this.serverAsks.delete(id) && this.serverAsks.size === 0) {
        // The server had been waiting on the client: every request's time starts again.
        for (const running of this.running.keys()) this.restart(running);
      }
      return;
    }
    if (message.method === 'notifications/cancelled') {
      const id = (message as { params?: { requestId?: RequestId } }).params?.requestId;
      if (id !== undefined) this.end(id);
    }
  }

  /** The request ended without an answer passing here (its send failed). True when its time had run out (its error was sent then). */
  settle(id: RequestId): boolean {
    this.end(id);
    return this.expired.has(id);
  }

  /** Whether this message is a request whose time ran out. */
  hasExpired(message: JSONRPCMessage): boolean {
    return 'method' in message && 'id' in message && this.expired.has(message.id as RequestId);
  }

  /** The connection is closed: no more deadlines. */
  clear(): void {
    for (const running of this.running.values()) clearTimeout(running.timer);
    this.running.clear();
    this.byProgress.clear();
    this.serverAsks.clear();
  }

  private arm(id: RequestId, ms: number): NodeJS.Timeout {
    const timer = setTimeout(() => this.due(id), ms);
    timer.unref?.();
    return timer;
  }

  private restart(id: RequestId): void {
    const running = this.running.get(id);
    if (!running) return;
    clearTimeout(running.timer);
    running.timer = this.arm(id, running.timeoutMs);
  }

  private due(id: RequestId): void {
    const running = this.running.get(id);
    if (!running) return;
    if (this.options.waitingForUser?.()) {
      // The server waits on the user, not the other way round: give it its time again.
      running.timer = this.arm(id, running.timeoutMs);
      return;
    }
    // A request of the server's the client has not answered: the client gets as long to answer it as
    // the server gets (a client that never answers must not hold calls for ever either).
    const now = this.now();
    let newest: number | undefined;
    for (const since of this.serverAsks.values()) if (newest === undefined || since > newest) newest = since;
    if (newest !== undefined && now - newest < running.timeoutMs) {
      running.timer = this.arm(id, newest + running.timeoutMs - now);
      return;
    }
    this.end(id);
    this.expired.add(id);
    if (this.expired.size > MAX_EXPIRED) this.expired.delete(this.expired.values().next().value as RequestId);
    this.options.onExpired({ id, method: running.method, timeoutMs: running.timeoutMs, first: running.first });
  }

  private end(id: RequestId): void {
    const running = this.running.get(id);
    if (!running) return;
    clearTimeout(running.timer);
    this.running.delete(id);
    if (running.progressToken !== undefined && this.byProgress.get(running.progressToken) === id) this.byProgress.delete(running.progressToken);
  }
}
