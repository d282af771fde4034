// Choosing the store. The keychain cases that need a working keyring are in keychain-store.test.ts
// (auto picks the keychain there); here the keychain is absent, hangs or is locked.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { AirlockError } from '../../../src/errors.js';
import { isStorageMode, openGrantStore } from '../../../src/store/open-store.js';
import { captureLog, sampleTokens } from '../../helpers/grant-records.js';
import { fallbackWarning, noBusEnv, sessionReport, silentBus, UNLOCKED, useTempRoot, type SessionReport } from '../../helpers/keychain-sessions.js';
import { requireKeyringTools } from '../../helpers/keyring.js';

const service = `mcp-airlock-test-${process.pid}`;
const root = useTempRoot('airlock-open-store-');

describe('isStorageMode', () => {
  it('accepts the three --storage values only', () => {
    expect(['auto', 'keychain', 'file', 'memory', 'Auto', ''].map(isStorageMode)).toEqual([true, true, true, false, false, false]);
  });
});

describe.runIf(process.platform === 'linux')('openGrantStore without a Secret Service', () => {
  it("storage 'auto' falls back to 0600 files with exactly one warning line", async () => {
    const dir = join(root(), 'credentials');
    const { log, lines } = captureLog();
    const store = await openGrantStore({ storage: 'auto', dir, log, env: noBusEnv(root()), service });
    expect(store.backend).toBe('file');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(fallbackWarning('no-secret-service', 'no Secret Service answers on the D-Bus session bus \\(.+\\)', dir));
    await store.saveTokens(sampleTokens('https://mcp.example.com/mcp', 'fallback'));
    expect((await store.loadTokens('https://mcp.example.com/mcp'))?.accessToken).toBe('at-SECRET-fallback');
    const files = (await readdir(dir)).filter((name) => name.endsWith('.json'));
    expect(files).toHaveLength(1);
    expect((await stat(join(dir, files[0]!))).mode & 0o777).toBe(0o600);
    expect(lines).toHaveLength(1);
  });

  it('warnOnSave: says nothing while only reading, and warns once at the first save (connect to a server that needs no login stays quiet)', async () => {
    const dir = join(root(), 'credentials');
    const { log, lines } = captureLog();
    const store = await openGrantStore({ storage: 'auto', dir, log, env: noBusEnv(root()), service, warnOnSave: true });
    expect(store.backend).toBe('file');
    expect(await store.loadTokens('https://mcp.example.com/mcp')).toBeUndefined();
    expect(await store.listTokens()).toEqual([]);
    expect(lines).toEqual([]);
    await store.saveTokens(sampleTokens('https://mcp.example.com/mcp', 'one'));
    await store.saveTokens(sampleTokens('https://mcp.example.com/mcp', 'two'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(fallbackWarning('no-secret-service', 'no Secret Service answers on the D-Bus session bus \\(.+\\)', dir));
  });

  it('puts the files under $MCP_AIRLOCK_CONFIG_DIR/credentials when no dir is given', async () => {
    const { log, lines } = captureLog();
    const env = { ...noBusEnv(root()), MCP_AIRLOCK_CONFIG_DIR: join(root(), 'config') };
    const store = await openGrantStore({ storage: 'auto', log, env, service });
    expect(lines[0]).toMatch(fallbackWarning('no-secret-service', '.+', join(root(), 'config', 'credentials')));
    await store.saveTokens(sampleTokens('https://mcp.example.com/mcp'));
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
      expect((await openGrantStore({ storage: 'auto', dir, log, env: bus.env, service, probeTimeoutMs: 300 })).backend).toBe('file');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(fallbackWarning('timeout', 'the keychain did not answer within 300 ms \\(it may be waiting for an unlock prompt\\)', dir));

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

function expectLockedChoice(report: SessionReport): void {
  expect(report.auto).toEqual({ value: 'file' });
  expect(report.autoLog).toHaveLength(1);
  expect(report.autoLog![0]).toMatch(fallbackWarning('locked', '.+', join(root(), 'credentials')));
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
