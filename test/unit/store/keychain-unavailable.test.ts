// A keychain that is absent, hangs or is locked: the probe says so, `auto` falls back to files
// with one warning, `keychain` refuses. Keychain calls for these cases run in child processes
// (the probe always does; the locked store runs in a fixture inside its own D-Bus session), so a
// hanging keychain cannot hang the suite.
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AirlockError } from '../../../src/errors.js';
import { probeKeychain } from '../../../src/store/keychain-probe.js';
import { openGrantStore } from '../../../src/store/open-store.js';
import { captureLog, sampleTokens } from '../../helpers/grant-records.js';
import { killSessionLeftovers, requireKeyringTools, runInPrivateSession } from '../../helpers/keyring.js';

const checkFixture = fileURLToPath(new URL('../../../fixtures/keychain-session-check.mjs', import.meta.url));
const service = `mcp-airlock-test-${process.pid}`;

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'airlock-nokeychain-'));
});
afterEach(async () => {
  await killSessionLeftovers(root);
  await rm(root, { recursive: true, force: true });
});

/** An environment whose session bus address leads nowhere: no Secret Service at all. */
function noBusEnv(): NodeJS.ProcessEnv {
  return { ...process.env, DBUS_SESSION_BUS_ADDRESS: `unix:path=${join(root, 'no-bus')}` };
}

