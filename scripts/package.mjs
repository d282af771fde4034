#!/usr/bin/env node
/**
 * `npm run package`: the published form of mcp-airlock, as a tarball. After `npm run build` it
 * bundles dist/ (from bin/mcp-airlock.js) with rolldown into one ESM file plus chunks loaded on
 * demand (the ink screens, undici, the auth and keychain modules), stages it in a directory with a
 * generated package.json (no scripts, no devDependencies, the keychain binding as the only
 * dependency: it is native and loads its platform package, so it cannot be bundled), and runs
 * `npm pack` there. No source maps: the tarball would point at sources it does not ship.
 *
 *   node scripts/package.mjs                    -> ./mcp-airlock-<version>.tgz (stage: .package/)
 *   node scripts/package.mjs --out-dir DIR      the tarball goes to DIR, the stage to DIR/stage
 *   node scripts/package.mjs --json             print { tarball, files, bytes } instead of lines
 *   node scripts/package.mjs --refuse-root-pack what the root's `prepack` runs: a bare `npm pack` or
 *                                               `npm publish` at the root would ship the development
 *                                               build, so it stops and names this script
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

/** Packages that are never bundled: the native keychain binding (and its platform packages). */
const RUNTIME_DEPENDENCIES = ['@napi-rs/keyring'];

/** The only `createRequire` of our code that reads a file the bundle does not ship (src/version.ts). */
const VERSION_READ = "createRequire(import.meta.url)('../package.json')";

/** ink's switch for React devtools mode (node_modules/ink/build/utils.js). */
const INK_IS_DEV = "const isDev = () => process.env['DEV'] === 'true';";

function fail(message, hint) {
  process.stderr.write(`mcp-airlock: error: ${message}\nmcp-airlock: hint: ${hint}\n`);
  process.exit(1);
}

function parseArgs(argv) {
  const options = { outDir: root, stage: join(root, '.package'), json: false, refuse: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--out-dir') {
      options.outDir = resolve(argv[++i] ?? fail('--out-dir needs a directory', 'node scripts/package.mjs --out-dir /tmp/out'));
      options.stage = join(options.outDir, 'stage');
    } else if (arg === '--json') options.json = true;
    else if (arg === '--refuse-root-pack') options.refuse = true;
    else fail(`unknown option ${JSON.stringify(arg)}`, 'node scripts/package.mjs [--out-dir DIR] [--json]');
  }
  return options;
}

/**
 * Rolldown plugins: the version as a literal (the bundle has no ../../package.json next to it),
 * and ink without its DEV=true mode: it reads ink's package.json, which the bundle does not ship,
 * and imports the React devtools (react-devtools-core and ws), replaced by an empty module.
 */
function bundlePlugins() {
  return [
    {
      name: 'airlock-version',
      transform(code, id) {
        if (!id.endsWith(join('dist', 'version.js'))) return null;
        if (!code.includes(VERSION_READ)) throw new Error(`${id} no longer reads the version as ${VERSION_READ}; update scripts/package.mjs`);
        return code.replace(VERSION_READ, JSON.stringify({ version: manifest.version }));
      },
    },
    {
      name: 'ink-without-dev-mode',
      // DEV=true would make ink read its own package.json next to the bundle and import the devtools.
      transform(code, id) {
        if (!/[\\/]node_modules[\\/]ink[\\/]build[\\/]utils\.js$/.test(id)) return null;
        if (!code.includes(INK_IS_DEV)) throw new Error(`${id} no longer defines ${INK_IS_DEV}; update scripts/package.mjs`);
        return code.replace(INK_IS_DEV, 'const isDev = () => false;');
      },
      resolveId(source, importer) {
        if (source === './devtools.js' && importer && /[\\/]node_modules[\\/]ink[\\/]/.test(importer)) return '\0ink-devtools';
        return null;
      },
      load(id) {
        if (id !== '\0ink-devtools') return null;
        // Never imported now that isDev() is false; empty should tree-shaking ever keep the import.
        return 'export {};';
      },
    },
  ];
}

