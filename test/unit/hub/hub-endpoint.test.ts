/**
 * The hub's small pieces that decide before anything connects: the --hub mode, which command lines
 * attach, the directory checks, and the records of spawned servers that a killed hub leaves.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { attachable, hubDirProblem, hubPaths, OTHER_COMMANDS, takeHubMode } from '../../../src/hub/hub-endpoint.js';
import { buildProgram } from '../../../src/cli/program.js';
import { ChildrenFile, processStat } from '../../../src/hub/hub-children.js';
import { createLogger } from '../../../src/log.js';

describe('takeHubMode and attachable', () => {
  it('takes --hub from the options only, never from the server command after --', () => {
    expect(takeHubMode(['run', '--hub', 'auto', '--', 'node', 's.js', '--hub', 'off'], {})).toEqual({ mode: 'auto', argv: ['run', '--', 'node', 's.js', '--hub', 'off'] });
    expect(takeHubMode(['https://x/mcp', '--hub=require'], {})).toEqual({ mode: 'require', argv: ['https://x/mcp'] });
    expect(takeHubMode(['https://x/mcp'], { MCP_AIRLOCK_HUB: 'auto' }).mode).toBe('auto');
    expect(takeHubMode(['https://x/mcp', '--hub', 'off'], { MCP_AIRLOCK_HUB: 'auto' }).mode).toBe('off');
    expect(takeHubMode(['https://x/mcp'], {}).mode).toBe('off');
    expect(takeHubMode(['https://x/mcp', '--hub', 'always'], {})).toMatchObject({ mode: 'off', invalid: 'always' });
  });

  it('attaches connect (also the bare URL) and run, never help, the version or other commands', () => {
    expect(attachable(['https://x/mcp'])).toBe(true);
    expect(attachable(['connect', 'https://x/mcp'])).toBe(true);
    expect(attachable(['run', '--', 'node', 's.js', '--help'])).toBe(true);
    expect(attachable(['run', '--help'])).toBe(false);
    expect(attachable(['https://x/mcp', '-v'])).toBe(false);
    expect(attachable(['serve', '--', 'node', 's.js'])).toBe(false);
    expect(attachable(['login', 'https://x/mcp'])).toBe(false);
    expect(attachable([])).toBe(false);
    // mcp-airlock NAME: a server of the servers file; the hub looks it up in the client's files.
    expect(attachable(['github', '--log-level', 'debug'])).toBe(true);
    expect(attachable(['config', 'show'])).toBe(false);
    expect(attachable(['./server.js'])).toBe(false);
  });

  it("knows every command of the program, so that none is taken for a server's name", () => {
    const program = buildProgram({ exitCode: 0 });
    const names = program.commands.flatMap((c) => [c.name(), ...c.aliases()]);
    expect(names.filter((name) => name !== 'connect' && name !== 'run' && !OTHER_COMMANDS.includes(name))).toEqual([]);
  });
});

describe('the hub directory', () => {
  it('accepts a 0700 directory of this user; refuses a group- or world-readable one and a link', () => {
    const base = mkdtempSync(join(tmpdir(), 'airlock-hubdir-'));
    const good = join(base, 'good');
    mkdirSync(good, { mode: 0o700 });
    expect(hubDirProblem(good)).toBeUndefined();
    const open = join(base, 'open');
    mkdirSync(open);
    chmodSync(open, 0o750);
    expect(hubDirProblem(open)).toMatch(/has mode 750; it must be 700/);
    const link = join(base, 'link');
    symlinkSync(good, link);
    expect(hubDirProblem(link)).toMatch(/symbolic link/);
    const file = join(base, 'file');
    writeFileSync(file, '');
    expect(hubDirProblem(file)).toMatch(/not a directory/);
  });

  it('one hub per configuration directory: the socket name carries its hash', () => {
    const a = hubPaths({ MCP_AIRLOCK_HUB_DIR: '/run/x', MCP_AIRLOCK_CONFIG_DIR: '/home/a/.config/one' });
    const b = hubPaths({ MCP_AIRLOCK_HUB_DIR: '/run/x', MCP_AIRLOCK_CONFIG_DIR: '/home/a/.config/two' });
    expect(a.socket).not.toBe(b.socket);
    expect(a.socket.startsWith('/run/x/hub-')).toBe(true);
    expect(hubPaths({ XDG_RUNTIME_DIR: '/run/user/1000', MCP_AIRLOCK_CONFIG_DIR: '/c' }).dir).toBe('/run/user/1000/mcp-airlock');
  });
});

describe('ChildrenFile.endLeftovers', () => {
  it('ends a recorded group still provably the same, and never a pid whose start time differs (reused)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'airlock-children-'));
    const start = () => {
      const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e9)'], { detached: true, stdio: 'ignore' });
      return child;
    };
    const ours = start();
    const reused = start();
    const exited = new Promise((resolve) => ours.once('exit', resolve));
    try {
      await new Promise((r) => setTimeout(r, 200));
      const oursStat = processStat(ours.pid!)!;
      const reusedStat = processStat(reused.pid!)!;
      expect(oursStat.pgrp).toBe(ours.pid);
      const prefix = join(dir, 'hub-x-children-');
      // A hub that is gone (pid 999999999 never exists), and one that runs (this process): only the first is cleaned up.
      writeFileSync(`${prefix}999999999.json`, JSON.stringify({ hub: 999999999, hubStart: 1, children: [{ pid: ours.pid, start: oursStat.start }, { pid: reused.pid, start: reusedStat.start - 1 }] }));
      writeFileSync(`${prefix}${process.ppid}.json`, JSON.stringify({ hub: process.ppid, hubStart: processStat(process.ppid)!.start, children: [{ pid: reused.pid, start: reusedStat.start }] }));
      expect(ChildrenFile.endLeftovers(prefix, createLogger('silent'))).toBe(1);
      await exited;
      expect(processStat(reused.pid!)).toBeDefined();
    } finally {
      ours.kill('SIGKILL');
      reused.kill('SIGKILL');
    }
  });
});
