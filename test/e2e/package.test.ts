/**
 * The published form, installed as a user gets it: `scripts/package.mjs` bundles dist/ into a
 * tarball, npm installs it (from the local cache: no network after `npm ci`) into an empty directory outside the
 * repository, where no development dependency can be reached, and the installed binary runs for
 * real: `--version`, a tools/list through `run -- node <fixture>` and through `connect` to the
 * HTTP fixture. Limits from issue 15: at most 5 packages and 8 MB installed, no install scripts,
 * no source maps.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain JS fixture
import { startFixtureHttpServer } from '../../fixtures/lib/http-fixture.mjs';
import { repoRoot, startAirlock, stdioFixture } from '../helpers/airlock-process.js';
import { LineClient } from '../helpers/line-client.js';
import { startConnectProxy } from '../helpers/loopback.js';

const MAX_PACKAGES = 5;
const MAX_INSTALLED_BYTES = 8 * 1024 * 1024;

interface Packed {
  tarball: string;
  files: string[];
}

let work: string;
let packed: Packed;
let app: string;
let installedBin: string;

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((name) => join(dir, name))
    .filter((path) => statSync(path).isFile());
}

/** Every package directory under node_modules (scoped ones included), relative to it. */
function installedPackages(nodeModules: string): string[] {
  const found: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
      const path = join(dir, entry.name);
      if (entry.name.startsWith('@')) {
        walk(path);
        continue;
      }
      found.push(relative(nodeModules, path));
      const nested = join(path, 'node_modules');
      if (readdirSync(path).includes('node_modules')) walk(nested);
    }
  };
  walk(nodeModules);
  return found.sort();
}

interface Manifest {
  name: string;
  version: string;
  license: string;
  bin: Record<string, string>;
  engines: Record<string, string>;
  dependencies: Record<string, string>;
}

/**
 * An app that depends on the tarball, with a lockfile. Without one npm would ask the registry for
 * @napi-rs/keyring's package document, which `npm ci` never caches (it fetches tarballs by the
 * lock's versions only): CI would need the network. The lock pins the keychain binding (and its
 * platform packages, optional, picked by os/cpu/libc as for a user) to this repository's lock, whose
 * tarballs `npm ci` left in the cache; mcp-airlock's entry is the staged manifest, as packed.
 */
