#!/usr/bin/env node
// Packaging figures (issue 15), in one run, for mcp-airlock's tarball (`scripts/package.mjs`)
// and for `mcp-remote@latest` from the registry, both against the same local fixture HTTP server
// (fixtures/http-server.mjs, streamable HTTP on 127.0.0.1):
//
//   1. cold install: `npm install <spec>` into an empty directory with an empty npm cache
//      (--cache in a fresh temporary directory): wall time, packages installed, MB on disk
//      (du: allocated blocks) and apparent MB (sum of file sizes).
//   2. cold npx: `npx -y <spec> <fixture URL>` with an empty cache, from spawn to the answer to
//      the first tools/list (initialize, notifications/initialized, tools/list over stdio).
//   3. warm npx: the same with the cache the cold run filled.
//   4. warm start of the bundle vs the tsc build (`node bin/mcp-airlock.js`, today's dist/):
//      `--version`, and `connect <fixture URL>` to the first tools/list, both binaries alternated.
//
// Registry timings are noisy: each figure is the median of --repeat runs (default 3; the warm
// start rows take 5x as many), the two subjects alternated. Needs the network (the registry),
// and `npm run build` first (`npm run bench:package` does both).
//
//   node test/bench/package.mjs [--repeat N] [--json FILE] [--skip-registry]
//     --json FILE      also write every single measurement to FILE
//     --skip-registry  only the warm start rows (no network)
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { airlockBin, fmt, markdownTable, median, now, nsToMs, repoRoot, startHttpFixture } from './lib.mjs';

const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const repeat = Number(args[args.indexOf('--repeat') + 1]) > 0 && args.includes('--repeat') ? Number(args[args.indexOf('--repeat') + 1]) : 3;
const log = (line) => process.stderr.write(`${line}\n`);

/** npm's settings from an enclosing `npm run` must not leak into the measured npm (its cache above all). */
function cleanEnv(extra = {}) {
  const env = {};
  for (const [key, value] of Object.entries(process.env)) if (!/^npm_/i.test(key)) env[key] = value;
  return { ...env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false', ...extra };
}

function packageDirs(nodeModules) {
  const found = [];
  const walk = (dir) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
      const path = join(dir, entry.name);
      if (entry.name.startsWith('@')) walk(path);
      else {
        found.push(path);
        walk(join(path, 'node_modules'));
      }
    }
  };
  walk(nodeModules);
  return found;
}

function apparentBytes(dir) {
  return readdirSync(dir, { recursive: true })
    .map((name) => join(dir, name))
    .reduce((sum, path) => {
      const stat = statSync(path, { throwIfNoEntry: false });
      return stat?.isFile() ? sum + stat.size : sum;
    }, 0);
}

const duBytes = (dir) => Number(execFileSync('du', ['-sk', dir], { encoding: 'utf8' }).split('\t')[0]) * 1024;

/** Cold install of `spec` into a fresh directory with a fresh cache. */
function coldInstall(spec, scratch) {
  const dir = mkdtempSync(join(scratch, 'install-'));
  const cache = join(dir, 'cache');
  const app = join(dir, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), '{ "name": "bench-app", "private": true }\n');
  const t0 = now();
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel', 'error', '--cache', cache, spec], { cwd: app, env: cleanEnv(), stdio: 'ignore' });
  const ms = nsToMs(now() - t0);
  const nodeModules = join(app, 'node_modules');
  const result = { ms, packages: packageDirs(nodeModules).length, duBytes: duBytes(nodeModules), bytes: apparentBytes(nodeModules) };
  rmSync(dir, { recursive: true, force: true });
  return result;
}

/**
 * Spawn `command args`, speak MCP over its stdio until the first tools/list answer; the time from
 * spawn to that answer. The child is killed afterwards (its stdio closed first).
 */
