/**
 * The commands of the servers file (docs/servers-file.md), registered together so that the
 * program, which every command shares, gains one line for all of them.
 */
import type { Command } from 'commander';
import { registerConfig } from './config.js';
import { registerImport } from './import.js';
import { registerInstall } from './install.js';
import type { CommandResult } from './program.js';
import { registerSecret } from './secret.js';

export function registerServersCommands(program: Command, result: CommandResult): void {
  registerConfig(program, result);
  registerSecret(program, result);
  registerImport(program, result);
  registerInstall(program, result);
}
