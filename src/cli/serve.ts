/**
 * `mcp-airlock serve`: expose a stdio server (spawned per session) or a remote server over
 * streamable HTTP at /mcp and legacy SSE at /sse + /messages, on 127.0.0.1 by default.
 */
import { endOptions, HelpGroup } from './help-groups.js';
import type { Command } from 'commander';
import { resolveCommand } from '../transports/command-lookup.js';
import { fstatSync, readFileSync } from 'node:fs';
import { AirlockError, ExitCode } from '../errors.js';
import type { Logger, LogLevel } from '../log.js';
import { authorizedRequester } from '../auth/authorized-requester.js';
import { isLoopbackHost } from '../transports/http-guard.js';
import { resolveHeaders } from '../transports/headers.js';
import { createRequester, outboundFetch, type HttpRequester } from '../transports/http-request.js';
import { addTlsOptions, tlsSource } from './tls-options.js';
import { startHttpInbound } from '../transports/http-inbound-server.js';
import { childEnvironment, headerReferences } from '../transports/child-env.js';
import { createOutbound, describeUpstream, upstreamPrincipal, type UpstreamSpec } from '../transports/outbound.js';
import type { RemoteTransportMode } from '../transports/remote-transport.js';
import { STATIC_TOKEN_CALLER } from '../policy/caller.js';
import { createContext, DEFAULT_MAX_MESSAGE_BYTES, version } from './context.js';
import { addPipelineOptions, createPipeline, type PipelineFlags } from './pipeline.js';
import { addStateOptions, openSharedState, type StateFlags } from './state-options.js';
import { addServeAuthOptions, prepareInboundAuth, tokenExchangeIssuer, type ServeAuthFlags } from './serve-auth.js';
import { addAuthOptions, clientSecret, upstreamAuth, type AuthFlags } from './auth-options.js';
import { supervise } from './lifecycle.js';
import { checkProtocolTransport, collect, collectEnv, parseLogLevel, parsePort, parsePositiveInt, parseProtocol, parseSeconds, parseServerUrl, parseSize, parseTransportMode, REQUEST_TIMEOUT_HELP, secondsToMs } from './options.js';
import { CredentialWaits } from '../transports/credential-waits.js';
import type { ProtocolChoice } from '../eras/era-adapter.js';
import type { CommandResult } from './program.js';

export interface ServeOptions extends PipelineFlags, ServeAuthFlags, AuthFlags, StateFlags {
  port: number;
  host: string;
  upstream?: string;
  transport: RemoteTransportMode;
  protocol: ProtocolChoice;
  maxMessage: number;
  requestTimeout?: number;
  env: Record<string, string>;
  envAllow: string[];
  header: string[];
  headerFile: string[];
  maxBody: number;
  allowOrigin: string[];
  allowedHost: string[];
  sessionTimeout: number;
  maxSessions: number;
  mcpPath: string;
  ssePath: string;
  messagesPath: string;
  healthPath: string;
  readyPath: string;
  drainTimeout: number;
  upstreamTokenExchange: boolean;
  tokenExchangeActor: boolean;
  logLevel: LogLevel;
}

export const DEFAULT_PORT = 8808;

