/**
 * Where the servers files are, and the servers they define together:
 * - the user's `servers.json` in airlock's config directory (`$MCP_AIRLOCK_CONFIG_DIR`, else the
 *   platform's: `~/.config/mcp-airlock` on Linux, as for credentials);
 * - the project's `mcp-airlock.json`: in the working directory or the nearest folder above it
 *   that has one (as git finds `.git`), so a server started from a sub-folder of the project
 *   gets the project's servers.
 * Per name, the project's entry wins over the user's, once the project's file is trusted
 * (project-trust.ts). Only a file of this user (or root) that no one else may write is read: a
 * file another local user could plant above the working directory (in /tmp) would otherwise
 * choose the commands airlock starts.
 */
import { readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import envPaths from 'env-paths';
import { AirlockError, describeError, quote } from '../errors.js';
import { trustState, type TrustState } from './project-trust.js';
import { checkServersFile, type CheckOptions, type ServerEntry } from './servers-file.js';

export const PROJECT_FILE = 'mcp-airlock.json';
export const USER_FILE = 'servers.json';
const CONFIG_DIR_ENV = 'MCP_AIRLOCK_CONFIG_DIR';

export type ServersSource = 'project' | 'user';

export interface ServersFileRef {
  path: string;
  source: ServersSource;
}

/** One server of the merged list, with the file it comes from. */
export interface LocatedServer {
  name: string;
  entry: ServerEntry;
  file: ServersFileRef;
  /** The user's entry of the same name, which the project's hides. */
  overrides?: ServersFileRef;
}

/** airlock's config directory: `$MCP_AIRLOCK_CONFIG_DIR`, else the platform's (env-paths). */
export function configDir(env: NodeJS.ProcessEnv): string {
  return resolve(env[CONFIG_DIR_ENV] || envPaths('mcp-airlock', { suffix: '' }).config);
}

export function userServersPath(env: NodeJS.ProcessEnv): string {
  return join(configDir(env), USER_FILE);
}

/** The project's file: `cwd`'s, or the nearest folder above that has one; undefined when none does. */
export async function findProjectFile(cwd: string): Promise<string | undefined> {
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    const path = join(dir, PROJECT_FILE);
    if (await exists(path)) return path;
    if (dirname(dir) === dir) return undefined;
  }
}

/** The files that apply from `cwd`, project first; only those that exist. */
export async function serversFiles(cwd: string, env: NodeJS.ProcessEnv): Promise<ServersFileRef[]> {
  const files: ServersFileRef[] = [];
  const project = await findProjectFile(cwd);
  if (project) files.push({ path: project, source: 'project' });
  const user = userServersPath(env);
  if (await exists(user)) files.push({ path: user, source: 'user' });
  return files;
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** A servers file's text, refused when someone else could have written it. */
export async function readServersText(path: string): Promise<string> {
  try {
    const info = await stat(path);
    const uid = process.getuid?.();
    if (uid !== undefined && ((info.uid !== uid && info.uid !== 0) || (info.mode & 0o022) !== 0)) {
      throw new AirlockError('AIRLOCK_SERVERS_FILE', `the servers file ${quote(path)} is ${info.uid !== uid && info.uid !== 0 ? 'owned by another user' : 'writable by others'}: not read`, {
        hint: `A servers file chooses the commands airlock starts: keep it yours and not writable by others (chmod go-w ${quote(path)}), or remove it.`,
      });
    }
    return await readFile(path, 'utf8');
  } catch (error) {
    if (error instanceof AirlockError) throw error;
    throw new AirlockError('AIRLOCK_SERVERS_FILE', `cannot read the servers file ${quote(path)}: ${describeError(error)}`, { hint: 'Check the path; `mcp-airlock config check` lists the files that apply here.', cause: error });
  }
}

/** A project file not (or no longer) trusted: its servers are not used until `config trust`. */
export interface UntrustedFile {
  file: ServersFileRef;
  state: Exclude<TrustState, 'trusted'>;
  names: string[];
}

/**
 * The servers of every file that applies from `cwd`, merged (the project's entry wins per name).
 * A file with an error fails the whole load, naming its first problem and where it is. A project
 * file that is not trusted (project-trust.ts) is left out and returned as such.
 */
export async function loadServers(
  cwd: string,
  env: NodeJS.ProcessEnv,
  options: CheckOptions = {},
): Promise<{ files: ServersFileRef[]; servers: Map<string, LocatedServer>; untrusted?: UntrustedFile }> {
  const files = await serversFiles(cwd, env);
  const servers = new Map<string, LocatedServer>();
  let untrusted: UntrustedFile | undefined;
  for (const file of files) {
    const text = await readServersText(file.path);
    const { servers: entries, issues } = checkServersFile(text, options);
    const first = issues.find((i) => !i.warning);
    if (!entries || first) {
      const more = issues.filter((i) => !i.warning).length - 1;
      throw new AirlockError('AIRLOCK_SERVERS_FILE', `servers file ${quote(file.path)} line ${first!.line}, column ${first!.column}: ${first!.message}${more > 0 ? ` (and ${more} more problem${more > 1 ? 's' : ''})` : ''}`, {
        hint: `Run \`mcp-airlock config check ${file.path}\` to see every problem; the format is in docs/servers-file.md.`,
      });
    }
    if (file.source === 'project') {
      const state = await trustState(file.path, text, configDir(env));
      if (state !== 'trusted') {
        untrusted = { file, state, names: Object.keys(entries) };
        continue;
      }
    }
    for (const [name, entry] of Object.entries(entries)) {
      const earlier = servers.get(name);
      if (earlier) earlier.overrides = file;
      else servers.set(name, { name, entry, file });
    }
  }
  return { files, servers, ...(untrusted ? { untrusted } : {}) };
}

/** The error for a server of a project file not trusted yet (or changed since). */
export function untrustedError(name: string, untrusted: UntrustedFile): AirlockError {
  const why = untrusted.state === 'changed' ? 'which changed since you trusted it' : 'which you have not trusted yet';
  return new AirlockError('AIRLOCK_SERVERS_FILE', `server ${quote(name)} is in the project's servers file ${quote(untrusted.file.path)}, ${why}`, {
    hint: `It chooses the commands airlock starts: read it, then run \`mcp-airlock config trust ${untrusted.file.path}\`.`,
  });
}
