/**
 * Where one run of a command takes its input, output, environment and working directory. The
 * process's own for the CLI; an attached client's for a command the hub runs for a shim
 * (src/hub), so that a command behaves the same in either place: `${ENV}` in headers and a
 * spawned server's environment come from the client's environment, relative paths from its
 * working directory, logs go back to its stderr, and it ends when that client goes away.
 */
import type { Readable, Writable } from 'node:stream';
import type { ChildReaper } from '../transports/child-reaper.js';
import type { UpstreamLeaser } from '../hub/shared-upstreams.js';

export interface Invocation {
  stdin: Readable;
  stdout: Writable;
  /** Lines for the client's stderr (logs, errors, a spawned server's stderr). */
  writeStderr(text: string): void;
  stdinIsTTY: boolean;
  stdoutIsTTY: boolean;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /**
   * Set when a long-lived process hosts the command (the hub): no process-wide signal handlers
   * or exit hooks; `stopped` settles when the command must stop (the client went away, the hub
   * is stopping), as a signal would stop it in its own process.
   */
  hosted?: Hosting;
}

/** What the hosting process gives a command it runs (see Invocation.hosted). */
export interface Hosting {
  stopped: Promise<void>;
  /** The reapers of commands still running: the host's own exit hook kills what they track. */
  reapers: Set<ChildReaper>;
  /** The reaper for the command's spawned servers (the hub records their pids, for after a crash). */
  newReaper(): ChildReaper;
  /** Spawned servers shared with the host's other clients (the hub): a lease instead of a child of one's own. */
  upstreams?: UpstreamLeaser;
  /** The MCP host process whose config line this is (the shim's parent): named in audit records. */
  host?: { pid: number; name?: string };
}

/** The process's own stdio, environment and directory: the CLI's invocation. */
export function processInvocation(): Invocation {
  return {
    stdin: process.stdin,
    stdout: process.stdout,
    writeStderr: (text) => void process.stderr.write(text),
    stdinIsTTY: process.stdin.isTTY === true,
    stdoutIsTTY: process.stdout.isTTY === true,
    env: process.env,
    cwd: process.cwd(),
  };
}
