/**
 * How a command ends: on its own (the bridge closed), or on SIGINT/SIGTERM/SIGHUP, after which
 * every session is closed and every child process group killed before airlock exits. A last
 * synchronous sweep on 'exit' kills any group still tracked, whatever path led there.
 */
import { ExitCode } from '../errors.js';
import type { Logger } from '../log.js';
import type { ChildReaper } from '../transports/child-reaper.js';

export interface SuperviseOptions {
  log: Logger;
  reaper: ChildReaper;
  /** Resolves with the exit code when the command ends by itself. */
  done: Promise<number>;
  /** Graceful shutdown on a signal: close sessions, children, listeners. */
  shutdown: () => Promise<void>;
  /** After this long a shutdown stops waiting and kills what is left. */
  shutdownTimeoutMs: number;
}

const signalExit: Partial<Record<NodeJS.Signals, number>> = { SIGINT: ExitCode.interrupted, SIGTERM: ExitCode.terminated, SIGHUP: 129 };

export async function supervise(options: SuperviseOptions): Promise<number> {
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
      }, options.shutdownTimeoutMs);
      timer.unref();
      options
        .shutdown()
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
