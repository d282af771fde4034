/**
 * The benchmark is not run by the suite (it takes minutes); this keeps its process helpers from
 * breaking unnoticed (a dedupe once left waitGone calling an unbound isAlive).
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { checkPolicy } from '../../../src/policy/policy-file.js';
import { compilePolicy } from '../../../src/policy/policy-stage.js';
import { localUserCaller } from '../../../src/policy/caller.js';
import type { JSONRPCMessage } from '../../../src/bridge/json-rpc.js';
// @ts-expect-error plain JS benchmark library
import { fiftyRulePolicy, isAlive, pidsWithMarker, waitGone } from '../../bench/lib.mjs';

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

describe('the bench\'s 50-rule policy', () => {
  it('is valid, has 50 rules, and lets only its user call echo after checking all of them', () => {
    const { policy, issues } = checkPolicy(JSON.stringify(fiftyRulePolicy('bench')));
    expect(issues).toEqual([]);
    expect(policy!.rules).toHaveLength(50);
    const call = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: {} } } as JSONRPCMessage;
    expect(compilePolicy(policy!).stageFor(() => localUserCaller('bench'))!.fromClient(call)).toBeUndefined();
    expect(compilePolicy(policy!).stageFor(() => localUserCaller('someone-else'))!.fromClient(call)).toBeDefined();
  });
});
