/**
 * What to do with a message larger than `--max-message` that an upstream sent (issue: a hostile or
 * broken upstream must not exhaust memory, and must not leave a call hanging either). The message
 * is never parsed: its first and last characters say whether it was an answer (then the call it
 * answers gets an error naming the limit), a server request (then the server gets one), or a
 * notification (then it is dropped with a warning).
 */
import { errorResponse, RpcErrorCode, type JSONRPCMessage, type RequestId } from '../bridge/json-rpc.js';
import type { OversizeEvent } from './sse-reader.js';
import type { RepeatedWarning } from '../log.js';

const ID = String.raw`(-?\d+|"(?:[^"\\]|\\.)*")`;
/** A top-level member order SDKs write: `{"jsonrpc":"2.0","id":…` or `{"id":…` at the start. */
const idFirst = new RegExp(String.raw`^\s*\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?"id"\s*:\s*${ID}`);
/** … or `…,"id":7}` / `…,"id":7,"jsonrpc":"2.0"}` at the end. */
const idLast = new RegExp(String.raw`"id"\s*:\s*${ID}\s*(?:,\s*"jsonrpc"\s*:\s*"2\.0"\s*)?\}\s*$`);
/** `"method"` as the first member (or after jsonrpc/id): a request or a notification. */
const methodFirst = new RegExp(String.raw`^\s*\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?(?:"id"\s*:\s*${ID}\s*,\s*)?"method"\s*:`);
const methodLast = /"method"\s*:\s*"(?:[^"\\]|\\.)*"\s*(?:,\s*"(?:jsonrpc|id)"\s*:\s*(?:"(?:[^"\\]|\\.)*"|-?\d+)\s*)*\}\s*$/;

export type OversizeKind = { kind: 'response'; id: RequestId } | { kind: 'request'; id: RequestId } | { kind: 'notification' } | { kind: 'unknown' };

/**
 * What an oversize message was, from its edges. With only its start known (`ended: false`) an id
 * that comes last cannot be seen yet: 'unknown' then means "ask again at its end".
 */
export function classifyOversize(event: Pick<OversizeEvent, 'prefix' | 'suffix'>): OversizeKind {
  const match = idFirst.exec(event.prefix) ?? idLast.exec(event.suffix);
  const id = match ? (JSON.parse(match[1]!) as RequestId) : undefined;
  const isCall = methodFirst.test(event.prefix) || methodLast.test(event.suffix);
  if (isCall) return id === undefined ? { kind: 'notification' } : { kind: 'request', id };
  return id === undefined ? { kind: 'unknown' } : { kind: 'response', id };
}

/** The error a call gets when its answer was too large to take. */
export function answerTooLarge(id: RequestId, limit: number, seen: number): JSONRPCMessage {
  return errorResponse(id, RpcErrorCode.upstreamError, `mcp-airlock: the server's answer (at least ${seen} bytes) is larger than --max-message (${limit} bytes) and was dropped`, {
    airlock: 'AIRLOCK_MESSAGE_TOO_LARGE',
    limit,
  });
}

/** The error a server gets when its request to the client was too large to pass on. */
function requestTooLarge(id: RequestId, limit: number): JSONRPCMessage {
  return errorResponse(id, RpcErrorCode.invalidRequest, `mcp-airlock: the request is larger than --max-message (${limit} bytes) and was not passed to the client`, { airlock: 'AIRLOCK_MESSAGE_TOO_LARGE', limit });
}

/**
 * Deal with an oversize message from a server: answer the call it answered (`toClient`), refuse the
 * request it carried (`toServer`), or warn. Returns undefined when nothing can be told yet (only its
 * start is known and names no id: ask again at its end), else which call it answered, if any.
 */
export function oversizeVerdict(
  event: OversizeEvent,
  limit: number,
  toClient: (message: JSONRPCMessage) => void,
  toServer: (message: JSONRPCMessage) => Promise<void>,
  warning: RepeatedWarning,
): { answered: RequestId | undefined } | undefined {
  const what = classifyOversize(event);
  if (!event.ended && (what.kind === 'unknown' || what.kind === 'notification')) return undefined;
  if (what.kind === 'response') {
    toClient(answerTooLarge(what.id, limit, event.seen));
    return { answered: what.id };
  }
  if (what.kind === 'request') toServer(requestTooLarge(what.id, limit)).catch(() => undefined);
  warning.report(`dropped a message of at least ${event.seen} bytes from the server: larger than --max-message (${limit} bytes)`);
  return { answered: undefined };
}

/**
 * An event past `--max-message` on a request's own stream (a POST's SSE answer): the call fails at
 * once and the stream is to be closed (the caller returns 'stop'), whatever the event turns out to
 * be. Waiting for its end to read its id left the call without an answer for as long as a hostile
 * server kept the event going (issue 21). An answer to this call gets the answer's error; a
 * request of the server's is refused to the server, and an answer to another call answers that call
 * too, as oversizeVerdict does.
 */
export function oversizeOnCallStream(
  event: OversizeEvent,
  limit: number,
  callId: RequestId,
  toClient: (message: JSONRPCMessage) => void,
  toServer: (message: JSONRPCMessage) => Promise<void>,
): void {
  const what = classifyOversize(event);
  if (what.kind === 'response' && what.id === callId) return toClient(answerTooLarge(callId, limit, event.seen));
  if (what.kind === 'response') toClient(answerTooLarge(what.id, limit, event.seen));
  if (what.kind === 'request') toServer(requestTooLarge(what.id, limit)).catch(() => undefined);
  toClient(
    errorResponse(callId, RpcErrorCode.upstreamError, `mcp-airlock: the server sent a message (at least ${event.seen} bytes) larger than --max-message (${limit} bytes) on this call's stream; the stream was closed`, {
      airlock: 'AIRLOCK_MESSAGE_TOO_LARGE',
      limit,
    }),
  );
}
