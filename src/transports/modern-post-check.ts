/**
 * What a 2026-07-28 server checks in a POST before it handles the message (basic/transports/
 * streamable-http.mdx "Sending Messages", "Server Validation"; basic/index.mdx "_meta"), done by
 * `serve` itself: its upstream never sees the caller's headers (a stdio child has none; an HTTP
 * upstream gets headers airlock derives from the body again), so a mismatch must be caught here.
 */
import type { IncomingMessage } from 'node:http';
import { RpcErrorCode, type JSONRPCMessage, type RequestId } from '../bridge/json-rpc.js';
import { claimedVersion, ErrorCode, headerMismatch, isModernVersion, type ToolHeaderIndex } from '../eras/mcp-headers.js';
import { envelopeFault, isModernMessage } from '../eras/modern-wire.js';

export interface ModernPostProblem {
  status: number;
  code: number;
  message: string;
  id: RequestId | null;
  data?: Record<string, unknown>;
}

/** What the caller's lane has learned of its upstream (nothing before its first answer). */
export interface LaneKnowledge {
  /** x-mcp-header annotations, to check Mcp-Param-* headers. */
  toolHeaders: ToolHeaderIndex;
  /** The versions the upstream's server/discover named: a stdio server checks only its first message's. */
  supportedVersions: string[] | undefined;
}

/**
 * A POST of the modern era: a message's `_meta` claims 2026-07-28 or later (the body decides), or,
 * for a POST outside any session, the `MCP-Protocol-Version` header does (its missing `_meta` is
 * then reported as a modern server reports it). A session's request with an unknown version
 * header stays in its session: the upstream decides what it makes of the version.
 */
export function isModernPost(req: IncomingMessage, messages: JSONRPCMessage[]): boolean {
  if (messages.some(isModernMessage)) return true;
  const header = req.headers['mcp-protocol-version'];
  return typeof header === 'string' && isModernVersion(header.trim()) && req.headers['mcp-session-id'] === undefined;
}

/** Why this modern POST must be refused (status, JSON-RPC code and message), or undefined to handle it. */
export function modernPostProblem(req: IncomingMessage, messages: JSONRPCMessage[], lane: LaneKnowledge | undefined): ModernPostProblem | undefined {
  if (messages.length !== 1) {
    return { status: 400, code: RpcErrorCode.invalidRequest, message: 'Invalid Request: a 2026-07-28 POST carries exactly one JSON-RPC message (no batches)', id: null };
  }
  const message = messages[0]!;
  if (!('method' in message)) {
    return { status: 400, code: RpcErrorCode.invalidRequest, message: 'Invalid Request: a 2026-07-28 client sends no JSON-RPC responses', id: null };
  }
  const id = 'id' in message ? (message.id as RequestId) : null;
  if (id !== null) {
    const fault = envelopeFault((message as { params?: { _meta?: Record<string, unknown> } }).params?._meta);
    if (fault !== undefined) return { status: 400, code: RpcErrorCode.invalidParams, message: fault, id };
  }
  const mismatch = headerMismatch(message, req.headers, lane?.toolHeaders);
  if (mismatch !== undefined) return { status: 400, code: ErrorCode.headerMismatch, message: `Header mismatch: ${mismatch}`, id };
  const requested = claimedVersion(message);
  const supported = lane?.supportedVersions;
  if (requested !== undefined && supported !== undefined && !supported.includes(requested)) {
    return { status: 400, code: ErrorCode.unsupportedProtocolVersion, message: `Unsupported protocol version: ${requested}`, id, data: { supported, requested } };
  }
  return undefined;
}