async function bundle(binDir) {
  const { rolldown } = await import('rolldown');
  const entry = join(root, 'bin', 'mcp-airlock.js');
  if (!existsSync(join(root, 'dist', 'cli', 'main.js'))) fail('dist/ is missing', 'run `npm run package`, which builds first, or `npm run build`');
  const warnings = [];
  const build = await rolldown({
    input: { 'mcp-airlock': entry },
    platform: 'node',
    external: (id) => RUNTIME_DEPENDENCIES.some((name) => id === name || id.startsWith(`${name}/`)),
    transform: { define: { 'process.env.NODE_ENV': '"production"' } },
    plugins: bundlePlugins(),
    onLog: (level, log) => {
      if (level === 'warn') warnings.push(log.message);
    },
  });
  await build.write({ dir: binDir, format: 'esm', chunkFileNames: 'chunks/[name]-[hash].js', sourcemap: false });
  await build.close();
  return warnings;
}

function stagedManifest() {
  const dependencies = {};
  for (const name of RUNTIME_DEPENDENCIES) {
    const range = manifest.dependencies?.[name];
    if (!range) fail(`package.json has no dependency ${name}`, `add ${name} to "dependencies" in package.json`);
    dependencies[name] = range;
  }
  const out = {
    name: manifest.name,
    version: manifest.version,
    description: manifest.description,
    type: 'module',
    bin: { 'mcp-airlock': 'bin/mcp-airlock.js' },
    engines: manifest.engines,
    license: manifest.license,
    dependencies,
  };
  for (const key of ['keywords', 'repository', 'homepage', 'bugs', 'author']) if (manifest[key]) out[key] = manifest[key];
  return out;
}

function filesUnder(dir) {
  return readdirSync(dir, { recursive: true })
    .map((name) => join(dir, name))
    .filter((path) => statSync(path).isFile());
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  if (options.refuse) {
    fail(
      'the repository root is not the package: `npm pack` or `npm publish` here would ship the development build',
      'run `npm run package` (it writes mcp-airlock-<version>.tgz), then install or publish that file',
    );
  }
  rmSync(options.stage, { recursive: true, force: true });
  mkdirSync(options.stage, { recursive: true });
  const warnings = await bundle(join(options.stage, 'bin'));
  cpSync(join(root, 'schemas'), join(options.stage, 'schemas'), { recursive: true });
  cpSync(join(root, 'README.md'), join(options.stage, 'README.md'));
  // The README is the front door; its links lead into docs/ (the policy file's format, exit codes...).
  cpSync(join(root, 'docs'), join(options.stage, 'docs'), { recursive: true });
  writeFileSync(join(options.stage, 'package.json'), `${JSON.stringify(stagedManifest(), null, 2)}\n`);

  const maps = filesUnder(options.stage).filter((path) => path.endsWith('.map'));
  if (maps.length > 0) fail(`the stage holds source maps: ${maps.map((path) => relative(options.stage, path)).join(', ')}`, 'check sourcemap in scripts/package.mjs');

  mkdirSync(options.outDir, { recursive: true });
  const packed = JSON.parse(
    execFileSync('npm', ['pack', '--json', '--pack-destination', options.outDir], {
      cwd: options.stage,
      // Not the settings of an enclosing `npm run` (npm_config_local_prefix names the repository).
      env: Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_(package_|lifecycle_|config_local_prefix)/i.test(key))),
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  )[0];
  const result = {
    tarball: join(options.outDir, packed.filename),
    bytes: packed.size,
    unpackedBytes: packed.unpackedSize,
    files: packed.files.map((file) => file.path).sort(),
    warnings,
  };
  if (options.json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } else {
    for (const warning of warnings) process.stderr.write(`rolldown: ${warning}\n`);
    process.stdout.write(
      `${result.tarball}\n  ${result.files.length} files, ${(result.bytes / 1024).toFixed(0)} kB packed, ${(result.unpackedBytes / 1024).toFixed(0)} kB unpacked\n`,
    );
  }
}

await main();
