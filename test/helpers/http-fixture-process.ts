/**
 * An HTTP fixture server as a process of its own, started by the test: the modern fixture prints
 * `listening URL` on its first stdout line, fixtures/http-server.mjs a JSON line with its base URL.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

/** Start `node <args>`; resolves with the server's MCP URL. `cleanups` gets the stop. */
export async function startHttpServer(args: string[], cleanups: Array<() => Promise<unknown> | void>): Promise<string> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'ignore'] });
  cleanups.push(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`server exited (${code}) before it was ready`)));
  });
  return line.startsWith('listening ') ? line.slice('listening '.length) : `${(JSON.parse(line) as { url: string }).url}/mcp`;
}
