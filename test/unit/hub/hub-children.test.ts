import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ChildrenFile, processStat } from '../../../src/hub/hub-children.js';
import { createLogger } from '../../../src/log.js';

const linux = process.platform === 'linux';
const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

/** A process group leader that runs until killed, as the hub's spawned servers are. */
async function groupLeader(): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { detached: true, stdio: 'ignore' });
  children.push(child);
  await once(child, 'spawn');
  return child;
}

function running(child: ChildProcess): boolean {
  return processStat(child.pid!) !== undefined;
}

async function goneWithin(child: ChildProcess, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (running(child) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return !running(child);
}

describe.runIf(linux)('the hub children file', () => {
  const log = createLogger('silent');

  it('leaves alone the children this hub records itself (a client attached before the leftovers are looked for)', async () => {
    const prefix = join(mkdtempSync(join(tmpdir(), 'airlock-children-')), 'hub-x-children-');
    const file = new ChildrenFile(prefix, log);
    const child = await groupLeader();
    file.reaper().add(child.pid!);
    expect(readdirSync(join(prefix, '..'))).toContain(`hub-x-children-${process.pid}.json`);
    expect(ChildrenFile.endLeftovers(prefix, log)).toBe(0);
    expect(running(child)).toBe(true);
    file.remove();
  });

  it('ends the groups of a hub that is gone, also when its pid is this process (pids are reused)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'airlock-children-'));
    const prefix = join(dir, 'hub-x-children-');
    const dead = spawn(process.execPath, ['-e', '0']);
    await once(dead, 'exit');
    const first = await groupLeader();
    const second = await groupLeader();
    const record = (child: ChildProcess) => ({ pid: child.pid!, start: processStat(child.pid!)!.start });
    writeFileSync(`${prefix}${dead.pid}.json`, JSON.stringify({ hub: dead.pid, hubStart: 1, children: [record(first)] }));
    // The same pid as this process, another start time: an earlier hub under a reused pid.
    const ownStart = processStat(process.pid)!.start;
    writeFileSync(`${prefix}${process.pid}.json`, JSON.stringify({ hub: process.pid, hubStart: ownStart - 1, children: [record(second)] }));
    expect(ChildrenFile.endLeftovers(prefix, log)).toBe(2);
    expect(await goneWithin(first, 5_000)).toBe(true);
    expect(await goneWithin(second, 5_000)).toBe(true);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('does not signal a recorded pid that now names another process', async () => {
    const prefix = join(mkdtempSync(join(tmpdir(), 'airlock-children-')), 'hub-x-children-');
    const other = await groupLeader();
    const start = processStat(other.pid!)!.start;
    writeFileSync(`${prefix}1.json`, JSON.stringify({ hub: 999_999_999, hubStart: 1, children: [{ pid: other.pid, start: start + 1 }] }));
    expect(ChildrenFile.endLeftovers(prefix, log)).toBe(0);
    expect(running(other)).toBe(true);
  });
});
