#!/usr/bin/env node
// mcp-airlock benchmark: the three direct baselines and all nine bridged directions, one after
// another, through the built CLI (`npm run bench` builds first); then the same for MCP
// 2026-07-28 (ids containing "modern"): two direct baselines, four bridged directions with both
// ends 2026, and four where airlock translates between the eras.
//
//   node test/bench/bench.mjs            full run; markdown tables on stdout, progress on stderr
//   node test/bench/bench.mjs --quick    smoke run with few iterations (under a minute for each
//                                        era's rows)
//   node test/bench/bench.mjs --json     print a JSON dump instead of the table
//   node test/bench/bench.mjs --only sse add only directions whose id contains "sse", and the
//                                        direct baselines they are compared with; repeatable
//   node test/bench/bench.mjs --only modern   the 2026-07-28 rows
//
// Per direction:
//   1. spawn -> first tools/list result (median of N fresh processes). For stdio inbound the clock
//      starts when the client transport spawns airlock; for HTTP/SSE inbound when `airlock serve`
//      is spawned (then the listening line, connect, initialize, tools/list). The direct HTTP/SSE
//      baselines spawn nothing: they time connect + initialize + tools/list to the running fixture.
//      2-5 run on one more fresh session (--quick: on the last of these, saving a start).
//   2. tools/call echo {text:'hello'} latency, sequential, p50 / p99 (process.hrtime.bigint).
//   3. throughput: echo calls per second with 16 in flight.
//   4. 1 MiB round trip: echo with a 1 MiB string, median.
//   5. peak RSS (VmHWM) of the airlock process, read just before it is closed.
//
// 2026-07-28 rows: the client is the SDK v2 Client pinned to 2026-07-28 (or, for the 4A
// translation rows, the SDK v1 Client, 2025 era); the server is fixtures/modern-server.mjs with
// `--legacy reject` (modern only: 2025 traffic reaching it fails loudly) or, for the 4B rows, the
// 2025 fixtures. A pinned v2 client on the SDK's own StdioClientTransport first spawns a throwaway
// sibling process for its server/discover probe (one more fixture or airlock start per connect);
// the bench uses a bare subclass of that transport, which the SDK probes in place, on the one
// process, so spawn→tools/list is one spawn, server/discover and tools/list. Each row is compared
// with the direct baseline of its server (same era, same transport).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { measureHub, measureHubFootprint } from './hub.mjs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Client as ModernClient, StreamableHTTPClientTransport as ModernHttpTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport as ModernStdioTransport } from '@modelcontextprotocol/client/stdio';
import {
  airlockBin,
  exited,
  fiftyRulePolicy,
  fmt,
  isAlive,
  liveChildren,
  markdownTable,
  median,
  modernFixture,
  now,
  nsToMs,
  percentile,
  pgrep,
  pidsWithMarker,
  readPidFile,
  readRss,
  repoRoot,
  sleep,
  startHttpFixture,
  startModernHttpFixture,
  startServe,
  stdioFixture,
  stopChild,
  waitGone,
} from './lib.mjs';

// ---------------------------------------------------------------------------------------------
// Options and parameters

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const asJson = argv.includes('--json');
const only = argv.flatMap((a, i) => (a === '--only' && argv[i + 1] ? [argv[i + 1]] : []));
for (const a of argv) {
  if (!['--quick', '--json', '--only'].includes(a) && !only.includes(a)) {
    process.stderr.write(`bench: unknown argument ${a}\nusage: node test/bench/bench.mjs [--quick] [--json] [--only <id-substring>]...\n`);
    process.exit(2);
  }
}

const params = quick
  ? { spawnRuns: 2, latencyWarmup: 20, latencyCalls: 100, latencyBudgetMs: 1_000, concurrency: 16, tputWarmupMs: 150, tputMs: 400, mibRuns: 3 }
  : { spawnRuns: 5, latencyWarmup: 200, latencyCalls: 2000, latencyBudgetMs: 20_000, concurrency: 16, tputWarmupMs: 500, tputMs: 3_000, mibRuns: 10 };
/** If one spawn run takes longer than this, do fewer runs. */
const SLOW_SPAWN_MS = 3_000;
const SLOW_SPAWN_RUNS = 3;
/** How long a stdio fixture may outlive the close of its session before it counts as leaked. */
const FIXTURE_EXIT_GRACE_MS = 5_000;
const MIB = 1024 * 1024;

const log = (line) => process.stderr.write(`${line}\n`);

// The SDK's own HTTP client transports (used here as the bench's client) reuse one AbortSignal for
// every fetch, and Node 20's fetch removes its abort listeners only on GC (nodejs/node#52635), so
// this process would print thousands of MaxListenersExceededWarning lines. Count them instead.
const benchWarnings = new Map();
process.removeAllListeners('warning');
process.on('warning', (warning) => {
  const key = `${warning.name}: ${warning.message.replace(/\d+/g, 'N')}`;
  benchWarnings.set(key, (benchWarnings.get(key) ?? 0) + 1);
});

// ---------------------------------------------------------------------------------------------
// Directions

const kindName = { stdio: 'stdio', http: 'HTTP', sse: 'SSE' };
const PINNED = '2026-07-28';
const eraYear = { legacy: '2025', modern: '2026' };
/** The direct baseline of a server: same era, same transport. */
const directId = (outbound, era) => `direct-${outbound}${era === 'modern' ? '.modern' : ''}`;
const bridgedLabel = (inbound, outbound) => `${kindName[inbound]} → ${kindName[outbound]} (${inbound === 'stdio' ? (outbound === 'stdio' ? 'run' : 'connect') : 'serve'})`;

// client / server: the MCP era of the bench's client and of the fixture behind airlock.
// table: which output table the row goes to.
const legacyDirections = [
  ...['stdio', 'http', 'sse'].map((outbound) => ({
    id: `direct-${outbound}`,
    inbound: 'direct',
    outbound,
    label: `direct → ${kindName[outbound]} fixture`,
  })),
  ...['stdio', 'http', 'sse'].flatMap((inbound) =>
    ['stdio', 'http', 'sse'].flatMap((outbound) => {
      const base = {
        id: `${inbound}-${outbound}`,
        inbound,
        outbound,
        audit: 'on',
        label: bridgedLabel(inbound, outbound),
      };
      // The audit log is on by default; its cost is measured on two directions, next to each other.
      if (outbound !== 'stdio' || inbound === 'sse') return [base];
      // The policy's cost: a 50-rule --policy-file against none, next to each other, audit off.
      const policy = inbound === 'stdio' ? [{ ...base, id: `${base.id}.policy`, audit: 'off', policy: true, label: `${base.label}, --no-audit, 50-rule policy` }] : [];
      return [
        { ...base, id: `${base.id}.audit-off`, audit: 'off', label: `${base.label}, --no-audit` },
        ...policy,
        base,
        { ...base, id: `${base.id}.audit-sync`, audit: 'sync', label: `${base.label}, --audit-sync` },
      ];
    }),
  ),
].map((d) => ({ ...d, client: 'legacy', server: 'legacy', table: '2025' }));

