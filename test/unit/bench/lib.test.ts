/**
 * The benchmark is not run by the suite (it takes minutes); this keeps its process helpers from
 * breaking unnoticed (a dedupe once left waitGone calling an unbound isAlive).
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain JS benchmark library
import { isAlive, pidsWithMarker, waitGone } from '../../bench/lib.mjs';

describe('bench process helpers', () => {
  it('sees a live process, and waits until a finished one is gone', async () => {
    expect(isAlive(process.pid)).toBe(true);
    const child = spawn(process.execPath, ['-e', '0']);
    const pid = child.pid!;
    await new Promise((resolve) => child.once('exit', resolve));
    expect(await waitGone(pid, 2000)).toBe(true);
  });

  it('finds a process by a literal marker in its argv (regex characters included), leaving out excluded command lines', async () => {
    const marker = `/tmp/bench-marker-${process.pid}-${Date.now()}.x+(1)`;
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e9)', marker], { stdio: 'ignore' });
    const other = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e9)', 'excluded-wrapper', marker], { stdio: 'ignore' });
    try {
      await new Promise((resolve) => setTimeout(resolve, 100));
      // Unescaped, "x+(1)" would be a regex that the literal text "x+(1)" does not match.
      expect(pidsWithMarker(marker, ['excluded-wrapper'])).toEqual([child.pid]);
    } finally {
      child.kill('SIGKILL');
      other.kill('SIGKILL');
    }
    expect(await waitGone(child.pid!, 2000)).toBe(true);
    expect(pidsWithMarker(marker)).toEqual([]);
  });
});
