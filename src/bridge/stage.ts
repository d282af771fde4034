/**
 * A pipeline stage: something that looks at messages on their way through the bridge and changes
 * only what its job requires (DESIGN.md, "The bridge matrix"). The tool policy is one; the audit
 * log watches through a `MessageTap`. Stages never mutate a message: they return a new one (see
 * message-text.ts).
 */
import type { JSONRPCMessage } from './json-rpc.js';

/** The client request a server message answers. */
export interface AnsweredRequest {
  method: string;
}

export interface Stage {
  /**
   * A message from the client. Return `{ reply }` to answer it here: it is then not forwarded.
   * Return undefined to let it pass.
   */
  fromClient?(message: JSONRPCMessage): { reply: JSONRPCMessage } | undefined;
  /**
   * A message from the server, with the request it answers when it is a response. Return a
   * replacement, or undefined to let it pass as it is.
   */
  fromServer?(message: JSONRPCMessage, answers: AnsweredRequest | undefined): JSONRPCMessage | undefined;
}

export type Side = 'client' | 'server';

/**
 * Sees every message that crosses the bridge, without changing any: the audit log. Unlike a
 * stage it also sees the answers airlock makes itself (policy denials, upstream failures), and
 * it may hold a direction back: a promise from `sending` delays that message, and every later
 * message in the same direction, until it settles (`--audit-sync`).
 */
export interface MessageTap {
  /**
   * A message from the client, before any stage (a request it makes, so that an answer airlock
   * gives in its place is still paired with it). Server messages are seen only in `sending`.
   */
  fromClient(message: JSONRPCMessage): void;
  /** A message about to be sent to `to`; `byAirlock` when airlock made it (not the other side). */
  sending(message: JSONRPCMessage, to: Side, byAirlock: boolean): Promise<void> | undefined;
  /** Both sides are closed; nothing more will cross. */
  closed(reason: string): Promise<void> | undefined;
}

/** Which transport a side uses ("stdio", "streamable-http", "sse"), for the audit record. */
export function transportNameOf(transport: object): string {
  return (transport as { transportName?: string }).transportName ?? 'unknown';
}
