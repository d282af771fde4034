/**
 * What the hub's e2e tests share: a private hub and configuration directory per test, hosts that
 * start airlock as an MCP host would (the SDK client, or a raw line peer), and waiting for
 * processes to go. `cleanups` is the test file's list, run after each test.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { airlockBin, isAlive, repoRoot, startAirlock, type AirlockProcess } from './airlock-process.js';
import { connectClient } from './mcp-client.js';
import { LineClient } from './line-client.js';

export type Cleanups = Array<() => Promise<unknown> | void>;

export interface HubHome {
  dir: string;
  env: NodeJS.ProcessEnv;
  /** Every hub log in the directory (hubs started by shims write one). */
  log: () => string;
  /** The pids of the hubs that started in this directory, in order. */
  hubPids: () => number[];
}

/** A private hub directory and configuration directory, and the environment that points airlock at them. */
export function hubHome(cleanups: Cleanups, extraEnv: Record<string, string> = {}): HubHome {
  const base = mkdtempSync(join(tmpdir(), 'airlock-hub-'));
  const dir = join(base, 'hub');
  mkdirSync(dir, { mode: 0o700 });
  const env = { ...process.env, MCP_AIRLOCK_HUB_DIR: dir, MCP_AIRLOCK_CONFIG_DIR: join(base, 'config'), ...extraEnv };
  const log = (): string => readdirSync(dir).filter((f) => f.endsWith('.log')).map((f) => readFileSync(join(dir, f), 'utf8')).join('');
  const hubPids = (): number[] => [...log().matchAll(/listening on .* \(pid (\d+)\)/g)].map((m) => Number(m[1]));
  cleanups.push(async () => {
    spawnSync(process.execPath, [airlockBin, 'hub', 'stop'], { env, stdio: 'ignore' });
    for (const pid of hubPids()) await reap(pid);
  });
  return { dir, env, log, hubPids };
}

/** Whether `pid` is gone within `timeoutMs` (nothing is killed here). */
export async function gone(pid: number, timeoutMs = 15_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return !isAlive(pid);
}

/** Cleanup: wait for `pid` to go, and kill it if it does not. */
export async function reap(pid: number): Promise<void> {
  if (!(await gone(pid))) process.kill(pid, 'SIGKILL');
}

/** The SDK client through `mcp-airlock <args>` started as a host would, in `cwd`. */
export async function hostThrough(cleanups: Cleanups, args: string[], env: NodeJS.ProcessEnv, cwd = repoRoot, capabilities: Record<string, object> = {}) {
  const transport = new StdioClientTransport({ command: process.execPath, args: [airlockBin, ...args], cwd, env: env as Record<string, string>, stderr: 'pipe' });
  let stderr = '';
  transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const connected = await connectClient(transport, capabilities);
  cleanups.push(() => connected.client.close());
  return { ...connected, transport, stderr: () => stderr };
}

/** A raw stdio peer through airlock: initialize, and the process to watch. */
export function rawThrough(cleanups: Cleanups, args: string[], env: NodeJS.ProcessEnv): { proc: AirlockProcess; client: LineClient } {
  const proc = startAirlock(args, { env });
  cleanups.push(() => proc.stop('SIGKILL'));
  return { proc, client: new LineClient(proc) };
}

/** `mcp-airlock hub status --json` in this home. */
export function hubStatus(home: HubHome): HubStatusJson {
  const json = spawnSync(process.execPath, [airlockBin, 'hub', 'status', '--json'], { env: home.env, encoding: 'utf8' });
  if (json.status !== 0) throw new Error(`hub status exited ${json.status}: ${json.stderr}`);
  return JSON.parse(json.stdout) as HubStatusJson;
}

export interface HubStatusJson {
  running: boolean;
  pid: number;
  clients: Array<{ id: string; command: string; target: string; pid: number; host: { pid: number }; servers: Array<{ pid: number; rss: number; key?: string }> }>;
  upstreams: Array<{ key: string; command: string; pid?: number; era: string; shareable: boolean; clients: string[]; calls: number; rss: number; stopsAt?: string }>;
}