// 2026-07-28. No SSE: that transport belongs to the 2024/2025 eras.
const modernDirections = [
  ...['stdio', 'http'].map((outbound) => ({
    id: `direct-${outbound}.modern`,
    inbound: 'direct',
    outbound,
    client: 'modern',
    server: 'modern',
    label: `direct → modern ${kindName[outbound]} fixture`,
  })),
  // Passthrough: a 2026 client, a 2026-only server.
  ...[
    ['stdio', 'stdio'],
    ['stdio', 'http'],
    ['http', 'stdio'],
    ['http', 'http'],
  ].map(([inbound, outbound]) => ({ id: `${inbound}-${outbound}.modern`, inbound, outbound, client: 'modern', server: 'modern' })),
  // Translation: 4A a 2025 client, a 2026-only server; 4B a 2026 client, a 2025 server.
  ...[
    ['stdio', 'legacy', 'modern', '4a'],
    ['stdio', 'modern', 'legacy', '4b'],
  ].flatMap(([inbound, client, server, tag]) =>
    ['http', 'stdio'].map((outbound) => ({ id: `${inbound}-${outbound}.modern-${tag}`, inbound, outbound, client, server, translation: tag.toUpperCase() })),
  ),
].map((d) => ({
  ...d,
  audit: d.inbound === 'direct' ? undefined : 'on',
  table: '2026',
  label: d.label ?? `${bridgedLabel(d.inbound, d.outbound)}, ${eraYear[d.client]} → ${eraYear[d.server]}${d.translation ? ` (${d.translation})` : ''}`,
}));

const allDirections = [...legacyDirections, ...modernDirections].map((d) => ({
  ...d,
  baseline: d.inbound === 'direct' ? undefined : directId(d.outbound, d.server),
  // A client of this direction's inbound transport and era, talking to a server directly.
  sameClientBaseline: d.inbound === 'direct' ? undefined : directId(d.inbound, d.client),
}));
const bridgedSelected = allDirections.filter((d) => d.inbound !== 'direct' && (only.length === 0 || only.some((o) => d.id.includes(o))));
const baselinesNeeded = new Set(bridgedSelected.flatMap((d) => [d.baseline, d.sameClientBaseline]));
const directions = allDirections.filter((d) =>
  d.inbound === 'direct' ? only.length === 0 || baselinesNeeded.has(d.id) || only.some((o) => d.id.includes(o)) : bridgedSelected.includes(d),
);

/** Audit flags for a direction: its own file in the bench's temp dir (never the user's log); the policy file if any. */
function auditArgs(dir) {
  if (dir.policy) return ['--no-audit', '--policy-file', policyFile];
  if (dir.audit === 'off') return ['--no-audit'];
  const file = ['--audit-file', join(tmp, `audit-${dir.id}.jsonl`)];
  return dir.audit === 'sync' ? [...file, '--audit-sync'] : file;
}

// ---------------------------------------------------------------------------------------------
// Sessions

const tmp = mkdtempSync(join(os.tmpdir(), 'airlock-bench-'));
const policyFile = join(tmp, 'policy-50.json');
writeFileSync(policyFile, JSON.stringify(fiftyRulePolicy(os.userInfo().username), null, 2));
let pidFileSeq = 0;
let fixture; // the HTTP fixture, one child process for the whole run
let modernHttp; // the 2026-07-28 HTTP fixture (modern only), started if a direction needs it

function remoteUrl(dir) {
  if (dir.server === 'modern') return modernHttp.url;
  return `${fixture.url}/${dir.outbound === 'http' ? 'mcp' : 'sse'}`;
}

/**
 * The SDK v2 stdio transport, as a subclass: for the SDK's base class a pinned (or auto) client
 * spawns a throwaway sibling process for its server/discover probe, then the session process;
 * for a subclass it probes in place (client.d.mts, versionNegotiation). One process per session,
 * as for every other client here.
 */
class InPlaceProbeStdioTransport extends ModernStdioTransport {}

const newClient = (era) =>
  era === 'modern'
    ? new ModernClient({ name: 'airlock-bench', version: '1.0.0' }, { capabilities: {}, versionNegotiation: { mode: { pin: PINNED } } })
    : new Client({ name: 'airlock-bench', version: '1.0.0' }, { capabilities: {} });

/**
 * Opens one session for `dir` from scratch (fresh airlock process, fresh stdio fixture) and runs
 * the first tools/list. Returns the session with `spawnMs` and a `close()` that reports how the
 * processes ended.
 */
async function openSession(dir) {
  const pidFile = join(tmp, `fixture-${++pidFileSeq}.pid`);
  // The modern fixture has no --print-pid-file: it gets the same path as an argument it ignores,
  // a marker to find it by (pidsWithMarker) while the session runs and after it closes.
  const fixtureCommand =
    dir.server === 'modern' ? [process.execPath, modernFixture, '--legacy', 'reject', '--bench-marker', pidFile] : [process.execPath, stdioFixture, '--print-pid-file', pidFile];
  const client = newClient(dir.client);
  let transport;
  let serve;
  let stderrText = '';
  let t0;
  const openProblems = [];

  const stdioTransport = (args) => {
    const Transport = dir.client === 'modern' ? InPlaceProbeStdioTransport : StdioClientTransport;
    const t = new Transport({ command: process.execPath, args, cwd: repoRoot, stderr: 'pipe' });
    t.stderr.setEncoding('utf8');
    t.stderr.on('data', (chunk) => (stderrText += chunk));
    return t;
  };
  const httpTransport = (kind, url) => {
    if (kind === 'sse') return new SSEClientTransport(new URL(url));
    return dir.client === 'modern' ? new ModernHttpTransport(new URL(url)) : new StreamableHTTPClientTransport(new URL(url));
  };

  try {
    if (dir.inbound === 'direct') {
      transport = dir.outbound === 'stdio' ? stdioTransport(fixtureCommand.slice(1)) : httpTransport(dir.outbound, remoteUrl(dir));
      t0 = now();
      await client.connect(transport);
    } else if (dir.inbound === 'stdio') {
      // 4B: the client is pinned to 2026-07-28, so airlock is told the server's era (a negotiating
      // client would settle on 2025 with it, as directly, and nothing would be translated).
      const era = dir.translation === '4B' ? ['--protocol', '2025-11-25'] : [];
      const args = dir.outbound === 'stdio' ? ['run', ...era, ...auditArgs(dir), '--', ...fixtureCommand] : ['connect', remoteUrl(dir), '--transport', dir.outbound, ...era, ...auditArgs(dir)];
      transport = stdioTransport([airlockBin, ...args]);
      t0 = now(); // the transport spawns airlock in start(), called by connect()
      await client.connect(transport);
    } else {
      const args = dir.outbound === 'stdio' ? [...auditArgs(dir), '--', ...fixtureCommand] : ['--upstream', remoteUrl(dir), '--transport', dir.outbound, ...auditArgs(dir)];
      serve = await startServe(args); // takes t0 right before the spawn
      t0 = serve.t0;
      transport = httpTransport(dir.inbound, `${serve.url}/${dir.inbound === 'http' ? 'mcp' : 'sse'}`);
      await client.connect(transport);
    }
    const { tools } = await client.listTools();
    const spawnMs = nsToMs(now() - t0);
    if (!tools.some((t) => t.name === 'echo')) throw new Error(`tools/list has no echo tool: ${tools.map((t) => t.name).join(', ')}`);
    if (dir.client === 'modern' && client.getNegotiatedProtocolVersion() !== PINNED) {
      throw new Error(`the 2026 client negotiated ${client.getNegotiatedProtocolVersion()} (era ${client.getProtocolEra()}), not ${PINNED}`);
    }

    const airlockPid = serve ? serve.pid : dir.inbound === 'stdio' ? transport.pid : undefined;
    if (dir.outbound === 'stdio' && dir.server === 'modern') {
      const running = pidsWithMarker(pidFile, [airlockBin]);
      if (running.length !== 1) openProblems.push(`expected one modern stdio fixture process after tools/list, found ${running.length} (${running.join(', ')})`);
    }
    return {
      client,
      spawnMs,
      listenMs: serve?.listenMs,
      airlockPid,
      stderr: () => stderrText + (serve ? serve.stderr() : ''),
      close: () => closeSession({ dir, client, transport, serve, pidFile, openProblems }),
    };
  } catch (error) {
    // Clean up whatever was started before the failure, then rethrow with the process output.
    await closeSession({ dir, client, transport, serve, pidFile }).catch(() => undefined);
    const output = (stderrText + (serve ? serve.stderr() : '')).trim();
    throw new Error(`${error instanceof Error ? error.message : String(error)}${output ? `\n  airlock stderr:\n${output.replace(/^/gm, '    ')}` : ''}`);
  }
}

