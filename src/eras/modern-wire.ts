/**
 * What the 2026-07-28 wire says about errors and eras, for the transports: which JSON-RPC errors
 * prove a modern server, which HTTP status a modern server gives them, and whether a message
 * belongs to the modern era (docs/specification/2026-07-28: basic/versioning.mdx "Backward
 * Compatibility", basic/transports/streamable-http.mdx "Protocol Version Header", "Server Validation").
 */
import { RpcErrorCode, type JSONRPCMessage } from '../bridge/json-rpc.js';
import { claimedVersion, ErrorCode, META_CLIENT_CAPABILITIES, META_PROTOCOL_VERSION } from './mcp-headers.js';

const modernErrorCodes = new Set<number>([ErrorCode.headerMismatch, ErrorCode.missingClientCapability, ErrorCode.unsupportedProtocolVersion]);

/**
 * True when the message belongs to the modern era: its `_meta` names a protocol version at all
 * (the body decides, not headers; no 2025-era message carries that key). The version itself may be
 * one nobody serves ("v999.0.0"): the server answers that with -32022 and its supported list, which
 * only a modern exchange can carry.
 */
export function isModernMessage(message: JSONRPCMessage): boolean {
  return claimedVersion(message) !== undefined;
}

/**
 * Why a 2026-07-28 request's `_meta` envelope is refused with -32602 (basic/index.mdx: a string
 * protocol version and the client's capabilities are required), or undefined when it has both.
 */
export function envelopeFault(meta: Record<string, unknown> | undefined): string | undefined {
  const missing = typeof meta?.[META_PROTOCOL_VERSION] !== 'string' ? META_PROTOCOL_VERSION : meta[META_CLIENT_CAPABILITIES] === undefined ? META_CLIENT_CAPABILITIES : undefined;
  return missing === undefined ? undefined : `Invalid params: _meta is missing the required ${JSON.stringify(missing)}`;
}

/** A request that opens the modern era: enveloped, or the era's probe `server/discover`. */
export function isModernOpening(message: JSONRPCMessage): boolean {
  return 'method' in message && 'id' in message && (isModernMessage(message) || message.method === 'server/discover');
}

/** The code of a JSON-RPC error response, or undefined for anything else. */
export function errorCodeOf(value: unknown): number | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const error = (value as { error?: unknown }).error;
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

/**
 * A 4xx body that only a modern server sends: -32020/-32021/-32022 (with 400), or -32601 with 404
 * (a legacy HTTP+SSE server's 404 has no JSON-RPC body). A client seeing one must not fall back
 * to an older transport: it talks to a modern server that refused this one request.
 */
export function isModernErrorAnswer(status: number, body: unknown): boolean {
  const code = errorCodeOf(body);
  if (code === undefined) return false;
  return modernErrorCodes.has(code) || (status === 404 && code === RpcErrorCode.methodNotFound);
}

/**
 * The HTTP status a modern server gives an error it answers with (streamable-http.mdx): 400 for
 * header mismatch, a missing client capability and an unsupported version, 404 for an unknown
 * method; errors raised while handling the request travel with 200.
 */
export function modernErrorStatus(code: number): number {
  if (modernErrorCodes.has(code)) return 400;
  if (code === RpcErrorCode.methodNotFound) return 404;
  return 200;
}