function firstToolsList(command, commandArgs, { env, cwd, timeoutMs = 60_000 }) {
  return new Promise((resolve, reject) => {
    const t0 = now();
    const child = spawn(command, commandArgs, { env, cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const exited = new Promise((resolveExit) => child.once('exit', resolveExit));
    let out = '';
    let err = '';
    let done = false;
    const finish = (error, value) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.stdin.end();
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 3000);
      void exited.then(() => {
        clearTimeout(killer);
        if (error) reject(error);
        else resolve(value);
      });
    };
    const timer = setTimeout(() => finish(new Error(`no tools/list answer in ${timeoutMs} ms from ${command} ${commandArgs.join(' ')}\nstderr:\n${err.slice(-2000)}`)), timeoutMs);
    const send = (message) => child.stdin.write(`${JSON.stringify(message)}\n`);
    child.stdin.on('error', () => undefined);
    child.stderr.setEncoding('utf8').on('data', (chunk) => (err += chunk));
    child.on('error', (error) => finish(error));
    child.on('exit', (code) => {
      if (!done) finish(new Error(`${command} exited (${code}) before tools/list\nstderr:\n${err.slice(-2000)}`));
    });
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      out += chunk;
      let newline;
      while ((newline = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, newline).trim();
        out = out.slice(newline + 1);
        if (!line) continue;
        let message;
        try {
          message = JSON.parse(line);
        } catch {
          return finish(new Error(`stdout carried a line that is not JSON: ${JSON.stringify(line.slice(0, 200))}`));
        }
        if (message.id === 0) {
          send({ jsonrpc: '2.0', method: 'notifications/initialized' });
          send({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} });
        } else if (message.id === 1) {
          if (!Array.isArray(message.result?.tools)) return finish(new Error(`tools/list failed: ${line.slice(0, 300)}`));
          finish(undefined, { ms: nsToMs(now() - t0), tools: message.result.tools.length });
        }
      }
    });
    send({
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'package-bench', version: '1' } },
    });
  });
}

/** `npx -y spec url` with `cache` as npm's cache; HOME in the scratch too (mcp-remote writes ~/.mcp-auth). */
function npxToolsList(spec, url, cache, home) {
  const env = cleanEnv({ HOME: home, npm_config_cache: cache, npm_config_yes: 'true', XDG_STATE_HOME: join(home, 'state'), XDG_CONFIG_HOME: join(home, 'config') });
  return firstToolsList('npx', ['-y', spec, url], { env, cwd: home });
}

const row = (values, unit = (v) => fmt.ms(v, 0)) => `${unit(median(values))} (${values.map((v) => unit(v)).join(', ')})`;
const mb = (bytes) => (bytes / 1024 / 1024).toFixed(1);

