/**
 * `mcp-airlock login <url>`: log in to an MCP server's authorization server ahead of time, the way
 * the MCP authorization spec describes (discovery, client registration, PKCE), and keep the tokens
 * in the credential store. Browser by default; `--device` for SSH sessions; `--client-credentials`
 * for agents. Progress as steps on stderr (an ink view on a terminal, plain lines otherwise or with
 * --plain); the one result line on stdout.
 */
import { endOptions, HelpGroup } from './help-groups.js';
import { addTlsOptions } from './tls-options.js';
import type { Command } from 'commander';
import type { AuthGrant } from '../auth/auth-session.js';
import { AirlockError, ReportedError, toAirlockError } from '../errors.js';
import { createLogger, type LogLevel } from '../log.js';
import type { TokenRecord } from '../store/grant-store.js';
import { createStepReporter, wantsInteractiveView } from '../ui/step-reporter.js';
import { addAuthOptions, addIdentityProviderOptions, addMcpRemoteAuthOptions, createAuthSession, grantOf, type AuthFlags } from './auth-options.js';
import { LoginSteps } from './login-steps.js';
import { parseLogLevel, parseServerUrl } from './options.js';
import type { CommandResult } from './program.js';
import { describeExpiry } from './status.js';
import { probeForLogin, type LoginProbe } from './login-probe.js';
import { credentialsWithoutOAuth, displayUrl, statusLine } from '../transports/upstream-diagnosis.js';
import { asksForOtherCredentials } from '../auth/www-authenticate.js';
import { metadataUnreadable } from '../auth/resource-metadata.js';

/**
 * Discovery found no OAuth metadata behind the probe's 401: the server wants an API key or a
 * static token, which no login gets (the "must publish its metadata" text is for servers that
 * do speak OAuth).
 */
function withoutOAuth(error: unknown, url: URL, probe: LoginProbe | undefined): unknown {
  if (!(error instanceof AirlockError) || error.code !== 'AIRLOCK_AUTH_DISCOVERY' || metadataUnreadable(error)) return error;
  if (probe?.kind === 'unauthorized') return credentialsWithoutOAuth(url, probe.status, probe.wwwAuthenticate, error);
  if (probe?.kind !== 'unclear') return error;
  // Nobody asked for credentials, and no OAuth metadata is there: nothing to log in to.
  return new AirlockError('AIRLOCK_AUTH_DISCOVERY', `${statusLine(probe.status)} from ${displayUrl(url)} without a credentials challenge, and it publishes no OAuth metadata: there is nothing to log in to`, {
    hint: `Check the URL (mcp-airlock doctor ${displayUrl(url)} shows each step); a server that needs no credentials needs no login.`,
    cause: error,
  });
}

interface LoginOptions extends AuthFlags {
  device: boolean;
  clientCredentials: boolean;
  force: boolean;
  plain: boolean;
  logLevel: LogLevel;
}

export function registerLogin(program: Command, result: CommandResult): void {
  const command = program
    .command('login')
    .summary("log in to an MCP server's authorization server and keep the tokens")
    .description('Log in as the MCP authorization spec describes (protected resource metadata, authorization server metadata, client registration, PKCE) and keep the tokens in the OS keychain (else a 0600 file). connect and serve --upstream use them.')
    .argument('<url>', 'the MCP server, e.g. https://mcp.example.com/mcp')
    .optionsGroup(HelpGroup.auth)
    .option('--device', 'use the device authorization grant (RFC 8628): a code to enter on another device', false)
    .option('--device-code', "mcp-remote's name for --device", false)
    .option('--client-credentials', 'no user: the client credentials grant, with --client-id and a secret or --client-private-key-file', false)
    .option('--force', 'log in again even when a valid token is stored', false)
    .option('--paste-from <file|->', 'headless: read the redirect URL the browser was sent to from this file (or - for stdin) instead of the loopback callback')
    .option('--allow-http', 'allow plain http to loopback authorization endpoints (tests, local servers)', false);
  addMcpRemoteAuthOptions(addIdentityProviderOptions(addAuthOptions(command, { optional: false })));
  addTlsOptions(command);
  endOptions(command)
    .option('--plain', 'plain progress lines even on a terminal (as when piped or in CI)', false)
    .option('--log-level <level>', 'silent | error | warn | info | debug', parseLogLevel, 'info')
    .addHelpText('after', `
Examples:
  $ mcp-airlock login https://mcp.example.com/mcp
  $ mcp-airlock login https://mcp.example.com/mcp --device      # over SSH
  $ mcp-airlock login https://mcp.example.com/mcp --client-credentials \\
      --client-id my-agent --client-secret-env AGENT_SECRET`);
  command.action(async (rawUrl: string, options: LoginOptions, self: Command) => {
    const url = parseServerUrl(rawUrl, options.allowHttp);
    const grant: AuthGrant = grantOf(options) ?? 'authorization_code';
    const choice = { plain: options.plain };
    const steps = new LoginSteps(await createStepReporter(process.stderr, choice), { grant, noBrowser: !options.browser });
    // On the terminal view the steps say what info lines would, and a log line must not tear the
    // drawing: warnings only (unless --log-level was given), shown through the view.
    const interactive = wantsInteractiveView(process.stderr, choice);
    const level = interactive && self.getOptionValueSource('logLevel') === 'default' ? 'warn' : options.logLevel;
    const log = createLogger(level, interactive ? steps.logLine : undefined);
    let record: TokenRecord;
    let probe: LoginProbe | undefined;
    try {
      const session = await createAuthSession(url, { ...options, auth: true }, {
        log,
        // Unset unless chosen: a remote session then uses the device grant where it is offered.
        grant: grantOf(options),
        pasteFromTerminal: true,
        onProgress: steps.onProgress,
      });
      // First, what connect's first request would meet: a server that is down, not at that path,
      // or answers without credentials is said so here, not as a discovery failure.
      probe = await probeForLogin(url, fetch, log);
      if (probe.kind === 'open') {
        // The result line goes to stdout alone, as a login's does; the step view only closes.
        await steps.notNeeded();
        process.stdout.write(`${displayUrl(url)} needs no login: it answered without credentials\n`);
        result.exitCode = 0;
        return;
      }
      // A 401 that asks for an API key (or Basic) only: no OAuth to log in to.
      if (probe.kind === 'unauthorized' && asksForOtherCredentials(probe.wwwAuthenticate)) throw credentialsWithoutOAuth(url, probe.status, probe.wwwAuthenticate);
      steps.start();
      // What the server's 401 names (scope, resource_metadata): the login asks for what connect would.
      if (probe.kind === 'unauthorized' && probe.status === 401) session.takeChallenge(probe.wwwAuthenticate);
      record = await session.login({ force: options.force });
    } catch (error) {
      const failure = withoutOAuth(error, url, probe);
      await steps.failed(failure);
      throw new ReportedError(toAirlockError(failure));
    }
    await steps.succeeded(record);
    process.stdout.write(`logged in to ${record.resource}: issuer ${record.issuer}, client ${record.clientId}${record.scope ? `, scopes ${record.scope}` : ''}, ${describeExpiry(record.expiresAt)}\n`);
    result.exitCode = 0;
  });
}
