// The probe against keychains that are absent, hang or are locked: real D-Bus sessions and a real
// gnome-keyring (own sessions, no display), never mocks. The unlocked case is in keychain-store.test.ts.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { probeKeychain } from '../../../src/store/keychain-probe.js';
import { noBusEnv, sessionReport, silentBus, STARTED_LOCKED, UNLOCKED, useTempRoot, type SessionReport } from '../../helpers/keychain-sessions.js';
import { requireKeyringTools } from '../../helpers/keyring.js';

const service = `mcp-airlock-test-${process.pid}`;
const root = useTempRoot('airlock-probe-');

describe.runIf(process.platform === 'linux')('probeKeychain without a Secret Service', () => {
  it('reports no-secret-service for a bus address that leads nowhere', async () => {
    expect(await probeKeychain({ env: noBusEnv(root()), service })).toEqual({
      ok: false,
      reason: 'no-secret-service',
      detail: expect.stringMatching(/^no Secret Service answers on the D-Bus session bus \(.*Failed to connect to socket .*no-bus.*\)$/),
    });
  });

  it('reports no-secret-service when there is no session bus at all', async () => {
    const env = { ...process.env };
    delete env.DBUS_SESSION_BUS_ADDRESS;
    expect(await probeKeychain({ env, service })).toEqual({
      ok: false,
      reason: 'no-secret-service',
      detail: expect.stringMatching(/^no Secret Service answers on the D-Bus session bus \(.+\)$/),
    });
  });

  it('gives up after its timeout when the keychain never answers, and kills its child', async () => {
    const bus = await silentBus(root());
    try {
      const started = Date.now();
      // Long enough for the probe's child to start and reach the bus on a loaded two-core machine
      // (at 300 ms it sometimes had not connected yet when the timeout fired).
      const result = await probeKeychain({ env: bus.env, service, timeoutMs: 1500 });
      const took = Date.now() - started;
      expect(result).toEqual({
        ok: false,
        reason: 'timeout',
        detail: 'the keychain did not answer within 1500 ms (it may be waiting for an unlock prompt)',
      });
      expect(took).toBeGreaterThanOrEqual(1490);
      expect(took).toBeLessThan(8_000);
      expect(bus.connections.length).toBeGreaterThanOrEqual(1); // the child really was waiting on it
      await bus.closed; // and its end of the connection closed: the child is gone
    } finally {
      bus.server.close();
    }
  });
});

function expectLocked(report: SessionReport, detail: RegExp): void {
  expect(report.probe).toEqual({ ok: false, reason: 'locked', detail: expect.stringMatching(detail) });
}

describe.runIf(process.platform === 'linux')('probeKeychain on a locked gnome-keyring (own D-Bus session, no display)', () => {
  beforeEach((ctx) => requireKeyringTools(ctx));

  it('is ok once unlocked, and reports locked when the daemon starts without unlocking the keyring on disk', async () => {
    // The first session creates the login keyring with a password; the second, like a login that
    // does not unlock it, starts the daemon without the password.
    const unlocked = await sessionReport(root(), UNLOCKED, 'probe', service, { parts: ['probe'] });
    expect(unlocked.probe).toEqual({ ok: true });
    expect(await readdir(join(root(), 'data', 'keyrings'))).toContain('login.keyring');
    const locked = await sessionReport(root(), STARTED_LOCKED, 'probe', service, { parts: ['probe'] });
    expectLocked(locked, /^the keychain is locked and could not be unlocked without a prompt \(.*dismissed.*\)$/);
  });

  it('reports locked when the collection was locked after use', async () => {
    const report = await sessionReport(root(), UNLOCKED, 'lock-after-save', service, { parts: ['probe'] });
    expect(report.beforeLock).toEqual({ value: true });
    expectLocked(report, /^the keychain is locked and could not be unlocked without a prompt \(.+\)$/);
  });

  it('reports locked (no default keyring) when D-Bus starts a Secret Service that has no keyring yet', async () => {
    const report = await sessionReport(root(), 'exec "$@"', 'probe', service, { parts: ['probe'] });
    expectLocked(report, /^the Secret Service has no default keyring to store into \(.+no result found.*\)$/);
  });
});