/** A "bus" that accepts connections and never answers: a keychain that hangs. */
async function silentBus(): Promise<{ env: NodeJS.ProcessEnv; server: Server; connections: Socket[]; closed: Promise<void> }> {
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

const warningPattern = (reason: string, detail: string, dir: string): RegExp =>
  new RegExp(
    `^\\[mcp-airlock\\] warn: keychain unavailable \\(${reason}: ${detail}\\); storing credentials in ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(0600\\)\\. Use --storage keychain to require it\\.$`,
  );

describe.runIf(process.platform === 'linux')('no Secret Service (no D-Bus session)', () => {
  it('the probe reports no-secret-service, for a dead bus address and for none at all', async () => {
    const result = await probeKeychain({ env: noBusEnv(), service });
    expect(result).toEqual({
      ok: false,
      reason: 'no-secret-service',
      detail: expect.stringMatching(/^no Secret Service answers on the D-Bus session bus \(.*Failed to connect to socket .*no-bus.*\)$/),
    });
    const unset = { ...process.env };
    delete unset.DBUS_SESSION_BUS_ADDRESS;
    expect(await probeKeychain({ env: unset, service })).toMatchObject({ ok: false, reason: 'no-secret-service' });
  });

  it("storage 'auto' falls back to the file store with exactly one warning line", async () => {
    const dir = join(root, 'credentials');
    const { log, lines } = captureLog();
    const store = await openGrantStore({ storage: 'auto', dir, log, env: noBusEnv(), service });
    expect(store.backend).toBe('file');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(warningPattern('no-secret-service', 'no Secret Service answers on the D-Bus session bus \\(.+\\)', dir));
    await store.saveTokens(sampleTokens('https://mcp.example.com/mcp', 'fallback'));
    expect((await store.loadTokens('https://mcp.example.com/mcp'))?.accessToken).toBe('at-SECRET-fallback');
    const files = (await readdir(dir)).filter((name) => name.endsWith('.json'));
    expect(files).toHaveLength(1);
    expect((await stat(join(dir, files[0]!))).mode & 0o777).toBe(0o600);
    expect(lines.join('\n')).not.toContain('SECRET');
  });

  it("storage 'keychain' refuses with AIRLOCK_KEYCHAIN_UNAVAILABLE and a hint, and logs nothing", async () => {
    const { log, lines } = captureLog();
    const error = await openGrantStore({ storage: 'keychain', dir: join(root, 'credentials'), log, env: noBusEnv(), service }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AirlockError);
    const airlockError = error as AirlockError;
    expect(airlockError.code).toBe('AIRLOCK_KEYCHAIN_UNAVAILABLE');
    expect(airlockError.exitCode).toBe(5);
    expect(airlockError.message).toMatch(/^keychain unavailable \(no-secret-service\): no Secret Service answers on the D-Bus session bus \(.+\)$/);
    expect(airlockError.hint).toBe(
      'Start a Secret Service (gnome-keyring, KWallet, KeePassXC) in this session, or use --storage file to keep credentials in 0600 files.',
    );
    expect(lines.filter((line) => !line.includes(' debug: '))).toEqual([]);
  });
});

describe.runIf(process.platform === 'linux')('a keychain that never answers', () => {
  it('the probe gives up after its timeout and kills its child', async () => {
    const bus = await silentBus();
    try {
      const started = Date.now();
      const result = await probeKeychain({ env: bus.env, service, timeoutMs: 300 });
      const took = Date.now() - started;
      expect(result).toEqual({
        ok: false,
        reason: 'timeout',
        detail: 'the keychain did not answer within 300 ms (it may be waiting for an unlock prompt)',
      });
      expect(took).toBeGreaterThanOrEqual(290);
      expect(took).toBeLessThan(2_000);
      expect(bus.connections.length).toBeGreaterThanOrEqual(1); // the child really was waiting on it
      await bus.closed; // and its end of the connection closed: the child is gone
    } finally {
      bus.server.close();
    }
  });

  it("storage 'auto' falls back with a timeout warning; storage 'file' never asks the keychain", async () => {
    const bus = await silentBus();
    try {
      const dir = join(root, 'credentials');
      const { log, lines } = captureLog();
      expect((await openGrantStore({ storage: 'auto', dir, log, env: bus.env, service, probeTimeoutMs: 300 })).backend).toBe('file');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(warningPattern('timeout', 'the keychain did not answer within 300 ms \\(it may be waiting for an unlock prompt\\)', dir));

      const before = bus.connections.length;
      const started = Date.now();
      expect((await openGrantStore({ storage: 'file', dir, log, env: bus.env, service, probeTimeoutMs: 5_000 })).backend).toBe('file');
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(bus.connections.length).toBe(before);
      expect(lines).toHaveLength(1);
    } finally {
      bus.server.close();
    }
  });
});

interface Captured {
  value?: unknown;
  error?: { name: string; code: string; message: string; hint: string; exitCode: number };
}

interface SessionReport {
  beforeLock?: Captured;
  load?: Captured;
  loadMissing?: Captured;
  list?: Captured;
  save?: Captured;
  delete?: Captured;
  probe: { ok: boolean; reason?: string; detail?: string };
  auto: Captured;
  autoLog: string[];
  keychain: Captured;
  secret: string;
}

async function sessionReport(script: string, mode: string): Promise<SessionReport> {
  const result = await runInPrivateSession(root, script, [process.execPath, checkFixture, mode, join(root, 'credentials'), service]);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as SessionReport;
}

function expectLockedOutcome(report: SessionReport, detail: RegExp): void {
  expect(report.probe).toEqual({ ok: false, reason: 'locked', detail: expect.stringMatching(detail) });
  expect(report.auto).toEqual({ value: 'file' });
  expect(report.autoLog).toHaveLength(1);
  expect(report.autoLog[0]).toMatch(/^\[mcp-airlock\] warn: keychain unavailable \(locked: .+\); storing credentials in .+ \(0600\)\. Use --storage keychain to require it\.\n$/);
  expect(report.keychain.error).toMatchObject({
    code: 'AIRLOCK_KEYCHAIN_UNAVAILABLE',
    exitCode: 5,
    message: expect.stringMatching(/^keychain unavailable \(locked\): /),
    hint: 'Unlock your keychain and retry, or use --storage file to keep credentials in 0600 files.',
  });
}

describe.runIf(process.platform === 'linux')('a locked gnome-keyring (own D-Bus session, no display)', () => {
  beforeEach((ctx) => requireKeyringTools(ctx));

  it('locked after use: every call on an existing entry fails as unavailable, never "not found"', async () => {
    const report = await sessionReport(
      'printf %s pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null && exec "$@"',
      'lock-after-save',
    );
    expect(report.beforeLock).toEqual({ value: true });
    for (const [what, verb] of [
      ['load', 'reading "tokens:https://mcp.example.com/mcp"'],
      ['list', 'listing entries'],
      ['save', 'writing "tokens:https://mcp.example.com/mcp"'],
      ['delete', 'deleting "tokens:https://mcp.example.com/mcp"'],
    ] as const) {
      expect(report[what]?.error, what).toMatchObject({
        code: 'AIRLOCK_KEYCHAIN_UNAVAILABLE',
        exitCode: 5,
        message: expect.stringMatching(new RegExp(`^keychain failed \\(${verb.replace(/[()]/g, '\\$&')}\\): .*(locked|dismissed)`, 'i')),
      });
    }
    // Attributes stay searchable while locked: an entry that does not exist is rightly absent.
    expect(report.loadMissing).toEqual({});
    expectLockedOutcome(report, /^the keychain is locked and could not be unlocked without a prompt \(.+\)$/);
    expect(JSON.stringify(report).replaceAll(`"secret":"${report.secret}"`, '')).not.toContain(report.secret);
  });

  it('an unlock prompt nobody answers: a store call and the probe give up after their timeouts', async () => {
    // A prompter that D-Bus starts but that never shows up, as a prompt on a desktop nobody
    // looks at: gnome-keyring then waits (25 s and more) instead of failing at once.
    const services = join(root, 'data', 'dbus-1', 'services');
    await mkdir(services, { recursive: true });
    await writeFile(join(services, 'org.gnome.keyring.SystemPrompter.service'), '[D-BUS Service]\nName=org.gnome.keyring.SystemPrompter\nExec=/bin/sleep 60\n');
    const result = await runInPrivateSession(
      root,
      'printf %s pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null && exec "$@"',
      [process.execPath, checkFixture, 'prompt-hangs', join(root, 'credentials'), service],
      { firstLine: true },
    );
    const report = JSON.parse(result.stdout) as SessionReport & { loadMs: number; probeMs: number };
    expect(report.load?.error).toEqual({
      name: 'AirlockError',
      code: 'AIRLOCK_KEYCHAIN_UNAVAILABLE',
      exitCode: 5,
      message: 'the keychain did not answer within 500 ms (reading "tokens:https://mcp.example.com/mcp")',
      hint: 'It may be waiting for you to unlock it: answer the unlock prompt and retry, or run with --storage file.',
    });
    expect(report.loadMs).toBeLessThan(3_000);
    expect(report.probe).toEqual({ ok: false, reason: 'timeout', detail: 'the keychain did not answer within 500 ms (it may be waiting for an unlock prompt)' });
    expect(report.probeMs).toBeLessThan(3_000);
  });

  it('a keyring on disk that the daemon started without unlocking', async () => {
    // The first session creates the login keyring with a password (and works: the probe is ok);
    // the second, like a login that does not unlock it, starts the daemon without the password.
    const unlocked = await sessionReport('printf %s pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null && exec "$@"', 'probe');
    expect(unlocked.probe).toEqual({ ok: true });
    expect(unlocked.auto).toEqual({ value: 'keychain' });
    expect(unlocked.autoLog).toEqual([]);
    expect(await readdir(join(root, 'data', 'keyrings'))).toContain('login.keyring');
    const report = await sessionReport('gnome-keyring-daemon --start --components=secrets >/dev/null && exec "$@"', 'probe');
    expectLockedOutcome(report, /^the keychain is locked and could not be unlocked without a prompt \(.+\)$/);
  });

  it('no keyring at all: the Secret Service started by D-Bus activation has no default collection', async () => {
    const report = await sessionReport('exec "$@"', 'probe');
    expectLockedOutcome(report, /^the Secret Service has no default keyring to store into \(.+no result found.*\)$/);
  });
});
