// Helpers for test/bench/bench.mjs: processes, statistics, formatting. No dependencies beyond
// node and the MCP SDK already in package.json.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
export const airlockBin = fileURLToPath(new URL('../../bin/mcp-airlock.js', import.meta.url));
export const stdioFixture = fileURLToPath(new URL('../../fixtures/stdio-server.mjs', import.meta.url));
export const httpFixture = fileURLToPath(new URL('../../fixtures/http-server.mjs', import.meta.url));
/** The 2026-07-28 fixture (SDK v2): stdio by default, `--http 0` for HTTP, `--legacy serve|reject`. */
export const modernFixture = fileURLToPath(new URL('../../fixtures/modern-server.mjs', import.meta.url));

export const now = () => process.hrtime.bigint();
/** Nanoseconds (bigint) -> milliseconds (number). */
export const nsToMs = (ns) => Number(ns) / 1e6;
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Nearest-rank percentile of an already sorted array. */
export function percentile(sorted, q) {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1];
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) return NaN;
  return n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

/**
 * Collects a child's stream as text and lets callers wait for a pattern in it.
 * Resolves waitFor() with the match, rejects on timeout or when the child exits first.
 */
export function watchStream(stream, child) {
  let text = '';
  const waiters = new Set();
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    text += chunk;
    for (const w of waiters) w();
  });
  child?.once('exit', () => {
    for (const w of waiters) w();
  });
  return {
    text: () => text,
    waitFor(pattern, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = pattern.exec(text);
          if (match) {
            done();
            resolve(match);
          } else if (child && (child.exitCode !== null || child.signalCode !== null)) {
            done();
            reject(new Error(`process exited (${child.exitCode ?? child.signalCode}) before ${pattern}; output:\n${text}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${pattern}; output:\n${text}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
  };
}

/** Children started through this module that have not exited yet (for cleanup on Ctrl-C). */
export const liveChildren = new Set();
function track(child) {
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  return child;
}

/** Resolves with { code, signal } once the child has exited (immediately if it already has). */
export function exited(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/**
 * Sends `signal`, waits up to `graceMs` for the exit, then SIGKILLs.
 * Returns { code, signal, ms, killed } where killed says SIGKILL was needed.
 */
export async function stopChild(child, signal = 'SIGTERM', graceMs = 10_000) {
  const t0 = now();
  const exit = exited(child);
  if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  let killed = false;
  const timer = new Promise((resolve) => setTimeout(() => resolve('timeout'), graceMs).unref());
  if ((await Promise.race([exit, timer])) === 'timeout') {
    killed = true;
    child.kill('SIGKILL');
  }
  const { code, signal: sig } = await exit;
  return { code, signal: sig, ms: nsToMs(now() - t0), killed };
}

/** The HTTP fixture in its own process, so its CPU is not the bench's. */
export async function startHttpFixture() {
  const child = track(spawn(process.execPath, [httpFixture, '--port', '0'], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] }));
  const out = watchStream(child.stdout, child);
  const err = watchStream(child.stderr, child);
  const match = await out.waitFor(/^(\{.*\})\n/m, 15_000).catch((e) => {
    throw new Error(`${e.message}\nstderr:\n${err.text()}`);
  });
  const { url } = JSON.parse(match[1]);
  return { url, child, pid: child.pid, stderr: () => err.text(), stop: () => stopChild(child, 'SIGTERM', 5_000) };
}

/**
 * The 2026-07-28 fixture over HTTP in its own process. It prints one stdout line when ready,
 * "listening http://127.0.0.1:PORT/mcp"; `url` is that endpoint (with /mcp).
 */
export async function startModernHttpFixture(legacy = 'reject') {
  const child = track(spawn(process.execPath, [modernFixture, '--http', '0', '--legacy', legacy], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] }));
  const out = watchStream(child.stdout, child);
  const err = watchStream(child.stderr, child);
  const match = await out.waitFor(/^listening (http:\/\/\S+\/mcp)\n/m, 15_000).catch(async (e) => {
    await stopChild(child, 'SIGTERM', 5_000);
    throw new Error(`${e.message}\nstderr:\n${err.text()}`);
  });
  return { url: match[1], child, pid: child.pid, stderr: () => err.text(), stop: () => stopChild(child, 'SIGTERM', 5_000) };
}

/**
 * Spawns `mcp-airlock serve --port 0 ...args` and waits for its listening line.
 * `t0` (hrtime) is taken immediately before the spawn.
 */
export async function startServe(args) {
  const t0 = now();
  const child = track(
    spawn(process.execPath, [airlockBin, 'serve', '--port', '0', ...args], {
      cwd: repoRoot,
      env: process.env,
      stdio: ['ignore', 'ignore', 'pipe'],
    }),
  );
  const err = watchStream(child.stderr, child);
  let match;
  try {
    match = await err.waitFor(/listening on (http:\/\/[^/\s]+)\/mcp/, 20_000);
  } catch (error) {
    await stopChild(child, 'SIGTERM', 5_000);
    throw error;
  }
  return { t0, listenMs: nsToMs(now() - t0), child, pid: child.pid, url: match[1], stderr: () => err.text() };
}

/** Peak and current resident set size of a live process, in bytes (Linux /proc). */
export function readRss(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (field) => {
      const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(status);
      return m ? Number(m[1]) * 1024 : NaN;
    };
    return { hwm: kib('VmHWM'), rss: kib('VmRSS') };
  } catch {
    return { hwm: NaN, rss: NaN };
  }
}

import { isAlive } from '../helpers/process-state.mjs';

export { isAlive };

/** Waits until `pid` is gone; false if it is still alive after `timeoutMs`. */
export async function waitGone(pid, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

/** Reads a pid written by the stdio fixture's --print-pid-file; undefined if never written. */
export function readPidFile(path) {
  if (!existsSync(path)) return undefined;
  const pid = Number(readFileSync(path, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** `pgrep -af pattern` lines (pid and command line); [] when nothing matches. */
export function pgrep(pattern) {
  try {
    return execFileSync('pgrep', ['-af', pattern], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .filter((line) => !line.includes('pgrep'));
  } catch {
    return []; // exit status 1: no match
  }
}

/**
 * Pids of running processes whose command line contains `marker` (a literal string, such as a
 * unique path in the bench's temp dir) and none of `exclude` (e.g. the airlock that launched
 * the process, whose own argv repeats the child's command line).
 */
export function pidsWithMarker(marker, exclude = []) {
  const escaped = marker.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return pgrep(escaped)
    .map((line) => {
      const space = line.indexOf(' ');
      return { pid: Number(line.slice(0, space)), command: line.slice(space + 1) };
    })
    .filter(({ pid, command }) => pid !== process.pid && command.includes(marker) && !exclude.some((x) => command.includes(x)))
    .map(({ pid }) => pid);
}

export const fmt = {
  ms: (v, digits = 2) => (Number.isFinite(v) ? v.toFixed(digits) : '-'),
  int: (v) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '-'),
  mib: (bytes) => (Number.isFinite(bytes) ? (bytes / 1024 / 1024).toFixed(1) : '-'),
  delta: (v) => (Number.isFinite(v) ? `${v >= 0 ? '+' : '-'}${Math.abs(v).toFixed(2)} ms` : '-'),
  ratio: (v) => (Number.isFinite(v) ? `x${v.toFixed(2)}` : '-'),
  pct: (v) => (Number.isFinite(v) ? `${(v * 100).toFixed(0)}%` : '-'),
};

/** A markdown table with padded columns. */
export function markdownTable(headers, rows, align) {
  const cells = [headers, ...rows].map((row) => row.map((c) => String(c)));
  const widths = headers.map((_, i) => Math.max(3, ...cells.map((row) => row[i].length)));
  const pad = (s, i) => (align?.[i] === 'r' ? s.padStart(widths[i]) : s.padEnd(widths[i]));
  const line = (row) => `| ${row.map(pad).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (align?.[i] === 'r' ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`;
  return [line(cells[0]), rule, ...cells.slice(1).map(line)].join('\n');
}

/**
 * A 50-rule policy for the bench, shaped like a real one: 45 allow rules for other teams and
 * users (tool globs, annotations, groups, scopes), 4 deny rules, and last the rule that lets
 * `user` (run's caller: the local OS user) call echo and add, so every call is checked against
 * all 50. A rate limit that never refuses and a flow rule that never fires are on, so their
 * per-call work is counted too.
 */
export function fiftyRulePolicy(user) {
  const rules = [];
  for (let i = 0; i < 20; i++) rules.push({ id: `team-${i}`, effect: 'allow', tools: [`team${i}_*`, `shared${i}`], principal: { groups: [`team-${i}`, `team-${i}-leads`] } });
  for (let i = 0; i < 15; i++) rules.push({ id: `readers-${i}`, effect: 'allow', annotations: { readOnlyHint: true }, principal: { subject: `user-${i}-*`, scopes: ['mcp:read'] } });
  for (let i = 0; i < 10; i++) rules.push({ id: `writers-${i}`, effect: 'allow', tools: `write_${i}_*`, principal: { roles: ['writer', `writer-${i}`], scopes: ['mcp:write'] } });
  for (let i = 0; i < 3; i++) rules.push({ id: `deny-${i}`, effect: 'deny', tools: [`danger${i}_*`, `*_purge${i}`] });
  rules.push({ id: 'no-destructive-delegation', effect: 'deny', annotations: { destructiveHint: true }, principal: { delegated: true } });
  rules.push({ id: 'bench-user', effect: 'allow', tools: ['echo', 'add'], principal: { subject: user, issuer: 'local' } });
  return {
    rules,
    rateLimits: [{ id: 'never', tools: '*', per: 'caller', limit: 1_000_000_000, window: '1s' }],
    flows: [{ id: 'no-exfiltration', deny: 'external-communication', after: ['private-data', 'untrusted-content'] }],
  };
}
