/**
 * Find a server command the way spawning it will, before `serve` listens or `run` reads stdin: a
 * command that cannot start would otherwise fail once per session, after the client connected.
 * A name with a path separator is taken relative to the working directory; a bare name is looked
 * up on the PATH of the child's environment (as child_process.spawn does with `env`), with
 * PATHEXT on Windows (as cross-spawn does). It must be a file, and executable (POSIX).
 */
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, resolve } from 'node:path';
import { AirlockError, quote } from '../errors.js';

export interface CommandLookupOptions {
  /** The child's environment: its PATH (and PATHEXT) decide. */
  env: NodeJS.ProcessEnv;
  cwd?: string;
  platform?: NodeJS.Platform;
}

type Verdict = 'ok' | 'missing' | 'directory' | 'not-executable';

function inspect(path: string, windows: boolean): Verdict {
  let stats;
  try {
    stats = statSync(path);
  } catch {
    return 'missing';
  }
  if (stats.isDirectory()) return 'directory';
  if (windows) return 'ok';
  try {
    accessSync(path, constants.X_OK);
    return 'ok';
  } catch {
    return 'not-executable';
  }
}

function pathOf(env: NodeJS.ProcessEnv, windows: boolean): string {
  if (!windows) return env.PATH ?? '';
  // Windows environment names are case-insensitive: Path is common.
  const key = Object.keys(env).find((k) => k.toUpperCase() === 'PATH');
  return key === undefined ? '' : (env[key] ?? '');
}

/** The file `command` resolves to; throws AIRLOCK_COMMAND_NOT_FOUND naming it and the next step. */
export function resolveCommand(command: string, options: CommandLookupOptions): string {
  const platform = options.platform ?? process.platform;
  const windows = platform === 'win32';
  const cwd = options.cwd ?? process.cwd();
  const extensions = windows ? ['', ...(options.env.PATHEXT ?? '.COM;.EXE;.BAT;.CMD').split(';').filter(Boolean)] : [''];
  const hasSeparator = command.includes('/') || (windows && command.includes('\\'));
  if (hasSeparator || isAbsolute(command)) {
    const base = resolve(cwd, command);
    let verdict: Verdict = 'missing';
    for (const extension of extensions) {
      verdict = inspect(base + extension, windows);
      if (verdict === 'ok') return base + extension;
      if (verdict !== 'missing') break;
    }
    if (verdict === 'directory') {
      throw new AirlockError('AIRLOCK_COMMAND_NOT_FOUND', `the server command ${quote(command)} is a directory`, { hint: 'Give the program to run, e.g. node ./server/index.js.' });
    }
    if (verdict === 'not-executable') {
      throw new AirlockError('AIRLOCK_COMMAND_NOT_FOUND', `the server command ${quote(command)} is not executable`, {
        hint: `Make it executable (chmod +x ${command}), or run it through its interpreter, e.g. -- node ${command}.`,
      });
    }
    throw new AirlockError('AIRLOCK_COMMAND_NOT_FOUND', `the server command ${quote(command)} does not exist (looked for ${quote(base)})`, {
      hint: 'Check the path; a relative path is taken from the directory mcp-airlock runs in.',
    });
  }
  let blocked: string | undefined;
  for (const directory of pathOf(options.env, windows).split(windows ? ';' : delimiter)) {
    if (directory === '') continue;
    for (const extension of extensions) {
      const candidate = resolve(cwd, directory, command + extension);
      const verdict = inspect(candidate, windows);
      if (verdict === 'ok') return candidate;
      if (verdict === 'not-executable') blocked ??= candidate;
    }
  }
  if (blocked !== undefined) {
    throw new AirlockError('AIRLOCK_COMMAND_NOT_FOUND', `the server command ${quote(command)} is on PATH at ${quote(blocked)}, but not executable`, {
      hint: `Make it executable (chmod +x ${blocked}), or give the full path of the right program.`,
    });
  }
  throw new AirlockError('AIRLOCK_COMMAND_NOT_FOUND', `the server command ${quote(command)} was not found on PATH`, {
    hint: 'Install it, or give its full path (PATH is that of the environment mcp-airlock starts the server with).',
  });
}
