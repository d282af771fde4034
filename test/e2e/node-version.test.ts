/**
 * Every process the suite starts runs on the Node that runs the suite. test/other-nodes.mjs runs
 * it under Node 22 and 24 and counts on that: a test worker, an airlock or a fixture that fell
 * back to the machine's own Node would pass there without testing anything.
 */
import { readlinkSync, realpathSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readPid, startAirlock, stdioFixture } from '../helpers/airlock-process.js';
import { LineClient } from '../helpers/line-client.js';

/** The binary a running process executes (Linux: /proc/<pid>/exe). */
const binaryOf = (pid: number): string => readlinkSync(`/proc/${pid}/exe`);

describe('the Node the suite runs on', () => {
  it.skipIf(!process.env.AIRLOCK_TEST_NODE_VERSION)('is the version test/other-nodes.mjs asked for, in the test worker', () => {
    expect(process.versions.node).toBe(process.env.AIRLOCK_TEST_NODE_VERSION);
  });

  it.skipIf(process.platform !== 'linux')('runs airlock, and a server airlock starts as plain `node` from PATH', async () => {
    const pidFile = join(await mkdtemp(join(tmpdir(), 'airlock-node-')), 'server.pid');
    const proc = startAirlock(['run', '--no-audit', '--', 'node', stdioFixture, '--print-pid-file', pidFile]);
    const client = new LineClient(proc);
    await client.handshake();
    const ours = realpathSync(process.execPath);
    expect(binaryOf(proc.child.pid!)).toBe(ours);
    expect(binaryOf(await readPid(pidFile))).toBe(ours);
    client.endInput();
    expect(await proc.exited).toBe(0);
  });
});
