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
