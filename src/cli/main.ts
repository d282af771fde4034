/**
 * Entry point: rewrite drop-in spellings, parse, run one command, and turn any failure into one
 * line on stderr (message and hint) plus a stable exit code. Never writes to stdout itself.
 */
import { CommanderError } from 'commander';
import { AirlockError, ExitCode, toAirlockError } from '../errors.js';
import { rewriteCompatArgs } from './compat.js';
import { buildProgram, type CommandResult } from './program.js';

export async function main(argv: string[]): Promise<number> {
  const result: CommandResult = { exitCode: ExitCode.ok };
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
    const failure: AirlockError = toAirlockError(error);
    process.stderr.write(`mcp-airlock: error: ${failure.message}\n`);
    if (failure.hint) process.stderr.write(`mcp-airlock: hint: ${failure.hint}\n`);
    if (failure.code === 'AIRLOCK_INTERNAL' && failure.cause instanceof Error && failure.cause.stack) {
      process.stderr.write(`${failure.cause.stack}\n`);
    }
    return failure.exitCode;
  }
}
