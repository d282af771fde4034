/**
 * Entry point: rewrite drop-in spellings, parse, run one command, and turn any failure into one
 * line on stderr (message and hint) plus a stable exit code. Commander's own parse errors are
 * translated into the same two lines (usage-errors.ts). Never writes to stdout itself, but for help.
 */
import { isAbsolute, resolve } from 'node:path';
import type { Command } from 'commander';
import { AirlockError, ExitCode, ReportedError, toAirlockError } from '../errors.js';
import { rewriteCompatArgs } from './compat.js';
import { installPipeGuard } from './pipe-guard.js';
import { buildProgram, type CommandResult } from './program.js';
import { commandNames, commanderUsageError, firstWordError } from './usage-errors.js';
import { processInvocation, type Invocation } from './invocation.js';
import { namedServer } from './server-name.js';

/** Thrown by the exit callback when commander ends a parse with help or version, already printed. */
class ParseEnded extends Error {}

export async function main(argv: string[], io: Invocation = processInvocation()): Promise<number> {
  const result: CommandResult = { exitCode: ExitCode.ok };
  if (!io.hosted) installPipeGuard();
  try {
    const program = buildProgram(result, io);
    if (argv.length === 0) return bareInvocation(program, io);
    const { argv: rewritten } = rewriteCompatArgs(argv, valueFlags(program));
    // commander takes one short flag for the version: -v is it, -V (its default) is kept as a synonym.
    if (rewritten[0] === '-V') rewritten[0] = '--version';
    // `mcp-airlock NAME`: a server of the servers file, run as its equivalent command line.
    const named = await namedServer(rewritten, commandNames(program), io);
    if (named) return main(named.argv, named.io);
    const wordError = firstWordError(rewritten[0], commandNames(program), subcommandPaths(program));
    if (wordError) throw wordError;
    forEachCommand(program, (command) => {
      command.exitOverride((error) => {
        throw commanderUsageError(error, command) ?? new ParseEnded();
      });
      // A group without its command (`mcp-airlock audit`) would print its whole help on stderr
      // before our two lines; the hint names its commands instead. --help still prints to stdout.
      if (command !== program && command.commands.length > 0) command.configureOutput({ writeErr: () => true });
    });
    // A hosted command's relative paths are the client's: resolved against its directory.
    if (io.cwd !== process.cwd()) program.hook('preAction', (_program, action) => resolvePathOptions(action, io.cwd));
    await program.parseAsync(rewritten, { from: 'user' });
    return result.exitCode;
  } catch (error) {
    if (error instanceof ParseEnded) return ExitCode.ok;
    // A command that already showed the failure (login's step view) only needs its exit code.
    const shown = error instanceof ReportedError;
    const failure: AirlockError = shown ? error.failure : toAirlockError(error);
    if (!shown) {
      io.writeStderr(`mcp-airlock: error: ${failure.message}\n`);
      if (failure.hint) io.writeStderr(`mcp-airlock: hint: ${failure.hint}\n`);
    }
    if (failure.code === 'AIRLOCK_INTERNAL' && failure.cause instanceof Error && failure.cause.stack) {
      io.writeStderr(`${failure.cause.stack}\n`);
    }
    return failure.exitCode;
  }
}

/**
 * `mcp-airlock` with nothing: the help, and exit 2 (nothing was done, so a script or an MCP host
 * must not take it for success). On a terminal the help goes to stdout, where a person reads it;
 * otherwise to stderr after an error line, because a misconfigured MCP host reads stdout as JSON-RPC.
 */
function bareInvocation(program: Command, io: Invocation): number {
  if (io.stdoutIsTTY) {
    program.outputHelp();
  } else {
    io.writeStderr('mcp-airlock: error: no server URL and no command given\n');
    io.writeStderr('mcp-airlock: hint: Give the server URL, e.g. mcp-airlock https://mcp.example.com/mcp; the full help follows.\n\n');
    program.outputHelp({ error: true });
  }
  return ExitCode.usage;
}

/** Options whose value is a path (`<path>`, `<file>` in their flags): relative ones resolved against `cwd`. */
function resolvePathOptions(command: Command, cwd: string): void {
  for (const option of command.options) {
    if (!/<(path|file)>/.test(option.flags)) continue;
    const key = option.attributeName();
    const value: unknown = command.getOptionValue(key);
    const absolute = (path: unknown): unknown => (typeof path === 'string' && path !== '-' && !isAbsolute(path) ? resolve(cwd, path) : path);
    if (Array.isArray(value)) command.setOptionValue(key, value.map(absolute));
    else if (value !== undefined) command.setOptionValue(key, absolute(value));
  }
}

/** `audit verify`, `policy check`, `auth debug`: the commands of groups, as typed. */
function subcommandPaths(program: Command): string[] {
  return program.commands.flatMap((group) => group.commands.map((c) => `${group.name()} ${c.name()}`));
}

/** The flags of run and serve that take a value, so compat finds where a server command begins. */
function valueFlags(program: Command): Set<string> {
  const flags = new Set<string>();
  for (const command of program.commands.filter((c) => c.name() === 'run' || c.name() === 'serve')) {
    for (const option of command.options) {
      if (option.required || option.optional) for (const flag of [option.long, option.short]) if (flag) flags.add(flag);
    }
  }
  return flags;
}

function forEachCommand(command: Command, visit: (command: Command) => void): void {
  visit(command);
  for (const sub of command.commands) forEachCommand(sub, visit);
}
