/**
 * Entry point: rewrite drop-in spellings, parse, run one command, and turn any failure into one
 * line on stderr (message and hint) plus a stable exit code. Never writes to stdout itself.
 */
import { CommanderError } from 'commander';
import { AirlockError, ExitCode, ReportedError, toAirlockError } from '../errors.js';
import { rewriteCompatArgs } from './compat.js';
import { installPipeGuard } from './pipe-guard.js';
import { buildProgram, type CommandResult } from './program.js';

export async function main(argv: string[]): Promise<number> {
  const result: CommandResult = { exitCode: ExitCode.ok };
  installPipeGuard();
  try {
    const { argv: rewritten } = rewriteCompatArgs(argv);
    const program = buildProgram(result).exitOverride();
    for (const command of program.commands) command.exitOverride();
    await program.parseAsync(rewritten, { from: 'user' });
    return result.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version are successes; commander has already printed its message.
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return ExitCode.ok;
      return ExitCode.usage;
    }
    // A command that already showed the failure (login's step view) only needs its exit code.
    const shown = error instanceof ReportedError;
    const failure: AirlockError = shown ? error.failure : toAirlockError(error);
    if (!shown) {
      process.stderr.write(`mcp-airlock: error: ${failure.message}\n`);
      if (failure.hint) process.stderr.write(`mcp-airlock: hint: ${failure.hint}\n`);
    }
    if (failure.code === 'AIRLOCK_INTERNAL' && failure.cause instanceof Error && failure.cause.stack) {
      process.stderr.write(`${failure.cause.stack}\n`);
    }
    return failure.exitCode;
  }
}