export function registerServe(program: Command, result: CommandResult): void {
  const command = program
    .command('serve')
    .summary('expose a stdio server (or a remote one) over streamable HTTP and SSE')
    .description('Serve MCP over HTTP: streamable HTTP at /mcp and legacy HTTP+SSE at /sse + /messages, at once. Each client session gets its own upstream connection (its own child process for a command).')
    .argument('[command...]', 'the stdio server to spawn per session, after --')
    .optionsGroup(HelpGroup.listen)
    .option('--port <n>', 'port to listen on (0 picks a free one)', parsePort, DEFAULT_PORT)
    .option('--host <address>', 'address to bind; keep 127.0.0.1 unless you mean to expose it', '127.0.0.1')
    .option('--allow-origin <origin>', "allow browser requests from this Origin ('*' for any). Without it, loopback origins (http://localhost:*, 127.0.0.1, [::1]) are allowed; given, only the listed ones are, loopback included only if listed (repeatable)", collect, [])
    .option('--allowed-host <host>', 'accept this Host header too, e.g. when behind a reverse proxy (repeatable)', collect, [])
    .option('--mcp-path <path>', 'streamable HTTP endpoint', '/mcp')
    .option('--sse-path <path>', 'legacy SSE stream endpoint', '/sse')
    .option('--messages-path <path>', 'legacy SSE message endpoint', '/messages')
    .option('--health-path <path>', 'liveness endpoint: 200 while the process runs', '/healthz')
    .option('--ready-path <path>', 'readiness endpoint: 200 while new clients are taken, 503 while draining', '/readyz')
    .option('--drain-timeout <seconds>', 'on SIGTERM: refuse new sessions and requests (503, Retry-After) and wait this long for the calls in flight before closing (SIGINT closes at once)', parseSeconds, 30)
    .optionsGroup(HelpGroup.server)
    .option('--env <name=value>', 'set an environment variable for the server command (repeatable)', collectEnv, {})
    .option('--env-allow <name>', "pass only these variables of airlock's environment to the server command, besides PATH, HOME and the like (repeatable)", collect, [])
    .optionsGroup(HelpGroup.transport)
    .option('--upstream <url>', 'serve a remote MCP server instead of a command')
    .option('--transport <mode>', 'how to reach --upstream: auto | http | sse | sse-first', parseTransportMode, 'auto')
    .option('--protocol <version>', "the upstream's MCP era: auto (found from each connection's first exchange; a client that negotiates gets the upstream's era) | 2025-11-25 | 2026-07-28: airlock translates for every client of the other era (one pinned to 2026-07-28 needs 2025-11-25 with a 2025 upstream)", parseProtocol, 'auto')
    .option('--header <name: value>', 'add an HTTP header to upstream requests; ${ENV} is expanded (repeatable)', collect, [])
    .option('--header-file <path>', "read 'Name: value' lines from a file (repeatable)", collect, [])
    .option('--allow-http', 'allow plain http to a non-loopback --upstream', false)
    .option('--upstream-token-exchange', "exchange each caller's token (RFC 8693) at the upstream's authorization server for one meant for the upstream; needs inbound OAuth and --client-id with a secret", false)
    .option('--token-exchange-actor', "with --upstream-token-exchange: ask for a delegation token, presenting airlock's own token (client credentials) as the actor, so the upstream's token names airlock in its act claim", false);
  addServeAuthOptions(command);
  addAuthOptions(command, { optional: false });
  addTlsOptions(command);
  addPipelineOptions(command)
    .optionsGroup(HelpGroup.limits)
    .option('--max-body <size>', 'largest accepted request body; larger gets 413', parseSize, 4 * 1024 * 1024)
    .option('--session-timeout <seconds>', 'end a streamable HTTP session idle this long (0: never)', parseSeconds, 1800)
    .option('--max-sessions <n>', 'refuse new sessions past this many (each may be a child process)', parsePositiveInt, 32)
    .option('--max-message <size>', 'drop a message from the upstream larger than this (a line, an SSE event, a JSON body) with an error naming the limit', parseSize, DEFAULT_MAX_MESSAGE_BYTES)
    .option('--request-timeout <seconds>', `with --upstream: ${REQUEST_TIMEOUT_HELP}`, parseSeconds);
  addStateOptions(command);
  endOptions(command)
    .option('--log-level <level>', 'silent | error | warn | info | debug', parseLogLevel, 'info')
    .passThroughOptions()
    .addHelpText('after', `
Examples:
  $ mcp-airlock serve -- npx -y @modelcontextprotocol/server-everything
  $ mcp-airlock serve --port 9000 -- python -m my_server
  $ mcp-airlock serve --upstream https://mcp.example.com/sse --transport sse
  $ mcp-airlock serve --host 0.0.0.0 --allowed-host mcp.internal:8808 \\
      -- node server.js
  $ mcp-airlock serve --auth-token-generate -- node server.js
  $ mcp-airlock serve --oauth-issuer https://idp.example.com \\
      --oauth-scopes mcp:use --tool-scope 'delete_*=mcp:admin' -- node server.js
  $ mcp-airlock serve --oauth-issuer https://idp.example.com \\
      --upstream https://mcp.example.com/mcp --upstream-token-exchange \\
      --client-id airlock-gateway --client-secret-env GATEWAY_SECRET

Inbound authentication: a static token (--auth-token-file, --auth-token-env,
--auth-token-generate) or an OAuth resource server (--oauth-issuer ...) that
serves RFC 9728 metadata at /.well-known/oauth-protected-resource, so MCP
clients discover where to log in.

Endpoints: POST/GET/DELETE /mcp, GET /sse, POST /messages?sessionId=...,
GET /healthz, GET /readyz`)
    .action(async (commandLine: string[], options: ServeOptions) => {
      result.exitCode = await serve(commandLine, options);
    });
}

