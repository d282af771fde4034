#!/usr/bin/env node
// `npm run conformance`: the official MCP conformance suite against mcp-airlock, at both frozen
// requirement sets (2026-07-28 and 2025-11-25), through each way airlock can sit between a client
// and a server. A measuring tool, not a gate: it prints figures and exits 0 unless the harness
// itself broke (with --strict: 1 on any failure that is not expected).
//
// Chains (server scenarios run against the URL the chain exposes; the fixture server runs twice,
// modern-only `--legacy reject` and dual-era `--legacy serve`):
//   direct          the suite -> fixtures/conformance/everything-server.mjs (the baseline)
//   serve-upstream  the suite -> airlock serve --upstream <server URL> -> the server
//   serve-connect   the suite -> airlock serve -- airlock connect <server URL> -> the server
//   serve-stdio     the suite -> airlock serve -- everything-server.mjs --stdio
//   client          the suite's mock servers <- airlock connect <- fixtures/conformance/everything-client.mjs
//
// Options: --only <chain>[,<chain>] (a chain name, or chain/modern-only, chain/dual-era),
// --requirements <revision>, --scenario <name>, --json, --strict. 2025-03-26 is a set of our own:
// the suite's two client scenarios of that revision's authorization fallback.
import { createWriteStream, mkdirSync, mkdtempSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { startPeer } from './peer-processes.mjs';
import { provisionSuite } from './suite-install.mjs';
import { collectResults, formatTable, formatWatched, scoreRun } from './suite-results.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const AIRLOCK = join(ROOT, 'bin', 'mcp-airlock.js');
const SERVER = join(ROOT, 'fixtures', 'conformance', 'everything-server.mjs');
const CLIENT = join(ROOT, 'fixtures', 'conformance', 'everything-client.mjs');
const REVISIONS = ['2026-07-28', '2025-11-25', '2025-03-26'];
// The suite freezes no requirement set for 2025-03-26, but still ships the two client scenarios of
// that revision's authorization fallback (0.1.16 had them too): a set of our own, client leg only.
const BACKCOMPAT_REVISION = '2025-03-26';
const BACKCOMPAT_SET = { client: ['auth/2025-03-26-oauth-metadata-backcompat', 'auth/2025-03-26-oauth-endpoint-fallback'], not_scored: [] };
const SERVER_MODES = [
  { legacy: 'reject', label: 'modern-only' },
  { legacy: 'serve', label: 'dual-era' },
];
const CHAINS = ['direct', 'serve-upstream', 'serve-connect', 'serve-stdio', 'client'];
// Per client scenario; longer than the suite's 30 s default so that a slow machine is not
// mistaken for a hung client.
const CLIENT_TIMEOUT_MS = 60_000;
const FIXTURE_URL = /\{"url":"(http:\/\/[^"]+)"\}/;
const AIRLOCK_URL = /listening on (http:\/\/\S+\/mcp)/;

