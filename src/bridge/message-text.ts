/**
 * The text a message arrived as, so the next hop can send those same bytes instead of
 * serialising the object again: one JSON.stringify and one full copy fewer per hop (a 1 MiB
 * tool result crosses airlock twice in most directions).
 *
 * Rule for every stage of the pipeline: messages are not mutated. A stage that changes one
 * (a filtered tools/list, a denial) builds a new object, which has no remembered text and is
 * serialised afresh. Only single-line text is remembered, since both stdio framing and SSE data
 * lines forbid newlines.
 */
import type { JSONRPCMessage } from './json-rpc.js';

/**
 * Kept on the message itself, under a symbol and not enumerable: JSON.stringify and object spread
 * both ignore it, and it is collected with the message. (A WeakMap held large texts until a full
 * GC cleared its entries: +18 MiB peak RSS with 1 MiB messages.)
 */
const TEXT = Symbol('airlock.messageText');

export function rememberText(message: JSONRPCMessage, text: string): void {
  if (text.indexOf('\n') === -1 && text.indexOf('\r') === -1) {
    Object.defineProperty(message, TEXT, { value: text, enumerable: false, configurable: true });
  }
}

/** The message as one line of JSON: its original text when it has one, else serialised. */
export function messageText(message: JSONRPCMessage): string {
  return (message as { [TEXT]?: string })[TEXT] ?? JSON.stringify(message);
}

/**
 * The message as one line of JSON, remembered on it when it had no text: for a reader that comes
 * before the transport (the audit tap sizes every answer), so that a message airlock built (a
 * filtered list, a translated answer) is serialised once, and the transport sends those bytes.
 */
export function messageTextOnce(message: JSONRPCMessage): string {
  const remembered = (message as { [TEXT]?: string })[TEXT];
  if (remembered !== undefined) return remembered;
  // JSON.stringify escapes newlines, so its text is always one line.
  const text = JSON.stringify(message);
  Object.defineProperty(message, TEXT, { value: text, enumerable: false, configurable: true });
  return text;
}

/**
 * The message with another top-level id, keeping its original text where the id sits where SDKs
 * write it (`{"jsonrpc":"2.0","id":X,…` or `…,"id":X}`): the text is patched there instead of the
 * whole message being serialised again (a 1 MiB answer crossing a lane of `serve`). Either place is
 * the top level: a nested object cannot start the text, and cannot end right before its last `}`.
 */
export function withMessageId(message: JSONRPCMessage, id: string | number): JSONRPCMessage {
  const next = { ...message, id } as JSONRPCMessage;
  const text = (message as { [TEXT]?: string })[TEXT];
  const from = (message as { id?: unknown }).id;
  if (text === undefined || (typeof from !== 'number' && typeof from !== 'string')) return next;
  const old = `"id":${JSON.stringify(from)}`;
  const replacement = `"id":${JSON.stringify(id)}`;
  const head = `{"jsonrpc":"2.0",${old},`;
  if (text.startsWith(head)) {
    rememberText(next, `{"jsonrpc":"2.0",${replacement},${text.slice(head.length)}`);
  } else if (text.endsWith(`,${old}}`)) {
    rememberText(next, `${text.slice(0, text.length - old.length - 1)}${replacement}}`);
  }
  return next;
}