/**
 * Closes a session the way a client would: DELETE for streamable HTTP, then close the client
 * (for stdio transports this ends stdin and waits for the process), then SIGTERM `serve`.
 * Then checks that the stdio fixture (if any) is gone; a leaked one is reported and killed.
 */
async function closeSession({ dir, client, transport, serve, pidFile, openProblems = [] }) {
  const report = { closeMs: NaN, exit: undefined, problems: [...openProblems] };
  const t0 = now();
  // StdioClientTransport forgets its process in close(); keep it to read the exit status.
  const proc = transport?._process;
  if ((transport instanceof StreamableHTTPClientTransport || transport instanceof ModernHttpTransport) && transport.sessionId) {
    await transport.terminateSession().catch((e) => report.problems.push(`DELETE of the session failed: ${e.message}`));
  }
  await client.close().catch((e) => report.problems.push(`client.close() failed: ${e.message}`));
  if (proc) {
    const { code, signal } = await exited(proc);
    report.exit = { code, signal };
    report.closeMs = nsToMs(now() - t0);
    const who = dir.inbound === 'direct' ? 'the stdio fixture' : 'airlock';
    if (report.closeMs >= 1_900) report.problems.push(`${who} took ${report.closeMs.toFixed(0)} ms to exit after stdin closed (the SDK sends SIGTERM after 2 s)`);
    if (code !== 0) report.problems.push(`${who} exited with ${code ?? signal} after stdin closed (expected 0)`);
  }
  if (serve) {
    const stop = await stopChild(serve.child, 'SIGTERM', 10_000);
    report.exit = { code: stop.code, signal: stop.signal };
    report.closeMs = nsToMs(now() - t0);
    report.stopMs = stop.ms;
    if (stop.killed) report.problems.push(`airlock serve did not exit within 10 s of SIGTERM; killed`);
    else if (stop.code !== 143) report.problems.push(`airlock serve exited with ${stop.code ?? stop.signal} on SIGTERM (expected 143)`);
  }
  if (dir.outbound === 'stdio' && dir.server === 'modern') {
    // Found by the marker in its argv (not the airlock's, whose argv repeats the command line).
    const find = () => pidsWithMarker(pidFile, [airlockBin]);
    const deadline = Date.now() + FIXTURE_EXIT_GRACE_MS;
    let left = find();
    while (left.length && Date.now() < deadline) {
      await sleep(50);
      left = find();
    }
    for (const pid of left) {
      report.problems.push(`modern stdio fixture pid ${pid} still running ${FIXTURE_EXIT_GRACE_MS} ms after the session closed (killed it)`);
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  } else if (dir.outbound === 'stdio') {
    const pid = readPidFile(pidFile);
    if (pid === undefined) {
      if (transport) report.problems.push('the stdio fixture never wrote its pid file');
    } else if (!(await waitGone(pid, FIXTURE_EXIT_GRACE_MS))) {
      report.problems.push(`stdio fixture pid ${pid} still running ${FIXTURE_EXIT_GRACE_MS} ms after the session closed (killed it)`);
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  if (!Number.isFinite(report.closeMs)) report.closeMs = nsToMs(now() - t0);
  return report;
}

// ---------------------------------------------------------------------------------------------
// Measurements

const HELLO = { name: 'echo', arguments: { text: 'hello' } };

async function echoHello(client) {
  const result = await client.callTool(HELLO);
  if (result.content?.[0]?.text !== 'hello') throw new Error(`echo returned ${JSON.stringify(result).slice(0, 200)}`);
}

async function measureLatency(client) {
  // Warm-up, also used to size the measured run so slow directions stay within budget.
  const warmStart = now();
  let warm = 0;
  while (warm < params.latencyWarmup && nsToMs(now() - warmStart) < params.latencyBudgetMs / 2) {
    await echoHello(client);
    warm++;
  }
  const perCallMs = nsToMs(now() - warmStart) / warm;
  const n = Math.max(50, Math.min(params.latencyCalls, Math.floor(params.latencyBudgetMs / perCallMs)));
  const samples = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t = now();
    await echoHello(client);
    samples[i] = nsToMs(now() - t);
  }
  samples.sort();
  const sum = samples.reduce((a, b) => a + b, 0);
  return { warmup: warm, n, scaledDown: n < params.latencyCalls, p50: percentile(samples, 0.5), p99: percentile(samples, 0.99), mean: sum / n, min: samples[0], max: samples[n - 1] };
}

async function runConcurrent(client, ms) {
  let stop = false;
  let calls = 0;
  const t0 = now();
  const timer = setTimeout(() => (stop = true), ms);
  const worker = async () => {
    while (!stop) {
      await echoHello(client);
      calls++;
    }
  };
  try {
    await Promise.all(Array.from({ length: params.concurrency }, worker));
  } finally {
    clearTimeout(timer);
    stop = true;
  }
  const seconds = nsToMs(now() - t0) / 1000;
  return { calls, seconds, callsPerSec: calls / seconds };
}

async function measureThroughput(client) {
  await runConcurrent(client, params.tputWarmupMs);
  return { concurrency: params.concurrency, ...(await runConcurrent(client, params.tputMs)) };
}

async function measureMib(client) {
  const text = 'a'.repeat(MIB);
  const once = async () => {
    const t = now();
    const result = await client.callTool({ name: 'echo', arguments: { text } });
    const ms = nsToMs(now() - t);
    const back = result.content?.[0]?.text;
    if (back !== text) throw new Error(`1 MiB echo came back wrong (${typeof back === 'string' ? `${back.length} chars` : JSON.stringify(result).slice(0, 200)})`);
    return ms;
  };
  await once(); // warm-up
  const runs = [];
  for (let i = 0; i < params.mibRuns; i++) runs.push(await once());
  return { runs, median: median(runs) };
}

/** Everything for one direction; never throws (errors are recorded in the result). */
async function benchDirection(dir) {
  const result = {
    id: dir.id,
    label: dir.label,
    inbound: dir.inbound,
    outbound: dir.outbound,
    client: dir.client,
    server: dir.server,
    table: dir.table,
    baseline: dir.baseline,
    sameClientBaseline: dir.sameClientBaseline,
    audit: dir.audit,
    policy: dir.policy === true,
    errors: [],
    problems: [],
    warnings: [],
    closes: [],
  };
  const warningCounts = new Map();
  const collect = (session, closeReport) => {
    result.closes.push({ ms: closeReport.closeMs, exit: closeReport.exit, stopMs: closeReport.stopMs });
    result.problems.push(...closeReport.problems);
    const lines = session?.stderr().split('\n') ?? [];
    for (const line of lines.filter((l) => /\] (warn|error):|^mcp-airlock: (error|hint)|Error\b|Warning\b/.test(l))) {
      const key = line.replace(/\(node:\d+\)/, '(node:PID)').replace(/\b\d+\b/g, 'N').replace(/\b[0-9a-f]{8}\b/g, 'ID').trim();
      const seen = warningCounts.get(key) ?? { example: line.trim(), count: 0 };
      seen.count++;
      warningCounts.set(key, seen);
    }
  };

  // 1. spawn -> first tools/list
  const spawnRuns = [];
  const listenRuns = []; // serve only: spawn -> listening line
  let runs = params.spawnRuns;
  let kept; // --quick: the last spawn run's session (fresh, one tools/list done) is measured next
  for (let i = 0; i < runs; i++) {
    let session;
    try {
      session = await openSession(dir);
      spawnRuns.push(session.spawnMs);
      if (session.listenMs !== undefined) listenRuns.push(session.listenMs);
      if (i === 0 && session.spawnMs > SLOW_SPAWN_MS) runs = Math.min(runs, SLOW_SPAWN_RUNS);
      if (quick && i === runs - 1) [kept, session] = [session, undefined];
    } catch (error) {
      result.errors.push(`spawn run ${i + 1}: ${error.message}`);
      break;
    } finally {
      if (session) collect(session, await session.close());
    }
  }
  result.spawn = { runs: spawnRuns, median: median(spawnRuns), listenMedian: listenRuns.length ? median(listenRuns) : undefined, noSpawn: dir.inbound === 'direct' && dir.outbound !== 'stdio' };

  // 2-5 on one more fresh session (--quick: on the last spawn run's, to save a start per direction)
  let session = kept;
  try {
    session ??= await openSession(dir);
    const { client, airlockPid } = session;
    // RSS checkpoints show which phase sets the peak; the table reports the final VmHWM.
    const rssAt = {};
    if (airlockPid) rssAt.connected = readRss(airlockPid);
    log(`  latency...`);
    result.latency = await measureLatency(client);
    log(`  throughput...`);
    result.throughput = await measureThroughput(client);
    if (airlockPid) rssAt.afterThroughput = readRss(airlockPid);
    log(`  1 MiB...`);
    result.mib = await measureMib(client);
    if (airlockPid) {
      rssAt.end = readRss(airlockPid);
      result.rss = { hwm: rssAt.end.hwm, rss: rssAt.end.rss, checkpoints: rssAt };
    }
  } catch (error) {
    result.errors.push(`measurement: ${error.message}`);
  } finally {
    if (session) collect(session, await session.close());
  }
  result.warnings = [...warningCounts.values()].map((w) => (w.count > 1 ? `${w.example} [×${w.count} similar lines]` : w.example));
  return result;
}

/** Adds the ratios of each bridged result to the direct baseline with the same upstream (same server, same era). */
function addRatios(results) {
  for (const r of results) {
    if (r.inbound === 'direct') continue;
    const off = results.find((b) => b.audit === 'off' && !b.policy && b.inbound === r.inbound && b.outbound === r.outbound && b.client === r.client && b.server === r.server);
    if (off && r.policy) {
      r.vsNoPolicy = {
        baseline: off.id,
        p50DeltaMs: r.latency && off.latency ? r.latency.p50 - off.latency.p50 : NaN,
        p50Ratio: r.latency && off.latency ? r.latency.p50 / off.latency.p50 : NaN,
        throughputFraction: r.throughput && off.throughput ? r.throughput.callsPerSec / off.throughput.callsPerSec : NaN,
      };
    } else if (off && r !== off) {
      r.vsAuditOff = {
        baseline: off.id,
        p50DeltaMs: r.latency && off.latency ? r.latency.p50 - off.latency.p50 : NaN,
        throughputFraction: r.throughput && off.throughput ? r.throughput.callsPerSec / off.throughput.callsPerSec : NaN,
        mibRatio: r.mib && off.mib ? r.mib.median / off.mib.median : NaN,
      };
    }
    const base = results.find((b) => b.id === r.baseline);
    if (!base) continue;
    r.vsDirect = {
      baseline: base.id,
      p50DeltaMs: r.latency && base.latency ? r.latency.p50 - base.latency.p50 : NaN,
      p50Ratio: r.latency && base.latency ? r.latency.p50 / base.latency.p50 : NaN,
      p99DeltaMs: r.latency && base.latency ? r.latency.p99 - base.latency.p99 : NaN,
      p99Ratio: r.latency && base.latency ? r.latency.p99 / base.latency.p99 : NaN,
      throughputFraction: r.throughput && base.throughput ? r.throughput.callsPerSec / base.throughput.callsPerSec : NaN,
      mibRatio: r.mib && base.mib ? r.mib.median / base.mib.median : NaN,
    };
    // Secondary view: the direct baseline that uses the same client transport (and client era) as
    // this direction (for HTTP/SSE inbound the client-side transport differs from the upstream's
    // baseline; for a translation row the client's era differs from the server's).
    const same = results.find((b) => b.id === r.sameClientBaseline);
    if (same) {
      r.vsSameClientTransport = {
        baseline: same.id,
        p50DeltaMs: r.latency && same.latency ? r.latency.p50 - same.latency.p50 : NaN,
        p50Ratio: r.latency && same.latency ? r.latency.p50 / same.latency.p50 : NaN,
        throughputFraction: r.throughput && same.throughput ? r.throughput.callsPerSec / same.throughput.callsPerSec : NaN,
        mibRatio: r.mib && same.mib ? r.mib.median / same.mib.median : NaN,
      };
    }
  }
}

/** The issue's aims, checked per bridged direction. */
function checkAims(results) {
  const bridged = results.filter((r) => r.inbound !== 'direct');
  const aim = (name, applies, pass, value) => {
    const rows = bridged.filter(applies).map((r) => ({ id: r.id, label: r.label, value: value(r), met: pass(r) }));
    return { name, met: rows.length ? rows.every((x) => x.met) : null, rows };
  };
  return [
    aim('tools/call p50 within 0.3 ms of direct', () => true, (r) => r.vsDirect?.p50DeltaMs <= 0.3, (r) => fmt.delta(r.vsDirect?.p50DeltaMs)),
    aim('throughput >= 90% of direct', () => true, (r) => r.vsDirect?.throughputFraction >= 0.9, (r) => fmt.pct(r.vsDirect?.throughputFraction)),
    aim('connect-mode spawn-to-first-tools/list < 250 ms', (r) => r.inbound === 'stdio' && r.outbound !== 'stdio', (r) => r.spawn.median < 250, (r) => `${fmt.ms(r.spawn.median, 0)} ms`),
    aim('airlock peak RSS < 80 MiB', () => true, (r) => r.rss?.hwm < 80 * MIB, (r) => `${fmt.mib(r.rss?.hwm)} MiB`),
    aim('default audit log costs <= 10% throughput (vs --no-audit)', (r) => r.vsAuditOff && r.audit === 'on', (r) => r.vsAuditOff.throughputFraction >= 0.9, (r) => fmt.pct(r.vsAuditOff?.throughputFraction)),
  ];
}

/**
 * Peak RSS of `connect` (default --max-message, 32 MiB) against a hostile upstream of this process:
 * one SSE event whose data never ends, then a 100 MiB JSON answer. Each call must come back as an
 * error naming the limit; the figure is VmHWM of the airlock process after both.
 */
async function measureHostile() {
  const { createServer } = await import('node:http');
  const { spawn } = await import('node:child_process');
  const huge = Buffer.alloc(100 * MIB, 0x61);
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const { id, params } = JSON.parse(body);
      if (params?.name === 'endless') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(`data: {"jsonrpc":"2.0","id":${id},"result":{"text":"`);
        const chunk = 'x'.repeat(64 * 1024);
        const timer = setInterval(() => res.write(chunk), 1);
        res.on('close', () => clearInterval(timer));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(`{"jsonrpc":"2.0","id":${id},"result":{"text":"`);
      res.end(Buffer.concat([huge, Buffer.from('"}}')]));
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}/mcp`;
  const child = spawn(process.execPath, [airlockBin, 'connect', url, '--no-audit'], { stdio: ['pipe', 'pipe', 'ignore'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c) => (out += c));
  const meta = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };
  const answered = async (id) => {
    const deadline = Date.now() + 60_000;
    while (!out.split('\n').some((l) => l.includes(`"id":${id}`))) {
      if (Date.now() > deadline) throw new Error(`hostile upstream: no answer to ${id}`);
      await sleep(20);
    }
    const line = out.split('\n').find((l) => l.includes(`"id":${id}`));
    if (!line.includes('AIRLOCK_MESSAGE_TOO_LARGE')) throw new Error(`hostile upstream: call ${id} was not refused for its size: ${line.slice(0, 200)}`);
  };
  try {
    child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'endless', arguments: {}, _meta: meta } })}\n`);
    await answered(1);
    const endlessHwm = readRss(child.pid).hwm;
    child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'huge', arguments: {}, _meta: meta } })}\n`);
    await answered(2);
    return { endlessHwm, hugeHwm: readRss(child.pid).hwm };
  } finally {
    child.stdin.end();
    await stopChild(child, 'SIGTERM', 5_000);
    server.closeAllConnections();
    server.close();
  }
}

/**
 * Peak RSS of `serve -- <2025 stdio fixture>` while 24 callers of the 2026-07-28 lane ask for an
 * 8 MiB answer each and never read it: the lane cannot stop its upstream for one caller, so what
 * bounds serve is its unread budget (64 MiB across lanes; past it the fullest response that has not
 * been read for 2 s is closed). Measured after a fixed 30 s; also how many responses were closed.
 */
async function measureUnreadCallers() {
  const { spawn } = await import('node:child_process');
  const { connect } = await import('node:net');
  const child = spawn(process.execPath, [airlockBin, 'serve', '--port', '0', '--no-audit', '--', process.execPath, stdioFixture], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (c) => (err += c));
  const sockets = [];
  try {
    const port = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('unread callers: serve did not start')), 15_000);
      child.stderr.on('data', () => {
        const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(err);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
    });
    const startRss = readRss(child.pid).hwm;
    const meta = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };
    for (let i = 0; i < 24; i++) {
      const body = JSON.stringify({ jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: 'big', arguments: { bytes: 8 * MIB }, _meta: meta } });
      const socket = connect(port, '127.0.0.1');
      socket.on('error', () => undefined);
      socket.write(`POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2026-07-28\r\nMcp-Method: tools/call\r\nMcp-Name: big\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      socket.pause();
      sockets.push(socket);
    }
    await sleep(30_000);
    const { hwm, rss } = readRss(child.pid);
    return { startRss, hwm, rss, closed: (err.match(/answers unread past the server's budget/g) ?? []).length };
  } finally {
    for (const socket of sockets) socket.destroy();
    await stopChild(child, 'SIGTERM', 5_000);
  }
}

/**
 * The policy stage alone, in this process: what a 50-rule file adds to each tools/call, without
 * the noise of pipes and processes. Uses the built modules, like the CLI.
 */
async function measurePolicyStage() {
  const { parsePolicy } = await import('../../dist/policy/policy-file.js');
  const { compilePolicy } = await import('../../dist/policy/policy-stage.js');
  const { localUserCaller } = await import('../../dist/policy/caller.js');
  const policy = compilePolicy(parsePolicy(JSON.stringify(fiftyRulePolicy('bench')), 'bench'));
  const caller = localUserCaller('bench');
  const stage = policy.stageFor(() => caller);
  const tools = [{ name: 'echo', annotations: { readOnlyHint: true } }, { name: 'add', annotations: { readOnlyHint: true } }];
  for (let i = 0; i < 18; i++) tools.push({ name: `team${i}_tool`, annotations: { readOnlyHint: i % 2 === 0 } });
  const list = { jsonrpc: '2.0', id: 0, result: { tools } };
  if (stage.fromServer(list, { method: 'tools/list' })?.result.tools.length !== 2) throw new Error('bench policy: tools/list should keep echo and add');
  const calls = quick ? 20_000 : 200_000;
  const message = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'hello' } } };
  const rounds = [];
  for (let round = 0; round < 5; round++) {
    const t = now();
    for (let i = 0; i < calls; i++) if (stage.fromClient(message) !== undefined) throw new Error('bench policy: echo was refused');
    rounds.push(nsToMs(now() - t) * 1000 / calls);
  }
  const listRounds = [];
  for (let round = 0; round < 5; round++) {
    const t = now();
    for (let i = 0; i < 2000; i++) stage.fromServer(list, { method: 'tools/list' });
    listRounds.push(nsToMs(now() - t) * 1000 / 2000);
  }
  return { perCallUs: median(rounds.slice(1)), listUs: median(listRounds.slice(1)), rounds: rounds.length - 1, calls };
}

