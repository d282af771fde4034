import { chmod, chown, lstat, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import envPaths from 'env-paths';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AirlockError, describeError } from '../../../src/errors.js';
import { createFileGrantStore, lockDirFor, resolveCredentialsDir, type FileGrantStore } from '../../../src/store/file-store.js';
import { repoRoot } from '../../helpers/airlock-process.js';
import { captureLog, sampleClient, sampleTokens, visibleText } from '../../helpers/grant-records.js';

const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const posix = process.platform !== 'win32';
const R1 = 'https://one.example.com/mcp';
const R2 = 'https://two.example.com/mcp';
const R3 = 'https://three.example.com/mcp';

let root: string;
let dir: string;
let lines: string[];
let store: FileGrantStore;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'airlock-file-store-'));
  dir = join(root, 'config', 'credentials');
  const captured = captureLog();
  lines = captured.lines;
  store = createFileGrantStore({ dir, log: captured.log });
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function mode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

/** The one file a save created, found by listing the directory. */
async function onlyRecordFile(): Promise<string> {
  const names = (await readdir(dir)).filter((name) => name.endsWith('.json'));
  expect(names).toHaveLength(1);
  return join(dir, names[0]!);
}

async function rejection(promise: Promise<unknown>): Promise<AirlockError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AirlockError);
  return error as AirlockError;
}

describe('file store: records', () => {
  it('round-trips tokens, and deleting says whether something was there', async () => {
    const record = sampleTokens(R1, 'a');
    await store.saveTokens(record);
    expect(store.backend).toBe('file');
    expect(await store.loadTokens(R1)).toEqual(record);
    expect(await store.loadTokens(R2)).toBeUndefined();
    expect(await store.deleteTokens(R1)).toBe(true);
    expect(await store.deleteTokens(R1)).toBe(false);
    expect(await store.loadTokens(R1)).toBeUndefined();
  });

  it('round-trips client registrations per issuer', async () => {
    const client = sampleClient('https://as.example.com', 'c');
    await store.saveClient(client);
    expect(await store.loadClient('https://as.example.com')).toEqual(client);
    expect(await store.loadClient('https://as.example.com/')).toBeUndefined();
    expect(await store.deleteClient('https://as.example.com')).toBe(true);
    expect(await store.deleteClient('https://as.example.com')).toBe(false);
  });

  it('overwrites a record on a second save (last writer wins)', async () => {
    await store.saveTokens(sampleTokens(R1, 'old'));
    await store.saveTokens(sampleTokens(R1, 'new'));
    expect((await store.loadTokens(R1))?.accessToken).toBe('at-SECRET-new');
    expect((await readdir(dir)).filter((name) => name.startsWith('tokens-'))).toHaveLength(1);
  });

  it('lists token records sorted by resource, without clients, temp files or other files', async () => {
    await store.saveTokens(sampleTokens(R2, '2'));
    await store.saveTokens(sampleTokens(R1, '1'));
    await store.saveTokens(sampleTokens(R3, '3'));
    await store.saveClient(sampleClient('https://as.example.com'));
    // What a crash between writing and renaming leaves behind, and a stray file.
    await writeFile(join(dir, 'tokens-0123456789abcdef0123456789abcdef.json.123.abc.tmp'), '{"half', { mode: 0o600 });
    await writeFile(join(dir, 'notes.txt'), 'hello', { mode: 0o600 });
    expect((await store.listTokens()).map((r) => r.resource)).toEqual([R1, R3, R2]);
    expect(lines).toEqual([]);
  });

  it('keeps fields it does not know (written by a newer version) through a load and save', async () => {
    await store.saveTokens({ ...sampleTokens(R1), futureField: 'kept' } as never);
    const loaded = await store.loadTokens(R1);
    expect(loaded).toMatchObject({ futureField: 'kept' });
  });
});

