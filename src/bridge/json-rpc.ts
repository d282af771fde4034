/**
 * The little of JSON-RPC 2.0 the bridge needs: classify a parsed value and build error responses.
 * The bridge forwards messages as they are; it never re-creates them through schemas, so unknown
 * methods, new protocol versions, `_meta` and extra fields pass untouched.
 */
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { duplicateMember } from './duplicate-members.js';
import { rememberText } from './message-text.js';

export type { JSONRPCMessage };
export type RequestId = string | number;

/** JSON-RPC 2.0 §5.1 error codes, plus the implementation-defined range we use for upstream failures. */
export const RpcErrorCode = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  /** Also what a 2026-07-28 server answers a request whose `_meta` lacks a required key. */
  invalidParams: -32602,
  internalError: -32603,
  /** Upstream closed, unreachable or failed (server-error range, as the MCP SDK's ConnectionClosed). */
  upstreamError: -32000,
} as const;

export type MessageKind = 'request' | 'notification' | 'response';

export type Classified =
  | { ok: true; kind: MessageKind; message: JSONRPCMessage }
  | { ok: false; code: number; reason: string; id: RequestId | null };

function invalid(reason: string, id: RequestId | null): Classified {
  return { ok: false, code: RpcErrorCode.invalidRequest, reason, id };
}

function isId(value: unknown): value is RequestId {
  return typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value));
}

/**
 * Check that a parsed JSON value is one JSON-RPC 2.0 message and say which kind.
 * Deliberately structural (jsonrpc, method, id, result/error): everything else is the peers' business.
 */
export function classify(value: unknown): Classified {
  if (Array.isArray(value)) {
    return invalid('JSON-RPC batches are not supported (MCP removed them in 2025-06-18)', null);
  }
  if (typeof value !== 'object' || value === null) {
    return invalid('a JSON-RPC message must be a JSON object', null);
  }
  const record = value as Record<string, unknown>;
  const id = isId(record.id) ? record.id : null;
  if (record.jsonrpc !== '2.0') {
    return invalid('the "jsonrpc" member must be exactly "2.0"', id);
  }
  if ('method' in record) {
    if (typeof record.method !== 'string') return invalid('the "method" member must be a string', id);
    if ('params' in record && (typeof record.params !== 'object' || record.params === null)) {
      return invalid('the "params" member must be an object or an array', id);
    }
    if (!('id' in record)) return { ok: true, kind: 'notification', message: value as JSONRPCMessage };
    if (!isId(record.id)) return invalid('the "id" member must be a string or a number', null);
    return { ok: true, kind: 'request', message: value as JSONRPCMessage };
  }
  if ('result' in record || 'error' in record) {
    // JSON-RPC 2.0 §5: an error answering a request whose id could not be read has id null.
    const nullIdError = 'error' in record && record.id === null;
    if (!isId(record.id) && !nullIdError) return invalid('a response needs a string or number "id"', null);
    if ('error' in record && (typeof record.error !== 'object' || record.error === null)) {
      return invalid('the "error" member must be an object', id);
    }
    return { ok: true, kind: 'response', message: value as JSONRPCMessage };
  }
  return invalid('not a request, notification or response (no "method", "result" or "error")', id);
}

/** The kind of a message already known to be valid (cheap: no checks). */
export function kindOf(message: JSONRPCMessage): MessageKind {
  if ('method' in message) return 'id' in message ? 'request' : 'notification';
  return 'response';
}

export function errorResponse(
  id: RequestId | null,
  code: number,
  message: string,
  data?: Record<string, unknown>,
): JSONRPCMessage {
  const error: { code: number; message: string; data?: Record<string, unknown> } = { code, message };
  if (data !== undefined) error.data = data;
  // id null is what JSON-RPC 2.0 §5 prescribes when the request id could not be read.
  return { jsonrpc: '2.0', id: id as RequestId, error } as JSONRPCMessage;
}

/**
 * Parse one frame of text (a stdio line, an SSE data field) and classify it. A good message keeps
 * its text, so the next hop forwards these same bytes (message-text.ts).
 */
export function parseFrame(text: string): Classified {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, code: RpcErrorCode.parseError, reason: `Parse error: ${(error as Error).message}`, id: null };
  }
  const verdict = classify(value);
  if (!verdict.ok) return verdict;
  if (verdict.kind !== 'response') {
    // Policy and audit read the parsed message; the bytes go on. Both must be the same message.
    const duplicate = duplicateMember(text);
    if (duplicate !== undefined) {
      const id = verdict.kind === 'request' ? ((verdict.message as { id: RequestId }).id) : null;
      return invalid(`the member ${JSON.stringify(duplicate)} appears twice: a server could read it differently from airlock's policy and audit, so the message is refused`, id);
    }
  }
  rememberText(verdict.message, text);
  return verdict;
}