// ---------------------------------------------------------------------------------------------
// Output

function sdkVersion(pkg = 'sdk') {
  try {
    return JSON.parse(readFileSync(join(repoRoot, `node_modules/@modelcontextprotocol/${pkg}/package.json`), 'utf8')).version;
  } catch {
    return '?';
  }
}

function gitState() {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'bin', 'fixtures'], { cwd: repoRoot, encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map((l) => l.slice(3));
    return { head, dirty };
  } catch {
    return { head: '?', dirty: [] };
  }
}

function machine() {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model?.trim() ?? '?',
    cpus: cpus.length,
    node: process.version,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    sdk: sdkVersion(),
    sdkV2Client: sdkVersion('client'),
    totalMemMiB: Math.round(os.totalmem() / MIB),
    loadavgStart: os.loadavg().map((x) => Number(x.toFixed(2))),
    git: gitState(),
  };
}

/** The main table: one row per direction; with `withBaseline`, a last column naming the baseline of the ratios. */
function resultsTable(results, p, withBaseline) {
  const headers = ['Direction', 'Spawn→tools/list ms', 'p50 ms', 'p99 ms', 'p50 vs direct', 'Calls/s', 'vs direct', '1 MiB ms', 'vs direct', 'Peak RSS MiB'];
  const rows = results.map((r) => {
    const v = r.vsDirect;
    const spawnRuns = r.spawn.runs.length;
    const spawnCell = spawnRuns === 0 ? 'error' : `${fmt.ms(r.spawn.median, 0)}${r.spawn.noSpawn ? '¹' : ''}${spawnRuns !== p.spawnRuns ? ` (n=${spawnRuns})` : ''}`;
    const n = r.latency && r.latency.n !== p.latencyCalls ? ` (n=${r.latency.n})` : '';
    return [
      r.label + (r.errors.length ? ' ⚠' : ''),
      spawnCell,
      r.latency ? `${fmt.ms(r.latency.p50)}${n}` : '-',
      r.latency ? fmt.ms(r.latency.p99) : '-',
      v ? `${fmt.delta(v.p50DeltaMs)} ${fmt.ratio(v.p50Ratio)}` : '',
      r.throughput ? fmt.int(r.throughput.callsPerSec) : '-',
      v ? fmt.pct(v.throughputFraction) : '',
      r.mib ? fmt.ms(r.mib.median, 1) : '-',
      v ? fmt.ratio(v.mibRatio) : '',
      r.rss ? fmt.mib(r.rss.hwm) : '-',
      ...(withBaseline ? [v?.baseline ?? ''] : []),
    ];
  });
  const align = ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'];
  return withBaseline ? markdownTable([...headers, 'Baseline'], rows, [...align, 'l']) : markdownTable(headers, rows, align);
}

