/**
 * serve's shared state flags (--state, --state-url-env, --state-url-file, --state-failure,
 * --state-prefix): where replicas of serve keep rate-limit buckets and flow history together
 * (docs/team.md). The Redis client is imported only here, and only when one is given.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { AirlockError } from '../errors.js';
import type { Logger } from '../log.js';
import type { SharedPolicyState, StateFailureMode } from '../policy/shared-state.js';
import { readSecret } from './auth-options.js';
import { HelpGroup } from './help-groups.js';

export interface StateFlags {
  state?: string;
  stateUrlEnv?: string;
  stateUrlFile?: string;
  stateFailure: StateFailureMode;
  statePrefix: string;
}

function parseFailureMode(value: string): StateFailureMode {
  if (value === 'open' || value === 'closed') return value;
  throw new InvalidArgumentError('use open or closed.');
}

export function addStateOptions(command: Command): Command {
  return command
    .optionsGroup(HelpGroup.sharedState)
    .option('--state <url>', 'keep rate limits and flow history in Redis or Valkey, shared by every serve replica given the same URL: redis://[user:password@]host[:port][/db], rediss:// for TLS (a URL with a password is better given by --state-url-env or --state-url-file)')
    .option('--state-url-env <name>', 'the --state URL from this environment variable')
    .option('--state-url-file <path>', 'the --state URL from this file')
    .option('--state-failure <mode>', 'while the state store cannot be used, calls to rate-limited or flow-ruled tools are refused (closed) or let through uncounted (open); other tools are never affected', parseFailureMode, 'closed')
    .option('--state-prefix <text>', 'prefix of every key airlock writes in the state store; replicas that share limits use the same one', 'mcp-airlock');
}

/** The state store URL the flags give, or undefined without one (everything stays in memory). */
export function stateUrl(flags: StateFlags, environment: NodeJS.ProcessEnv = process.env): string | undefined {
  const given = [flags.state, flags.stateUrlEnv, flags.stateUrlFile].filter((v) => v !== undefined).length;
  if (given > 1) throw new AirlockError('AIRLOCK_USAGE', 'give one of --state, --state-url-env and --state-url-file');
  if (flags.state !== undefined) return flags.state;
  return readSecret({ environment }, flags.stateUrlEnv, flags.stateUrlFile, '--state-url');
}

/**
 * Open the shared state the flags ask for (the Redis client loads here, and only here), or
 * undefined. It connects in the background: until it is up, calls that need it fail as
 * --state-failure says.
 */
export async function openSharedState(flags: StateFlags, log: Logger): Promise<SharedPolicyState | undefined> {
  const url = stateUrl(flags);
  if (url === undefined) return undefined;
  const { openRedisState, parseStateUrl } = await import('../policy/redis-state.js');
  if (flags.state !== undefined && parseStateUrl(url).password !== '') {
    log.warn('the --state URL holds a password, which other users of this machine can read in the process list: give it with --state-url-env or --state-url-file');
  }
  return openRedisState({ url, failureMode: flags.stateFailure, prefix: flags.statePrefix, log });
}
