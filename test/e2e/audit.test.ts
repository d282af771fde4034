/**
 * The audit log through the real CLI: what it records (denials included), that `audit verify`
 * catches a tampered file, that a SIGTERM mid-stream loses no record, that secrets never reach
 * it, --audit-sync, the default location and its modes, rotation, and the audit commands.
 */
import { spawnSync } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createHash, createHmac } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain JS fixture
import { startFixtureHttpServer } from '../../fixtures/lib/http-fixture.mjs';
import type { AuditRecord } from '../../src/audit/audit-record.js';
import { airlockBin, repoRoot, startAirlock, stdioFixture, waitFor, type AirlockProcess } from '../helpers/airlock-process.js';
import { LineClient } from '../helpers/line-client.js';

const running: AirlockProcess[] = [];
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'airlock-audit-e2e-'));
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let counter = 0;
const freshFile = (): string => join(dir, `audit-${++counter}`, 'audit.jsonl');

function records(file: string): AuditRecord[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditRecord);
}

/**
 * What someone who can write the log but has no key can do: keep `kept` (keyed lines) as they are
 * and chain `events` on after them in format 1, plain SHA-256 from the last kept hash. With no
 * kept lines, each event's own chain starts from the all-zero hash.
 */
function continueUnkeyed(kept: string[], events: AuditRecord[]): string {
  const heads = new Map<string, { seq: number; hash: string }>();
  for (const line of kept) {
    const r = JSON.parse(line) as AuditRecord;
    heads.set(r.chain, { seq: r.seq, hash: r.hash });
  }
  const forged = events.map((record) => {
    const { v: _v, key: _k, chain, seq: _s, prev: _p, hash: _h, ...event } = record;
    const last = heads.get(chain);
    const seq = last ? last.seq + 1 : 0;
    const prev = last ? last.hash : '0'.repeat(64);
    const body = `{"v":1,"chain":"${chain}","seq":${seq},"prev":"${prev}",${JSON.stringify(event).slice(1)}`;
    const hash = createHash('sha256').update(`${prev}\n${body}`).digest('hex');
    heads.set(chain, { seq, hash });
    return `${body.slice(0, -1)},"hash":"${hash}"}`;
  });
  return [...kept, ...forged].map((line) => `${line}\n`).join('');
}