async function serve(commandLine: string[], options: ServeOptions): Promise<number> {
  if ((options.upstream === undefined) === (commandLine.length === 0)) {
    throw new AirlockError('AIRLOCK_USAGE', options.upstream ? 'give either --upstream or a command, not both' : 'nothing to serve: give a command after -- or --upstream <url>', {
      hint: 'mcp-airlock serve -- <command> [args...]   or   mcp-airlock serve --upstream https://host/mcp',
    });
  }
  if (options.tokenExchangeActor && !options.upstreamTokenExchange) {
    throw new AirlockError('AIRLOCK_USAGE', '--token-exchange-actor changes how --upstream-token-exchange asks for tokens; give both', {
      hint: 'Add --upstream-token-exchange (with --upstream, inbound OAuth and --client-id with a secret).',
    });
  }
  const context = { ...createContext(options.logLevel, options.maxMessage), requestTimeoutMs: secondsToMs(options.requestTimeout) };
  const { log } = context;
  let upstream: UpstreamSpec;
  /** Each session's upstream: the same for all, or with the session caller's exchanged token. */
  let upstreamFor = (_callerToken: () => string | undefined): UpstreamSpec => upstream;
  if (options.upstream !== undefined) {
    checkProtocolTransport(options.protocol, options.transport);
    const url = parseServerUrl(options.upstream, options.allowHttp);
    const headers = await resolveHeaders({ headers: options.header, headerFiles: options.headerFile });
    if (options.upstreamTokenExchange) {
      const { request, perCaller } = await tokenExchangeUpstream(url, headers, options, log);
      const remote = { kind: 'remote', url, mode: options.transport, headers, request, protocol: options.protocol } as const;
      upstream = remote;
      upstreamFor = (callerToken) => ({ ...remote, request: perCaller(callerToken) });
    } else {
      // Upstream OAuth: stored tokens, and a login (URL on stderr) when the server answers 401.
      const credentialWaits = new CredentialWaits();
      const { request, session } = await upstreamAuth(url, headers, { ...options, auth: true }, credentialWaits.under(await createRequester(process.env, tlsSource(options))), log);
      upstream = { kind: 'remote', url, mode: options.transport, headers, request, auth: session, protocol: options.protocol, credentialWaits };
    }
  } else {
    if (options.upstreamTokenExchange) {
      throw new AirlockError('AIRLOCK_USAGE', '--upstream-token-exchange needs --upstream <url>: a local command has no authorization server', {
        hint: 'Drop --upstream-token-exchange, or serve a remote server with --upstream.',
      });
    }
    const [command, ...args] = commandLine as [string, ...string[]];
    // The child never sees airlock's own secrets (the inbound token, a client secret, header references).
    const withheld = [options.authTokenEnv, options.clientSecretEnv, ...headerReferences([...options.header, ...options.headerFile.map(readIfPresent)])].filter((name): name is string => name !== undefined);
    const env = childEnvironment(process.env, { withheld, allow: options.envAllow, set: options.env });
    // Before listening: a command that cannot start is one clear error, not a failure per session.
    resolveCommand(command, { env });
    upstream = { kind: 'command', command, args, protocol: options.protocol, env };
  }
  const principal = upstreamPrincipal(upstream);
  // The policy's caller is the inbound one: its OAuth token, or whoever holds the static token.
  const staticToken = options.authTokenFile !== undefined || options.authTokenEnv !== undefined || options.authTokenGenerate;
  const state = await openSharedState(options, log);
  const pipeline = await createPipeline(options, { server: describeUpstream(upstream), version, log, principal, defaultCaller: staticToken ? STATIC_TOKEN_CALLER : undefined, state });
  const inboundAuth = await prepareInboundAuth(options, log, { identityClaims: pipeline.identityClaims });
  if (pipeline.namesPrincipals && !staticToken && options.oauthIssuer === undefined) {
    log.warn('the policy has rules for particular callers, but serve identifies none (no --oauth-issuer or --auth-token-*): those rules match no one');
  }
  const server = await startHttpInbound({
    host: options.host,
    port: options.port,
    paths: { mcp: options.mcpPath, sse: options.ssePath, messages: options.messagesPath, health: options.healthPath, ready: options.readyPath },
    maxBodyBytes: options.maxBody,
    allowedOrigins: options.allowOrigin,
    allowedHosts: options.allowedHost,
    sessionIdleMs: options.sessionTimeout * 1000,
    maxSessions: options.maxSessions,
    log,
    createUpstream: (callerToken, label) => createOutbound(upstreamFor(callerToken), { ...context, label }),
    // Audit: the caller's principal (inbound auth) when there is one, else the upstream credentials'.
    // Policy: the inbound caller only.
    createPipeline: (id, inbound, outbound, caller) => pipeline.forSession({ session: id, inbound, outbound, principal: () => caller() ?? principal(), caller }),
    policyRefusal: (messages, caller) => pipeline.httpRefusal(messages, caller),
    version,
    auth: inboundAuth ? (baseUrl) => inboundAuth.build(baseUrl, { mcp: options.mcpPath, sse: options.ssePath }) : undefined,
  });
  log.info(`serving ${describeUpstream(upstream)}${inboundAuth ? `; clients need ${inboundAuth.describe}` : ''}`);
  log.info(`listening on ${server.url}${options.mcpPath} (streamable HTTP) and ${server.url}${options.ssePath} (SSE)`);
  if (options.host !== '127.0.0.1' && options.host !== 'localhost' && options.host !== '::1') {
    if (!inboundAuth) log.warn(`bound to ${options.host}: reachable from other machines, and no client authentication is configured (see --auth-token-file, --oauth-issuer)`);
  }
  try {
    return await supervise({
      log,
      reaper: context.reaper,
      done: Promise.race([
        parentGone(log).then(async () => {
          await server.close();
          return ExitCode.ok;
        }),
        pipeline.failed,
      ]),
      // SIGTERM (an orchestrator, a balancer's rollout): drain first; SIGINT (Ctrl-C): close now.
      shutdown: async (signal) => {
        if (signal === 'SIGTERM' && options.drainTimeout > 0) {
          const left = await server.drain(options.drainTimeout * 1000);
          if (left > 0) log.warn(`drain: ${left} session${left === 1 ? '' : 's'} still had calls after ${options.drainTimeout} s (--drain-timeout); closing them`);
          else log.info('drained: no call in flight');
        }
        await server.close();
      },
      shutdownTimeoutMs: (signal) => (signal === 'SIGTERM' ? options.drainTimeout * 1000 : 0) + context.killGraceMs * 2 + 1000,
    });
  } finally {
    // server.close() ends every session first, so their last records are in the buffer by now.
    await server.close();
    await pipeline.close();
  }
}

