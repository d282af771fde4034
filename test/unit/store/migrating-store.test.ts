// `--storage auto` across a keychain switch, against the real gnome-keyring of the private session
// test/run-tests.mjs starts (skipped without it, failing under CI: test/helpers/keyring.ts) and the
// file store in a temporary directory. Records saved to files while the keychain was unavailable
// are moved into the keychain when auto mode finds it available again.
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFileGrantStore, lockDirFor } from '../../../src/store/file-store.js';
import type { GrantStore } from '../../../src/store/grant-store.js';
import { createKeychainGrantStore } from '../../../src/store/keychain-store.js';
import { withFileMigration } from '../../../src/store/migrating-store.js';
import { openGrantStore } from '../../../src/store/open-store.js';
import { createLogger } from '../../../src/log.js';
import { captureLog, sampleClient, sampleTokens } from '../../helpers/grant-records.js';
import { clearKeychainService, requireTestKeyring } from '../../helpers/keyring.js';

const R1 = 'https://one.example.com/mcp';
const R2 = 'https://two.example.com/mcp';
const ISSUER = 'https://as.example.com';
const service = `mcp-airlock-test-migrate-${process.pid}`;

let root = '';
let dir = '';
/** The file store as auto mode used it while the keychain was unavailable. */
let files: GrantStore;
/** The keychain directly, to see what is really there. */
let keychain: GrantStore;

/** Auto mode with the keychain available; `lines` collects info and warn lines as they come. */
async function openAuto(): Promise<{ store: GrantStore; lines: string[] }> {
  const lines: string[] = [];
  const log = createLogger('info', (line) => lines.push(line.replace(/\n$/, '')));
  const store = await openGrantStore({ storage: 'auto', dir, log, service });
  return { store, lines };
}

const jsonFiles = async (): Promise<string[]> => (await readdir(dir)).filter((name) => name.endsWith('.json'));

