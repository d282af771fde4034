/**
 * Keychains that are absent, hang or are locked, for the store tests. Every keychain call in
 * these cases runs in a child process (the probe always does; the store runs in
 * fixtures/keychain-session-check.mjs inside its own D-Bus session), so a keychain that hangs
 * cannot hang the suite.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, expect } from 'vitest';
import { killSessionLeftovers, runInPrivateSession } from './keyring.js';

export const sessionCheckFixture = fileURLToPath(new URL('../../fixtures/keychain-session-check.mjs', import.meta.url));

/** A fresh temporary root per test (removed after it, with anything a session left running). */
export function useTempRoot(prefix: string): () => string {
  let root = '';
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), prefix));
  });
  afterEach(async () => {
    await killSessionLeftovers(root);
    await rm(root, { recursive: true, force: true });
  });
  return () => root;
}

/** An environment whose session bus address leads nowhere: no Secret Service at all. */
export function noBusEnv(root: string): NodeJS.ProcessEnv {
  return { ...process.env, DBUS_SESSION_BUS_ADDRESS: `unix:path=${join(root, 'no-bus')}` };
}

export interface SilentBus {
  env: NodeJS.ProcessEnv;
  server: Server;
  connections: Socket[];
  /** Settles when a connection to it closes (its client is gone). */
  closed: Promise<void>;
}

/** A "bus" that accepts connections and never answers: a keychain that hangs. */
export async function silentBus(root: string): Promise<SilentBus> {
  const path = join(root, 'silent-bus');
  const connections: Socket[] = [];
  let onClose!: () => void;
  const closed = new Promise<void>((resolve) => (onClose = resolve));
  const server = createServer((socket) => {
    connections.push(socket);
    socket.on('data', () => undefined).on('error', () => undefined).on('close', onClose);
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return { env: { ...process.env, DBUS_SESSION_BUS_ADDRESS: `unix:path=${path}` }, server, connections, closed };
}

/** The one-line warning of `openGrantStore({ storage: 'auto' })` when it falls back to files. */
export function fallbackWarning(reason: string, dir: string): RegExp {
  const literal = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(
    `^\\[mcp-airlock\\] warn: keychain unavailable \\(${literal(reason)}\\): saving credentials in ${literal(dir)} \\(0600 files\\)\\. Use --storage file to say so, --storage keychain to require the keychain\\.\\n?$`,
  );
}

/** The warning lines among captured log lines. */
export const warnings = (lines: readonly string[]): string[] => lines.filter((line) => line.startsWith('[mcp-airlock] warn:'));

/** What a call in the fixture gave: a value or an error's visible fields. */
export interface Captured {
  value?: unknown;
  error?: { name: string; code: string; message: string; hint: string; exitCode: number };
}

/** The fixture's report (see fixtures/keychain-session-check.mjs). */
export interface SessionReport {
  beforeLock?: Captured;
  load?: Captured;
  loadMissing?: Captured;
  list?: Captured;
  save?: Captured;
  delete?: Captured;
  loadMs?: number;
  probeMs?: number;
  probe?: { ok: boolean; reason?: string; detail?: string };
  auto?: Captured;
  autoLog?: string[];
  keychain?: Captured;
  secret: string;
}

/** Starts the unlocked gnome-keyring of a new session, then runs the fixture. */
export const UNLOCKED = 'printf %s pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null && exec "$@"';

/** Which parts the fixture reports on after its setup: store calls, the probe, openGrantStore. */
export type ReportPart = 'store' | 'probe' | 'open';

/** Starts gnome-keyring without unlocking the keyring on disk (a login that does not unlock it), then runs the fixture. */
export const STARTED_LOCKED = 'gnome-keyring-daemon --start --components=secrets >/dev/null && exec "$@"';

/**
 * Run the fixture in `mode` inside a new D-Bus session under `root`, after `script` (which ends
 * with `exec "$@"`), reporting on `parts`. With `firstLine`, the session is killed once the
 * report is printed.
 */
export async function sessionReport(
  root: string,
  script: string,
  mode: 'probe' | 'lock-after-save' | 'prompt-hangs',
  service: string,
  options: { parts?: ReportPart[]; firstLine?: boolean } = {},
): Promise<SessionReport> {
  const args = [process.execPath, sessionCheckFixture, mode, join(root, 'credentials'), service, (options.parts ?? ['store', 'probe', 'open']).join(',')];
  const result = await runInPrivateSession(root, script, args, { firstLine: options.firstLine ?? false });
  if (!options.firstLine) expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as SessionReport;
}
