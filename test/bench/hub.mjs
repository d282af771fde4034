/**
 * The hub, slice 1 (docs/hub.md): what the shim costs a host next to today's in-process command.
 * One warm hub (`hub start`), `connect` to the HTTP fixture (already running, so no server start
 * is counted), a raw JSON-line client:
 * - start-up: spawn → the answer to initialize, in process and through the shim, beside a bare
 *   `node -e 0` (spawn → exit): the shim's own cost is what it adds to the floor of node;
 * - memory: the shim's peak RSS beside a bare node process and beside the in-process airlock;
 * - calls: p50 and calls/s of sequential echo calls, in process and through the shim.
 * The hub holds one pipeline per host; the servers' processes are shared (slice 2) where allowed.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
import { airlockBin, httpFixture, median, now, nsToMs, percentile, readRss, sleep } from './lib.mjs';

const initialize = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'bench', version: '1' } } };

/** A JSON-line peer: send, and wait for the answer to an id. */
function linePeer(child) {
  let buffered = '';
  const waiting = new Map();
  child.stdout.setEncoding('utf8').on('data', (chunk) => {
    buffered += chunk;
    for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      const id = JSON.parse(line).id;
      waiting.get(id)?.();
      waiting.delete(id);
    }
  });
  let exited = false;
  child.once('exit', (code) => {
    exited = true;
    for (const fail of waiting.values()) fail(new Error(`the process exited (${code}) before it answered`));
  });
  return {
    ask(message) {
      return new Promise((resolve, reject) => {
        if (exited) return reject(new Error('the process has exited'));
        waiting.set(message.id, (error) => (error ? reject(error) : resolve()));
        child.stdin.write(`${JSON.stringify(message)}\n`);
      });
    },
  };
}

async function session(args, env, calls) {
  const t0 = now();
  const child = spawn(process.execPath, [airlockBin, ...args], { env, stdio: ['pipe', 'pipe', 'ignore'] });
  const peer = linePeer(child);
  await peer.ask(initialize);
  const startMs = nsToMs(now() - t0);
  child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' })}\n`);
  const rss = readRss(child.pid).hwm;
  const latencies = [];
  const tc = now();
  for (let i = 1; i <= calls; i++) {
    const t = now();
    await peer.ask({ jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: 'echo', arguments: { text: 'hello' } } });
    latencies.push(nsToMs(now() - t));
  }
  const seconds = nsToMs(now() - tc) / 1000;
  const peak = readRss(child.pid).hwm;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.stdin.end();
  await exited;
  latencies.sort((a, b) => a - b);
  return { startMs, rss, peak, p50: percentile(latencies, 0.5), callsPerSecond: calls / seconds };
}

async function bareNode() {
  const times = [];
  let rss = NaN;
  for (let i = 0; i < 7; i++) {
    const t = now();
    await new Promise((resolve) => spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' }).once('exit', resolve));
    times.push(nsToMs(now() - t));
  }
  const idle = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 2000)'], { stdio: 'ignore' });
  await sleep(500);
  rss = readRss(idle.pid).hwm;
  idle.kill();
  return { startMs: median(times.slice(1)), rss };
}