async function main() {
  const scratch = mkdtempSync(join(os.tmpdir(), 'airlock-package-bench-'));
  const fixture = await startHttpFixture();
  const url = `${fixture.url}/mcp`;
  const figures = { date: new Date().toISOString(), node: process.version, repeat, subjects: {}, warm: {} };
  try {
    log('packing mcp-airlock (scripts/package.mjs)...');
    const packed = JSON.parse(execFileSync(process.execPath, [join(repoRoot, 'scripts', 'package.mjs'), '--out-dir', join(scratch, 'out'), '--json'], { encoding: 'utf8' }));
    const subjects = flag('--skip-registry') ? [] : [
      // npx runs a bare path as a command ("Permission denied"); a file: spec installs it.
      { name: 'mcp-airlock (tarball)', spec: `file:${packed.tarball}` },
      { name: 'mcp-remote@latest', spec: 'mcp-remote@latest' },
    ];
    if (subjects.length > 0) {
      const remoteVersion = execFileSync('npm', ['view', 'mcp-remote@latest', 'version'], { env: cleanEnv(), encoding: 'utf8' }).trim();
      subjects[1].name = `mcp-remote@${remoteVersion}`;
    }
    for (const subject of subjects) figures.subjects[subject.name] = { installs: [], cold: [], warm: [], tarballBytes: subject.spec.endsWith(packed.tarball) ? packed.bytes : undefined };
    for (let round = 0; round < repeat; round++) {
      for (const subject of subjects) {
        const entry = figures.subjects[subject.name];
        log(`round ${round + 1}/${repeat}: ${subject.name}: cold install...`);
        entry.installs.push(coldInstall(subject.spec, scratch));
        const home = mkdtempSync(join(scratch, 'npx-'));
        const cache = join(home, 'npm-cache');
        log(`round ${round + 1}/${repeat}: ${subject.name}: cold npx...`);
        entry.cold.push((await npxToolsList(subject.spec, url, cache, home)).ms);
        log(`round ${round + 1}/${repeat}: ${subject.name}: warm npx...`);
        entry.warm.push((await npxToolsList(subject.spec, url, cache, home)).ms);
        rmSync(home, { recursive: true, force: true });
      }
    }

    // Warm start: the installed bundle against the tsc build of this checkout.
    const app = join(scratch, 'warm-app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), '{ "name": "bench-app", "private": true }\n');
    execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel', 'error', packed.tarball], { cwd: app, env: cleanEnv(), stdio: 'ignore' });
    const bins = { 'bundle (installed tarball)': join(app, 'node_modules', 'mcp-airlock', 'bin', 'mcp-airlock.js'), 'tsc build (bin/mcp-airlock.js)': airlockBin };
    const env = cleanEnv({ XDG_STATE_HOME: join(scratch, 'state'), XDG_CONFIG_HOME: join(scratch, 'config') });
    for (const name of Object.keys(bins)) figures.warm[name] = { version: [], toolsList: [] };
    const warmRuns = repeat * 5;
    log(`warm start: ${warmRuns} rounds...`);
    for (let round = 0; round < warmRuns; round++) {
      for (const [name, bin] of Object.entries(bins)) {
        const t0 = now();
        execFileSync(process.execPath, [bin, '--version'], { env, stdio: 'ignore' });
        figures.warm[name].version.push(nsToMs(now() - t0));
        figures.warm[name].toolsList.push((await firstToolsList(process.execPath, [bin, 'connect', url, '--transport', 'http'], { env, cwd: scratch })).ms);
      }
    }
  } finally {
    await fixture.stop();
    rmSync(scratch, { recursive: true, force: true });
  }

  if (flag('--json')) writeFileSync(args[args.indexOf('--json') + 1], `${JSON.stringify(figures, null, 2)}\n`);
  if (Object.keys(figures.subjects).length > 0) {
    const rows = Object.entries(figures.subjects).map(([name, s]) => [
      name,
      String(median(s.installs.map((i) => i.packages))),
      mb(median(s.installs.map((i) => i.duBytes))),
      mb(median(s.installs.map((i) => i.bytes))),
      row(s.installs.map((i) => i.ms)),
      row(s.cold),
      row(s.warm),
    ]);
    process.stdout.write(
      `${markdownTable(['package', 'packages', 'MB on disk (du)', 'MB (files)', 'cold install ms, median (runs)', 'cold npx → tools/list ms', 'warm npx → tools/list ms'], rows, ['l', 'r', 'r', 'r', 'r', 'r', 'r'])}\n\n`,
    );
  }
  const warmRows = Object.entries(figures.warm).map(([name, w]) => [name, fmt.ms(median(w.version), 0), fmt.ms(Math.min(...w.version), 0), fmt.ms(median(w.toolsList), 0), fmt.ms(Math.min(...w.toolsList), 0)]);
  process.stdout.write(
    `${markdownTable(['warm start', '--version ms (median)', '(min)', 'connect → tools/list ms (median)', '(min)'], warmRows, ['l', 'r', 'r', 'r', 'r'])}\n` +
      `\n${figures.date}, Node ${process.version}, ${os.cpus().length} cores, load average ${os.loadavg().map((v) => v.toFixed(1)).join(' ')}; medians of ${repeat} runs (warm start: ${repeat * 5}).\n`,
  );
}

await main();
