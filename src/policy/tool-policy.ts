/**
 * Which tools an agent may see and call. `--allow-tool` and `--deny-tool` take glob patterns
 * (`*` any run of characters, `?` one character, matched against the whole name); deny wins over
 * allow; with any allow pattern, a tool must match one. `--read-only` keeps only tools the server
 * marks `readOnlyHint: true` (MCP 2025-11-25 server/tools, "Tool annotations").
 *
 * As a bridge stage: hidden tools are removed from every tools/list result (a
 * notifications/tools/list_changed passes, and the client's next list is filtered again), and a
 * tools/call of a hidden tool is answered here with a JSON-RPC error naming the rule: it never
 * reaches the server.
 */
import { errorResponse, type JSONRPCMessage, type RequestId } from '../bridge/json-rpc.js';
import type { AnsweredRequest, Stage } from '../bridge/stage.js';

export interface ToolPolicyOptions {
  allow: string[];
  deny: string[];
  readOnly: boolean;
}

/** Invalid params: how MCP answers a call to a tool that does not exist (server/tools, "Error Handling"). */
const TOOL_REFUSED = -32602;

interface Tool {
  name: string;
  annotations?: { readOnlyHint?: boolean };
}

export function globToRegExp(pattern: string): RegExp {
  const source = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${source}$`);
}

export class ToolPolicy implements Stage {
  private readonly allow: Array<[string, RegExp]>;
  private readonly deny: Array<[string, RegExp]>;
  /** Tools the server marked read-only in the tools/list results seen so far. */
  private readonly readOnlyTools = new Set<string>();

  constructor(private readonly options: ToolPolicyOptions) {
    this.allow = options.allow.map((p) => [p, globToRegExp(p)]);
    this.deny = options.deny.map((p) => [p, globToRegExp(p)]);
  }

  /** True when the policy changes anything; a bridge without it skips the stage. */
  get active(): boolean {
    return this.allow.length > 0 || this.deny.length > 0 || this.options.readOnly;
  }

  /** Why this tool is hidden, naming the rule; undefined when it is visible. */
  refusal(name: string, readOnlyHint: boolean | undefined): string | undefined {
    const denied = this.deny.find(([, re]) => re.test(name));
    if (denied) return `denied by --deny-tool ${JSON.stringify(denied[0])}`;
    if (this.allow.length > 0 && !this.allow.some(([, re]) => re.test(name))) {
      return `not matched by any --allow-tool (${this.allow.map(([p]) => JSON.stringify(p)).join(', ')})`;
    }
    if (this.options.readOnly && readOnlyHint !== true) return '--read-only, and no tools/list from the server marked it readOnlyHint';
    return undefined;
  }

  fromClient(message: JSONRPCMessage): { reply: JSONRPCMessage } | undefined {
    if (!('method' in message) || message.method !== 'tools/call' || !('id' in message)) return undefined;
    const name = (message.params as { name?: unknown } | undefined)?.name;
    if (typeof name !== 'string') return undefined; // malformed: the server's to answer
    const why = this.refusal(name, this.readOnlyTools.has(name) ? true : undefined);
    if (why === undefined) return undefined;
    const text = `mcp-airlock tool policy: tool ${JSON.stringify(name)} is not available: ${why}`;
    return { reply: errorResponse(message.id as RequestId, TOOL_REFUSED, text, { airlock: 'AIRLOCK_POLICY_DENIED', tool: name }) };
  }

  fromServer(message: JSONRPCMessage, answers: AnsweredRequest | undefined): JSONRPCMessage | undefined {
    if (answers?.method !== 'tools/list' || !('result' in message)) return undefined;
    const result = message.result as { tools?: unknown };
    if (!Array.isArray(result.tools)) return undefined;
    const tools = result.tools as Tool[];
    for (const tool of tools) if (tool.annotations?.readOnlyHint === true) this.readOnlyTools.add(tool.name);
    const visible = tools.filter((tool) => this.refusal(tool.name, tool.annotations?.readOnlyHint) === undefined);
    if (visible.length === tools.length) return undefined;
    // A new object: the original text must not be forwarded for a changed message.
    return { ...message, result: { ...result, tools: visible } } as JSONRPCMessage;
  }
}
