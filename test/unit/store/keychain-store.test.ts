// Against the real gnome-keyring of the private session test/run-tests.mjs starts (never the
// developer's own): skipped without it, failing under CI without it (test/helpers/keyring.ts).
// Locked keyrings run in their own D-Bus sessions, through fixtures/keychain-session-check.mjs.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AsyncEntry, findCredentialsAsync } from '@napi-rs/keyring';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AirlockError, describeError } from '../../../src/errors.js';
import { lockDirFor } from '../../../src/store/file-store.js';
import type { GrantStore } from '../../../src/store/grant-store.js';
import { probeKeychain } from '../../../src/store/keychain-probe.js';
import { createKeychainGrantStore, KEYCHAIN_ENTRY_OPTIONS } from '../../../src/store/keychain-store.js';
import { lockFileName } from '../../../src/store/process-lock.js';
import { openGrantStore } from '../../../src/store/open-store.js';
import { captureLog, sampleClient, sampleTokens, visibleText } from '../../helpers/grant-records.js';
import { sessionReport, UNLOCKED, useTempRoot } from '../../helpers/keychain-sessions.js';
import { clearKeychainService, requireKeyringTools, requireTestKeyring } from '../../helpers/keyring.js';

const run = promisify(execFile);
const R1 = 'https://one.example.com/mcp';
const R2 = 'https://two.example.com/mcp';
/** Our own service name per worker, so nothing here meets another test's entries. */
const service = `mcp-airlock-test-${process.pid}`;

let root = '';
let lines: string[];
let store: GrantStore;

/** Write an entry under our service directly, as another program (or a damaged write) would. */
async function writeRaw(account: string, secret: string): Promise<void> {
  await new AsyncEntry(service, account, KEYCHAIN_ENTRY_OPTIONS).setPassword(secret);
}

describe('keychain store (real gnome-keyring)', () => {
  beforeEach(async (ctx) => {
    requireTestKeyring(ctx);
    root = await mkdtemp(join(tmpdir(), 'airlock-keychain-'));
    const captured = captureLog();
    lines = captured.lines;
    store = createKeychainGrantStore({ lockDir: lockDirFor(join(root, 'credentials')), service, log: captured.log });
  });

  afterEach(async () => {
    if (!root) return;
    await clearKeychainService(service);
    await rm(root, { recursive: true, force: true });
    root = '';
  });

  it('round-trips tokens and clients, and deleting says whether something was there', async () => {
    const tokens = sampleTokens(R1, 'a');
    const client = sampleClient('https://as.example.com', 'c');
    expect(store.backend).toBe('keychain');
    await store.saveTokens(tokens);
    await store.saveClient(client);
    expect(await store.loadTokens(R1)).toEqual(tokens);
    expect(await store.loadClient('https://as.example.com')).toEqual(client);
    expect(await store.loadTokens(R2)).toBeUndefined();
    await store.saveTokens(sampleTokens(R1, 'b'));
    expect((await store.loadTokens(R1))?.accessToken).toBe('at-SECRET-b');
    expect(await store.deleteTokens(R1)).toBe(true);
    expect(await store.deleteTokens(R1)).toBe(false);
    expect(await store.loadTokens(R1)).toBeUndefined();
    expect(await store.deleteClient('https://as.example.com')).toBe(true);
    expect(await store.loadClient('https://as.example.com')).toBeUndefined();
  });

  it('writes into the Secret Service (not the kernel keyring): secret-tool finds the entry', async (ctx) => {
    requireKeyringTools(ctx);
    await store.saveTokens(sampleTokens(R1, 'a'));
    const { stdout } = await run('secret-tool', ['lookup', 'service', service, 'username', `tokens:${R1}`]);
    expect(JSON.parse(stdout)).toEqual({ version: 1, kind: 'tokens', record: sampleTokens(R1, 'a') });
  });

  it('lists token records sorted by resource, skipping clients, foreign entries and damaged ones', async () => {
    await store.saveTokens(sampleTokens(R2, '2'));
    await store.saveTokens(sampleTokens(R1, '1'));
    await store.saveClient(sampleClient('https://as.example.com'));
    await writeRaw('something-else', 'not ours');
    await writeRaw('tokens:https://damaged.example.com/mcp', '{"version":1,"kind":"tokens","record":{"accessToken":"at-SECRET-damaged"');
    await new AsyncEntry(`${service}-other`, `tokens:${R1}`, KEYCHAIN_ENTRY_OPTIONS).setPassword('other service');
    try {
      expect((await store.listTokens()).map((r) => r.resource)).toEqual([R1, R2]);
    } finally {
      await new AsyncEntry(`${service}-other`, `tokens:${R1}`, KEYCHAIN_ENTRY_OPTIONS).deleteCredential();
    }
    expect(lines).toEqual([
      `[mcp-airlock] warn: keychain entry "tokens:https://damaged.example.com/mcp" of service "${service}" is damaged: it is not valid JSON; listing the others without it`,
    ]);
  });

  it('reports a damaged entry on load with a clear error that does not quote it', async () => {
    await writeRaw(`tokens:${R1}`, '{"version":1,"kind":"tokens","record":{"accessToken":"at-SECRET-x","refreshToken":"rt-SECRET-x"}}');
    const error = await store.loadTokens(R1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AirlockError);
    expect((error as AirlockError).code).toBe('AIRLOCK_CREDENTIAL_STORE');
    expect((error as AirlockError).message).toBe(`keychain entry "tokens:${R1}" of service "${service}" is damaged: field resource is missing`);
    expect((error as AirlockError).hint).toBe(
      'Remove that entry with your keychain tool and log in to its server again; other credentials are not affected.',
    );
    expect(`${visibleText(error)}\n${describeError(error)}`).not.toContain('SECRET');
    await store.saveTokens(sampleTokens(R1, 'fixed'));
    expect((await store.loadTokens(R1))?.accessToken).toBe('at-SECRET-fixed');
  });

  it('keeps its lock files in the credential directory', async () => {
    const lockDir = lockDirFor(join(root, 'credentials'));
    await store.withLock('login:x', async () => {
      expect(existsSync(join(lockDir, lockFileName('login:x')))).toBe(true);
    });
    expect(await readdir(lockDir)).toEqual([]);
  });

  it('probes ok in an unlocked keyring and leaves no probe entry behind', async () => {
    expect(await probeKeychain({ service })).toEqual({ ok: true });
    expect(await findCredentialsAsync(service)).toEqual([]);
  });

  it('is what openGrantStore picks in auto and keychain mode, without a warning and without files', async () => {
    const dir = join(root, 'credentials');
    const { log, lines: openLines } = captureLog();
    const auto = await openGrantStore({ storage: 'auto', dir, log, service });
    expect(auto.backend).toBe('keychain');
    await auto.saveTokens(sampleTokens(R1, 'auto'));
    expect((await store.loadTokens(R1))?.accessToken).toBe('at-SECRET-auto');
    expect((await openGrantStore({ storage: 'keychain', dir, log, service })).backend).toBe('keychain');
    expect(openLines).toEqual(['[mcp-airlock] debug: credentials: OS keychain', '[mcp-airlock] debug: credentials: OS keychain']);
    expect(existsSync(dir) ? (await readdir(dir)).filter((name) => name.endsWith('.json')) : []).toEqual([]);
  });

  it('never puts a token or client secret into a log line or an error', async () => {
    await store.saveTokens(sampleTokens(R1, 'one'));
    await store.saveClient(sampleClient('https://as.example.com', 'client'));
    const errors: unknown[] = [];
    // Damage both entries while keeping their secrets inside.
    for (const account of [`tokens:${R1}`, 'client:https://as.example.com']) {
      const entry = new AsyncEntry(service, account, KEYCHAIN_ENTRY_OPTIONS);
      await entry.setPassword(((await entry.getPassword()) ?? '').slice(0, -2));
    }
    await store.listTokens();
    errors.push(await store.loadTokens(R1).catch((e: unknown) => e));
    errors.push(await store.loadClient('https://as.example.com').catch((e: unknown) => e));
    expect(errors.every((e) => e instanceof AirlockError)).toBe(true);
    expect(lines).toHaveLength(1);
    const visible = [...lines, ...errors.map(visibleText), ...errors.map(describeError)].join('\n');
    expect(visible).not.toContain('SECRET');
  });
});

