#!/usr/bin/env node
// `npm test` after the build: run vitest. When gnome-keyring-daemon and dbus-run-session are
// installed (Linux), run it inside a private D-Bus session with a freshly unlocked gnome-keyring
// whose files live in a temporary XDG_DATA_HOME, so the keychain tests use a real Secret Service
// and never the developer's own keyring. MCP_AIRLOCK_TEST_KEYRING=1 tells those tests they may.
// Without the tools the keychain tests skip with a reason, and fail when CI is set
// (test/helpers/keyring.ts). Arguments are passed on to vitest: `npm test -- test/unit/store`.
// Everything runs on the Node that runs this script: vitest with process.execPath, and that Node's
// directory goes first on PATH when `node` there is another one, so a fixture or shell that starts
// plain `node` gets it too (test/other-nodes.mjs runs this under Node 22 and 24).
import { spawn } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const vitest = join(dirname(require.resolve('vitest/package.json')), 'vitest.mjs');
const vitestArgs = [vitest, 'run', '--config', 'test/vitest.config.ts', ...process.argv.slice(2)];

/** The absolute path of an executable on PATH, or undefined. */
function which(command) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, command), constants.X_OK);
      return join(dir, command);
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Whether two paths name the same file once links are resolved. */
function sameFile(a, b) {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return false;
  }
}

const missing = ['dbus-run-session', 'gnome-keyring-daemon'].filter((command) => !which(command));
let tempRoot;
let command = process.execPath;
let args = vitestArgs;
const env = { ...process.env };
const pathNode = which('node');
if (!pathNode || !sameFile(pathNode, process.execPath)) env.PATH = [dirname(process.execPath), env.PATH ?? ''].join(delimiter);

if (process.platform === 'linux' && missing.length === 0) {
  tempRoot = mkdtempSync(join(tmpdir(), 'airlock-keyring-'));
  mkdirSync(join(tempRoot, 'data'), { mode: 0o700 });
  mkdirSync(join(tempRoot, 'runtime'), { mode: 0o700 });
  Object.assign(env, {
    XDG_DATA_HOME: join(tempRoot, 'data'),
    XDG_RUNTIME_DIR: join(tempRoot, 'runtime'),
    MCP_AIRLOCK_TEST_KEYRING: '1',
  });
  // Never a real prompt on the developer's screen: without a display the prompter fails at once.
  delete env.DISPLAY;
  delete env.WAYLAND_DISPLAY;
  delete env.DBUS_SESSION_BUS_ADDRESS;
  command = 'dbus-run-session';
  args = [
    '--',
    'sh',
    '-c',
    'printf %s airlock-test | gnome-keyring-daemon --unlock --components=secrets >/dev/null && exec "$@"',
    'sh',
    process.execPath,
    ...vitestArgs,
  ];
} else {
  const why = process.platform === 'linux' ? `${missing.join(' and ')} not found` : `no gnome-keyring on ${process.platform}`;
  process.stderr.write(
    `[run-tests] ${why}: the keychain tests will ${process.env.CI ? 'FAIL (CI is set)' : 'be skipped'}. ` +
      'Install them with: apt-get install -y --no-install-recommends gnome-keyring libsecret-tools dbus-x11\n',
  );
}

/**
 * gnome-keyring-daemon exits with its bus, but one that missed the bus going away would live on:
 * kill whatever still runs with our temporary XDG_DATA_HOME (so never anything else).
 */
function killLeftovers(dataHome) {
  const marker = `XDG_DATA_HOME=${dataHome}\0`;
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      if (readFileSync(`/proc/${pid}/environ`, 'utf8').includes(marker)) process.kill(pid, 'SIGKILL');
    } catch {
      // gone, or not ours to read
    }
  }
}

const child = spawn(command, args, { stdio: 'inherit', env });
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
child.on('error', (error) => {
  process.stderr.write(`[run-tests] cannot start ${command}: ${error.message}\n`);
  process.exitCode = 1;
});
child.on('close', (code, signal) => {
  if (tempRoot) {
    killLeftovers(join(tempRoot, 'data'));
    rmSync(tempRoot, { recursive: true, force: true });
  }
  process.exitCode = code ?? (signal ? 1 : 0);
});
