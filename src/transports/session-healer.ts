/**
 * What it takes to open a 2025-era session again for a client that does not know its session
 * ended: the client's own `initialize` and `notifications/initialized`, and the resources it
 * subscribed to (2025-11-25 basic/transports: a 404 for a session means "start a new one"; a
 * bridge must do that itself, since its client still holds the old one). Used by RemoteTransport
 * when the server ends a streamable HTTP session, and when a legacy SSE stream drops.
 */
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage, RequestId } from '../bridge/json-rpc.js';
import { AirlockError } from '../errors.js';
import type { Logger } from '../log.js';

/** How long the replayed handshake may take before the healing attempt counts as failed. */
const HANDSHAKE_TIMEOUT_MS = 30_000;

export class SessionMemory {
  private initialize: { params: unknown } | undefined;
  private initialized = false;
  private readonly subscriptions = new Set<string>();

  /** Look at a message the client sends (before it goes out). */
  observe(message: JSONRPCMessage): void {
    if (!('method' in message)) return;
    const params = (message as { params?: { uri?: unknown } }).params;
    switch (message.method) {
      case 'initialize':
        if ('id' in message) {
          this.initialize = { params: (message as { params?: unknown }).params };
          this.initialized = false;
          this.subscriptions.clear();
        }
        break;
      case 'notifications/initialized':
        this.initialized = true;
        break;
      case 'resources/subscribe':
        if (typeof params?.uri === 'string') this.subscriptions.add(params.uri);
        break;
      case 'resources/unsubscribe':
        if (typeof params?.uri === 'string') this.subscriptions.delete(params.uri);
        break;
    }
  }

  /** A 2025 session was opened (initialize and initialized went out), so it can be opened again. */
  get canReplay(): boolean {
    return this.initialize !== undefined && this.initialized;
  }

  /**
   * Open the session again on `inner`: the client's initialize (under an id of airlock's), then
   * initialized, then each subscription. `request` sends a request of airlock's and waits for its
   * answer (which the client never sees).
   */
  async replay(inner: Transport, request: (message: JSONRPCMessage) => Promise<JSONRPCMessage>, log: Logger): Promise<void> {
    const answer = await request({ jsonrpc: '2.0', id: 'initialize', method: 'initialize', params: this.initialize!.params } as JSONRPCMessage);
    if ('error' in answer) {
      const error = (answer as { error: { message?: string } }).error;
      throw new AirlockError('AIRLOCK_UPSTREAM_HTTP', `the server refused the new session: ${JSON.stringify(error.message ?? 'no message')}`);
    }
    await inner.send({ jsonrpc: '2.0', method: 'notifications/initialized' } as JSONRPCMessage);
    let restored = 0;
    for (const uri of this.subscriptions) {
      const reply = await request({ jsonrpc: '2.0', id: 'subscribe', method: 'resources/subscribe', params: { uri } } as JSONRPCMessage).catch(() => undefined);
      if (reply && !('error' in reply)) restored += 1;
      else log.warn(`could not subscribe to ${JSON.stringify(uri)} again on the new session`);
    }
    if (this.subscriptions.size > 0) log.info(`${restored} of ${this.subscriptions.size} resource subscription(s) restored`);
  }
}

/**
 * Requests airlock makes itself on a connection: their answers are taken out of the stream before
 * it reaches the client.
 */
export class OwnRequests {
  private next = 0;
  private readonly waiting = new Map<RequestId, (message: JSONRPCMessage) => void>();

  /** Send `message` under a fresh id of airlock's and wait for its answer (bounded). */
  async request(inner: Transport, message: JSONRPCMessage): Promise<JSONRPCMessage> {
    const id = `mcp-airlock-heal-${(message as { id?: RequestId }).id ?? 'request'}-${++this.next}`;
    let timer: NodeJS.Timeout | undefined;
    const answered = new Promise<JSONRPCMessage>((resolve, reject) => {
      this.waiting.set(id, resolve);
      timer = setTimeout(() => reject(new AirlockError('AIRLOCK_UPSTREAM_UNREACHABLE', `no answer to ${(message as { method: string }).method} within ${HANDSHAKE_TIMEOUT_MS / 1000} s`)), HANDSHAKE_TIMEOUT_MS);
      timer.unref?.();
    });
    try {
      await inner.send({ ...message, id } as JSONRPCMessage);
      return await answered;
    } finally {
      clearTimeout(timer);
      this.waiting.delete(id);
    }
  }

  /** True when `message` answers one of airlock's own requests (it is consumed here). */
  take(message: JSONRPCMessage): boolean {
    if ('method' in message) return false;
    const id = (message as { id?: RequestId }).id;
    const resolve = id === undefined ? undefined : this.waiting.get(id);
    if (!resolve) return false;
    resolve(message);
    return true;
  }
}

/** Wait before reconnect attempt `attempt` (0-based): exponential from 500 ms, capped at 30 s, with ±25% jitter. */
export function reconnectDelay(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(500 * 2 ** attempt, 30_000);
  return Math.round(base * (0.75 + random() * 0.5));
}