/** A header file's text for its `${VAR}` references; a file that cannot be read names none (serve reports it where it is used). */
function readIfPresent(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/**
 * Resolves when the process that started us is gone: our stdin is a pipe from it and has closed.
 * With stdin on /dev/null (nohup, systemd) or a terminal, never: serve then runs until a signal.
 */
function parentGone(log: Logger): Promise<void> {
  let isPipe = false;
  try {
    const stat = fstatSync(0);
    isPipe = stat.isFIFO() || stat.isSocket();
  } catch {
    isPipe = false;
  }
  if (!isPipe) return new Promise<void>(() => undefined);
  return new Promise<void>((resolve) => {
    process.stdin.on('data', () => undefined); // serve reads nothing from stdin; drain it
    process.stdin.once('end', () => {
      log.info('stdin closed (the parent process is gone), shutting down');
      resolve();
    });
  });
}

/**
 * serve --upstream-token-exchange: each session's requests to the upstream carry a token obtained
 * by exchanging its caller's token (RFC 8693), never the caller's token itself.
 */
async function tokenExchangeUpstream(url: URL, headers: Record<string, string>, options: ServeOptions, log: Logger): Promise<{ request: HttpRequester; perCaller: (callerToken: () => string | undefined) => HttpRequester }> {
  if (options.oauthIssuer === undefined && options.oauthJwks === undefined) {
    throw new AirlockError('AIRLOCK_USAGE', '--upstream-token-exchange needs inbound OAuth: the token it exchanges is the one callers present', {
      hint: 'Add --oauth-issuer <url> (or --oauth-jwks <url>) so that callers log in with OAuth.',
    });
  }
  if (headers.authorization !== undefined) {
    throw new AirlockError('AIRLOCK_USAGE', '--upstream-token-exchange and an Authorization header both set the upstream credentials', {
      hint: 'Drop the --header/--header-file Authorization, or drop --upstream-token-exchange.',
    });
  }
  const secret = clientSecret(options);
  if (options.clientId === undefined || secret === undefined) {
    throw new AirlockError('AIRLOCK_USAGE', "--upstream-token-exchange needs airlock's own client at the upstream's authorization server", {
      hint: 'Pass --client-id with --client-secret-env NAME or --client-secret-file PATH (a confidential client allowed to exchange tokens).',
    });
  }
  const { TokenExchanger } = await import('../auth/token-exchange.js');
  const exchanger = new TokenExchanger({
    serverUrl: url,
    issuer: tokenExchangeIssuer(options),
    clientId: options.clientId,
    clientSecret: secret,
    scope: options.scope,
    resource: options.resource,
    delegate: options.tokenExchangeActor,
    allowHttp: options.allowHttp || isLoopbackHost(url.hostname),
    // Discovery and the exchange over the same CAs, client certificate and proxy as the upstream traffic.
    fetch: outboundFetch(process.env, tlsSource(options)),
    log,
  });
  const request = await createRequester(process.env, tlsSource(options));
  return { request, perCaller: (callerToken) => authorizedRequester(request, exchanger.sourceFor(callerToken), url, { eager: true }) };
}
