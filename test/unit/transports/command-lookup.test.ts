import { chmod, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { AirlockError } from '../../../src/errors.js';
import { resolveCommand } from '../../../src/transports/command-lookup.js';

let dir: string;
let bin: string;
let other: string;

function failure(fn: () => unknown): AirlockError {
  try {
    fn();
  } catch (error) {
    if (error instanceof AirlockError) return error;
    throw error;
  }
  throw new Error('expected an AirlockError');
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airlock-lookup-'));
  bin = join(dir, 'bin');
  other = join(dir, 'other');
  await mkdir(bin);
  await mkdir(other);
  await writeFile(join(bin, 'mcp-server'), '#!/bin/sh\n', { mode: 0o755 });
  await writeFile(join(other, 'plain-file'), 'x', { mode: 0o644 });
  await writeFile(join(bin, 'plain-file'), 'x', { mode: 0o755 });
  await writeFile(join(other, 'only-here'), 'x', { mode: 0o644 });
  await writeFile(join(dir, 'local.sh'), '#!/bin/sh\n');
  await chmod(join(dir, 'local.sh'), 0o755);
  await writeFile(join(bin, 'tool.CMD'), '@echo off\r\n');
});

describe.skipIf(process.platform === 'win32')('resolveCommand (POSIX)', () => {
  it('finds a bare name on the PATH of the given environment, not of airlock', () => {
    expect(resolveCommand('mcp-server', { env: { PATH: `${other}:${bin}` } })).toBe(join(bin, 'mcp-server'));
    expect(failure(() => resolveCommand('mcp-server', { env: { PATH: other } })).message).toBe('the server command "mcp-server" was not found on PATH');
  });

  it('skips a PATH entry that is not executable, as spawning does, and names it when nothing else is found', () => {
    expect(resolveCommand('plain-file', { env: { PATH: `${other}:${bin}` } })).toBe(join(bin, 'plain-file'));
    const error = failure(() => resolveCommand('only-here', { env: { PATH: other } }));
    expect(error.code).toBe('AIRLOCK_COMMAND_NOT_FOUND');
    expect(error.exitCode).toBe(3);
    expect(error.message).toBe(`the server command "only-here" is on PATH at ${JSON.stringify(join(other, 'only-here'))}, but not executable`);
  });

  it('takes a relative path from the working directory, and an absolute one as it is', () => {
    expect(resolveCommand('./local.sh', { env: {}, cwd: dir })).toBe(join(dir, 'local.sh'));
    expect(resolveCommand(join(bin, 'mcp-server'), { env: {} })).toBe(join(bin, 'mcp-server'));
    expect(failure(() => resolveCommand('./missing.sh', { env: {}, cwd: dir })).message).toBe(`the server command "./missing.sh" does not exist (looked for ${JSON.stringify(join(dir, 'missing.sh'))})`);
  });

  it('refuses a directory and a file without the executable bit, with the next step', () => {
    expect(failure(() => resolveCommand('./bin', { env: {}, cwd: dir })).message).toBe('the server command "./bin" is a directory');
    const error = failure(() => resolveCommand('other/plain-file', { env: {}, cwd: dir }));
    expect(error.message).toBe('the server command "other/plain-file" is not executable');
    expect(error.hint).toBe('Make it executable (chmod +x other/plain-file), or run it through its interpreter, e.g. -- node other/plain-file.');
  });
});

describe('resolveCommand (Windows rules)', () => {
  it('tries PATHEXT extensions, reads Path case-insensitively, and does not require an executable bit', () => {
    const env = { Path: bin, PATHEXT: '.COM;.EXE;.CMD' };
    expect(resolveCommand('tool', { env, platform: 'win32' })).toBe(join(bin, 'tool.CMD'));
    expect(resolveCommand('plain-file', { env: { Path: other }, platform: 'win32' })).toBe(join(other, 'plain-file'));
    expect(failure(() => resolveCommand('npx', { env: { Path: other }, platform: 'win32' })).message).toBe('the server command "npx" was not found on PATH');
  });
});