describe.runIf(posix)('file store: permissions', () => {
  it('creates the directory 0700 and files 0600 even with umask 000, and the file holds the tokens', async () => {
    const old = process.umask(0);
    try {
      await store.saveTokens(sampleTokens(R1, 'a'));
      await store.withLock('x', async () => undefined);
    } finally {
      process.umask(old);
    }
    expect(await mode(dir)).toBe(0o700);
    const file = await onlyRecordFile();
    expect(file).toMatch(/\/tokens-[0-9a-f]{32}\.json$/);
    expect(await mode(file)).toBe(0o600);
    expect(await mode(lockDirFor(dir))).toBe(0o700);
    // The fallback store keeps the secret itself (that is its job); only the mode protects it.
    expect(await readFile(file, 'utf8')).toContain('at-SECRET-a');
  });

  it('tightens a file that others can read to 0600 and warns once', async () => {
    await store.saveTokens(sampleTokens(R1, 'a'));
    const file = await onlyRecordFile();
    await chmod(file, 0o644);
    expect((await store.loadTokens(R1))?.accessToken).toBe('at-SECRET-a');
    expect(await mode(file)).toBe(0o600);
    expect(lines).toEqual([
      `[mcp-airlock] warn: credential file ${JSON.stringify(file)} was readable by group or others (mode 0644); changed it to 0600. Credentials in it may have been read: consider logging in again.`,
    ]);
    await store.loadTokens(R1);
    expect(lines).toHaveLength(1);
  });

  it('refuses a file that others can write, and leaves it as it is', async () => {
    await store.saveTokens(sampleTokens(R1, 'a'));
    const file = await onlyRecordFile();
    await chmod(file, 0o620);
    const error = await rejection(store.loadTokens(R1));
    expect(error.code).toBe('AIRLOCK_CREDENTIAL_STORE');
    expect(error.exitCode).toBe(5);
    expect(error.message).toBe(`credential file ${JSON.stringify(file)} is writable by group or others (mode 0620), so its content cannot be trusted`);
    expect(error.hint).toBe(`Check it was not tampered with, then run chmod 600 ${JSON.stringify(file)}; or remove it and log in again.`);
    expect(await mode(file)).toBe(0o620);
  });

  it('tightens a directory others can read to 0700, and refuses one others can write', async () => {
    await mkdir(dir, { recursive: true });
    await chmod(dir, 0o755);
    await store.saveTokens(sampleTokens(R1));
    expect(await mode(dir)).toBe(0o700);
    expect(lines).toEqual([
      `[mcp-airlock] warn: credential directory ${JSON.stringify(dir)} was readable by group or others (mode 0755); changed it to 0700. Credentials in it may have been read: consider logging in again.`,
    ]);

    const other = createFileGrantStore({ dir: join(root, 'open') });
    await mkdir(join(root, 'open'), { mode: 0o777 });
    await chmod(join(root, 'open'), 0o777);
    const error = await rejection(other.loadTokens(R1));
    expect(error.message).toBe(`credential directory ${JSON.stringify(join(root, 'open'))} is writable by group or others (mode 0777), so its content cannot be trusted`);
  });

  it("refuses a directory owned by another user", async () => {
    const uid = process.getuid!();
    let foreign: string;
    if (uid === 0) {
      foreign = join(root, 'foreign');
      await mkdir(foreign, { mode: 0o700 });
      await chown(foreign, 65534, 65534);
    } else {
      foreign = '/'; // owned by root, which we are not
    }
    const owner = (await stat(foreign)).uid;
    const error = await rejection(createFileGrantStore({ dir: foreign }).listTokens());
    expect(error.code).toBe('AIRLOCK_CREDENTIAL_STORE');
    expect(error.message).toBe(`credential directory ${JSON.stringify(foreign)} is owned by uid ${owner}, not by the current user (uid ${uid})`);
    expect(error.hint).toBe('Check who created it. If you trust it, make it yours (chown); otherwise remove it and log in again.');
  });

  it('refuses a record file that is a symbolic link', async () => {
    await store.saveTokens(sampleTokens(R1, 'a'));
    const file = await onlyRecordFile();
    await rename(file, join(root, 'elsewhere.json'));
    await symlink(join(root, 'elsewhere.json'), file);
    expect((await lstat(file)).isSymbolicLink()).toBe(true);
    const error = await rejection(store.loadTokens(R1));
    expect(error.message).toBe(`credential file ${JSON.stringify(file)} is a symbolic link`);
  });
});