function writeAppWithLock(dir: string, tarball: string, manifest: Manifest): void {
  const spec = `file:${relative(dir, tarball)}`;
  const repoLock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, Record<string, unknown>> };
  const packages: Record<string, unknown> = {
    '': { name: 'packaging-test-app', dependencies: { [manifest.name]: spec } },
    [`node_modules/${manifest.name}`]: {
      version: manifest.version,
      resolved: spec,
      license: manifest.license,
      dependencies: manifest.dependencies,
      bin: manifest.bin,
      engines: manifest.engines,
    },
  };
  for (const name of Object.keys(manifest.dependencies)) {
    for (const [path, entry] of Object.entries(repoLock.packages)) {
      if (path !== `node_modules/${name}` && !path.startsWith(`node_modules/${name}-`)) continue;
      const { dev: _dev, devOptional: _devOptional, ...rest } = entry;
      packages[path] = rest;
    }
  }
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify({ name: 'packaging-test-app', private: true, dependencies: { [manifest.name]: spec } }, null, 2)}\n`);
  writeFileSync(join(dir, 'package-lock.json'), `${JSON.stringify({ name: 'packaging-test-app', lockfileVersion: 3, requires: true, packages }, null, 2)}\n`);
}

/**
 * The environment for npm: the settings `npm test` exported (npm_config_local_prefix names this
 * checkout, npm_package_* describe it) left out, but the user's cache, registry and npmrc files kept.
 */
function npmEnv(): NodeJS.ProcessEnv {
  const keep = new Set(['npm_config_cache', 'npm_config_registry', 'npm_config_userconfig', 'npm_config_globalconfig']);
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key) || keep.has(key.toLowerCase())));
}

/** The files a module loads before it runs: its static relative imports, recursively (rolldown writes them as single lines). */
function staticImportClosure(entry: string): string[] {
  const seen = new Set<string>([entry]);
  const queue = [entry];
  for (let file = queue.pop(); file !== undefined; file = queue.pop()) {
    for (const match of readFileSync(file, 'utf8').matchAll(/^import\s+(?:[^;"]*?\s+from\s+)?"(\.{1,2}\/[^"]+)";?$/gm)) {
      const target = join(dirname(file), match[1]!);
      if (!seen.has(target)) {
        seen.add(target);
        queue.push(target);
      }
    }
  }
  return [...seen];
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'airlock-package-'));
  const out = execFileSync(process.execPath, [join(repoRoot, 'scripts', 'package.mjs'), '--out-dir', join(work, 'out'), '--json'], {
    cwd: repoRoot,
    encoding: 'utf8',
  });
  packed = JSON.parse(out) as Packed;
  app = join(work, 'app');
  mkdirSync(app);
  writeAppWithLock(app, packed.tarball, JSON.parse(readFileSync(join(work, 'out', 'stage', 'package.json'), 'utf8')) as Manifest);
  execFileSync('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel', 'error'], {
    cwd: app,
    env: npmEnv(),
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  installedBin = join(app, 'node_modules', 'mcp-airlock', 'bin', 'mcp-airlock.js');
}, 60_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the packed tarball', () => {
  it('ships the bundle, the schema, the README and the docs/ it links to, and no source maps', () => {
    expect(packed.files.filter((file) => file.endsWith('.map'))).toEqual([]);
    expect(packed.files).toContain('bin/mcp-airlock.js');
    expect(packed.files).toContain('schemas/policy.schema.json');
    expect(packed.files).toContain('schemas/servers.schema.json');
    expect(packed.files).toContain('docs/servers-file.md');
    expect(packed.files).toContain('README.md');
    expect(packed.files).toContain('docs/policy.md');
    expect(packed.files.filter((file) => file.startsWith('dist/'))).toEqual([]);
  });

  it('installs without scripts or development dependencies, the keychain binding its only dependency', () => {
    const manifest = JSON.parse(readFileSync(join(app, 'node_modules', 'mcp-airlock', 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(manifest.scripts).toBeUndefined();
    expect(manifest.devDependencies).toBeUndefined();
    expect(Object.keys(manifest.dependencies as object)).toEqual(['@napi-rs/keyring']);
    expect(filesUnder(join(app, 'node_modules', 'mcp-airlock')).filter((path) => path.endsWith('.map'))).toEqual([]);
  });

  it(`installs at most ${MAX_PACKAGES} packages in at most 8 MB`, () => {
    const nodeModules = join(app, 'node_modules');
    const packages = installedPackages(nodeModules);
    expect(packages).toContain('mcp-airlock');
    expect(packages).toContain('@napi-rs/keyring');
    expect(packages.length, packages.join(', ')).toBeLessThanOrEqual(MAX_PACKAGES);
    const bytes = filesUnder(nodeModules).reduce((sum, path) => sum + statSync(path).size, 0);
    expect(bytes).toBeLessThanOrEqual(MAX_INSTALLED_BYTES);
  });
});

describe('npm pack at the repository root', () => {
  it('refuses, and names npm run package', () => {
    const run = spawnSync('npm', ['pack', '--dry-run', '--pack-destination', work], { cwd: repoRoot, env: npmEnv(), encoding: 'utf8', timeout: 20_000 });
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain(
      'mcp-airlock: error: the repository root is not the package: `npm pack` or `npm publish` here would ship the development build\n' +
        'mcp-airlock: hint: run `npm run package` (it writes mcp-airlock-<version>.tgz), then install or publish that file\n',
    );
    expect(readdirSync(work).filter((name) => name.endsWith('.tgz'))).toEqual([]);
  });
});

describe('the installed binary', () => {
  it('loads the ink screens, undici, the Redis client and the OTLP exporter only on demand: they are chunks outside the start-up imports', () => {
    const chunks = readdirSync(join(dirname(installedBin), 'chunks'));
    const lazyName = /^(ink-step-view|undici|redis-state|call-telemetry)-/;
    const lazy = chunks.filter((name) => lazyName.test(name));
    // The name before the hash: a hash may hold "-" itself (base64url), so it is not cut at the last one.
    expect(lazy.map((name) => lazyName.exec(name)![1]).sort()).toEqual(['call-telemetry', 'ink-step-view', 'redis-state', 'undici']);
    const startupPaths = staticImportClosure(installedBin);
    const startup = startupPaths.map((path) => basename(path));
    expect(startup.length).toBeGreaterThan(1);
    expect(startup.filter((name) => lazy.includes(name))).toEqual([]);
    // ioredis is bundled into serve --state's chunk, and into no file that every command loads.
    const ioredisOption = 'enableOfflineQueue';
    expect(readFileSync(join(dirname(installedBin), 'chunks', lazy.find((name) => name.startsWith('redis-state-'))!), 'utf8')).toContain(ioredisOption);
    expect(startupPaths.filter((path) => readFileSync(path, 'utf8').includes(ioredisOption)).map((path) => basename(path))).toEqual([]);
  });


  // DEV=true switches ink into its devtools mode, which reads files the bundle does not ship.
  it.each([{ DEV: '' }, { DEV: 'true' }])('draws the ink step view (React and the yoga wasm) from its chunk on a terminal, DEV=$DEV', (dev) => {
    // stderr made to look like an 80-column terminal: the reporter picks the ink view, as on a TTY.
    const terminal = 'data:text/javascript,Object.assign(process.stderr, { isTTY: true, columns: 80, rows: 24 })';
    const args = ['--import', terminal, installedBin, 'login', 'http://127.0.0.1:1/mcp', '--storage', 'file'];
    const env = { ...process.env, CI: '', TERM: 'xterm', ...dev };
    const run = spawnSync(process.execPath, args, { cwd: app, encoding: 'utf8', env, timeout: 20_000 });
    // Nothing listens there (port 1 is one fetch refuses): the probe's diagnosis, drawn by ink.
    expect(run.status, run.stderr).toBe(4);
    expect(run.stderr).toContain('cannot reach http://127.0.0.1:1/mcp');
    expect(run.stderr).toContain('✖ login failed');
    expect(run.stderr).not.toMatch(/^(PASS|FAIL) /m);
  });

  it('prints the package version', () => {
    const version = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
    const out = execFileSync(process.execPath, [installedBin, '--version'], { cwd: app, encoding: 'utf8' });
    expect(out.trim()).toBe(version);
  });

  it('lists the tools of a stdio server through run', async () => {
    const proc = startAirlock(['run', '--', process.execPath, stdioFixture], { bin: installedBin, cwd: app });
    const client = new LineClient(proc);
    try {
      await client.handshake();
      client.send({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
      const reply = await client.response(1);
      const names = (reply.result?.tools as { name: string }[]).map((tool) => tool.name);
      expect(names).toContain('echo');
      expect((await client.call(2, 'echo', { text: 'packed' })).result?.content).toEqual([{ type: 'text', text: 'packed' }]);
    } finally {
      client.endInput();
      await proc.stop();
    }
  });

  it('lists the tools of an HTTP server through connect', async () => {
    const fixture = await startFixtureHttpServer({ port: 0 });
    const proc = startAirlock(['connect', `${fixture.url}/mcp`, '--transport', 'http'], { bin: installedBin, cwd: app });
    const client = new LineClient(proc);
    try {
      await client.handshake();
      client.send({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
      const reply = await client.response(1);
      expect((reply.result?.tools as { name: string }[]).map((tool) => tool.name)).toContain('echo');
    } finally {
      client.endInput();
      await proc.stop();
      await fixture.close();
    }
  });

  it('reaches an HTTP server through a proxy (the undici chunk, loaded on demand)', async () => {
    const fixture = await startFixtureHttpServer({ port: 0 });
    const { server: proxy, url: proxyUrl, seen: tunnels } = await startConnectProxy();
    const env = { ...process.env, HTTP_PROXY: proxyUrl, HTTPS_PROXY: proxyUrl, NO_PROXY: '' };
    const proc = startAirlock(['connect', `${fixture.url}/mcp`, '--transport', 'http'], { bin: installedBin, cwd: app, env });
    const client = new LineClient(proc);
    try {
      await client.handshake();
      expect((await client.call(1, 'add', { a: 3, b: 4 })).result).toEqual({ content: [{ type: 'text', text: '7' }] });
      expect(tunnels).toContain(new URL(fixture.url).host);
    } finally {
      client.endInput();
      await proc.stop();
      proxy.closeAllConnections();
      await new Promise((resolve) => proxy.close(resolve));
      await fixture.close();
    }
  });
});
