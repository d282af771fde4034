// Choosing the store. The keychain cases that need a working keyring are in keychain-store.test.ts
// (auto picks the keychain there); here the keychain is absent, hangs or is locked.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { AirlockError } from '../../../src/errors.js';
import { isStorageMode, openGrantStore } from '../../../src/store/open-store.js';
import { captureLog, sampleTokens } from '../../helpers/grant-records.js';
import { fallbackWarning, noBusEnv, warnings, sessionReport, silentBus, UNLOCKED, useTempRoot, type SessionReport } from '../../helpers/keychain-sessions.js';
import { requireKeyringTools } from '../../helpers/keyring.js';

const service = `mcp-airlock-test-${process.pid}`;
const root = useTempRoot('airlock-open-store-');

describe('isStorageMode', () => {
  it('accepts the three --storage values only', () => {
    expect(['auto', 'keychain', 'file', 'memory', 'Auto', ''].map(isStorageMode)).toEqual([true, true, true, false, false, false]);
  });
});

describe.runIf(process.platform === 'linux')('openGrantStore without a Secret Service', () => {
  it("storage 'auto' falls back to 0600 files: silent while reading, one short warning at the first save, none in later processes", async () => {
    const dir = join(root(), 'credentials');
    const { log, lines } = captureLog();
    const store = await openGrantStore({ storage: 'auto', dir, log, env: noBusEnv(root()), service });
    expect(store.backend).toBe('file');
    expect(await store.loadTokens('https://mcp.example.com/mcp')).toBeUndefined();
    expect(await store.listTokens()).toEqual([]);
    expect(warnings(lines)).toEqual([]);
    // The whole library message is there for --log-level debug, not in the warning.
    expect(lines.join('\n')).toMatch(/debug: keychain probe: no Secret Service answers on the D-Bus session bus \(.+\)/);
    await store.saveTokens(sampleTokens('https://mcp.example.com/mcp', 'one'));
    await store.saveTokens(sampleTokens('https://mcp.example.com/mcp', 'two'));
    expect(warnings(lines)).toHaveLength(1);
    expect(warnings(lines)[0]).toMatch(fallbackWarning('no Secret Service on the D-Bus session bus', dir));
    expect((await store.loadTokens('https://mcp.example.com/mcp'))?.accessToken).toBe('at-SECRET-two');
    const files = (await readdir(dir)).filter((name) => name.endsWith('.json'));
    expect(files).toHaveLength(1);
    expect((await stat(join(dir, files[0]!))).mode & 0o777).toBe(0o600);

    // The next process already has credentials in files: it was told, so it says nothing more.
    const later = captureLog();
    const again = await openGrantStore({ storage: 'auto', dir, log: later.log, env: noBusEnv(root()), service });
    await again.saveTokens(sampleTokens('https://mcp.example.com/other', 'three'));
    expect(warnings(later.lines)).toEqual([]);
    expect(later.lines.join('\n')).toContain('debug: keychain unavailable (no Secret Service on the D-Bus session bus): saving credentials in');
  });

  it('puts the files under $MCP_AIRLOCK_CONFIG_DIR/credentials when no dir is given', async () => {
    const { log, lines } = captureLog();
    const env = { ...noBusEnv(root()), MCP_AIRLOCK_CONFIG_DIR: join(root(), 'config') };
    const store = await openGrantStore({ storage: 'auto', log, env, service });
    await store.saveTokens(sampleTokens('https://mcp.example.com/mcp'));
    expect(warnings(lines)[0]).toMatch(fallbackWarning('no Secret Service on the D-Bus session bus', join(root(), 'config', 'credentials')));
    expect(await readdir(join(root(), 'config', 'credentials'))).toEqual([expect.stringMatching(/^tokens-[0-9a-f]{32}\.json$/)]);
  });

  it("storage 'keychain' refuses with AIRLOCK_KEYCHAIN_UNAVAILABLE and a hint, and warns about nothing", async () => {
    const { log, lines } = captureLog();
    const error = await openGrantStore({ storage: 'keychain', dir: join(root(), 'credentials'), log, env: noBusEnv(root()), service }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AirlockError);
    const airlockError = error as AirlockError;
    expect(airlockError.code).toBe('AIRLOCK_KEYCHAIN_UNAVAILABLE');
    expect(airlockError.exitCode).toBe(5);
    expect(airlockError.message).toMatch(/^keychain unavailable \(no-secret-service\): no Secret Service answers on the D-Bus session bus \(.+\)$/);
    expect(airlockError.hint).toBe(
      'Start a Secret Service (gnome-keyring, KWallet, KeePassXC) in this session, or use --storage file to keep credentials in 0600 files.',
    );
    expect(lines).toEqual([]);
  });
});

describe.runIf(process.platform === 'linux')('openGrantStore with a keychain that never answers', () => {
  it("storage 'auto' falls back after the probe timeout; storage 'file' never asks the keychain", async () => {
    const bus = await silentBus(root());
    try {
      const dir = join(root(), 'credentials');
      const { log, lines } = captureLog();
      const store = await openGrantStore({ storage: 'auto', dir, log, env: bus.env, service, probeTimeoutMs: 300 });
      expect(store.backend).toBe('file');
      expect(lines.join('\n')).toContain('debug: keychain probe: the keychain did not answer within 300 ms (it may be waiting for an unlock prompt)');
      await store.saveTokens(sampleTokens('https://mcp.example.com/mcp'));
      expect(warnings(lines)).toHaveLength(1);
      expect(warnings(lines)[0]).toMatch(fallbackWarning('the keychain did not answer', dir));

      const before = bus.connections.length;
      const started = Date.now();
      expect((await openGrantStore({ storage: 'file', dir, log, env: bus.env, service, probeTimeoutMs: 5_000 })).backend).toBe('file');
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(bus.connections.length).toBe(before);
      expect(warnings(lines)).toHaveLength(1);
    } finally {
      bus.server.close();
    }
  });
});

function expectLockedChoice(report: SessionReport): void {
  expect(report.auto).toEqual({ value: 'file' });
  // Opening to read says nothing at the info level; the warning comes with the first save.
  expect(report.autoLog).toEqual([]);
  expect(report.keychain?.error).toEqual({
    name: 'AirlockError',
    code: 'AIRLOCK_KEYCHAIN_UNAVAILABLE',
    exitCode: 5,
    message: expect.stringMatching(/^keychain unavailable \(locked\): the keychain is locked and could not be unlocked without a prompt \(.+\)$/),
    hint: 'Unlock your keychain and retry, or use --storage file to keep credentials in 0600 files.',
  });
}

describe.runIf(process.platform === 'linux')('openGrantStore on a locked gnome-keyring (own D-Bus session, no display)', () => {
  beforeEach((ctx) => requireKeyringTools(ctx));

  it("once the collection is locked, 'auto' falls back with one warning and 'keychain' refuses, never showing the token", async () => {
    const report = await sessionReport(root(), UNLOCKED, 'lock-after-save', service, { parts: ['open'] });
    expect(report.beforeLock).toEqual({ value: true });
    expectLockedChoice(report);
    expect(JSON.stringify(report).replaceAll(`"secret":"${report.secret}"`, '')).not.toContain(report.secret);
  });
});