/** Run the CLI to completion (the audit subcommands). */
function cli(args: string[], env: NodeJS.ProcessEnv = process.env): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [airlockBin, ...args], { cwd: repoRoot, env, encoding: 'utf8', timeout: 20_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function run(args: string[], serverArgs: string[] = [], env?: NodeJS.ProcessEnv): { proc: AirlockProcess; client: LineClient } {
  const proc = startAirlock(['run', ...args, '--', process.execPath, stdioFixture, ...serverArgs], { env });
  running.push(proc);
  return { proc, client: new LineClient(proc) };
}

/** A session with a few calls, one denied; returns the audit file once airlock has exited. */
async function recordedSession(extra: string[] = []): Promise<string> {
  const file = freshFile();
  const { proc, client } = run(['--audit-file', file, '--deny-tool', 'add', ...extra]);
  await client.handshake();
  await client.call(1, 'echo', { text: 'one' });
  await client.call(2, 'add', { a: 1, b: 2 });
  await client.call(3, 'echo', { text: 'three' });
  client.endInput();
  expect(await proc.exited).toBe(0);
  return file;
}

describe('audit log', () => {
  it('records every call with its outcome, a denied one as denied, in a chain that verifies', async () => {
    const file = await recordedSession();
    const calls = records(file).filter((r) => r.method === 'tools/call');
    expect(calls.map((r) => [r.id, r.name, r.outcome])).toEqual([
      [1, 'echo', 'ok'],
      [2, 'add', 'denied'],
      [3, 'echo', 'ok'],
    ]);
    expect(calls[1]).toMatchObject({ errorCode: -32602, airlockCode: 'AIRLOCK_POLICY_DENIED', direction: 'client->server', transport: 'stdio->stdio' });
    const first = records(file)[0]!;
    expect(first.seq).toBe(0);
    expect(first.prev).toBe('0'.repeat(64));
    expect(first.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(first.server).toBe(`${process.execPath} ${stdioFixture}`);
    expect(first.airlock).toMatch(/^\d+\.\d+\.\d+/);
    const verify = cli(['audit', 'verify', '--audit-file', file]);
    expect(verify.stdout).toBe(`ok: ${records(file).length} records in 1 chains across 1 file, every chain intact\n`);
    expect(verify.code).toBe(0);
  });

  it('audit verify catches a changed record, a removed record and a cut-short file (exit 7)', async () => {
    const file = await recordedSession();
    const original = readFileSync(file, 'utf8');
    const lines = original.split('\n').filter(Boolean);
    const denied = lines.findIndex((l) => l.includes('"outcome":"denied"'));
    expect(denied).toBeGreaterThan(0);

    // Someone hides the denial: the record now says ok.
    const changed = [...lines];
    changed[denied] = changed[denied]!.replace('"outcome":"denied"', '"outcome":"ok"');
    writeFileSync(file, `${changed.join('\n')}\n`);
    let verify = cli(['audit', 'verify', '--audit-file', file]);
    expect(verify.code).toBe(7);
    const seq = (JSON.parse(lines[denied]!) as AuditRecord).seq;
    const chain = (JSON.parse(lines[denied]!) as AuditRecord).chain;
    expect(verify.stdout).toContain(`${file}:${denied + 1}: record ${seq} of chain ${chain} was changed: its hash does not match its contents`);

    // Someone removes it instead.
    writeFileSync(file, `${lines.filter((_, i) => i !== denied).join('\n')}\n`);
    verify = cli(['audit', 'verify', '--audit-file', file]);
    expect(verify.code).toBe(7);
    expect(verify.stdout).toContain(`records ${seq} to ${seq} are missing before record ${seq + 1}`);

    // A write cut short at the end.
    writeFileSync(file, `${lines.join('\n')}\n${lines[0]!.slice(0, 40)}`);
    verify = cli(['audit', 'verify', '--audit-file', file, '--json']);
    expect(verify.code).toBe(7);
    expect(JSON.parse(verify.stdout).problems).toEqual([{ file, line: lines.length + 1, message: `line ${lines.length + 1} is an incomplete record (the write was cut short)` }]);

    // Restored, it verifies again: the checks above failed for the edits, not for the file.
    writeFileSync(file, original);
    expect(cli(['audit', 'verify', '--audit-file', file]).code).toBe(0);
  });

  it('loses nothing on SIGTERM mid-stream: every request that reached airlock has a record', async () => {
    const file = freshFile();
    const { proc, client } = run(['--audit-file', file]);
    await client.handshake();
    const ids: number[] = [];
    for (let id = 1; id <= 40; id++) {
      ids.push(id);
      // Half finish at once, half are still running when the signal comes.
      if (id % 2 === 0) client.send({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'slow', arguments: { steps: 1000, delayMs: 20 }, _meta: { progressToken: `p${id}` } } });
      else client.send({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo', arguments: { text: `n${id}` } } });
    }
    await client.response(39);
    await client.waitFor((m) => m.method === 'notifications/progress', 'progress from the slow calls');
    expect(await proc.stop('SIGTERM')).toBe(143);
    const calls = records(file).filter((r) => r.method === 'tools/call');
    expect(calls.map((r) => r.id).sort((a, b) => Number(a) - Number(b))).toEqual(ids);
    for (const r of calls) expect(r.outcome).toBe(Number(r.id) % 2 === 0 ? 'unanswered' : 'ok');
    expect(calls.find((r) => r.outcome === 'unanswered')!.detail).toBe('airlock: mcp-airlock was asked to stop');
    // Progress notifications delivered before the signal are there too, and the chain is whole.
    expect(records(file).some((r) => r.method === 'notifications/progress')).toBe(true);
    expect(cli(['audit', 'verify', '--audit-file', file]).code).toBe(0);
  });

  it('never records secrets: arguments in full mode, headers, the command line, error text', async () => {
    const fixture = await startFixtureHttpServer({ port: 0 });
    try {
      const file = freshFile();
      const secrets = {
        header: 'hdr-SECRET-4242-abcdefghijklmnop',
        apiKey: 'sk-live-0123456789abcdefghijklmnop',
        github: 'ghp_0123456789abcdefghijklmnopqrstuvwxyz',
        jwt: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEifQ.c2lnbmF0dXJlLXNpZw',
        password: 'hunter2-correct-horse',
      };
      const proc = startAirlock(['connect', `${fixture.url}/mcp`, '--audit-file', file, '--audit-args', 'full', '--header', 'Authorization: Bearer ${HDR}'], {
        env: { ...process.env, HDR: secrets.header },
      });
      running.push(proc);
      const client = new LineClient(proc);
      await client.handshake();
      await client.call(1, 'echo', { text: `key ${secrets.apiKey} and ${secrets.github} and Bearer ${secrets.jwt}`, api_key: secrets.apiKey, nested: { password: secrets.password } });
      await client.call(2, 'headers', {});
      client.endInput();
      expect(await proc.exited).toBe(0);
      const text = readFileSync(file, 'utf8');
      const call = records(file).find((r) => r.id === 1)!;
      expect(call.args).toEqual({ text: 'key [REDACTED] and [REDACTED] and [REDACTED]', api_key: '[REDACTED]', nested: { password: '[REDACTED]' } });
      const shown = cli(['audit', 'show', '--audit-file', file, '--json']).stdout + cli(['audit', 'show', '--audit-file', file]).stdout;
      for (const secret of Object.values(secrets)) {
        expect(text).not.toContain(secret);
        expect(proc.stderr()).not.toContain(secret);
        expect(shown).not.toContain(secret);
      }

      // A secret on the server's command line (the worst place for one, but people do it).
      const runFile = freshFile();
      const { proc: runProc, client: runClient } = run(['--audit-file', runFile, '--log-level', 'debug'], ['--api-key', secrets.apiKey, `--token=${secrets.password}`]);
      await runClient.handshake();
      runClient.endInput();
      expect(await runProc.exited).toBe(0);
      expect(records(runFile)[0]!.server).toBe(`${process.execPath} ${stdioFixture} --api-key [REDACTED] --token=[REDACTED]`);
      for (const secret of [secrets.apiKey, secrets.password]) {
        expect(readFileSync(runFile, 'utf8')).not.toContain(secret);
        expect(runProc.stderr()).not.toContain(secret);
      }
    } finally {
      await fixture.close();
    }
  });

  it('records the principal a bearer JWT header claims (unverified), never the token; audit show --principal finds it', async () => {
    const fixture = await startFixtureHttpServer({ port: 0 });
    try {
      const file = freshFile();
      const b64 = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
      const jwt = `${b64({ alg: 'RS256', typ: 'at+jwt' })}.${b64({ iss: 'https://idp.example', sub: 'user-7', client_id: 'cli-app', scope: 'mcp:read mcp:write' })}.c2lnbmF0dXJl`;
      const proc = startAirlock(['connect', `${fixture.url}/mcp`, '--audit-file', file, '--header', 'Authorization: Bearer ${TOKEN}'], { env: { ...process.env, TOKEN: jwt } });
      running.push(proc);
      const client = new LineClient(proc);
      await client.handshake();
      await client.call(1, 'echo', { text: 'who am i' });
      client.endInput();
      expect(await proc.exited).toBe(0);
      const call = records(file).find((r) => r.id === 1)!;
      expect(call.principal).toEqual({ issuer: 'https://idp.example', subject: 'user-7', clientId: 'cli-app', scopes: ['mcp:read', 'mcp:write'], verified: false });
      expect(readFileSync(file, 'utf8')).not.toContain(jwt.split('.')[1]);
      const found = cli(['audit', 'show', '--audit-file', file, '--principal', 'user-7', '--method', 'tools/call', '--json']).stdout.trim().split('\n');
      expect(found.map((l) => (JSON.parse(l) as AuditRecord).id)).toEqual([1]);
      expect(cli(['audit', 'show', '--audit-file', file, '--principal', 'someone-else']).stderr).toBe('mcp-airlock: no records match\n');
    } finally {
      await fixture.close();
    }
  });

  it('--audit-sync: the record is in the file before the client sees the answer', async () => {
    const file = freshFile();
    const { proc, client } = run(['--audit-file', file, '--audit-sync']);
    await client.handshake();
    for (let id = 1; id <= 5; id++) {
      client.send({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo', arguments: { text: `s${id}` } } });
      // Read the file the moment the answer is on stdout, before anything else can flush it.
      const seenAtAnswer = await new Promise<AuditRecord[]>((resolve) => {
        const onData = (): void => {
          if (client.messages().some((m) => m.id === id)) {
            proc.child.stdout!.off('data', onData);
            resolve(records(file));
          }
        };
        proc.child.stdout!.on('data', onData);
        onData();
      });
      expect(seenAtAnswer.filter((r) => r.id === id && r.method === 'tools/call')).toHaveLength(1);
    }
    client.endInput();
    expect(await proc.exited).toBe(0);
  });

  it('writes to the platform state directory by default, 0700 and 0600, and `audit path` says where', async () => {
    const stateHome = join(dir, 'xdg-state');
    const env = { ...process.env, XDG_STATE_HOME: stateHome };
    const { proc, client } = run([], [], env);
    await client.handshake();
    client.endInput();
    expect(await proc.exited).toBe(0);
    const expected = join(stateHome, 'mcp-airlock', 'audit.jsonl');
    expect(cli(['audit', 'path'], env).stdout).toBe(`${expected}\n`);
    expect(records(expected).map((r) => r.method)).toEqual(['initialize', 'notifications/initialized']);
    expect(statSync(join(stateHome, 'mcp-airlock')).mode & 0o777).toBe(0o700);
    expect(statSync(expected).mode & 0o777).toBe(0o600);
  });

  it('--no-audit writes nothing; an unwritable --audit-file stops airlock before any traffic, with a hint', async () => {
    const stateHome = join(dir, 'xdg-none');
    const { proc, client } = run(['--no-audit'], [], { ...process.env, XDG_STATE_HOME: stateHome });
    await client.handshake();
    client.endInput();
    expect(await proc.exited).toBe(0);
    expect(existsSync(join(stateHome, 'mcp-airlock'))).toBe(false);

    const blocker = join(dir, 'a-regular-file');
    writeFileSync(blocker, '');
    const bad = run(['--audit-file', join(blocker, 'audit.jsonl')]);
    expect(await bad.proc.exited).toBe(3);
    expect(bad.proc.stdout()).toBe('');
    expect(bad.proc.stderr()).toContain(`mcp-airlock: error: cannot open the audit log "${join(blocker, 'audit.jsonl')}": `);
    expect(bad.proc.stderr()).toContain('mcp-airlock: hint: Choose a writable location with --audit-file <path>, or switch the audit log off with --no-audit.');
  });

  // Issue 20: an audit file another user pre-created (world-writable) was written to as it was.
  it('refuses an --audit-file another user owns before any traffic, with a hint', async () => {
    let file = freshFile();
    if (process.getuid!() === 0) {
      mkdirSync(join(file, '..'), { recursive: true, mode: 0o700 });
      writeFileSync(file, '', { mode: 0o666 });
      chownSync(file, 65534, 65534);
    } else {
      file = '/dev/null'; // owned by root, mode 0666
    }
    const { proc } = run(['--audit-file', file]);
    expect(await proc.exited).toBe(3);
    expect(proc.stdout()).toBe('');
    expect(proc.stderr()).toContain(`mcp-airlock: error: the audit log ${JSON.stringify(file)} is owned by uid ${statSync(file).uid}, not by the current user (uid ${process.getuid!()}): its owner could change its records\n`);
    expect(proc.stderr()).toContain('mcp-airlock: hint: Check who created it and what is in it (mcp-airlock audit verify --audit-file <path>); then make it yours (chown) or move it away, or choose another --audit-file.');
    if (file !== '/dev/null') expect(readFileSync(file, 'utf8')).toBe('');
  });

  it('rotates by size and verifies across the files, the chain carried over', async () => {
    const file = freshFile();
    const { proc, client } = run(['--audit-file', file, '--audit-max-size', '2kb']);
    await client.handshake();
    for (let id = 1; id <= 30; id++) await client.call(id, 'echo', { text: `rotating ${id}` });
    client.endInput();
    expect(await proc.exited).toBe(0);
    const files = readdirSync(join(file, '..'));
    expect(files.length).toBeGreaterThan(3);
    expect(files.every((f) => f === 'audit.jsonl' || /^audit-\d{8}T\d{9}Z-\d+-\d{4}\.jsonl$/.test(f))).toBe(true);
    const verify = cli(['audit', 'verify', '--audit-file', file]);
    expect(verify.stdout).toMatch(new RegExp(`^ok: \\d+ records in 1 chains across ${files.length} files, every chain intact\\n$`));
    // One rotated file removed from the middle: its records are missing from the chain.
    const rotated = files.filter((f) => f !== 'audit.jsonl').sort();
    rmSync(join(file, '..', rotated[1]!));
    const broken = cli(['audit', 'verify', '--audit-file', file]);
    expect(broken.code).toBe(7);
    expect(broken.stdout).toMatch(/records \d+ to \d+ are missing before record \d+/);
  });

  it('audit show filters and prints a table or JSON; audit tail -n and -f', async () => {
    const file = await recordedSession();
    const denied = cli(['audit', 'show', '--audit-file', file, '--outcome', 'denied', '--json']);
    expect(denied.code).toBe(0);
    expect(denied.stdout.trim().split('\n').map((l) => (JSON.parse(l) as AuditRecord).name)).toEqual(['add']);
    const table = cli(['audit', 'show', '--audit-file', file, '--tool', 'ech*', '--since', '1h']).stdout.split('\n');
    expect(table[0]).toMatch(/^TIME\s+SESSION\s+DIR\s+METHOD\s+NAME\s+OUTCOME\s+MS\s+PRINCIPAL\s+SERVER$/);
    expect(table.filter((l) => / tools\/call +echo +ok /.test(l))).toHaveLength(2);
    expect(cli(['audit', 'show', '--audit-file', file, '--since', '2099-01-01']).stderr).toBe('mcp-airlock: no records match\n');
    const badOutcome = cli(['audit', 'show', '--audit-file', file, '--outcome', 'nope']);
    expect(badOutcome.code).toBe(2);
    expect(badOutcome.stderr).toContain('--outcome: unknown outcome "nope"');

    const tail = cli(['audit', 'tail', '--audit-file', file, '-n', '2', '--json']);
    expect(tail.stdout.trim().split('\n').map((l) => (JSON.parse(l) as AuditRecord).id)).toEqual([2, 3]);

    // tail -f prints a record written after it started.
    const follower = startAirlock(['audit', 'tail', '-f', '-n', '1', '--audit-file', file], { stdin: 'ignore' });
    running.push(follower);
    await waitFor(() => follower.stdout().includes('tools/call'), 'the first tail output');
    const { proc, client } = run(['--audit-file', file]);
    await client.handshake();
    await client.call(7, 'echo', { text: 'followed' });
    client.endInput();
    await proc.exited;
    await waitFor(() => follower.stdout().split('\n').some((l) => / tools\/call {2}echo {2}ok /.test(l) && l.includes('C→S')) && follower.stdout().includes('initialize'), 'tail -f to print the new records');
    expect(await follower.stop('SIGINT')).toBe(0);

    const missing = cli(['audit', 'verify', '--audit-file', join(dir, 'nowhere', 'audit.jsonl')]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain(`mcp-airlock: error: no audit log at "${join(dir, 'nowhere', 'audit.jsonl')}"`);
  });

  // Issue 14 #1: the review's script (drop a record, rename delete_file to read_file, recompute the
  // plain SHA-256 chain) passed `audit verify` ("every chain intact"). Under the installation's key it fails.
  it('a forged rewrite of a real log that recomputes the chain fails verify (exit 7); a seal finds records cut from the end', async () => {
    const file = await recordedSession();
    const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    expect((JSON.parse(lines[0]!) as AuditRecord).v).toBe(2);
    const prevOf = new Map<string, { seq: number; hash: string }>();
    const forged = lines
      .filter((line) => !line.includes('"outcome":"denied"'))
      .map((line) => {
        const { v, key, chain, seq: _s, prev: _p, hash: _h, ...event } = JSON.parse(line.replaceAll('"echo"', '"read_file"')) as AuditRecord;
        const last = prevOf.get(chain);
        const seq = last ? last.seq + 1 : 0;
        const prev = last ? last.hash : '0'.repeat(64);
        const body = `{"v":${v},"key":"${key}","chain":"${chain}","seq":${seq},"prev":"${prev}",${JSON.stringify(event).slice(1)}`;
        const hash = createHash('sha256').update(`${prev}\n${body}`).digest('hex');
        prevOf.set(chain, { seq, hash });
        return `${body.slice(0, -1)},"hash":"${hash}"}`;
      });
    const original = readFileSync(file, 'utf8');
    writeFileSync(file, `${forged.join('\n')}\n`);
    const verify = cli(['audit', 'verify', '--audit-file', file]);
    expect(verify.code).toBe(7);
    expect(verify.stdout).toMatch(/^BROKEN: /);
    expect(verify.stdout).toContain('was changed: its hash does not match its contents');

    // A seal kept elsewhere: cutting the last records leaves an intact chain, but not the sealed head.
    writeFileSync(file, original);
    const sealFile = join(dir, `seal-${counter}.jsonl`);
    const seal = cli(['audit', 'seal', '--audit-file', file, '--append-to', sealFile]);
    expect(seal.stdout).toBe(`sealed 1 chain (${lines.length} records) into ${sealFile}\n`);
    expect(seal.code).toBe(0);
    expect(cli(['audit', 'verify', '--audit-file', file, '--seal', sealFile]).code).toBe(0);
    writeFileSync(file, `${lines.slice(0, -2).join('\n')}\n`);
    expect(cli(['audit', 'verify', '--audit-file', file]).code).toBe(0);
    const sealed = cli(['audit', 'verify', '--audit-file', file, '--seal', sealFile]);
    expect(sealed.code).toBe(7);
    expect(sealed.stdout).toContain(`was sealed at record ${lines.length - 1} but ends at record ${lines.length - 3}: records were removed from its end`);
  });

  // Issue 20 #1: verify took each record's hash algorithm from the record's own `v`, so a keyed chain
  // cut at any record and continued in plain SHA-256 (format 1) verified, with --require-keyed and
  // --seal too. The attacker below has write access to the log and no key.
  describe('a keyed chain continued in format 1 (no key needed) is refused at the first unkeyed record', () => {
    /** A real log, and what verify must say about a forged record on `line`. */
    async function keyedLog(): Promise<{ file: string; original: string; lines: string[]; parsed: AuditRecord[]; refusal: (line: number) => string; verify: (...flags: string[]) => { code: number; stdout: string } }> {
      const file = await recordedSession();
      const original = readFileSync(file, 'utf8');
      const lines = original.split('\n').filter(Boolean);
      const parsed = lines.map((line) => JSON.parse(line) as AuditRecord);
      const { chain, key: keyId } = parsed[0]!;
      expect(parsed.every((r) => r.v === 2 && r.key === keyId && r.chain === chain)).toBe(true);
      const refusal = (line: number): string =>
        `${file}:${line}: record ${line - 1} of chain ${chain} is unkeyed (format 1) but its chain began keyed (audit key ${JSON.stringify(keyId)}) at record 0: records were rewritten or added without the key`;
      const verify = (...flags: string[]): { code: number; stdout: string } => cli(['audit', 'verify', '--audit-file', file, ...flags]);
      return { file, original, lines, parsed, refusal, verify };
    }
    /** Dated back before any key could exist, so only the chain's own format can give a record away. */
    const backdated = (r: AuditRecord): AuditRecord => ({ ...r, time: '2020-01-01T00:00:00.000Z' });

    it('a call deleted: the records before it kept, the rest re-chained (with and without --require-keyed)', async () => {
      const { file, original, lines, parsed, refusal, verify } = await keyedLog();
      const denied = parsed.findIndex((r) => r.outcome === 'denied');
      writeFileSync(file, continueUnkeyed(lines.slice(0, denied), parsed.slice(denied + 1).map(backdated)));
      for (const flags of [[], ['--require-keyed']]) {
        const result = verify(...flags);
        expect(result.stdout).toBe(`BROKEN: ${lines.length - 1} records in 1 chains across 1 file; 1 problem:\n  ${refusal(denied + 1)}\n`);
        expect(result.code).toBe(7);
      }
      writeFileSync(file, original);
      expect(verify('--require-keyed').code).toBe(0);
    });

    it('a tool renamed: echo becomes read_file, everything from it on re-chained', async () => {
      const { file, lines, parsed, refusal, verify } = await keyedLog();
      const third = parsed.findIndex((r) => r.method === 'tools/call' && r.id === 3);
      writeFileSync(file, continueUnkeyed(lines.slice(0, third), parsed.slice(third).map((r) => (r.name === 'echo' ? { ...r, name: 'read_file' } : r))));
      for (const flags of [[], ['--require-keyed']]) {
        const result = verify(...flags);
        expect(result.stdout).toContain(refusal(third + 1));
        expect(result.code).toBe(7);
      }
    });

    it('fabricated calls appended after a sealed head (with and without --require-keyed), or as a chain of their own', async () => {
      const { file, original, lines, parsed, refusal, verify } = await keyedLog();
      const sealFile = join(dir, `seal-forged-${counter}.jsonl`);
      expect(cli(['audit', 'seal', '--audit-file', file, '--append-to', sealFile]).code).toBe(0);
      const fabricated = [4, 5].map((id) => ({ ...parsed.find((r) => r.method === 'tools/call')!, id, name: 'delete_file', args: undefined }));
      writeFileSync(file, continueUnkeyed(lines, fabricated));
      for (const flags of [['--seal', sealFile], ['--seal', sealFile, '--require-keyed']]) {
        const result = verify(...flags);
        expect(result.stdout).toBe(`BROKEN: ${lines.length + 2} records in 1 chains across 1 file; 1 problem:\n  ${refusal(lines.length + 1)}\n`);
        expect(result.code).toBe(7);
      }
      // As a chain of their own after the keyed one, dated before the key.
      writeFileSync(file, `${original}${continueUnkeyed([], fabricated.map((r) => ({ ...backdated(r), chain: 'f00df00df00df00d' })))}`);
      const separate = verify('--seal', sealFile);
      expect(separate.stdout).toContain(`${file}:${lines.length + 1}: record 0 of chain f00df00df00df00d is unkeyed (format 1) but comes after keyed records: a rewrite without the key?`);
      expect(separate.code).toBe(7);
      // Restored, the log verifies with every flag: the refusals were for the forgeries.
      writeFileSync(file, original);
      expect(verify('--seal', sealFile, '--require-keyed').code).toBe(0);
    });
  });

  // Issue 14 #5: an unsalted SHA-256 digest of {"code":"123456"} gives the code back in half a second.
  it('--audit-args digest is keyed: the digest is not the SHA-256 of the arguments', async () => {
    const file = await recordedSession();
    const echo = records(file).find((r) => r.method === 'tools/call' && r.name === 'echo')!;
    const plain = createHash('sha256').update(JSON.stringify({ text: 'one' })).digest('hex');
    expect(echo.args).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    expect(echo.args).not.toContain(plain);
    expect(echo.args).not.toBe(`hmac-sha256:${createHmac('sha256', '').update(JSON.stringify({ text: 'one' })).digest('hex')}`);
  });
});
