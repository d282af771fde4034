// The installation's audit key: in the real gnome-keyring of the private session
// test/run-tests.mjs starts (skipped without it, failing under CI), else a 0600 file.
import { AsyncEntry } from '@napi-rs/keyring';
import { lstatSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AUDIT_KEY_ACCOUNT, auditKeyId, loadAuditKey } from '../../../src/audit/audit-key.js';
import { createLogger } from '../../../src/log.js';
import { KEYCHAIN_ENTRY_OPTIONS } from '../../../src/store/keychain-store.js';
import { clearKeychainService, requireTestKeyring } from '../../helpers/keyring.js';
import { thrownAirlockError } from '../../helpers/thrown.js';

const service = `mcp-airlock-audit-key-test-${process.pid}`;
let dir: string;
const log = createLogger('silent');

beforeEach(() => {
  dir = join(mkdtempSync(join(tmpdir(), 'airlock-audit-key-')), 'credentials');
});
afterEach(() => rmSync(join(dir, '..'), { recursive: true, force: true }));

describe('audit key in a file (--storage file, or no keychain)', () => {
  it('is made once, 0600, and read back the same by later processes', async () => {
    expect(await loadAuditKey({ storage: 'file', dir, log, create: false })).toBeUndefined();
    const made = (await loadAuditKey({ storage: 'file', dir, log, create: true }))!;
    expect(made).toMatchObject({ backend: 'file', id: auditKeyId(made.secret) });
    expect(made.secret).toHaveLength(32);
    expect(statSync(join(dir, 'audit-key')).mode & 0o777).toBe(0o600);
    const again = (await loadAuditKey({ storage: 'file', dir, log, create: true }))!;
    expect(again.secret.equals(made.secret)).toBe(true);
    expect(await loadAuditKey({ storage: 'file', dir, log, create: false })).toMatchObject({ id: made.id, created: made.created });
  });

  it('gives processes starting together one key', async () => {
    const keys = await Promise.all(Array.from({ length: 8 }, () => loadAuditKey({ storage: 'file', dir, log, create: true })));
    expect(new Set(keys.map((k) => k!.id)).size).toBe(1);
  });

  it('refuses a damaged key and a symbolic link', async () => {
    await loadAuditKey({ storage: 'file', dir, log, create: true });
    writeFileSync(join(dir, 'audit-key'), '{"v":1,"key":"short"}');
    expect((await loadAuditKey({ storage: 'file', dir, log, create: false }).catch((e: unknown) => e)) as Error).toMatchObject({
      code: 'AIRLOCK_AUDIT_KEY',
      message: `the audit key in ${JSON.stringify(join(dir, 'audit-key'))} is damaged`,
    });
    rmSync(join(dir, 'audit-key'));
    const elsewhere = join(dir, '..', 'planted');
    writeFileSync(elsewhere, readFileSync(__filename, 'utf8').slice(0, 10));
    symlinkSync(elsewhere, join(dir, 'audit-key'));
    expect(lstatSync(join(dir, 'audit-key')).isSymbolicLink()).toBe(true);
    await expect(loadAuditKey({ storage: 'file', dir, log, create: true })).rejects.toMatchObject({ code: 'AIRLOCK_CREDENTIAL_STORE' });
  });

  it('says so when the keychain is required and absent', async () => {
    const env = { ...process.env, DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent/bus' };
    const error = await loadAuditKey({ storage: 'keychain', dir, log, create: true, env, service }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'AIRLOCK_KEYCHAIN_UNAVAILABLE' });
    expect(thrownAirlockError(() => {
      throw error;
    }).message).toMatch(/^keychain unavailable for the audit key \(/);
  });
});

describe('audit key in the keychain (real gnome-keyring)', () => {
  beforeEach((ctx) => requireTestKeyring(ctx));
  afterEach(async () => clearKeychainService(service));

  it('is made in the keychain, not in a file, and read back by the next process', async () => {
    const made = (await loadAuditKey({ storage: 'auto', dir, log, create: true, service }))!;
    expect(made.backend).toBe('keychain');
    expect(() => statSync(join(dir, 'audit-key'))).toThrow();
    const stored = await new AsyncEntry(service, AUDIT_KEY_ACCOUNT, KEYCHAIN_ENTRY_OPTIONS).getPassword();
    expect(JSON.parse(stored!)).toEqual({ v: 1, key: made.secret.toString('base64url'), created: made.created });
    expect(await loadAuditKey({ storage: 'keychain', dir, log, create: false, service })).toMatchObject({ id: made.id, backend: 'keychain' });
  });

  it('keeps one key when processes start together', async () => {
    const keys = await Promise.all(Array.from({ length: 4 }, () => loadAuditKey({ storage: 'keychain', dir, log, create: true, service })));
    expect(new Set(keys.map((k) => k!.id)).size).toBe(1);
  });
});
