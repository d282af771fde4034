/**
 * The benchmark is not run by the suite (it takes minutes); this keeps its process helpers from
 * breaking unnoticed (a dedupe once left waitGone calling an unbound isAlive).
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain JS benchmark library
import { isAlive, waitGone } from '../../bench/lib.mjs';

describe('bench process helpers', () => {
  it('sees a live process, and waits until a finished one is gone', async () => {
    expect(isAlive(process.pid)).toBe(true);
    const child = spawn(process.execPath, ['-e', '0']);
    const pid = child.pid!;
    await new Promise((resolve) => child.once('exit', resolve));
    expect(await waitGone(pid, 2000)).toBe(true);
  });
});
