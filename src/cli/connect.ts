/**
 * `mcp-airlock [connect] <url>`: a local stdio client talks to a remote MCP server. The drop-in
 * for mcp-remote: the same config line shape, the same --header and --transport spellings.
 */
import type { Command } from 'commander';
import { resolveHeaders } from '../transports/headers.js';
import { createRequester } from '../transports/http-request.js';
import type { RemoteTransportMode } from '../transports/remote-transport.js';
import type { LogLevel } from '../log.js';
import { createContext } from './context.js';
import { collect, parseLogLevel, parseServerUrl, parseTransportMode } from './options.js';
import { runStdioSession } from './stdio-session.js';
import { addPipelineOptions, type PipelineFlags } from './pipeline.js';
import type { CommandResult } from './program.js';

export interface ConnectOptions extends PipelineFlags {
  transport: RemoteTransportMode;
  header: string[];
  headerFile: string[];
  allowHttp: boolean;
  logLevel: LogLevel;
}

export function registerConnect(program: Command, result: CommandResult): void {
  const command = program
    .command('connect', { isDefault: true })
    .summary('bridge a stdio MCP client to a remote server (default command)')
    .description('Bridge a stdio MCP client (Claude Desktop, Cursor, VS Code) to a remote MCP server over streamable HTTP or legacy SSE. stdout carries JSON-RPC only; logs go to stderr.')
    .argument('<url>', 'the remote MCP server, e.g. https://mcp.example.com/mcp')
    .argument('[callback-port]', "accepted for mcp-remote compatibility (OAuth callback port); unused until login support")
    .option('--transport <mode>', 'auto | http | sse | sse-first (also http-first, http-only, sse-only)', parseTransportMode, 'auto')
    .option('--header <name: value>', 'add an HTTP header to every upstream request; ${ENV} is expanded (repeatable)', collect, [])
    .option('--header-file <path>', "read 'Name: value' lines from a file (repeatable)", collect, [])
    .option('--allow-http', 'allow plain http to a non-loopback host', false)
    .option('--log-level <level>', 'silent | error | warn | info | debug', parseLogLevel, 'info');
  addPipelineOptions(command)
    .addHelpText('after', `
Examples:
  $ mcp-airlock https://mcp.example.com/mcp
  $ mcp-airlock connect https://mcp.example.com/sse --transport sse
  $ mcp-airlock https://mcp.example.com/mcp --header "Authorization: Bearer \${API_TOKEN}"
  $ mcp-airlock http://10.0.0.5:8080/mcp --allow-http --header-file ~/.config/mcp/headers
  $ mcp-airlock https://mcp.example.com/mcp --deny-tool 'delete_*' --read-only

In a Claude Desktop or Cursor config:
  { "command": "npx", "args": ["-y", "mcp-airlock", "https://mcp.example.com/mcp",
      "--header", "Authorization: Bearer \${API_TOKEN}"], "env": { "API_TOKEN": "..." } }`)
    .action(async (rawUrl: string, _callbackPort: string | undefined, options: ConnectOptions) => {
      const url = parseServerUrl(rawUrl, options.allowHttp);
      const context = createContext(options.logLevel);
      const headers = await resolveHeaders({ headers: options.header, headerFiles: options.headerFile });
      const request = await createRequester();
      result.exitCode = await runStdioSession(context, { kind: 'remote', url, mode: options.transport, headers, request }, options);
    });
}
