/**
 * When may a test use a real Secret Service? Only inside the private D-Bus session with an
 * unlocked gnome-keyring that test/run-tests.mjs starts (MCP_AIRLOCK_TEST_KEYRING=1): never the
 * developer's own keyring. Without it the keychain tests skip with a reason, except under CI,
 * where a skipped keychain test would hide a broken setup: there they fail.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import type { TestContext } from 'vitest';

/** True inside the session test/run-tests.mjs prepared. */
export const testKeyringReady = process.env.MCP_AIRLOCK_TEST_KEYRING === '1';

/** True when the commands needed to start extra private sessions (locked keyring cases) exist. */
export const keyringToolsInstalled =
  process.platform === 'linux' && ['dbus-run-session', 'gnome-keyring-daemon', 'dbus-send', 'secret-tool'].every((command) => onPath(command));

function onPath(command: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

const installHint = 'install gnome-keyring libsecret-tools dbus-x11 (apt-get) and run the suite with `npm test`';

/** Skip the current test (or fail it under CI) unless `ready`. */
function demand(ctx: TestContext, ready: boolean, what: string): void {
  if (ready) return;
  if (process.env.CI) throw new Error(`CI is set, but ${what}: ${installHint}. A skipped keychain test in CI is a defect.`);
  ctx.skip(`${what}: ${installHint}`);
}

/** For tests that use the Secret Service of the test session. */
export function requireTestKeyring(ctx: TestContext): void {
  demand(ctx, testKeyringReady, 'no private gnome-keyring session (MCP_AIRLOCK_TEST_KEYRING is not 1)');
}

/** For tests that start their own D-Bus session and gnome-keyring (locked keyring cases). */
export function requireKeyringTools(ctx: TestContext): void {
  demand(ctx, keyringToolsInstalled, 'dbus-run-session, gnome-keyring-daemon, dbus-send or secret-tool is not installed');
}

/**
 * The environment of a private session: home and data under `root` (kept across sessions, like a
 * disk), a fresh runtime directory (like a new login: gnome-keyring's control socket lives there),
 * no display (so no real prompt can appear), no outer session bus.
 */
export async function privateSessionEnv(root: string): Promise<NodeJS.ProcessEnv> {
  for (const dir of ['home', 'data']) await mkdir(join(root, dir), { recursive: true, mode: 0o700 });
  const runtime = await mkdtemp(join(root, 'runtime-'));
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: join(root, 'home'), XDG_DATA_HOME: join(root, 'data'), XDG_RUNTIME_DIR: runtime };
  for (const name of ['DISPLAY', 'WAYLAND_DISPLAY', 'DBUS_SESSION_BUS_ADDRESS', 'MCP_AIRLOCK_TEST_KEYRING']) delete env[name];
  return env;
}

export interface SessionRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Run `sh -c script` (with `args` as $1…) inside a new D-Bus session (dbus-run-session) whose
 * files live under `root`. Killed, with everything it started, after `timeoutMs`; with
 * `firstLine`, as soon as it has printed one line (for a process that cannot exit by itself).
 */
export async function runInPrivateSession(
  root: string,
  script: string,
  args: string[],
  options: { timeoutMs?: number; firstLine?: boolean } = {},
): Promise<SessionRun> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const env = await privateSessionEnv(root);
  return new Promise((resolve, reject) => {
    const child = spawn('dbus-run-session', ['--', 'sh', '-c', script, 'sh', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    const killGroup = (): void => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (options.firstLine && stdout.includes('\n')) {
        clearTimeout(timer);
        killGroup();
        resolve({ code: null, stdout, stderr });
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      killGroup();
      reject(new Error(`private session did not finish within ${timeoutMs} ms; stderr:\n${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * Kill what a private session under `root` left running. gnome-keyring-daemon normally exits with
 * its bus, but one started just before the session ended can miss that and live on. Found by its
 * environment (XDG_DATA_HOME under our unique `root`), so nothing else is ever touched.
 */
export async function killSessionLeftovers(root: string): Promise<number[]> {
  if (process.platform !== 'linux') return [];
  const marker = `XDG_DATA_HOME=${join(root, 'data')}\0`;
  const killed: number[] = [];
  for (const name of await readdir('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      if ((await readFile(`/proc/${pid}/environ`, 'utf8')).includes(marker)) {
        process.kill(pid, 'SIGKILL');
        killed.push(pid);
      }
    } catch {
      // gone, or not ours to read
    }
  }
  return killed;
}

/** Remove every entry a test wrote under its own keychain service name. */
export async function clearKeychainService(service: string): Promise<void> {
  const { AsyncEntry, findCredentialsAsync } = await import('@napi-rs/keyring');
  const { KEYCHAIN_ENTRY_OPTIONS } = await import('../../src/store/keychain-store.js');
  for (const { account } of await findCredentialsAsync(service)) {
    await new AsyncEntry(service, account, KEYCHAIN_ENTRY_OPTIONS).deleteCredential();
  }
}
