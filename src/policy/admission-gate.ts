/**
 * Holds a session's client messages while the policy stage asks the shared state store about a
 * call (serve --state): the bridge's stages answer synchronously (src/bridge/stage.ts), and a
 * store answers later. The gate sits where the inbound transport hands messages to the bridge
 * (its `onmessage`), lets `prepare` decide a call first, then hands the message on; messages
 * behind a held one wait, so the session's order is kept (a cancellation never overtakes its
 * call, and one session's calls are decided one after the other).
 *
 * It replaces the transport's `onmessage` member with an accessor, so the bridge, which sets
 * `onmessage` in start(), installs its handler behind the gate without knowing. Without a shared
 * store no gate is installed and messages flow as they always did.
 */
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { errorResponse, RpcErrorCode, type JSONRPCMessage, type RequestId } from '../bridge/json-rpc.js';

type Handler = NonNullable<Transport['onmessage']>;

/**
 * Messages one session may have waiting behind a held call, at most: a store that answers slowly
 * (each command may take its timeout) must not make serve hold whatever a client keeps sending.
 * Past it a request is answered with an error at once and a notification is dropped.
 */
export const MAX_GATED_MESSAGES = 256;

/**
 * Put a gate in front of `inbound`'s message handler. `prepare` returns a promise for a message
 * it must decide first (it never rejects), undefined for one that may pass at once.
 */
export function gateInbound(inbound: Transport, prepare: (message: JSONRPCMessage) => Promise<void> | undefined): void {
  let handler: Handler | undefined = inbound.onmessage;
  /** The last held message's hand-over; later messages queue behind it. */
  let tail: Promise<void> | undefined;
  let queued = 0;
  const gated: Handler = (message, extra) => {
    if (queued === 0) {
      const pending = prepare(message);
      if (pending === undefined) {
        handler?.(message, extra);
        return;
      }
      queued += 1;
      tail = pending.catch(() => undefined).then(() => handOver(message, extra));
      return;
    }
    if (queued >= MAX_GATED_MESSAGES) {
      if ('method' in message && 'id' in message) {
        const refusal = errorResponse(message.id as RequestId, RpcErrorCode.upstreamError, `mcp-airlock: ${MAX_GATED_MESSAGES} messages of this session already wait for the shared state store; try again once they are answered`);
        void inbound.send(refusal).catch(() => undefined);
      }
      return;
    }
    queued += 1;
    tail = tail!.then(() => prepare(message)).catch(() => undefined).then(() => handOver(message, extra));
  };
  const handOver = (message: JSONRPCMessage, extra: Parameters<Handler>[1]): void => {
    queued -= 1;
    try {
      handler?.(message, extra);
    } catch {
      // The bridge's own failure: later messages must still get through.
    }
  };
  Object.defineProperty(inbound, 'onmessage', {
    configurable: true,
    enumerable: true,
    get: () => (handler === undefined ? undefined : gated),
    set: (value: Handler | undefined) => {
      handler = value;
    },
  });
}
