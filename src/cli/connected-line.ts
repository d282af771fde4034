/**
 * connect's one info line once the first exchange with the server has succeeded: which transport
 * auto-detection chose, which MCP version was negotiated (or which eras are translated), and what
 * credentials went upstream (header names only, or where the OAuth token came from; never a
 * value). A pipeline stage that only watches; it changes no message.
 */
import type { AnsweredRequest, Stage } from '../bridge/stage.js';
import type { JSONRPCMessage, RequestId } from '../bridge/json-rpc.js';
import { claimedVersion, MODERN_PROTOCOL_VERSION } from '../eras/mcp-headers.js';

export interface ConnectedLineOptions {
  /** The server, as messages show it (no query or userinfo). */
  server: string;
  /** The outbound transport: its `transportName` and, behind the era adapter, `translation`. */
  outbound: object;
  /** The credentials sent upstream, in words ("none", "--header X-Api-Key", "OAuth token from the keychain"). */
  auth: () => string;
  write: (line: string) => void;
}

const TRANSPORT_NAMES: Record<string, string> = { 'streamable-http': 'streamable HTTP', sse: 'HTTP+SSE', stdio: 'stdio' };

/** The stage; `write` is called once, at the first successful answer to a client request. */
export function connectedLineStage(options: ConnectedLineOptions): Stage {
  /** The version each early request claimed in its `_meta` (2026-07-28 traffic), by id. */
  const claimed = new Map<RequestId, string | undefined>();
  let done = false;
  return {
    fromClient(message: JSONRPCMessage) {
      if (!done && 'method' in message && 'id' in message && claimed.size < 16) claimed.set(message.id as RequestId, claimedVersion(message));
      return undefined;
    },
    fromServer(message: JSONRPCMessage, answers: AnsweredRequest | undefined) {
      if (done || answers === undefined || !('result' in message)) return undefined;
      done = true;
      const result = message.result as { protocolVersion?: unknown };
      const version = answers.method === 'initialize' && typeof result.protocolVersion === 'string' ? result.protocolVersion : claimed.get((message as { id: RequestId }).id);
      claimed.clear();
      options.write(connectedLine(options, version));
      return undefined;
    },
  };
}

function connectedLine(options: ConnectedLineOptions, version: string | undefined): string {
  const { transportName, translation } = options.outbound as { transportName?: string; translation?: string };
  const transport = TRANSPORT_NAMES[transportName ?? ''] ?? transportName ?? 'unknown transport';
  let protocol = version === undefined ? 'MCP version not stated' : `MCP ${version}`;
  if (translation === 'legacy-client') protocol = `MCP ${MODERN_PROTOCOL_VERSION}, translated for a ${version ?? '2025'} client`;
  if (translation === 'modern-client') protocol = `MCP 2025 session era, translated for a ${version ?? MODERN_PROTOCOL_VERSION} client`;
  return `connected to ${options.server} (${transport}, ${protocol}, auth: ${options.auth()})`;
}
