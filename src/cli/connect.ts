/**
 * `mcp-airlock [connect] <url>`: a local stdio client talks to a remote MCP server. The drop-in
 * for mcp-remote: the same config line shape, the same --header and --transport spellings.
 */
import type { Command } from 'commander';
import { claimsFromHeaders } from '../audit/principal.js';
import { resolveHeaders } from '../transports/headers.js';
import { createRequester } from '../transports/http-request.js';
import { addTlsOptions, tlsSource } from './tls-options.js';
import type { RemoteTransportMode } from '../transports/remote-transport.js';
import type { LogLevel } from '../log.js';
import { createContext, DEFAULT_MAX_MESSAGE_BYTES, version } from './context.js';
import { checkProtocolTransport, collect, parseCallbackPortArgument, parseLogLevel, parseProtocol, parseSeconds, parseSize, parseServerUrl, parseTransportMode, REQUEST_TIMEOUT_HELP, secondsToMs } from './options.js';
import { CredentialWaits } from '../transports/credential-waits.js';
import type { ProtocolChoice } from '../eras/era-adapter.js';
import { addAuthOptions, addIdentityProviderOptions, addMcpRemoteAuthOptions, grantOf, mcpRemoteAuth, upstreamAuth, type AuthFlags } from './auth-options.js';
import { endOptions, HelpGroup } from './help-groups.js';
import { runStdioSession } from './stdio-session.js';
import { addPipelineOptions, type PipelineFlags } from './pipeline.js';
import type { CommandResult } from './program.js';
import type { Invocation } from './invocation.js';
import { sortedEnv } from '../hub/shared-upstreams.js';

export interface ConnectOptions extends PipelineFlags, AuthFlags {
  transport: RemoteTransportMode;
  protocol: ProtocolChoice;
  maxMessage: number;
  requestTimeout?: number;
  header: string[];
  headerFile: string[];
  logLevel: LogLevel;
  share: boolean;
  idleStop?: number;
}