export async function measureHub({ quick }) {
  const base = mkdtempSync(join(tmpdir(), 'airlock-bench-hub-'));
  const dir = join(base, 'hub');
  mkdirSync(dir, { mode: 0o700 });
  const env = { ...process.env, MCP_AIRLOCK_HUB_DIR: dir, MCP_AIRLOCK_CONFIG_DIR: join(base, 'config') };
  const stops = [];
  const hub = spawn(process.execPath, [airlockBin, 'hub', 'start', '--idle', '0'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    await new Promise((resolve, reject) => {
      let err = '';
      const timer = setTimeout(() => reject(new Error(`hub bench: the hub did not start: ${err}`)), 15_000);
      hub.stderr.setEncoding('utf8').on('data', (chunk) => {
        err += chunk;
        if (/listening on/.test(err)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    const calls = quick ? 200 : 1000;
    const rounds = quick ? 2 : 3;
    const fixture = spawn(process.execPath, [httpFixture, '--port', '0'], { stdio: ['ignore', 'pipe', 'ignore'] });
    stops.push(() => fixture.kill('SIGTERM'));
    const url = `${JSON.parse(await new Promise((resolve) => createInterface({ input: fixture.stdout }).once('line', resolve))).url}/mcp`;
    const command = [url, '--no-audit'];
    const inProcess = [];
    const shim = [];
    const later = [];
    const node = await bareNode();
    // A later host of a shared server that already runs: its initialize is answered from the
    // session's opening, so spawn → answer is the shim, the attach and the hub's command set-up
    // alone. One session first starts the server (it then lingers for the next).
    const { stdioFixture } = await import('./lib.mjs');
    const sharedLine = ['run', '--hub', 'require', '--share', '--no-audit', '--', process.execPath, stdioFixture];
    await session(sharedLine, env, 1);
    // Alternate, so that load on the machine falls on all alike.
    for (let round = 0; round < rounds; round++) {
      inProcess.push(await session(command, env, calls));
      shim.push(await session([...command, '--hub', 'require'], env, calls));
      later.push(await session(sharedLine, env, calls));
    }
    const med = (rows, key) => median(rows.map((r) => r[key]));
    const summary = (rows) => ({ startMs: med(rows, 'startMs'), rss: med(rows, 'rss'), peak: med(rows, 'peak'), p50: med(rows, 'p50'), callsPerSecond: med(rows, 'callsPerSecond') });
    return { node, inProcess: summary(inProcess), shim: summary(shim), laterShared: summary(later), hubRss: readRss(hub.pid), calls, rounds };
  } finally {
    for (const stop of stops) stop();
    hub.kill('SIGTERM');
    await new Promise((resolve) => (hub.exitCode !== null ? resolve() : hub.once('exit', resolve)));
    rmSync(base, { recursive: true, force: true });
  }
}

/**
 * N hosts × M servers (docs/hub.md goals): every host starts its config lines at once, as an MCP
 * host does; each line initializes and lists tools. Four ways: the hosts spawn the servers
 * themselves (no bridge), one airlock per line, the shim with the hub (the clients are 2025 ones,
 * so each gets its own session of each server), and the same with --share (one process per
 * server for every host). Counted: the
 * processes, and their memory as PSS (shared pages split, /proc/<pid>/smaps_rollup), summed over
 * every process of each way (the hub and what it spawned included).
 */
export async function measureHubFootprint({ hosts = 5 } = {}) {
  const { stdioFixture, httpFixture: http, modernFixture, repoRoot } = await import('./lib.mjs');
  const workspace = join(repoRoot, 'fixtures', 'workspace-server.mjs');
  const base = mkdtempSync(join(tmpdir(), 'airlock-bench-footprint-'));
  const dir = join(base, 'hub');
  mkdirSync(dir, { mode: 0o700 });
  const env = { ...process.env, MCP_AIRLOCK_HUB_DIR: dir, MCP_AIRLOCK_CONFIG_DIR: join(base, 'config') };
  const fixture = spawn(process.execPath, [http, '--port', '0'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const url = `${JSON.parse(await new Promise((resolve) => createInterface({ input: fixture.stdout }).once('line', resolve))).url}/mcp`;
  const servers = [
    [process.execPath, stdioFixture],
    [process.execPath, workspace],
    [process.execPath, modernFixture, '--stdio'],
  ];
  const ways = {
    direct: () => servers.map((command) => ({ command: command[0], args: command.slice(1) })),
    perLine: () => [...servers.map((command) => ({ command: process.execPath, args: [airlockBin, 'run', '--no-audit', '--', ...command] })), { command: process.execPath, args: [airlockBin, url, '--no-audit'] }],
    hub: () => [...servers.map((command) => ({ command: process.execPath, args: [airlockBin, 'run', '--hub', 'require', '--no-audit', '--', ...command] })), { command: process.execPath, args: [airlockBin, url, '--no-audit', '--hub', 'require'] }],
    // The same lines with --share: every host's 2025 client shares one session of each server, and one connection to the remote one.
    hubShared: () => [...servers.map((command) => ({ command: process.execPath, args: [airlockBin, 'run', '--hub', 'require', '--share', '--no-audit', '--', ...command] })), { command: process.execPath, args: [airlockBin, url, '--no-audit', '--hub', 'require', '--share'] }],
  };
  const results = {};
  try {
    for (const [way, lines] of Object.entries(ways)) {
      const children = [];
      const t0 = now();
      await Promise.all(
        Array.from({ length: hosts }, () => lines()).flat().map(async ({ command, args }) => {
          const child = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'ignore'] });
          children.push(child);
          const peer = linePeer(child);
          await peer.ask(initialize);
          child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' })}\n`);
          await peer.ask({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
        }),
      );
      const readyMs = nsToMs(now() - t0);
      await sleep(1000);
      const hubPid = way.startsWith('hub') ? hubPidIn(dir) : undefined;
      const roots = [...children.map((c) => c.pid), ...(hubPid ? [hubPid] : [])];
      const pids = processTree(roots);
      results[way] = { processes: pids.length, pss: pids.reduce((sum, pid) => sum + pss(pid), 0), readyMs, lines: children.length };
      for (const child of children) child.stdin.end();
      await Promise.all(children.map((child) => (child.exitCode !== null ? undefined : new Promise((resolve) => child.once('exit', resolve)))));
      if (hubPid) {
        spawn(process.execPath, [airlockBin, 'hub', 'stop'], { env, stdio: 'ignore' });
        for (let i = 0; i < 100 && alive(hubPid); i++) await sleep(100);
      }
    }
    return { hosts, servers: servers.length + 1, ...results };
  } finally {
    fixture.kill('SIGTERM');
    rmSync(base, { recursive: true, force: true });
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function hubPidIn(dir) {
  const { readdirSync, readFileSync } = require('node:fs');
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.log'))) {
    const match = /listening on .* \(pid (\d+)\)/.exec(readFileSync(join(dir, name), 'utf8'));
    if (match) return Number(match[1]);
  }
  return undefined;
}

/** The given processes and all their descendants (/proc ppid links). */
function processTree(roots) {
  const { readdirSync, readFileSync } = require('node:fs');
  const parent = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (rest[0] !== 'Z') parent.set(Number(entry), Number(rest[1]));
    } catch {
      // gone
    }
  }
  const found = new Set(roots.filter((pid) => parent.has(pid)));
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, ppid] of parent) if (!found.has(pid) && found.has(ppid)) (found.add(pid), (grew = true));
  }
  return [...found];
}

function pss(pid) {
  const { readFileSync } = require('node:fs');
  try {
    const match = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}
