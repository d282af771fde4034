/**
 * Run the built CLI as a real process, the way a user or an MCP client does.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
export const airlockBin = fileURLToPath(new URL('../../bin/mcp-airlock.js', import.meta.url));
export const stdioFixture = fileURLToPath(new URL('../../fixtures/stdio-server.mjs', import.meta.url));

export interface AirlockProcess {
  child: ChildProcess;
  stderr(): string;
  stdout(): string;
  /** Resolves with the exit code (or 128+signal). */
  exited: Promise<number>;
  waitForStderr(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  stop(signal?: NodeJS.Signals): Promise<number>;
}

/** `bin` and `cwd` default to this checkout's bin/mcp-airlock.js and root (the packaging test runs an installed copy). */
export function startAirlock(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; stdin?: 'pipe' | 'ignore'; bin?: string; cwd?: string } = {},
): AirlockProcess {
  const child = spawn(process.execPath, [options.bin ?? airlockBin, ...args], {
    cwd: options.cwd ?? repoRoot,
    env: options.env ?? process.env,
    stdio: [options.stdin ?? 'pipe', 'pipe', 'pipe'],
  });
  let err = '';
  let out = '';
  const waiters = new Set<() => void>();
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk;
    for (const w of waiters) w();
  });
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  const exited = new Promise<number>((resolve) =>
    child.once('exit', (code, signal) => {
      for (const w of waiters) w();
      resolve(code ?? 128 + (signal === 'SIGKILL' ? 9 : signal === 'SIGTERM' ? 15 : 2));
    }),
  );
  let exitCode: number | undefined;
  void exited.then((code) => (exitCode = code));
  return {
    child,
    stderr: () => err,
    stdout: () => out,
    exited,
    waitForStderr(pattern, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const match = pattern.exec(err);
          if (match) {
            cleanup();
            resolve(match);
          } else if (exitCode !== undefined || child.exitCode !== null) {
            cleanup();
            reject(new Error(`airlock exited (${child.exitCode}) before ${pattern}; stderr:\n${err}`));
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out waiting for ${pattern}; stderr:\n${err}`));
        }, timeoutMs);
        const cleanup = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Start `serve` and wait for its listening line; returns the base URL (http://127.0.0.1:PORT). */
export async function startServe(args: string[], env?: NodeJS.ProcessEnv): Promise<AirlockProcess & { url: string }> {
  const proc = startAirlock(['serve', '--port', '0', ...args], { env, stdin: 'ignore' });
  const match = await proc.waitForStderr(/listening on (http:\/\/[^/\s]+)/);
  return Object.assign(proc, { url: match[1]! });
}

export { isAlive } from './process-state.mjs';

export async function waitFor(predicate: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The pid a fixture wrote with --print-pid-file, once it is there. */
export async function readPid(path: string): Promise<number> {
  await waitFor(async () => (await readFile(path, 'utf8').catch(() => '')).trim() !== '', `pid file ${path}`);
  return Number((await readFile(path, 'utf8')).trim());
}
