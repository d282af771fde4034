/**
 * A pipeline stage: something that looks at messages on their way through the bridge and changes
 * only what its job requires (DESIGN.md, "The bridge matrix"). The tool policy is one; the audit
 * log will be another. Stages never mutate a message: they return a new one (see message-text.ts).
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
