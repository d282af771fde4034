import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AirlockError } from '../../../src/errors.js';
import { createProcessLocks, lockFileName, type LockOwner } from '../../../src/store/process-lock.js';

const contender = fileURLToPath(new URL('../../../fixtures/lock-contender.mjs', import.meta.url));

let dir: string;
const children: ChildProcess[] = [];

beforeEach(async () => {
  dir = join(await mkdtemp(join(tmpdir(), 'airlock-lock-')), 'locks');
});

afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await rm(join(dir, '..'), { recursive: true, force: true });
});

function startContender(name: string, mode: string, options: object = {}): { child: ChildProcess; exited: Promise<number | null>; held: Promise<void> } {
  const child = spawn(process.execPath, [contender, dir, name, mode, JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const held = new Promise<void>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => chunk.includes('held') && resolve());
    void exited.then((code) => reject(new Error(`contender exited (${code}) before holding the lock: ${stderr}`)));
  });
  held.catch(() => undefined);
  return { child, exited, held };
}

/** Lines "enter <pid>" / "leave <pid>": every enter must be followed by the leave of the same pid. */
function overlaps(log: string): string[] {
  const problems: string[] = [];
  let inside: string | undefined;
  for (const [index, line] of log.trim().split('\n').entries()) {
    const [what, pid] = line.split(' ');
    if (what === 'enter') {
      if (inside) problems.push(`line ${index + 1}: ${pid} entered while ${inside} was inside`);
      inside = pid;
    } else {
      if (inside !== pid) problems.push(`line ${index + 1}: ${pid} left but ${inside ?? 'nobody'} was inside`);
      inside = undefined;
    }
  }
  return problems;
}

/** A pid that certainly belongs to no running process: a child that has exited (and been reaped). */
function deadPid(): number {
  const result = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(result.stdout);
}

async function writeLock(name: string, owner: Partial<LockOwner>, ageMs = 0): Promise<string> {
  const locks = createProcessLocks({ dir });
  await locks.withLock('make-the-dir', async () => undefined);
  const path = join(dir, lockFileName(name));
  await writeFile(path, JSON.stringify({ hostname: hostname(), createdAt: Date.now() - ageMs, nonce: 'someone-else', name, ...owner }), { mode: 0o600 });
  if (ageMs) await utimes(path, new Date(Date.now() - ageMs), new Date(Date.now() - ageMs));
  return path;
}

describe('overlaps (the checker the contention test relies on)', () => {
  it('finds an interleaving and accepts a clean sequence', () => {
    expect(overlaps('enter 1\nleave 1\nenter 2\nleave 2\n')).toEqual([]);
    expect(overlaps('enter 1\nenter 2\nleave 1\nleave 2\n')).toEqual([
      'line 2: 2 entered while 1 was inside',
      'line 3: 1 left but 2 was inside',
      'line 4: 2 left but nobody was inside',
    ]);
  });
});