function renderMarkdown(report) {
  const { machine: m, results } = report;
  const out = [];
  out.push(`## mcp-airlock benchmark${quick ? ' (--quick)' : ''}`);
  out.push('');
  if (quick) out.push('**Smoke run:** too few (and too cold) iterations for the numbers to mean much; use the full run for docs/performance.md.', '');
  out.push(`Machine: ${m.cpu} × ${m.cpus}, ${m.platform}, ${m.totalMemMiB} MiB RAM, node ${m.node}, MCP SDK ${m.sdk} (2026-07-28 client: @modelcontextprotocol/client ${m.sdkV2Client})`);
  out.push(`Code: ${m.git.head}${m.git.dirty.length ? ` + uncommitted changes in ${m.git.dirty.join(', ')}` : ''}. Load average (1/5/15 min) at start ${m.loadavgStart.join(' / ')}, at end ${m.loadavgEnd?.join(' / ')}.`);
  out.push('');
  const p = report.params;
  out.push(
    `Spawn→tools/list: median of ${p.spawnRuns} fresh processes. tools/call: echo {text:'hello'}, ${p.latencyWarmup} warm-up + ${p.latencyCalls} sequential calls. ` +
      `Throughput: ${p.concurrency} calls in flight for ${p.tputMs / 1000} s after ${p.tputWarmupMs / 1000} s warm-up. 1 MiB: echo of a 1 MiB string, median of ${p.mibRuns}. ` +
      `Peak RSS: VmHWM of the airlock process. Ratios compare with the direct baseline to the same fixture.`,
  );
  out.push('');
  const legacyRows = results.filter((r) => r.table !== '2026');
  const modernRows = results.filter((r) => r.table === '2026');
  if (legacyRows.length) {
    out.push(resultsTable(legacyRows, p, false));
    out.push('');
  }
  if (modernRows.length) {
    out.push('### 2026-07-28');
    out.push('');
    out.push(
      `Client: the SDK v2 Client pinned to ${PINNED} (probing in place: no sibling process), or for 4A the SDK v1 Client (2025). ` +
        'Server: fixtures/modern-server.mjs with --legacy reject (2026 only), or for 4B the 2025 fixtures. ' +
        '"2026 → 2026" passes through; 4A: airlock translates a 2025 client for a 2026-only server; 4B: a 2026 client for a 2025 server. ' +
        "Ratios compare with the Baseline column: a direct client of the row's server (same era, same transport).",
    );
    out.push('');
    out.push(resultsTable(modernRows, p, true));
    out.push('');
  }
  out.push('¹ no process spawned: connect + initialize (2026: server/discover) + tools/list to the already running HTTP fixture.');
  out.push('');

  const bridged = results.filter((r) => r.vsSameClientTransport);
  if (bridged.length) {
    out.push('Secondary view, not the aims: each bridged direction against the direct baseline that uses the same *client* transport and client era (e.g. HTTP → stdio against direct → HTTP fixture).');
    out.push('');
    out.push(
      markdownTable(
        ['Direction', 'Baseline', 'p50 vs it', 'Calls/s vs it', '1 MiB vs it', 'RSS MiB: connected / after throughput / end'],
        bridged.map((r) => {
          const v = r.vsSameClientTransport;
          const c = r.rss?.checkpoints;
          return [r.label, v.baseline, `${fmt.delta(v.p50DeltaMs)} ${fmt.ratio(v.p50Ratio)}`, fmt.pct(v.throughputFraction), fmt.ratio(v.mibRatio), c ? `${fmt.mib(c.connected?.rss)} / ${fmt.mib(c.afterThroughput?.hwm)} / ${fmt.mib(c.end?.hwm)}` : '-'];
        }),
        ['l', 'l', 'r', 'r', 'r', 'r'],
      ),
    );
    out.push('');
  }

  const audited = results.filter((r) => r.vsAuditOff);
  if (audited.length) {
    out.push('Audit log cost: the same direction with the default audit (buffered), and with --audit-sync, against --no-audit, measured one after the other.');
    out.push('');
    out.push(
      markdownTable(
        ['Direction', 'p50 ms', 'p50 vs no audit', 'Calls/s', 'vs no audit', '1 MiB vs no audit'],
        audited.map((r) => [r.label, r.latency ? fmt.ms(r.latency.p50) : '-', fmt.delta(r.vsAuditOff.p50DeltaMs), r.throughput ? fmt.int(r.throughput.callsPerSec) : '-', fmt.pct(r.vsAuditOff.throughputFraction), fmt.ratio(r.vsAuditOff.mibRatio)]),
        ['l', 'r', 'r', 'r', 'r', 'r'],
      ),
    );
    out.push('');
  }

  const policied = results.filter((r) => r.vsNoPolicy);
  if (policied.length || report.policyStage) {
    out.push('Policy cost: a 50-rule --policy-file (45 allow, 5 deny, a rate limit and a flow rule; the call is allowed by the last rule), against no policy, measured one after the other.');
    out.push('');
    if (policied.length) {
      out.push(
        markdownTable(
          ['Direction', 'p50 ms', 'p50 vs no policy', 'Calls/s', 'vs no policy'],
          policied.map((r) => [r.label, r.latency ? fmt.ms(r.latency.p50) : '-', `${fmt.delta(r.vsNoPolicy.p50DeltaMs)} ${fmt.ratio(r.vsNoPolicy.p50Ratio)}`, r.throughput ? fmt.int(r.throughput.callsPerSec) : '-', fmt.pct(r.vsNoPolicy.throughputFraction)]),
          ['l', 'r', 'r', 'r', 'r'],
        ),
      );
      out.push('');
    }
    const ps = report.policyStage;
    if (ps) {
      const base = results.find((r) => r.id === 'stdio-stdio.audit-off')?.latency?.p50;
      const ratio = Number.isFinite(base) ? ` On the no-policy p50 of run (${fmt.ms(base)} ms) that is x${((base + ps.perCallUs / 1000) / base).toFixed(4)}.` : '';
      out.push(`In process (no I/O): the policy stage decides a tools/call in ${ps.perCallUs.toFixed(2)} µs with the 50-rule file (median of ${ps.rounds} rounds of ${fmt.int(ps.calls)} calls), and filters a 20-tool tools/list in ${ps.listUs.toFixed(1)} µs; without a policy there is no stage at all.${ratio}`);
      out.push('');
    }
  }

  if (report.hostile) {
    out.push(
      `Hostile upstream (connect, default --max-message 32 MiB): peak RSS ${fmt.mib(report.hostile.endlessHwm)} MiB after an SSE event whose data never ends, ${fmt.mib(report.hostile.hugeHwm)} MiB after a 100 MiB JSON answer; both calls answered with an error naming the limit.`,
    );
    out.push('');
  }

  if (report.unreadCallers) {
    const u = report.unreadCallers;
    out.push(
      `Callers that never read (serve -- stdio fixture, 24 2026-07-28 callers each asking for an 8 MiB answer and reading none of it): peak RSS ${fmt.mib(u.hwm)} MiB, ${fmt.mib(u.rss)} MiB after 30 s (${fmt.mib(u.startRss)} MiB at start); ${u.closed} responses closed for the 64 MiB unread budget.`,
    );
    out.push('');
  }

  if (report.hub) {
    const h = report.hub;
    out.push(
      `Through the hub (\`connect\` to the running HTTP fixture, medians of ${h.rounds} rounds of ${h.calls} sequential echo calls): ` +
        `spawn → initialize answered ${fmt.ms(h.shim.startMs, 0)} ms through the shim, ${fmt.ms(h.inProcess.startMs, 0)} ms in process (a bare \`node -e 0\` spawn → exit: ${fmt.ms(h.node.startMs, 0)} ms); ` +
        `peak RSS of the host's process ${fmt.mib(h.shim.peak)} MiB (shim), ${fmt.mib(h.inProcess.peak)} MiB (in process), ${fmt.mib(h.node.rss)} MiB (bare node); ` +
        `p50 ${fmt.ms(h.shim.p50, 2)} ms and ${Math.round(h.shim.callsPerSecond)} calls/s through the shim, ${fmt.ms(h.inProcess.p50, 2)} ms and ${Math.round(h.inProcess.callsPerSecond)} calls/s in process; the hub's RSS afterwards ${fmt.mib(h.hubRss.rss)} MiB. ` +
        `A later host on a shared stdio server that already runs (\`run --share\`, its initialize answered from the session's opening): spawn → initialize answered ${fmt.ms(h.laterShared.startMs, 0)} ms, p50 ${fmt.ms(h.laterShared.p50, 2)} ms, ${Math.round(h.laterShared.callsPerSecond)} calls/s.`,
    );
    out.push('');
  }

  if (report.hubFootprint) {
    const f = report.hubFootprint;
    const way = (w) => `${w.processes} processes, ${fmt.mib(w.pss)} MiB PSS, every line ready in ${fmt.ms(w.readyMs, 0)} ms`;
    out.push(
      `${f.hosts} hosts × ${f.servers} config lines each (three stdio fixtures and one remote HTTP fixture), all started at once, each line initialized and listed: ` +
        `the hosts spawning the stdio servers themselves (no bridge) ${way(f.direct)}; one airlock per line ${way(f.perLine)}; through the hub, each 2025 client with its own server session ${way(f.hub)}; through the hub with --share (one process per server for every host) ${way(f.hubShared)}.`,
    );
    out.push('');
  }

  if (report.baselineRecheck?.length) {
    const pct = (x) => (Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${(x * 100).toFixed(0)}%` : '-');
    out.push(
      `Baselines measured again at the end (noise check): ${report.baselineRecheck.map((c) => `${c.id} p50 ${fmt.ms(c.p50)} ms (${pct(c.p50Drift)}), ${fmt.int(c.callsPerSec)} calls/s (${pct(c.throughputDrift)})`).join('; ')}.` +
        (report.baselineRecheck.some((c) => Math.abs(c.p50Drift) > 0.25 || Math.abs(c.throughputDrift) > 0.25) ? ' **Drift above 25%: treat the ratios as rough.**' : ''),
    );
    out.push('');
  }

  out.push('### Aims');
  out.push('');
  for (const a of report.aims) {
    const failed = a.rows.filter((x) => !x.met);
    if (a.met === null) {
      out.push(`- n/a: ${a.name} (no such direction in this run)`);
      continue;
    }
    out.push(`- ${a.met ? 'MET' : 'NOT MET'}: ${a.name}` + (failed.length ? ` — misses: ${failed.map((x) => `${x.label} ${x.value}`).join('; ')}` : ` (${a.rows.map((x) => x.value).join(', ')})`));
  }
  out.push('');

  const issues = results.filter((r) => r.errors.length || r.problems.length || r.warnings.length);
  out.push('### Errors, shutdown problems, airlock warnings');
  out.push('');
  if (issues.length === 0) out.push('None.');
  for (const r of issues) {
    for (const e of r.errors) out.push(`- ${r.label}: ERROR ${e.split('\n').join('\n  ')}`);
    for (const e of [...new Set(r.problems)]) out.push(`- ${r.label}: ${e}`);
    for (const w of r.warnings) out.push(`- ${r.label}: stderr: ${w.trim()}`);
  }
  out.push('');
  const closes = results.map((r) => {
    const ms = r.closes.map((c) => c.ms);
    return `${r.id} ${fmt.ms(median(ms), 0)} ms (max ${fmt.ms(Math.max(...ms), 0)})`;
  });
  const listens = results.filter((r) => r.spawn.listenMedian !== undefined);
  if (listens.length) out.push(`serve: spawn → listening line, median: ${listens.map((r) => `${r.id} ${fmt.ms(r.spawn.listenMedian, 0)} ms`).join('; ')}.`, '');
  out.push(`Close times (client close → every process exited), median: ${closes.join('; ')}.`);
  out.push('');
  const bw = Object.entries(report.benchProcessWarnings ?? {});
  if (bw.length) out.push(`Warnings in the bench process itself (the SDK client transports, not airlock): ${bw.map(([k, n]) => `${k} ×${n}`).join('; ')}.`);
  out.push(`Leftover processes after the run: ${report.leftovers.length ? report.leftovers.join('; ') : 'none'}.`);
  out.push(`Total run time: ${report.totalSeconds.toFixed(1)} s.`);
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Main

// Ctrl-C: `serve` children do not notice that we are gone (their stdin is not ours), so stop them.
// Children of StdioClientTransport see their stdin close and exit by themselves.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    log(`bench: ${signal}: stopping ${liveChildren.size} child process(es)`);
    for (const child of liveChildren) child.kill('SIGTERM');
    rmSync(tmp, { recursive: true, force: true });
    setTimeout(() => process.exit(130), 1_000);
  });
}

const started = now();
const report = { machine: machine(), mode: quick ? 'quick' : 'full', params, results: [] };
let exitCode = 0;
try {
  log(`bench: ${report.machine.cpu} × ${report.machine.cpus}, node ${report.machine.node}; ${quick ? 'quick' : 'full'} run, ${directions.length} directions`);
  fixture = await startHttpFixture();
  log(`bench: HTTP fixture at ${fixture.url} (pid ${fixture.pid})`);
  if (directions.some((d) => d.server === 'modern' && d.outbound === 'http')) {
    modernHttp = await startModernHttpFixture('reject');
    log(`bench: 2026-07-28 HTTP fixture (modern only) at ${modernHttp.url} (pid ${modernHttp.pid})`);
  }
  for (const dir of directions) {
    const t = now();
    log(`bench: ${dir.id} (${dir.label})`);
    const r = await benchDirection(dir);
    report.results.push(r);
    for (const e of r.errors) log(`  ERROR ${e}`);
    log(`  done in ${(nsToMs(now() - t) / 1000).toFixed(1)} s`);
    await sleep(200); // let the previous processes' exit settle before the next direction
  }
  report.hostile = await measureHostile();
  log(`bench: hostile upstream: peak RSS ${fmt.mib(report.hostile.endlessHwm)} MiB (endless event), ${fmt.mib(report.hostile.hugeHwm)} MiB (100 MiB JSON body)`);
  report.unreadCallers = await measureUnreadCallers();
  log(`bench: serve, 24 callers never reading 8 MiB answers: peak RSS ${fmt.mib(report.unreadCallers.hwm)} MiB, ${fmt.mib(report.unreadCallers.rss)} MiB after 30 s (${fmt.mib(report.unreadCallers.startRss)} MiB at start), ${report.unreadCallers.closed} responses closed for the unread budget`);
  report.hub = await measureHub({ quick });
  report.hubFootprint = await measureHubFootprint({ hosts: quick ? 2 : 5 });
  log(`bench: hub: spawn → initialize ${fmt.ms(report.hub.shim.startMs, 0)} ms through the shim, ${fmt.ms(report.hub.inProcess.startMs, 0)} ms in process; p50 ${fmt.ms(report.hub.shim.p50, 2)} / ${fmt.ms(report.hub.inProcess.p50, 2)} ms`);
  report.policyStage = await measurePolicyStage();
  log(`bench: policy stage in process: ${report.policyStage.perCallUs.toFixed(2)} µs per tools/call (50 rules)`);
  if (!quick) {
    // The machine is noisy: measure the baselines again at the end to show how much they drifted.
    report.baselineRecheck = [];
    for (const dir of directions.filter((d) => d.inbound === 'direct')) {
      log(`bench: re-check ${dir.id}`);
      let session;
      try {
        session = await openSession(dir);
        const latency = await measureLatency(session.client);
        const throughput = await measureThroughput(session.client);
        report.baselineRecheck.push({ id: dir.id, p50: latency.p50, p99: latency.p99, callsPerSec: throughput.callsPerSec });
      } catch (error) {
        log(`  ERROR ${error.message}`);
      } finally {
        if (session) await session.close();
      }
    }
  }
} catch (error) {
  log(`bench: fatal: ${error instanceof Error ? error.stack : String(error)}`);
  exitCode = 1;
} finally {
  if (fixture) {
    const stop = await fixture.stop();
    if (stop.killed) log('bench: the HTTP fixture did not exit on SIGTERM; killed');
  }
  if (modernHttp) {
    const stop = await modernHttp.stop();
    if (stop.killed) log('bench: the 2026-07-28 HTTP fixture did not exit on SIGTERM; killed');
  }
  rmSync(tmp, { recursive: true, force: true });
}

// Anything of ours still running? Our fixtures carry our temp dir in their argv; our airlocks
// carry the temp dir or the fixture URL.
await sleep(300);
const markers = [tmp, fixture?.url, modernHttp?.url].filter(Boolean);
const allFixtures = pgrep('stdio-server.mjs');
const leftovers = [...allFixtures, ...pgrep('modern-server.mjs'), ...pgrep('mcp-airlock.js')].filter((line) => markers.some((m) => line.includes(m)));
if (fixture && isAlive(fixture.pid)) leftovers.push(`${fixture.pid} (the HTTP fixture)`);
if (modernHttp && isAlive(modernHttp.pid)) leftovers.push(`${modernHttp.pid} (the 2026-07-28 HTTP fixture)`);
report.leftovers = leftovers;
report.otherStdioFixtures = allFixtures.filter((line) => !leftovers.includes(line));
if (report.otherStdioFixtures.length) log(`bench: note: stdio-server.mjs processes not started by this run: ${report.otherStdioFixtures.join('; ')}`);
if (leftovers.length) exitCode = 1;

addRatios(report.results);
for (const c of report.baselineRecheck ?? []) {
  const first = report.results.find((r) => r.id === c.id);
  c.p50Drift = first?.latency ? c.p50 / first.latency.p50 - 1 : NaN;
  c.throughputDrift = first?.throughput ? c.callsPerSec / first.throughput.callsPerSec - 1 : NaN;
}
report.machine.loadavgEnd = os.loadavg().map((x) => Number(x.toFixed(2)));
report.benchProcessWarnings = Object.fromEntries(benchWarnings);
report.aims = checkAims(report.results);
report.totalSeconds = nsToMs(now() - started) / 1000;
if (report.results.some((r) => r.errors.length)) exitCode = 1;

process.stdout.write(asJson ? `${JSON.stringify(report, null, 2)}\n` : `${renderMarkdown(report)}\n`);
process.exitCode = exitCode;