describe.runIf(process.platform === 'linux')('keychain store on a locked gnome-keyring (own D-Bus session, no display)', () => {
  const sessionRoot = useTempRoot('airlock-keychain-locked-');
  beforeEach((ctx) => requireKeyringTools(ctx));

  it('fails every call on an existing entry as unavailable, never as "not found"', async () => {
    const report = await sessionReport(sessionRoot(), UNLOCKED, 'lock-after-save', service, { parts: ['store'] });
    expect(report.beforeLock).toEqual({ value: true });
    for (const [what, verb] of [
      ['load', 'reading "tokens:https://mcp.example.com/mcp"'],
      ['list', 'listing entries'],
      ['save', 'writing "tokens:https://mcp.example.com/mcp"'],
      ['delete', 'deleting "tokens:https://mcp.example.com/mcp"'],
    ] as const) {
      expect(report[what]?.error, what).toEqual({
        name: 'AirlockError',
        code: 'AIRLOCK_KEYCHAIN_UNAVAILABLE',
        exitCode: 5,
        message: expect.stringMatching(new RegExp(`^keychain failed \\(${verb.replace(/[()]/g, '\\$&')}\\): .*\\b(locked|dismissed)\\b`, 'i')),
        hint: 'Check that your keychain is running and unlocked, or run with --storage file to keep credentials in files.',
      });
    }
    // Attributes stay searchable while locked: an entry that does not exist is rightly absent.
    expect(report.loadMissing).toEqual({});
    expect(JSON.stringify(report).replaceAll(`"secret":"${report.secret}"`, '')).not.toContain(report.secret);
  });

  it('gives up after its timeout when the unlock prompt is never answered', async () => {
    // A prompter that D-Bus starts but that never shows up, like a prompt on a desktop nobody
    // looks at: gnome-keyring then waits (25 s and more) instead of failing at once.
    const services = join(sessionRoot(), 'data', 'dbus-1', 'services');
    await mkdir(services, { recursive: true });
    await writeFile(join(services, 'org.gnome.keyring.SystemPrompter.service'), '[D-BUS Service]\nName=org.gnome.keyring.SystemPrompter\nExec=/bin/sleep 60\n');
    // The fixture cannot exit while the native call waits (process.exit joins the thread pool): it
    // prints its report and the session is killed.
    const report = await sessionReport(sessionRoot(), UNLOCKED, 'prompt-hangs', service, { firstLine: true });
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
});
