/**
 * How a command ends: on its own (the bridge closed), or on SIGINT/SIGTERM/SIGHUP, after which
 * every session is closed and every child process group killed before airlock exits. A last
 * synchronous sweep on 'exit' kills any group still tracked, whatever path led there.
 */
import { ExitCode } from '../errors.js';
import type { Logger } from '../log.js';
import type { ChildReaper } from '../transports/child-reaper.js';
import type { Hosting } from './invocation.js';

export interface SuperviseOptions {
  log: Logger;
  reaper: ChildReaper;
  /** Resolves with the exit code when the command ends by itself. */
  done: Promise<number>;
  /** Graceful shutdown on a signal (given when one caused it): close sessions, children, listeners. */
  shutdown: (signal?: NodeJS.Signals) => Promise<void>;
  /** After this long a shutdown stops waiting and kills what is left (per signal, when it differs: serve drains on SIGTERM). */
  shutdownTimeoutMs: number | ((signal: NodeJS.Signals) => number);
  /**
   * A command a long-lived process runs for a client (the hub): it stops when `stopped` settles,
   * as on SIGTERM, and touches no process-wide signal handler or exit hook (the host process has
   * its own, and ends every child it tracks).
   */
  hosted?: Hosting;
}

const signalExit: Partial<Record<NodeJS.Signals, number>> = { SIGINT: ExitCode.interrupted, SIGTERM: ExitCode.terminated, SIGHUP: 129 };

export async function supervise(options: SuperviseOptions): Promise<number> {
  if (options.hosted) return superviseHosted(options, options.hosted);
  const { log, reaper } = options;
  const lastSweep = (): void => reaper.killAllNow('SIGKILL');
  process.once('exit', lastSweep);
  let onSignal: ((signal: NodeJS.Signals) => void) | undefined;
  let signalSeen = false;
  const signalled = new Promise<number>((resolve) => {
    onSignal = (signal) => {
      signalSeen = true;
      log.info(`received ${signal}, shutting down`);
      const timer = setTimeout(() => {
        log.warn('shutdown took too long; killing what is left');
        reaper.killAllNow('SIGKILL');
        resolve(signalExit[signal] ?? 1);
      }, typeof options.shutdownTimeoutMs === 'number' ? options.shutdownTimeoutMs : options.shutdownTimeoutMs(signal));
      timer.unref();
      options
        .shutdown(signal)
        .catch((error: unknown) => log.error(`error while shutting down: ${String(error)}`))
        .finally(() => {
          clearTimeout(timer);
          resolve(signalExit[signal] ?? 1);
        });
    };
    for (const signal of Object.keys(signalExit) as NodeJS.Signals[]) process.once(signal, onSignal);
  });
  try {
    const code = await Promise.race([options.done, signalled]);
    // A shutdown we started closes the bridge, which settles `done` first: the signal still decides.
    return signalSeen ? await signalled : code;
  } finally {
    for (const signal of Object.keys(signalExit) as NodeJS.Signals[]) if (onSignal) process.off(signal, onSignal);
  }
}

async function superviseHosted(options: SuperviseOptions, hosting: Hosting): Promise<number> {
  hosting.reapers.add(options.reaper);
  let stopping = false;
  const stop = hosting.stopped.then(async () => {
    stopping = true;
    const timer = setTimeout(() => options.reaper.killAllNow('SIGKILL'), typeof options.shutdownTimeoutMs === 'number' ? options.shutdownTimeoutMs : options.shutdownTimeoutMs('SIGTERM'));
    timer.unref();
    await options.shutdown().catch((error: unknown) => options.log.error(`error while shutting down: ${String(error)}`));
    clearTimeout(timer);
    return ExitCode.terminated as number;
  });
  try {
    const code = await Promise.race([options.done, stop]);
    return stopping ? await stop : code;
  } finally {
    // Whatever this command started ends with it: the session closes its server gracefully
    // (stdin, then SIGTERM); a group still there once that had its time is killed.
    setTimeout(() => {
      options.reaper.killAllNow('SIGKILL');
      hosting.reapers.delete(options.reaper);
    }, typeof options.shutdownTimeoutMs === 'number' ? options.shutdownTimeoutMs : options.shutdownTimeoutMs('SIGTERM')).unref();
  }
}
