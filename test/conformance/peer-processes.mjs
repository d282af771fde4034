// Starting and stopping the processes a conformance chain is made of: the fixture server and
// `mcp-airlock serve`. Each announces its URL on one line (the fixture on stdout, airlock on
// stderr); everything both print goes to a log file next to the suite's results, for whoever
// reads a failure.
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';

/** How long a peer may take to print its URL before the harness gives up on it (a guard, not a measurement). */
const STARTUP_LIMIT_MS = 30_000;

/**
 * Spawns `command args` and resolves once `ready` matches what it printed on `stream`, with the
 * first capture group (the URL) and a `stop()`. Rejects when the process exits or stays silent.
 */
export async function startPeer({ name, command, args, env, logFile, ready, stream = 'stdout' }) {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = createWriteStream(logFile, { flags: 'a' });
  log.write(`$ ${command} ${args.join(' ')}\n`);
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  const exited = once(child, 'exit').then(([code, signal]) => {
    log.end(`\n[${name} exited: ${signal ?? code}]\n`);
    return { code, signal };
  });

  const url = await new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`${name} printed no URL within ${STARTUP_LIMIT_MS / 1000} s; see ${logFile}`)), STARTUP_LIMIT_MS);
    child[stream].setEncoding('utf8');
    child[stream].on('data', (chunk) => {
      seen += chunk;
      const match = ready.exec(seen);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`${name} could not start: ${error.message}`));
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${signal ?? code}) before printing its URL; see ${logFile}`));
    });
  });

  return {
    url,
    /** SIGTERM (airlock ends its sessions and their children), SIGKILL if it lingers. */
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
