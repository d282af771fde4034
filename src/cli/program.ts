/**
 * The commander program: registers one file per command, and sets how help reads (wrapped at 80
 * columns, defaults as people write them). Parse errors are main's (usage-errors.ts).
 */
import { Command, type Option } from 'commander';
import { registerAudit } from './audit.js';
import { registerConnect } from './connect.js';
import { registerDoctor } from './doctor.js';
import { registerLogin } from './login.js';
import { registerPolicy } from './policy.js';
import { registerLogout, registerStatus } from './status.js';
import { version } from './context.js';
import { registerRun } from './run.js';
import { registerServe } from './serve.js';
import { registerHub } from './hub.js';
import { registerServersCommands } from './servers-commands.js';
import { formatSeconds, formatSize } from './options.js';
import { processInvocation, type Invocation } from './invocation.js';

/** Where a command's action leaves its exit code. */
export interface CommandResult {
  exitCode: number;
}

export function buildProgram(result: CommandResult, io: Invocation = processInvocation()): Command {
  const program = new Command('mcp-airlock')
    // -v as most CLIs have it; -V (commander's default, what airlock took before) still works (main.ts).
    .version(version, '-v, --version', 'print the version (also -V, and `mcp-airlock version`)')
    .description('A local airlock between MCP clients and MCP servers: bridges stdio, streamable HTTP and SSE in any direction.')
    .enablePositionalOptions()
    // Parse errors are printed by main, in our format (usage-errors.ts); commander prints only help.
    .configureOutput({ writeOut: (text) => io.stdout.write(text), writeErr: (text) => io.writeStderr(text), outputError: () => undefined })
    // Wrap descriptions even beside long flags (connect's mcp-remote options), rather than run past 80 columns.
    .configureHelp({ optionDescription, minWidthToWrap: 24 })
    .addHelpText('after', `
Three forms:
  mcp-airlock <url> [options]       a stdio client to a remote server (connect)
  mcp-airlock <name> [options]      a server of your servers file (config show)
  mcp-airlock <command> [options]   see \`mcp-airlock <command> --help\`

Examples:
  # stdio client -> remote server
  $ mcp-airlock https://mcp.example.com/mcp
  # stdio server -> http://127.0.0.1:8808/mcp and /sse
  $ mcp-airlock serve -- npx -y @modelcontextprotocol/server-everything
  # remote SSE server -> local streamable HTTP
  $ mcp-airlock serve --upstream https://mcp.example.com/sse --transport sse
  # stdio -> stdio (audit and policy tap)
  $ mcp-airlock run -- node server.js
  # OAuth login ahead of time (keychain)
  $ mcp-airlock login https://mcp.example.com/mcp
  # what was refused in the last hour; check the audit log's hash chains
  $ mcp-airlock audit show --since 1h --outcome denied
  $ mcp-airlock audit verify
  # validate a --policy-file (line and column of each problem)
  $ mcp-airlock policy check policy.json
  # what is wrong with a server's OAuth setup, step by step
  $ mcp-airlock doctor https://mcp.example.com/mcp

Exit codes: 0 ok, 1 internal error, 2 usage, 3 configuration, 4 upstream failed,
5 auth failed, 6 cannot listen, 7 audit log broken, 130/143 stopped by
SIGINT/SIGTERM.`);
  registerConnect(program, result, io);
  registerServe(program, result);
  registerRun(program, result, io);
  registerLogin(program, result);
  registerLogout(program, result);
  registerStatus(program, result);
  registerAudit(program, result);
  registerDoctor(program, result);
  registerPolicy(program, result);
  registerHub(program, result);
  registerServersCommands(program, result);
  program
    .command('version')
    .description('print the version (as --version does)')
    .action(() => void process.stdout.write(`${version}\n`));
  return program;
}

/**
 * An option's help line: its description, then its default as people write it (`32 MiB`, not
 * 33554432; `1800 s = 30 min`) and only when it says something: no `false`, `[]` or `{}`.
 * Inherited by every command, since it is configured before they are added.
 */
export function optionDescription(option: Option): string {
  const value: unknown = option.defaultValue;
  let shown: string | undefined;
  if (option.defaultValueDescription) shown = option.defaultValueDescription;
  else if (typeof value === 'number') shown = /<size>/.test(option.flags) ? formatSize(value) : /<seconds>/.test(option.flags) ? formatSeconds(value) : String(value);
  else if (typeof value === 'string' && value !== '') shown = value;
  const extra = [option.argChoices ? `choices: ${option.argChoices.join(', ')}` : undefined, shown === undefined ? undefined : `default: ${shown}`].filter(Boolean);
  return extra.length ? `${option.description} (${extra.join('; ')})` : option.description;
}
