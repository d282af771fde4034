/**
 * The environment a spawned server gets. By default airlock's own, minus airlock's secrets: every
 * variable a secret flag names (`--auth-token-env`, `--client-secret-env`) and every `${VAR}` a
 * header refers to. A tool that reads its environment must not hand those to whoever calls it (an
 * attack review found all three reachable). `--env-allow` makes it a strict allowlist instead, and
 * `--env NAME=VALUE` adds variables either way.
 */
import { AirlockError, quote } from '../errors.js';

/** What a child always gets under `--env-allow`, so that it can start at all. */
const ALWAYS_PASSED = ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LC_ALL', 'TERM', 'TMPDIR', 'TZ', 'SYSTEMROOT', 'SystemRoot', 'COMSPEC', 'PATHEXT', 'WINDIR', 'APPDATA', 'LOCALAPPDATA', 'USERPROFILE'];

export interface ChildEnvOptions {
  /** Variables holding airlock's own secrets: never passed on. */
  withheld: Iterable<string>;
  /** `--env-allow`: when non-empty, only these (and the basics a process needs) are passed on. */
  allow: string[];
  /** `--env NAME=VALUE`, already parsed. */
  set: Record<string, string>;
}

export function childEnvironment(parent: NodeJS.ProcessEnv, options: ChildEnvOptions): NodeJS.ProcessEnv {
  const withheld = new Set(options.withheld);
  let env: NodeJS.ProcessEnv;
  if (options.allow.length > 0) {
    env = {};
    for (const name of [...ALWAYS_PASSED, ...options.allow]) if (parent[name] !== undefined) env[name] = parent[name];
  } else {
    env = { ...parent };
  }
  for (const name of withheld) delete env[name];
  return { ...env, ...options.set };
}

/** The names of the `${VAR}` references in header lines (flags or file contents): their values are secrets. */
export function headerReferences(texts: Iterable<string>): string[] {
  const names = new Set<string>();
  for (const text of texts) for (const match of text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)) names.add(match[1]!);
  return [...names];
}

/** Parse one `--env NAME=VALUE`. */
export function parseEnvAssignment(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const equals = value.indexOf('=');
  const name = equals > 0 ? value.slice(0, equals) : '';
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
    throw new AirlockError('AIRLOCK_USAGE', `--env expects NAME=VALUE, got ${quote(value.slice(0, 40))}`, { hint: 'For example: --env LOG_LEVEL=debug (to pass a variable as it is, use --env-allow NAME).' });
  }
  return { ...previous, [name]: value.slice(equals + 1) };
}