describe('process locks', () => {
  it('names lock files by a sha256 prefix of the lock name', () => {
    const name = 'login:https://mcp.example.com/mcp';
    expect(lockFileName(name)).toBe(`${createHash('sha256').update(name).digest('hex').slice(0, 32)}.lock`);
  });

  it('never lets two processes inside at the same time', async () => {
    const logFile = join(dir, '..', 'log.txt');
    await writeFile(logFile, '');
    const options = { rounds: 12, holdMs: 4, logFile, startAt: Date.now() + 400 };
    const runs = [startContender('shared', 'rounds', options), startContender('shared', 'rounds', options), startContender('shared', 'rounds', options)];
    expect(await Promise.all(runs.map((run) => run.exited))).toEqual([0, 0, 0]);
    const log = await readFile(logFile, 'utf8');
    expect(log.trim().split('\n')).toHaveLength(3 * 12 * 2);
    expect(new Set(log.trim().split('\n').map((line) => line.split(' ')[1])).size).toBe(3);
    expect(overlaps(log)).toEqual([]);
    expect(await readdir(dir)).toEqual([]); // every lock released, no guard files left
  });

  it('serialises callers within one process too, and releases when fn throws', async () => {
    const locks = createProcessLocks({ dir });
    const events: string[] = [];
    const run = (id: string, fail = false) =>
      locks.withLock('same', async () => {
        events.push(`enter ${id}`);
        await new Promise((resolve) => setTimeout(resolve, 15));
        events.push(`leave ${id}`);
        if (fail) throw new Error(`fn ${id} failed`);
        return id;
      });
    const results = await Promise.allSettled([run('a', true), run('b'), run('c')]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'fulfilled']);
    expect(overlaps(events.join('\n'))).toEqual([]);
    expect(await readdir(dir)).toEqual([]);
  });

  it('writes pid, host name and time into a 0600 lock file while held', async () => {
    const locks = createProcessLocks({ dir });
    const before = Date.now();
    await locks.withLock('inspect', async () => {
      const path = join(dir, lockFileName('inspect'));
      const owner = JSON.parse(await readFile(path, 'utf8')) as LockOwner;
      expect(owner).toMatchObject({ pid: process.pid, hostname: hostname(), name: 'inspect' });
      expect(owner.createdAt).toBeGreaterThanOrEqual(before);
      expect(owner.nonce).toMatch(/^[0-9a-f]{24}$/);
      if (process.platform !== 'win32') {
        expect((await stat(path)).mode & 0o777).toBe(0o600);
        expect((await stat(dir)).mode & 0o777).toBe(0o700);
      }
    });
  });

  it('takes over a lock whose process is gone', async () => {
    const path = await writeLock('stale', { pid: deadPid() });
    const started = Date.now();
    const result = await createProcessLocks({ dir }).withLock(
      'stale',
      async () => (JSON.parse(await readFile(path, 'utf8')) as LockOwner).pid,
      2_000,
    );
    expect(result).toBe(process.pid);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(existsSync(path)).toBe(false);
  });

  it('waits while another waiter is breaking a stale lock, and removes a guard left by a crash', async () => {
    const path = await writeLock('guarded', { pid: deadPid() });
    const guard = `${path}.break`;
    await writeFile(guard, '', { mode: 0o600 });
    const locks = createProcessLocks({ dir });
    const error = await locks.withLock('guarded', async () => 'early', 200).catch((e: unknown) => e);
    expect((error as AirlockError).code).toBe('AIRLOCK_LOCK_TIMEOUT');
    expect(existsSync(path)).toBe(true);
    // A guard is held for a few file operations: one 10 s old was left by a crash.
    await utimes(guard, new Date(Date.now() - 10_000), new Date(Date.now() - 10_000));
    await expect(locks.withLock('guarded', async () => 'mine', 1_000)).resolves.toBe('mine');
    expect(await readdir(dir)).toEqual([]);
  });

  it('takes over the lock of a process killed while holding it', async () => {
    const holder = startContender('crash', 'hold');
    await holder.held;
    holder.child.kill('SIGKILL');
    await holder.exited;
    const path = join(dir, lockFileName('crash'));
    expect(existsSync(path)).toBe(true); // SIGKILL: no chance to clean up
    await expect(createProcessLocks({ dir }).withLock('crash', async () => 'mine', 2_000)).resolves.toBe('mine');
  });

  it('takes over a lock not refreshed for staleMs even when its pid runs (another host, a reused pid)', async () => {
    await writeLock('old', { pid: process.ppid, hostname: 'elsewhere' }, 5_000);
    await expect(createProcessLocks({ dir, staleMs: 2_000 }).withLock('old', async () => 'mine', 1_000)).resolves.toBe('mine');
  });

  it('keeps a held lock fresh, so a long holder is not taken for stale', async () => {
    // Held for three times staleMs; without the refresh the waiter would break it after staleMs.
    const locks = createProcessLocks({ dir, staleMs: 150 });
    let waiterGotIt = false;
    const holder = locks.withLock('long', () => new Promise((resolve) => setTimeout(resolve, 450)));
    await new Promise((resolve) => setTimeout(resolve, 30));
    const waiter = createProcessLocks({ dir, staleMs: 150 })
      .withLock('long', async () => (waiterGotIt = true), 350)
      .catch((error: unknown) => error);
    expect(await waiter).toBeInstanceOf(AirlockError);
    expect(waiterGotIt).toBe(false);
    await holder;
  });

  it('releases the lock when the process exits while holding it', async () => {
    const run = startContender('exiting', 'exit');
    await run.held;
    expect(await run.exited).toBe(0);
    expect(existsSync(join(dir, lockFileName('exiting')))).toBe(false);
  });

  it('times out with AIRLOCK_LOCK_TIMEOUT naming the holder while a live process holds the lock', async () => {
    const holder = startContender('busy', 'hold');
    await holder.held;
    const started = Date.now();
    const error = await createProcessLocks({ dir })
      .withLock('busy', async () => 'never', 300)
      .catch((e: unknown) => e);
    const waited = Date.now() - started;
    expect(error).toBeInstanceOf(AirlockError);
    const airlockError = error as AirlockError;
    expect(airlockError.code).toBe('AIRLOCK_LOCK_TIMEOUT');
    expect(airlockError.exitCode).toBe(5);
    expect(airlockError.message).toMatch(
      new RegExp(`^timed out after 300 ms waiting for the lock "busy", held by process ${holder.child.pid} on ${JSON.stringify(hostname())} for \\d+ s$`),
    );
    expect(airlockError.hint).toBe(
      `Another mcp-airlock is logging in or refreshing tokens for the same server: let it finish or stop it. If no such process runs, remove ${JSON.stringify(join(dir, lockFileName('busy')))}.`,
    );
    expect(waited).toBeGreaterThanOrEqual(290);
    expect(waited).toBeLessThan(1_500);
  });
});