describe('file store: damaged files', () => {
  it('names a damaged file without quoting it, and keeps every other record usable', async () => {
    await store.saveTokens(sampleTokens(R1, '1'));
    await store.saveTokens(sampleTokens(R2, '2'));
    const before = new Set(await readdir(dir));
    await store.saveTokens(sampleTokens(R3, '3'));
    const damagedName = (await readdir(dir)).find((name) => !before.has(name))!;
    const damagedFile = join(dir, damagedName);
    // Cut in the middle of a secret, as a full disk or a bad editor would leave it.
    const text = await readFile(damagedFile, 'utf8');
    await writeFile(damagedFile, text.slice(0, text.indexOf('at-SECRET-3') + 8));

    const error = await rejection(store.loadTokens(R3));
    expect(error.code).toBe('AIRLOCK_CREDENTIAL_STORE');
    expect(error.message).toBe(`credential file ${JSON.stringify(damagedFile)} is damaged: it is not valid JSON`);
    expect(error.hint).toBe('Remove that file and log in to its server again; other credentials are not affected.');
    expect(visibleText(error)).not.toContain('at-SECRET');
    expect(describeError(error)).not.toContain('at-SECRET');

    expect((await store.loadTokens(R1))?.accessToken).toBe('at-SECRET-1');
    expect((await store.listTokens()).map((r) => r.resource)).toEqual([R1, R2]);
    expect(lines).toEqual([
      `[mcp-airlock] warn: credential file ${JSON.stringify(damagedFile)} is damaged: it is not valid JSON; listing the others without it`,
    ]);

    // Saving again repairs it.
    await store.saveTokens(sampleTokens(R3, '3b'));
    expect((await store.loadTokens(R3))?.accessToken).toBe('at-SECRET-3b');
  });

  it('rejects a file that holds another resource, a wrong kind or a missing field', async () => {
    await store.saveTokens(sampleTokens(R1, '1'));
    const file = await onlyRecordFile();
    const text = await readFile(file, 'utf8');

    await writeFile(file, text.replace(R1, R2));
    expect((await rejection(store.loadTokens(R1))).message).toBe(`credential file ${JSON.stringify(file)} is damaged: it holds tokens for another resource`);

    await writeFile(file, text.replace('"kind":"tokens"', '"kind":"client"'));
    expect((await rejection(store.loadTokens(R1))).message).toBe(`credential file ${JSON.stringify(file)} is damaged: it does not hold tokens`);

    await writeFile(file, text.replace('"accessToken"', '"accessTokn"'));
    expect((await rejection(store.loadTokens(R1))).message).toBe(`credential file ${JSON.stringify(file)} is damaged: field accessToken is missing`);

    await writeFile(file, text.replace('"version":1', '"version":2'));
    expect((await rejection(store.loadTokens(R1))).message).toBe(
      `credential file ${JSON.stringify(file)} is damaged: it has format version 2, written by a newer mcp-airlock`,
    );
  });
});