export function registerConnect(program: Command, result: CommandResult, io: Invocation): void {
  const command = program
    .command('connect', { isDefault: true })
    .summary('bridge a stdio MCP client to a remote server (default command)')
    .description('Bridge a stdio MCP client (Claude Desktop, Cursor, VS Code) to a remote MCP server over streamable HTTP or legacy SSE. stdout carries JSON-RPC only; logs go to stderr.')
    .argument('<url>', 'the remote MCP server, e.g. https://mcp.example.com/mcp')
    .argument('[callback-port]', "OAuth callback port (mcp-remote's positional form of --callback-port)", parseCallbackPortArgument)
    .optionsGroup(HelpGroup.transport)
    .option('--transport <mode>', 'auto | http | sse | sse-first (also http-first, http-only, sse-only)', parseTransportMode, 'auto')
    .option('--protocol <version>', "the server's MCP era: auto (found from the first exchange; a client that negotiates gets the server's era) | 2025-11-25 | 2026-07-28: airlock translates for every client of the other era (one pinned to 2026-07-28 needs 2025-11-25 with a 2025 server)", parseProtocol, 'auto')
    .option('--header <name: value>', 'add an HTTP header to every upstream request; ${ENV} is expanded (repeatable)', collect, [])
    .option('--header-file <path>', "read 'Name: value' lines from a file (repeatable)", collect, [])
    .option('--allow-http', 'allow plain http to a non-loopback host', false)
    .option('--hub <mode>', 'attach to the per-user hub instead of running here: auto | off | require (also MCP_AIRLOCK_HUB; docs/hub.md)', 'off')
    .option('--share', "in the hub: share this server's 2025 session with the other clients whose line is the same and says --share (one connection and login for all; the first client's capabilities hold). A 2026 server's connection is shared without it", false)
    .option('--idle-stop <seconds>', 'in the hub: close the connection after this long with no call in flight and open it again on the next request (a 2025 session is opened again with the same initialize); default: never', parseSeconds);
  addAuthOptions(command, { optional: true })
    .option('--device', 'log in with the device authorization grant (RFC 8628): the code is shown on stderr', false)
    .option('--device-code', "mcp-remote's name for --device", false)
    .option('--client-credentials', 'no user: the client credentials grant, with --client-id and a secret or --client-private-key-file', false);
  addMcpRemoteAuthOptions(addIdentityProviderOptions(command));
  addTlsOptions(command);
  addPipelineOptions(command)
    .optionsGroup(HelpGroup.limits)
    .option('--max-message <size>', 'drop a message larger than this (a line, an SSE event, a JSON body) with an error naming the limit', parseSize, DEFAULT_MAX_MESSAGE_BYTES)
    .option('--request-timeout <seconds>', REQUEST_TIMEOUT_HELP, parseSeconds);
  endOptions(command)
    .option('--log-level <level>', 'silent | error | warn | info | debug', parseLogLevel, 'info')
    .addHelpText('after', `
Examples:
  $ mcp-airlock https://mcp.example.com/mcp
  $ mcp-airlock connect https://mcp.example.com/sse --transport sse
  $ mcp-airlock https://mcp.example.com/mcp \\
      --header "Authorization: Bearer \${API_TOKEN}"
  $ mcp-airlock http://10.0.0.5:8080/mcp --allow-http \\
      --header-file ~/.config/mcp/headers
  $ mcp-airlock https://mcp.example.com/mcp --deny-tool 'delete_*' --read-only
  $ mcp-airlock https://mcp.example.com/mcp --client-credentials \\
      --client-id my-agent --client-private-key-file agent.pem

In a Claude Desktop or Cursor config (mcp-airlock is not on the npm registry
yet: until it is, use the tarball that \`npm run package\` writes, or a global
install, and "command": "mcp-airlock"):
  { "command": "npx",
    "args": ["-y", "file:/abs/path/mcp-airlock-${version}.tgz",
             "https://mcp.example.com/mcp",
             "--header", "Authorization: Bearer \${API_TOKEN}"],
    "env": { "API_TOKEN": "..." } }
Once published: "args": ["-y", "mcp-airlock", "https://mcp.example.com/mcp"]`)
    .action(async (rawUrl: string, callbackPort: number | undefined, options: ConnectOptions) => {
      checkProtocolTransport(options.protocol, options.transport);
      grantOf(options);
      // mcp-remote's flags are checked now (an inline client secret is refused), not at the first login.
      mcpRemoteAuth(options);
      const url = parseServerUrl(rawUrl, options.allowHttp);
      const context = { ...createContext(options.logLevel, options.maxMessage, io), requestTimeoutMs: secondsToMs(options.requestTimeout) };
      const headers = await resolveHeaders({ headers: options.header, headerFiles: options.headerFile }, io.env);
      const flags = { ...options, callbackPort: options.callbackPort ?? callbackPort, environment: io.env };
      // Request deadlines wait while an exchange waits for a login (credential-waits.ts).
      const credentialWaits = new CredentialWaits();
      const { request, session } = await upstreamAuth(url, headers, flags, credentialWaits.under(await createRequester(io.env, tlsSource(flags, io.env))), context.log);
      // The policy's caller: the claims of the token sent upstream (the login's, else a JWT in --header).
      const headerClaims = claimsFromHeaders(headers);
      const claims = session ? () => session.claimsNow() : () => headerClaims;
      const headerNames = Object.keys(headers).join(', ');
      const auth = (): string => {
        const parts = [session?.describeSource(), headerNames && `--header ${headerNames}`].filter((part): part is string => Boolean(part));
        return parts.length > 0 ? parts.join('; ') : 'none';
      };
      const hubSharing = io.hosted ? { shareIdentity: shareIdentity(url, headers, options, io), share: options.share, ...(options.idleStop ? { idleStopMs: Math.round(options.idleStop * 1000) } : {}) } : {};
      result.exitCode = await runStdioSession(context, { kind: 'remote', url, mode: options.transport, headers, request, auth: session, protocol: options.protocol, credentialWaits, ...hubSharing }, options, { claims }, { auth }, io);
    });
}

/**
 * In the hub: what two clients' lines must have in common to share one connection and login to a
 * server: the URL, the headers as resolved, every option (the hub's own aside), the directory and
 * the whole environment (a `--client-secret-env` value, a token a header refers to: one client's
 * secret never makes another's calls). Hashed by the hub, never shown.
 */
function shareIdentity(url: URL, headers: Record<string, string>, options: ConnectOptions, io: Invocation): unknown {
  const { share: _share, idleStop: _idleStop, logLevel: _logLevel, ...rest } = options as ConnectOptions & { hub?: string };
  delete (rest as { hub?: string }).hub;
  return [url.href, headers, rest, io.cwd, sortedEnv(io.env)];
}
