/**
 * `mcp-airlock doctor <url>` (alias `auth debug <url>`): walks the MCP authorization chain against
 * the real server and says, step by step, what happened and what to change (issue 5). Text on
 * stdout (the step list), or with --json one document (schema `mcp-airlock/doctor/1`,
 * docs/doctor.md). Exit code 0 all passed, 1 a failure, 2 warnings only. --login uses a memory store:
 * the user's stored login is never read or changed.
 */
import { endOptions, HelpGroup } from './help-groups.js';
import { addTlsOptions, tlsSource } from './tls-options.js';
import { outboundFetch } from '../transports/http-request.js';
import type { Command } from 'commander';
import type { DoctorOptions, SessionFactory } from '../doctor/doctor-context.js';
import { runDoctor } from '../doctor/doctor-engine.js';
import { doctorExitCode } from '../doctor/doctor-report.js';
import { createLogger, type LogLevel } from '../log.js';
import { isLoopbackHost } from '../transports/http-guard.js';
import { createStepReporter, type StepReporter } from '../ui/step-reporter.js';
import { addAuthOptions, createAuthSession, type AuthFlags } from './auth-options.js';
import { profileSettings } from './provider-options.js';
import { resolveHeaders } from '../transports/headers.js';
import { collect, parseLogLevel, parseServerUrl } from './options.js';
import type { CommandResult } from './program.js';

interface DoctorFlags extends AuthFlags {
  json: boolean;
  verbose: boolean;
  plain: boolean;
  register: boolean;
  login: boolean;
  device: boolean;
  logLevel: LogLevel;
  header: string[];
  headerFile: string[];
}

const HELP = `
Steps: unauthenticated, resource-metadata, authorization-server, client,
login (--login), authenticated (--login).
Exit codes: 0 all passed, 1 a step failed, 2 warnings only (and 2 for a usage
error, as everywhere).

Examples:
  $ mcp-airlock doctor https://mcp.example.com/mcp
  # registers and logs in; stores nothing
  $ mcp-airlock doctor https://mcp.example.com/mcp --register --login
  # for a bug report: no token, secret or cookie in it
  $ mcp-airlock doctor https://mcp.example.com/mcp --json > doctor.json`;

function defineDoctor(command: Command, result: CommandResult): Command {
  command
    .argument('<url>', 'the MCP server, e.g. https://mcp.example.com/mcp')
    .optionsGroup(HelpGroup.checks)
    .option('--register', 'perform dynamic client registration (RFC 7591) and show the answer', false)
    .option('--login', 'log in (browser, or --device) and check the token and an authenticated initialize; nothing is stored', false)
    .option('--device', 'with --login: the device authorization grant (RFC 8628)', false)
    .option('--allow-http', 'allow plain http to loopback authorization endpoints (tests, local servers)', false)
    .option('--header <name: value>', 'add a header to the MCP requests (an API gateway key); ${ENV} is expanded (repeatable)', collect, [])
    .option('--header-file <path>', "read 'Name: value' lines from a file (repeatable)", collect, []);
  addAuthOptions(command, { optional: false });
  addTlsOptions(command);
  endOptions(command)
    .option('--json', 'print one JSON document (schema mcp-airlock/doctor/1) instead of text', false)
    .option('--verbose', 'show the headers and bodies of every HTTP exchange (secrets masked)', false)
    .option('--plain', 'plain lines even on a terminal (as when piped or in CI)', false)
    .option('--log-level <level>', 'silent | error | warn | info | debug (stderr)', parseLogLevel, 'warn')
    .addHelpText('after', HELP);
  return command.action(async (rawUrl: string, flags: DoctorFlags) => {
    const url = parseServerUrl(rawUrl, flags.allowHttp);
    const headers = await resolveHeaders({ headers: flags.header, headerFiles: flags.headerFile });
    const log = createLogger(flags.logLevel);
    const auth: AuthFlags = { ...flags, auth: true };
    const openSession: SessionFactory = (context) => createAuthSession(url, auth, { log, ...context });
    const write = (text: string): void => void process.stderr.write(`${text}\n`);
    // The one place the renderer is chosen: none for --json (stdout carries only the document),
    // else the steps on stdout: the ink view on a terminal, plain lines when piped or --plain.
    const reporter: StepReporter | undefined = flags.json ? undefined : await createStepReporter(process.stdout, { plain: flags.plain });
    const options: DoctorOptions = {
      url,
      register: flags.register,
      login: flags.login || flags.device,
      device: flags.device,
      verbose: flags.verbose,
      hasClientSecret: flags.clientSecretEnv !== undefined || flags.clientSecretFile !== undefined,
      assumeS256: flags.assumeS256,
      profile: profileSettings(flags),
      // As createAuthSession decides it: plain http to loopback only, with --allow-http or a loopback server.
      allowHttp: auth.allowHttp || isLoopbackHost(url.hostname),
      headers,
      log,
      fetch: outboundFetch(process.env, tlsSource(flags)),
      openSession,
      // A login URL or device code: on stderr with --json, else in the step list.
      notice: reporter ? (text) => reporter.notice(text) : write,
    };
    if (flags.scope !== undefined) options.scope = flags.scope;
    if (flags.clientId !== undefined) options.clientId = flags.clientId;
    if (flags.clientMetadataUrl !== undefined) options.clientMetadataUrl = flags.clientMetadataUrl;
    if (flags.resource !== undefined) options.resource = flags.resource;
    const report = await runDoctor({ ...options, ...(reporter ? { reporter } : {}) });
    if (flags.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    result.exitCode = doctorExitCode(report.result);
  });
}

/** `doctor <url>` and its alias `auth debug <url>`. */
export function registerDoctor(program: Command, result: CommandResult): void {
  defineDoctor(
    program.command('doctor').summary('walk the OAuth chain against a server and say what to fix').description('Walk every step of MCP authorization against the real server (unauthenticated request, RFC 9728 resource metadata, RFC 8414 authorization server metadata, client registration, and with --login the login, the token and an authenticated initialize) and name the fix for each failure.'),
    result,
  );
  const authCommand = program.command('auth').summary('authorization tools (auth debug = doctor)');
  const debug = defineDoctor(authCommand.command('debug').summary('the same as mcp-airlock doctor').description('The same as mcp-airlock doctor <url>.'), result);
  // main() makes top-level commands throw instead of exiting; this one is a level deeper.
  debug.exitOverride();
}