describe('file store: atomic writes', () => {
  it('never lets a concurrent reader see half a record, and leaves no temp files', async () => {
    // Large records, so that a write that is not atomic would be seen half done.
    const a = sampleTokens(R1, 'a', { accessToken: 'A'.repeat(400_000) });
    const b = sampleTokens(R1, 'b', { accessToken: 'B'.repeat(400_000) });
    await store.saveTokens(a);
    let writing = true;
    const writer = (async () => {
      try {
        for (let i = 0; i < 16; i++) await store.saveTokens(i % 2 ? a : b);
      } finally {
        writing = false;
      }
    })();
    const seen = new Set<string>();
    const reader = async (): Promise<void> => {
      while (writing) seen.add((await store.loadTokens(R1))!.accessToken.slice(0, 1));
    };
    await Promise.all([writer, reader(), reader(), reader()]);
    expect([...seen].sort()).toEqual(['A', 'B']);
    expect((await readdir(dir)).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  // A real process whose write fails halfway: a file size limit (ulimit -f) makes write() fail
  // with EFBIG (Node ignores SIGXFSZ) after the first 64 blocks of a 400 kB record.
  function saveInChild(): ReturnType<typeof spawnSync> {
    const script = `import(${JSON.stringify(pathToFileURL(join(repoRoot, 'dist/store/file-store.js')).href)}).then(async ({ createFileGrantStore }) => {
      const [dir, resource] = process.argv.slice(1);
      const record = { resource, issuer: 'https://as.example.com', clientId: 'c', accessToken: 'N'.repeat(400000), tokenType: 'Bearer', obtainedAt: 1 };
      try { await createFileGrantStore({ dir }).saveTokens(record); console.log('saved'); }
      catch (error) { console.log(JSON.stringify({ code: error.code, message: error.message })); }
    });`;
    return spawnSync('sh', ['-c', 'ulimit -f 64; exec "$@"', 'sh', process.execPath, '--input-type=module', '-e', script, dir, R1], { encoding: 'utf8' });
  }

  it.runIf(posix)('reports a failed write, removes its temp file and keeps the previous record', async () => {
    await store.saveTokens(sampleTokens(R1, 'old'));
    const file = await onlyRecordFile();
    const result = saveInChild();
    expect(result.status).toBe(0);
    expect(JSON.parse(String(result.stdout))).toEqual({
      code: 'AIRLOCK_CREDENTIAL_STORE',
      message: expect.stringMatching(new RegExp(`^cannot write credential file ${escape(JSON.stringify(file))}: EFBIG: file too large`)),
    });
    expect((await readdir(dir)).filter((name) => name.endsWith('.tmp'))).toEqual([]);
    expect((await store.loadTokens(R1))?.accessToken).toBe('at-SECRET-old');
  });
});

describe('file store: secrets', () => {
  it('never puts a token or client secret into a log line or an error, whatever goes wrong', async () => {
    const records = [sampleTokens(R1, 'one'), sampleTokens(R2, 'two')];
    for (const record of records) await store.saveTokens(record);
    await store.saveClient(sampleClient('https://as.example.com', 'client'));
    const errors: unknown[] = [];
    const files = (await readdir(dir)).filter((name) => name.endsWith('.json')).map((name) => join(dir, name));
    for (const file of files) {
      if (posix) await chmod(file, 0o644);
      const text = await readFile(file, 'utf8');
      await writeFile(file, text.slice(0, -3)); // damaged, secrets still inside
    }
    await store.listTokens();
    for (const load of [() => store.loadTokens(R1), () => store.loadTokens(R2), () => store.loadClient('https://as.example.com')]) {
      errors.push(await load().catch((e: unknown) => e));
    }
    expect(errors.every((e) => e instanceof AirlockError)).toBe(true);
    expect(lines.length).toBeGreaterThanOrEqual(2);
    const visible = [...lines, ...errors.map(visibleText), ...errors.map(describeError)].join('\n');
    for (const secret of ['at-SECRET-one', 'rt-SECRET-one', 'at-SECRET-two', 'rt-SECRET-two', 'cs-SECRET-client', 'SECRET']) {
      expect(visible).not.toContain(secret);
    }
  });
});

describe('resolveCredentialsDir', () => {
  it('prefers the dir option, then MCP_AIRLOCK_CONFIG_DIR, then the platform config dir', () => {
    expect(resolveCredentialsDir({ dir: '/x/creds', env: { MCP_AIRLOCK_CONFIG_DIR: '/y' } })).toBe('/x/creds');
    expect(resolveCredentialsDir({ env: { MCP_AIRLOCK_CONFIG_DIR: '/y/conf' } })).toBe('/y/conf/credentials');
    expect(resolveCredentialsDir({ env: {} })).toBe(join(envPaths('mcp-airlock', { suffix: '' }).config, 'credentials'));
    if (process.platform === 'linux') {
      const configHome = process.env.XDG_CONFIG_HOME || join(process.env.HOME ?? '', '.config');
      expect(resolveCredentialsDir({ env: {} })).toBe(join(configHome, 'mcp-airlock', 'credentials'));
    }
  });
});