const { values: options } = parseArgs({
  options: {
    only: { type: 'string' },
    requirements: { type: 'string' },
    scenario: { type: 'string' },
    json: { type: 'boolean', default: false },
    strict: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (options.help) {
  process.stdout.write('usage: node test/conformance/run.mjs [--only chain[,chain]] [--requirements 2026-07-28|2025-11-25|2025-03-26] [--scenario name] [--json] [--strict]\n');
  process.exit(0);
}

const say = (message) => process.stderr.write(`[conformance] ${message}\n`);
const selected = (chain, server) => {
  if (!options.only) return true;
  return options.only.split(',').some((wanted) => wanted === chain || wanted === `${chain}/${server}`);
};
const revisions = options.requirements ? [options.requirements] : REVISIONS;
if (revisions.some((revision) => !REVISIONS.includes(revision))) {
  say(`--requirements must be one of ${REVISIONS.join(', ')}`);
  process.exit(2);
}
for (const wanted of options.only?.split(',') ?? []) {
  if (!CHAINS.includes(wanted.split('/')[0])) {
    say(`--only: no chain ${JSON.stringify(wanted)}; chains: ${CHAINS.join(', ')}`);
    process.exit(2);
  }
}
// The suite splits --command on spaces.
if (/\s/.test(process.execPath + CLIENT)) {
  say(`the client command would contain a space (${process.execPath} ${CLIENT}); the suite cannot run it`);
  process.exit(2);
}

const resultsRoot = mkdtempSync(join(tmpdir(), 'airlock-conformance-'));
// Airlock keeps an audit log and may save credentials: both go under the results, never $HOME.
const airlockEnv = {
  ...process.env,
  XDG_CONFIG_HOME: join(resultsRoot, 'home', 'config'),
  XDG_STATE_HOME: join(resultsRoot, 'home', 'state'),
  MCP_AIRLOCK_CONFIG_DIR: join(resultsRoot, 'home', 'airlock'),
};

let suite;
try {
  suite = provisionSuite({ cacheDir: process.env.AIRLOCK_CONFORMANCE_CACHE ?? join(ROOT, 'node_modules', '.cache', 'airlock-conformance'), log: say });
} catch (error) {
  say(`cannot provision the suite: ${error.message}`);
  process.exit(2);
}
const sets = Object.fromEntries(revisions.map((revision) => [revision, revision === BACKCOMPAT_REVISION ? BACKCOMPAT_SET : suite.requirements(revision)]));

/** Spawns the suite with `args`, its output appended to `logFile`; throws unless it ran to a verdict. */
async function runSuiteProcess(args, logFile) {
  const child = spawn(suite.node, [suite.cli, ...args], { env: airlockEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = createWriteStream(logFile, { flags: 'a' });
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  const [code, signal] = await once(child, 'exit');
  await new Promise((resolve) => log.end(resolve));
  // 0 and 1 are verdicts; anything else means the suite itself did not run to the end.
  if (code !== 0 && code !== 1) throw new Error(`the suite exited with ${signal ?? code}; see ${logFile}`);
}

/** The scenarios of one leg a requirement set runs, scored or not (or just --scenario). */
function scenariosOf(set, leg) {
  const all = [...(set[leg] ?? []), ...(set.not_scored ?? []).filter((entry) => entry.leg === leg).map((entry) => entry.scenario)];
  return all.filter((name) => options.scenario === undefined || name === options.scenario);
}

/**
 * Runs one requirement set (or --scenario at that set's wire) into `outDir` and reads the results.
 * Server scenarios run as the suite runs them, one after another. Client scenarios run one suite
 * process each: in one process the suite starts them all at once, and dozens of clients, each with
 * its airlock, starting together on a small machine turn timing races into failures.
 */
async function runSuite(leg, target, revision, outDir) {
  mkdirSync(outDir, { recursive: true });
  const logFile = `${outDir}.log`;
  if (leg === 'server') {
    const selection = options.scenario ? ['--scenario', options.scenario, '--spec-version', revision, '--force'] : ['--requirements', revision];
    await runSuiteProcess(['server', '--url', target, '-o', outDir, ...selection], logFile);
  } else {
    for (const scenario of scenariosOf(sets[revision], 'client')) {
      say(`  ${scenario}`);
      await runSuiteProcess(
        ['client', '--command', `${process.execPath} ${CLIENT}`, '-o', outDir, '--timeout', String(CLIENT_TIMEOUT_MS), '--scenario', scenario, '--spec-version', revision, '--force'],
        logFile,
      );
    }
  }
  return collectResults(outDir, leg);
}

/** Starts the processes of a server chain; resolves with the URL to test and the peers to stop. */
async function startChain(chain, mode, dir) {
  const peers = [];
  const peer = async (name, command, args, ready, stream) => {
    const started = await startPeer({ name, command, args, env: airlockEnv, logFile: join(dir, `${name}.log`), ready, stream });
    peers.push(started);
    return started.url;
  };
  try {
    const serve = (args) => peer('airlock-serve', process.execPath, [AIRLOCK, 'serve', '--port', '0', ...args], AIRLOCK_URL, 'stderr');
    const fixtureArgs = [SERVER, '--legacy', mode.legacy];
    let url;
    if (chain === 'serve-stdio') {
      url = await serve(['--', process.execPath, ...fixtureArgs, '--stdio']);
    } else {
      const serverUrl = await peer('everything-server', process.execPath, [...fixtureArgs, '--http', '0'], FIXTURE_URL, 'stdout');
      if (chain === 'direct') url = serverUrl;
      else if (chain === 'serve-upstream') url = await serve(['--upstream', serverUrl]);
      else url = await serve(['--', process.execPath, AIRLOCK, 'connect', serverUrl]);
    }
    return { url, peers };
  } catch (error) {
    await Promise.all(peers.map((started) => started.stop()));
    throw error;
  }
}

/**
 * Rows where failure is the expected outcome: a 2025-era client talking straight to a modern-only
 * server. Through airlock the same row is expected to pass: airlock translates between the eras
 * (`--protocol auto`), so the suite's 2025 client is served by the 2026-only server.
 */
function expectation(chain, mode, revision) {
  if (mode?.legacy !== 'reject' || revision !== '2025-11-25') return undefined;
  return chain === 'direct' ? 'expected: a modern-only server refuses the 2025 handshake' : 'airlock translates: a 2025 client served by the 2026-only server';
}

const rows = [];
let harnessBroke = false;
function record(row, run) {
  try {
    Object.assign(row, scoreRun({ results: run, set: sets[row.set], leg: row.chain === 'client' ? 'client' : 'server', only: options.scenario }));
  } catch (error) {
    row.error = error.message;
    harnessBroke = true;
  }
  rows.push(row);
  say(`${row.chain}/${row.server} ${row.set}: ${row.error ?? `${row.passed}/${row.total}`}`);
}

for (const chain of CHAINS) {
  if (chain === 'client') {
    if (!selected(chain, 'mocks')) continue;
    for (const revision of revisions) {
      if (scenariosOf(sets[revision], 'client').length === 0) continue;
      say(`client ${revision}: the suite's client scenarios through airlock connect`);
      const row = { chain, server: 'suite mocks', set: revision };
      try {
        record(row, await runSuite('client', undefined, revision, join(resultsRoot, 'client', revision)));
      } catch (error) {
        harnessBroke = true;
        rows.push({ ...row, error: error.message });
      }
    }
    continue;
  }
  for (const mode of SERVER_MODES) {
    if (!selected(chain, mode.label)) continue;
    const wanted = revisions.filter((revision) => scenariosOf(sets[revision], 'server').length > 0);
    if (wanted.length === 0) continue;
    const dir = join(resultsRoot, `${chain}-${mode.label}`);
    mkdirSync(dir, { recursive: true });
    say(`${chain}/${mode.label}: starting`);
    let started;
    try {
      started = await startChain(chain, mode, dir);
    } catch (error) {
      harnessBroke = true;
      for (const revision of wanted) rows.push({ chain, server: mode.label, set: revision, error: error.message });
      continue;
    }
    for (const revision of wanted) {
      const row = { chain, server: mode.label, set: revision, note: expectation(chain, mode, revision) };
      try {
        record(row, await runSuite('server', started.url, revision, join(dir, revision)));
      } catch (error) {
        harnessBroke = true;
        rows.push({ ...row, error: error.message });
      }
    }
    await Promise.all(started.peers.map((peer) => peer.stop()));
  }
}

if (options.json) {
  process.stdout.write(`${JSON.stringify({ suite: suite.version, results: resultsRoot, rows }, null, 2)}\n`);
} else {
  const lines = [];
  // Chains that fail the same way say so once: the first row with a set of reasons lists them.
  const seen = new Map();
  for (const row of rows) {
    if (row.error || (row.failing.length === 0 && row.notScored.failing.length === 0 && row.clientErrors.length === 0)) continue;
    const label = `${row.chain}/${row.server} ${row.set}`;
    lines.push(`${label}${row.note ? ` (${row.note})` : ''}`);
    const reasons = row.failing.map((name) => `  ${name}: ${row.reasons[name]}`);
    const key = reasons.join('\n');
    // An expected failure is named in the table; its reasons would only repeat the expectation.
    if (!row.note?.startsWith('expected') && reasons.length > 0) {
      if (seen.has(key)) lines.push(`  the same ${reasons.length} failing scenarios and reasons as ${seen.get(key)}`);
      else lines.push(...reasons);
      if (!seen.has(key)) seen.set(key, label);
    }
    if (row.notScored.failing.length > 0) lines.push(`  not scored, failing: ${row.notScored.failing.join(', ')}`);
    if (row.clientErrors.length > 0) lines.push(`  passing, but the client's own steps failed: ${row.clientErrors.join(', ')}`);
  }
  if (lines.length > 0) process.stdout.write(`Failing scenarios (first failing check):\n${lines.join('\n')}\n\n`);
  const watched = formatWatched(rows);
  const watchedText = watched.length > 0 ? `\n\nDPoP (SEP-1932; not scored by the sets, reported by name):\n${watched.map((line) => `  ${line}`).join('\n')}` : '';
  process.stdout.write(`${formatTable(rows)}${watchedText}\n\nsuite ${suite.version}; results, logs and checks.json files in ${resultsRoot}\n`);
}

const unexpected = rows.some((row) => row.error || (row.failing?.length > 0 && !row.note?.startsWith('expected')));
process.exit(harnessBroke ? 2 : options.strict && unexpected ? 1 : 0);
