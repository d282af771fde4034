/**
 * The HTTP status an upstream answered a message with, carried beside the message so that the next
 * hop can answer with the same status. A 2026-07-28 server answers some JSON-RPC errors with 400 or
 * 404 (unsupported version, header mismatch, unknown method); `serve` in front of it must do the same
 * for the caller to read them as a modern server's errors. Kept like the message text
 * (message-text.ts): under a symbol, not enumerable, so it never reaches the wire.
 */
import type { JSONRPCMessage } from './json-rpc.js';

const STATUS = Symbol('airlock.httpStatus');

export function rememberHttpStatus(message: JSONRPCMessage, status: number): void {
  Object.defineProperty(message, STATUS, { value: status, enumerable: false, configurable: true });
}

/** The status the upstream answered this message with, when it came over HTTP with one other than 200. */
export function httpStatusOf(message: JSONRPCMessage): number | undefined {
  return (message as { [STATUS]?: number })[STATUS];
}
