/**
 * The tool policy flags, shared by connect, serve and run, and the stages they turn into.
 */
import type { Command } from 'commander';
import type { Stage } from '../bridge/stage.js';
import { ToolPolicy } from '../policy/tool-policy.js';
import { collect } from './options.js';

export interface PolicyFlags {
  allowTool: string[];
  denyTool: string[];
  readOnly: boolean;
}

export function addPolicyOptions(command: Command): Command {
  return command
    .option('--allow-tool <glob>', 'only tools matching this pattern are visible and callable (* and ?; repeatable)', collect, [])
    .option('--deny-tool <glob>', 'hide and refuse tools matching this pattern; wins over --allow-tool (repeatable)', collect, [])
    .option('--read-only', 'only tools the server marks readOnlyHint are visible and callable', false);
}

/** A factory, because a policy keeps per-session state (which tools the server marked read-only). */
export function stagesFor(flags: PolicyFlags): () => Stage[] {
  const options = { allow: flags.allowTool, deny: flags.denyTool, readOnly: flags.readOnly };
  if (!new ToolPolicy(options).active) return () => [];
  return () => [new ToolPolicy(options)];
}
