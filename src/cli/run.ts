/**
 * `mcp-airlock run -- <command...>`: stdio on both sides. Transparent today; it is where the audit
 * log and tool policy stages attach to a local server.
 */
import { endOptions, HelpGroup } from './help-groups.js';
import type { Command } from 'commander';
import { userInfo } from 'node:os';
import type { LogLevel } from '../log.js';
import { createContext, DEFAULT_MAX_MESSAGE_BYTES } from './context.js';
import { collect, collectEnv, parseLogLevel, parseProtocol, parseSeconds, parseSize } from './options.js';
import { childEnvironment } from '../transports/child-env.js';
import { resolveCommand } from '../transports/command-lookup.js';
import type { ProtocolChoice } from '../eras/era-adapter.js';
import type { CommandResult } from './program.js';
import { runStdioSession } from './stdio-session.js';
import { addPipelineOptions, type PipelineFlags } from './pipeline.js';
import type { Invocation } from './invocation.js';

export function registerRun(program: Command, result: CommandResult, io: Invocation): void {
  const command = program
    .command('run')
    .summary('wrap a local stdio MCP server (stdio <-> stdio)')
    .description('Start a stdio MCP server as a child process and bridge our stdin/stdout to it. The child runs in its own process group and never outlives mcp-airlock.')
    .argument('<command...>', 'the server command and its arguments, after --')
    .optionsGroup(HelpGroup.server)
    .option('--protocol <version>', "the server's MCP era: auto (found from the first exchange; a client that negotiates gets the server's era) | 2025-11-25 | 2026-07-28: airlock translates for every client of the other era (one pinned to 2026-07-28 needs 2025-11-25 with a 2025 server)", parseProtocol, 'auto')
    .option('--env <name=value>', 'set an environment variable for the server (repeatable)', collectEnv, {})
    .option('--env-allow <name>', "pass only these variables of airlock's environment to the server, besides PATH, HOME and the like (repeatable)", collect, [])
    .option('--hub <mode>', 'attach to the per-user hub instead of running here: auto | off | require (also MCP_AIRLOCK_HUB; docs/hub.md)', 'off')
    .option('--share', "in the hub: share this server's 2025 session with the other clients that run the same command with --share (one process for all; the first client's capabilities and roots hold). A 2026 server is shared without it", false)
    .option('--idle-stop <seconds>', 'in the hub: stop the server after this long with no call in flight, also while clients are attached, and start it again on the next request (a 2025 session is opened again with the same initialize). Only for servers that keep nothing between calls; default: never', parseSeconds);
  addPipelineOptions(command)
    .optionsGroup(HelpGroup.limits)
    .option('--max-message <size>', 'drop a message larger than this (a line, an SSE event, a JSON body) with an error naming the limit', parseSize, DEFAULT_MAX_MESSAGE_BYTES);
  endOptions(command)
    .option('--log-level <level>', 'silent | error | warn | info | debug', parseLogLevel, 'info')
    .passThroughOptions()
    .addHelpText('after', `
Examples:
  $ mcp-airlock run -- npx -y @modelcontextprotocol/server-everything
  $ mcp-airlock run --log-level debug -- node ./my-server.js --verbose
  $ mcp-airlock run --allow-tool 'read_*' --allow-tool search \\
      -- node ./my-server.js`)
    .action(async (commandLine: string[], options: PipelineFlags & { logLevel: LogLevel; protocol: ProtocolChoice; maxMessage: number; env: Record<string, string>; envAllow: string[]; share: boolean; idleStop?: number }) => {
      const [command, ...args] = commandLine as [string, ...string[]];
      const env = childEnvironment(io.env, { withheld: [], allow: options.envAllow, set: options.env });
      // Before stdin is read: a command that cannot start is one clear error, not a failed session.
      resolveCommand(command, { env, cwd: io.cwd });
      const context = createContext(options.logLevel, options.maxMessage, io);
      const upstream = { kind: 'command' as const, command, args, protocol: options.protocol, env, share: options.share, ...(options.idleStop ? { idleStopMs: Math.round(options.idleStop * 1000) } : {}), ...(io.hosted ? { cwd: io.cwd } : {}) };
      // The policy's caller is the local OS user (issuer "local").
      result.exitCode = await runStdioSession(context, upstream, options, { localUser: userInfo().username }, undefined, io);
    });
}
