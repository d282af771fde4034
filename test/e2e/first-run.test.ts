/**
 * Issue 15, what a first run shows: no D-Bus noise without a keychain (one short line, once, when
 * something is stored), output into a closed pipe ends quietly, and a keychain that answers slowly
 * does not hold traffic back (the audit key loads beside it;
 * see audit-options.ts; tested in test/unit/audit/audit-keyed-chain.test.ts, not here).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { airlockBin, repoRoot, startAirlock, stdioFixture } from '../helpers/airlock-process.js';
import { noBusEnv, useTempRoot } from '../helpers/keychain-sessions.js';
import { initializeRequest } from '../helpers/line-client.js';

const root = useTempRoot('airlock-first-run-');

/** A home of its own: credentials, audit key and audit log in the temp root, no Secret Service. */
function noKeychainEnv(): NodeJS.ProcessEnv {
  return { ...noBusEnv(root()), MCP_AIRLOCK_CONFIG_DIR: join(root(), 'config'), XDG_STATE_HOME: join(root(), 'state'), HOME: root() };
}

/** `run` one initialize through the stdio fixture; resolves with stderr and the exit code. */
async function runOnce(env: NodeJS.ProcessEnv, extra: string[] = []): Promise<{ stderr: string; stdout: string; code: number }> {
  const airlock = startAirlock(['run', ...extra, '--', process.execPath, stdioFixture], { env });
  airlock.child.stdin!.write(`${JSON.stringify(initializeRequest(1))}\n`);
  for (let i = 0; i < 200 && !airlock.stdout().includes('"id":1'); i++) await new Promise((resolve) => setTimeout(resolve, 25));
  airlock.child.stdin!.end();
  const code = await airlock.exited;
  return { stderr: airlock.stderr(), stdout: airlock.stdout(), code };
}

describe('without a keychain', () => {
  it('status and logout say nothing on stderr: nothing is stored', async () => {
    for (const args of [['status'], ['status', '--json'], ['logout', '--all']]) {
      const airlock = startAirlock(args, { env: noKeychainEnv() });
      // Silent and successful: a command that failed without a word would pass a stderr check alone.
      expect(await airlock.exited, args.join(' ')).toBe(0);
      expect(airlock.stderr(), args.join(' ')).toBe('');
    }
  });

  it('the first run says once, in one short line, where the audit key went; the next run says nothing', async () => {
    const first = await runOnce(noKeychainEnv());
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('"id":1');
    const lines = first.stderr.split('\n').filter(Boolean);
    expect(lines).toEqual([
      `[mcp-airlock] warn: keychain unavailable (no Secret Service on the D-Bus session bus): keeping the audit key in "${join(root(), 'config', 'credentials', 'audit-key')}" (0600). Use --storage file to say so.`,
    ]);
    expect(first.stderr).not.toMatch(/dbus|platform failure|autolaunch/i);
    const second = await runOnce(noKeychainEnv());
    expect(second.code).toBe(0);
    expect(second.stderr).toBe('');
    // Both runs' records are in the log, sealed with the one key from the file.
    const records = readFileSync(join(root(), 'state', 'mcp-airlock', 'audit.jsonl'), 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as { v: number; key?: string; method: string });
    expect(records.map((record) => [record.v, record.method])).toEqual([[2, 'initialize'], [2, 'initialize']]);
    expect(new Set(records.map((record) => record.key)).size).toBe(1);
  });

  it('--storage keychain stops the command with the keychain error (the key now loads beside the traffic)', async () => {
    const airlock = startAirlock(['connect', 'http://127.0.0.1:9/mcp', '--storage', 'keychain'], { env: noKeychainEnv() });
    const code = await airlock.exited;
    expect(code).toBe(5);
    expect(airlock.stderr()).toMatch(/^mcp-airlock: error: keychain unavailable for the audit key \(no-secret-service\): .+\nmcp-airlock: hint: Unlock or start your keychain, or use --storage file to keep the audit key in a 0600 file\.\n$/);
    expect(airlock.stdout()).toBe('');
  });
});

describe('output into a pipe that closes early', () => {
  it('`audit show --json | head -1` ends quietly with exit 0', async () => {
    const file = join(root(), 'audit.jsonl');
    mkdirSync(root(), { recursive: true });
    // Enough records that the writes go on after the reader has gone.
    const record = (seq: number): string =>
      JSON.stringify({ v: 1, chain: 'aa', seq, prev: 'x', time: '2026-11-30T10:00:00.000Z', session: 's', server: 'srv', transport: 'stdio->stdio', direction: 'client->server', kind: 'request', method: 'tools/call', name: `tool${seq}`, outcome: 'ok', bytesIn: 1, bytesOut: 1, principal: null, airlock: '0', hash: 'h' });
    writeFileSync(file, `${Array.from({ length: 20_000 }, (_, i) => record(i)).join('\n')}\n`);
    for (const args of [['--json'], []]) {
      const child = spawn(process.execPath, [airlockBin, 'audit', 'show', '--audit-file', file, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      child.stdout.once('data', () => child.stdout.destroy());
      const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
      expect(stderr, args.join(' ')).toBe('');
      expect(code, args.join(' ')).toBe(0);
    }
  });
});
