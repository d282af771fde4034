/**
 * What travels beside a message between two HTTP hops without being part of it: the HTTP status an
 * upstream answered it with, so that the next hop can answer with the same status, and the
 * `Mcp-Param-*` headers a caller sent with it. A 2026-07-28 server answers some JSON-RPC errors
 * with 400 or 404 (unsupported version, header mismatch, unknown method); `serve` in front of it
 * must do the same for the caller to read them as a modern server's errors. Kept like the message
 * text (message-text.ts): under a symbol, not enumerable, so it never reaches the wire.
 */
import type { JSONRPCMessage, RequestId } from './json-rpc.js';

const STATUS = Symbol('airlock.httpStatus');

export function rememberHttpStatus(message: JSONRPCMessage, status: number): void {
  Object.defineProperty(message, STATUS, { value: status, enumerable: false, configurable: true });
}

/** The status the upstream answered this message with, when it came over HTTP with one other than 200. */
export function httpStatusOf(message: JSONRPCMessage): number | undefined {
  return (message as { [STATUS]?: number })[STATUS];
}

const FORWARDED = Symbol('airlock.forwardedHeaders');

/**
 * `Mcp-Param-*` headers a caller sent with a message that airlock does not derive itself (a tool
 * it has not seen listed): an intermediary MUST forward unrecognized ones (2026-07-28
 * streamable-http.mdx, "Server Behavior for Custom Headers"). Carried beside the message like its status.
 */
export function rememberForwardedHeaders(message: JSONRPCMessage, headers: Record<string, string>): void {
  Object.defineProperty(message, FORWARDED, { value: headers, enumerable: false, configurable: true });
}

export function forwardedHeadersOf(message: JSONRPCMessage): Record<string, string> | undefined {
  return (message as { [FORWARDED]?: Record<string, string> })[FORWARDED];
}

const RELATED = Symbol('airlock.relatedRequest');

/**
 * The request a server message was sent for, when the wire says so: a message read from the SSE
 * stream of a POST belongs to the request that POST carried (2025-11-25 and 2026-07-28
 * streamable HTTP). stdio and a standalone GET stream say nothing, and then nothing is remembered.
 * The bridge routes by it (sampling, elicitation, logs to the caller whose call asked), so a
 * message is never pinned to a call by guessing.
 */
export function rememberRelatedRequest(message: JSONRPCMessage, requestId: RequestId): void {
  Object.defineProperty(message, RELATED, { value: requestId, enumerable: false, configurable: true });
}

export function relatedRequestOf(message: JSONRPCMessage): RequestId | undefined {
  return (message as { [RELATED]?: RequestId })[RELATED];
}