describe('auto storage: records from the file store move into the keychain once it is available', () => {
  beforeEach(async (ctx) => {
    requireTestKeyring(ctx);
    root = await mkdtemp(join(tmpdir(), 'airlock-migrate-'));
    dir = join(root, 'credentials');
    files = createFileGrantStore({ dir });
    keychain = createKeychainGrantStore({ lockDir: lockDirFor(dir), service });
  });

  afterEach(async () => {
    if (!root) return;
    await clearKeychainService(service);
    await rm(root, { recursive: true, force: true });
    root = '';
  });

  it('tokens only in the files: found, moved into the keychain, the file removed, one info line; the next read says nothing', async () => {
    await files.saveTokens(sampleTokens(R1, 'file'));
    const { store, lines } = await openAuto();
    expect(store.backend).toBe('keychain');
    expect((await store.loadTokens(R1))?.accessToken).toBe('at-SECRET-file');
    expect(lines).toEqual([`[mcp-airlock] info: moved the tokens for "${R1}" from the credential files in ${dir} into the OS keychain`]);
    expect((await keychain.loadTokens(R1))?.refreshToken).toBe('rt-SECRET-file');
    expect(await jsonFiles()).toEqual([]);
    expect((await store.loadTokens(R1))?.accessToken).toBe('at-SECRET-file');
    expect(lines).toHaveLength(1);
    expect(lines.join('\n')).not.toContain('SECRET');
  });

  it('a newer login in the files (made while the keychain was locked) wins over the older keychain record', async () => {
    await keychain.saveTokens(sampleTokens(R1, 'old', { obtainedAt: 1_000 }));
    await files.saveTokens(sampleTokens(R1, 'new', { obtainedAt: 2_000 }));
    const { store, lines } = await openAuto();
    expect((await store.loadTokens(R1))?.accessToken).toBe('at-SECRET-new');
    expect((await keychain.loadTokens(R1))?.accessToken).toBe('at-SECRET-new');
    expect(await jsonFiles()).toEqual([]);
    expect(lines).toHaveLength(1);
  });

  it('an older copy in the files is stale: the keychain record stays, the file goes, nothing is said', async () => {
    await keychain.saveTokens(sampleTokens(R1, 'kept', { obtainedAt: 2_000 }));
    await files.saveTokens(sampleTokens(R1, 'stale', { obtainedAt: 1_000 }));
    const { store, lines } = await openAuto();
    expect((await store.loadTokens(R1))?.accessToken).toBe('at-SECRET-kept');
    expect(await jsonFiles()).toEqual([]);
    expect(lines).toEqual([]);
  });

  it('client registrations move too (the refresh needs the client the tokens were issued to)', async () => {
    await files.saveClient(sampleClient(ISSUER, 'reg'));
    const { store, lines } = await openAuto();
    expect((await store.loadClient(ISSUER))?.clientId).toBe('client-reg');
    expect((await keychain.loadClient(ISSUER))?.clientSecret).toBe('cs-SECRET-reg');
    expect(lines).toEqual([`[mcp-airlock] info: moved the client registration for "${ISSUER}" from the credential files in ${dir} into the OS keychain`]);
  });

  it('status lists file-only logins (moving them), and logout removes both copies', async () => {
    await keychain.saveTokens(sampleTokens(R1, 'k'));
    await files.saveTokens(sampleTokens(R2, 'f'));
    const { store } = await openAuto();
    expect((await store.listTokens()).map((r) => r.resource)).toEqual([R1, R2]);
    expect(await jsonFiles()).toEqual([]);

    await files.saveTokens(sampleTokens(R1, 'again', { obtainedAt: 1 }));
    expect(await store.deleteTokens(R1)).toBe(true);
    expect(await keychain.loadTokens(R1)).toBeUndefined();
    expect(await jsonFiles()).toEqual([]);
  });

  it('a damaged file is reported and never hides the keychain record', async () => {
    await keychain.saveTokens(sampleTokens(R1, 'k'));
    await files.saveTokens(sampleTokens(R1, 'f'));
    const [name] = await jsonFiles();
    await writeFile(join(dir, name!), '{not json', { mode: 0o600 });
    const { store, lines } = await openAuto();
    expect((await store.loadTokens(R1))?.accessToken).toBe('at-SECRET-k');
    expect(lines).toEqual([
      `[mcp-airlock] warn: credential file "${join(dir, name!)}" is damaged: it is not valid JSON; using the OS keychain without it`,
    ]);
  });

  it('each file is looked at once per process: the damaged file warns once, a file written later is left for the next process', async () => {
    await keychain.saveTokens(sampleTokens(R1, 'k'));
    await files.saveTokens(sampleTokens(R1, 'f', { obtainedAt: 0 }));
    const [name] = await jsonFiles();
    await writeFile(join(dir, name!), '{not json', { mode: 0o600 });
    const { store, lines } = await openAuto();
    for (let i = 0; i < 3; i++) expect((await store.loadTokens(R1))?.accessToken).toBe('at-SECRET-k');
    expect(lines).toHaveLength(1);
    await rm(join(dir, name!));
    await files.saveTokens(sampleTokens(R1, 'later', { obtainedAt: 1_900_000_000_000 }));
    expect((await store.loadTokens(R1))?.accessToken).toBe('at-SECRET-k');
    expect((await (await openAuto()).store.loadTokens(R1))?.accessToken).toBe('at-SECRET-later');
  });

  it('a file that cannot be removed after the move is reported, and the record is still served', async () => {
    // Running as root, no file mode stops a removal here: the file store's delete is made to fail.
    await files.saveTokens(sampleTokens(R1, 'file'));
    const { log, lines } = captureLog();
    const stuck: GrantStore = { ...files, deleteTokens: async () => { throw new Error('cannot remove the credential file: EACCES'); } };
    const store = withFileMigration({ keychain, files: stuck, dir, log });
    expect((await store.loadTokens(R1))?.accessToken).toBe('at-SECRET-file');
    expect((await keychain.loadTokens(R1))?.accessToken).toBe('at-SECRET-file');
    expect(lines.join('')).toContain('cannot remove the credential file: EACCES; using the OS keychain without it');
  });

  it("--storage keychain does not look at the files (only auto falls back, so only auto migrates)", async () => {
    await files.saveTokens(sampleTokens(R1, 'file'));
    const { log } = captureLog();
    const store = await openGrantStore({ storage: 'keychain', dir, log, service });
    expect(await store.loadTokens(R1)).toBeUndefined();
    expect(await jsonFiles()).toHaveLength(1);
  });
});
