/**
 * What an era translator needs and offers: it sits between the bridge (the client side) and the
 * outbound transport (the server side), and turns one wire era into the other (ERA-NOTES 4A, 4B).
 * It never touches a transport itself: it sends through the two ports.
 */
import { errorResponse, RpcErrorCode, type JSONRPCMessage, type RequestId } from '../bridge/json-rpc.js';
import { describeError } from '../errors.js';
import type { Logger } from '../log.js';
import { rememberRelatedRequest } from '../bridge/wire-status.js';

export interface TranslatorPorts {
  /** Send to the server (the outbound transport); settles when the transport has sent it. */
  toServer(message: JSONRPCMessage): Promise<void>;
  /** Hand a message to the client, as if the server had sent it. */
  toClient(message: JSONRPCMessage): void;
  /** Pass the negotiated legacy version to the outbound transport (its MCP-Protocol-Version header). */
  setProtocolVersion(version: string): void;
  log: Logger;
}

export interface Translator {
  /** A message from the client. */
  fromClient(message: JSONRPCMessage): Promise<void>;
  /** A message from the server. */
  fromServer(message: JSONRPCMessage): void;
  /** The connection is closing: stop timers, forget pending work. */
  close(): void;
}

/** Ids airlock mints for requests of its own; the prefix keeps them apart from any client's ids. */
export class IdMint {
  private next = 0;
  constructor(private readonly prefix: string) {}
  mint(kind: string): string {
    return `mcp-airlock-${this.prefix}-${kind}-${++this.next}`;
  }
}

export function resultMessage(id: RequestId, result: unknown): JSONRPCMessage {
  return { jsonrpc: '2.0', id, result } as JSONRPCMessage;
}

export function requestMessage(id: RequestId, method: string, params: unknown): JSONRPCMessage {
  return (params === undefined ? { jsonrpc: '2.0', id, method } : { jsonrpc: '2.0', id, method, params }) as JSONRPCMessage;
}

export function notificationMessage(method: string, params?: unknown): JSONRPCMessage {
  return (params === undefined ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', method, params }) as JSONRPCMessage;
}

export function isRequest(message: JSONRPCMessage): message is JSONRPCMessage & { id: RequestId; method: string; params?: Record<string, unknown> } {
  return 'method' in message && 'id' in message;
}

export function isNotification(message: JSONRPCMessage): message is JSONRPCMessage & { method: string; params?: Record<string, unknown> } {
  return 'method' in message && !('id' in message);
}

export function responseId(message: JSONRPCMessage): RequestId | undefined {
  return 'method' in message ? undefined : ((message as { id?: RequestId }).id ?? undefined);
}

export function paramsOf(message: JSONRPCMessage): Record<string, unknown> | undefined {
  const params = (message as { params?: unknown }).params;
  return typeof params === 'object' && params !== null && !Array.isArray(params) ? (params as Record<string, unknown>) : undefined;
}

/** The client's answer when a request it made could not be sent upstream (the bridge's wording, its error code kept). */
export function notForwardedError(id: RequestId, error: unknown): JSONRPCMessage {
  const code = (error as { code?: unknown }).code;
  return errorResponse(id, RpcErrorCode.upstreamError, `mcp-airlock: the upstream server did not accept the request: ${describeError(error)}`, {
    airlock: typeof code === 'string' ? code : 'AIRLOCK_UPSTREAM_HTTP',
  });
}

/** A copy of a message that says which client request it belongs to (the bridge routes by it: wire-status.ts). */
export function relatedTo(message: JSONRPCMessage, clientId: RequestId): JSONRPCMessage {
  const copy = { ...message } as JSONRPCMessage;
  rememberRelatedRequest(copy, clientId);
  return copy;
}
