/**
 * Where the hub listens and what its first line says (docs/hub.md). Shared by the hub and the
 * shim, so it imports node built-ins and env-paths only: the shim loads nothing else.
 *
 * The endpoint is a Unix socket in a directory only the user can enter: `$MCP_AIRLOCK_HUB_DIR`, else
 * `$XDG_RUNTIME_DIR/mcp-airlock`, else `<tmpdir>/mcp-airlock-<uid>`. The directory must be the
 * user's and mode 0700 (a directory of another owner or mode is refused, never fixed); the socket is
 * 0600. One hub per user and configuration directory: the file names carry a hash of it.
 */
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import envPaths from 'env-paths';
import type { SharedUpstreamStatus } from './shared-upstreams.js';

/** The version of the attach exchange; a hub and a shim of different airlock versions never mix (version is checked too). */
export const HUB_PROTOCOL = 1;
/** auto | off | require: whether connect and run attach to the hub (the `--hub` flag wins). */
export const HUB_MODE_ENV = 'MCP_AIRLOCK_HUB';
/** The directory of the hub's socket (tests; a user with an unusual runtime directory). */
export const HUB_DIR_ENV = 'MCP_AIRLOCK_HUB_DIR';
const CONFIG_DIR_ENV = 'MCP_AIRLOCK_CONFIG_DIR';

export type HubMode = 'auto' | 'off' | 'require';
export const HUB_MODES: HubMode[] = ['auto', 'off', 'require'];

export interface HubPaths {
  dir: string;
  socket: string;
  /** Created exclusively by the shim that starts the hub, so ten shims at once start one. */
  starting: string;
  /** The hub's own log (what a hub started in the background says). */
  log: string;
  /**
   * Where each hub records the servers its commands spawned (hub-children.ts): this prefix, its own
   * pid and `.json`, one file per hub, since a draining hub and its successor run side by side.
   */
  childrenPrefix: string;
}

export function hubPaths(env: NodeJS.ProcessEnv): HubPaths {
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  const dir = env[HUB_DIR_ENV] || (env.XDG_RUNTIME_DIR ? join(env.XDG_RUNTIME_DIR, 'mcp-airlock') : join(tmpdir(), `mcp-airlock-${uid}`));
  const configDir = resolve(env[CONFIG_DIR_ENV] || envPaths('mcp-airlock', { suffix: '' }).config);
  const tag = createHash('sha256').update(configDir).digest('hex').slice(0, 12);
  return { dir, socket: join(dir, `hub-${tag}.sock`), starting: join(dir, `hub-${tag}.starting`), log: join(dir, `hub-${tag}.log`), childrenPrefix: join(dir, `hub-${tag}-children-`) };
}

/**
 * Create the hub's directory 0700 if it is missing, and check it: a directory, not a link, owned
 * by this user, no access for group or others. Returns what is wrong, in words, or undefined.
 */
export function prepareHubDir(dir: string): string | undefined {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    return `cannot create ${dir}: ${(error as Error).message}`;
  }
  return hubDirProblem(dir);
}

export function hubDirProblem(dir: string): string | undefined {
  let info;
  try {
    info = lstatSync(dir);
  } catch (error) {
    return `cannot read ${dir}: ${(error as Error).message}`;
  }
  if (info.isSymbolicLink()) return `${dir} is a symbolic link; the hub's directory must be a real directory`;
  if (!info.isDirectory()) return `${dir} is not a directory`;
  const uid = typeof process.getuid === 'function' ? process.getuid() : undefined;
  if (uid !== undefined && info.uid !== uid) return `${dir} belongs to uid ${info.uid}, not to this user (uid ${uid}): another user could reach the hub`;
  if ((info.mode & 0o077) !== 0) return `${dir} has mode ${(info.mode & 0o777).toString(8)}; it must be 700 (only its owner may enter it)`;
  return undefined;
}

/** The shim's first line: what to run, where and for whom. `env` is the client's own; it is never logged or shown. */
export interface AttachHeader {
  airlockHub: typeof HUB_PROTOCOL;
  version: string;
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  client: { pid: number; ppid: number };
}

/** The shim's second connection: the attach's stderr lines and exit code come back on it. */
export interface ControlHeader {
  airlockHub: typeof HUB_PROTOCOL;
  control: string;
}

/**
 * `hub stop`: the hub ends every attached command and exits. With `drain` (a shim of a newer
 * version): it stops accepting and gives up its socket at once, lets its commands run to their end,
 * then exits, so that the newer hub can start beside it.
 */
export interface StopHeader {
  airlockHub: typeof HUB_PROTOCOL;
  stop: true;
  drain?: boolean;
  /** With `drain`: the asking shim's version, for the hub's log line. */
  version?: string;
  /** Stop only the spawned servers this names (a key, its first characters, or the command's name), not the hub. */
  server?: string;
}

/** `hub status`: the hub answers one JSON line (HubStatus) and closes. */
export interface StatusHeader {
  airlockHub: typeof HUB_PROTOCOL;
  status: true;
}

export interface HubStatus {
  pid: number;
  version: string;
  socket: string;
  startedAt: string;
  /** RSS of the hub process, bytes. */
  rss: number;
  idleExitSeconds: number;
  clients: Array<{
    id: string;
    /** `server`: `mcp-airlock NAME`, a server of the servers file (`target` is its name). */
    command: 'connect' | 'run' | 'server';
    /** connect: the server URL without query or credentials; run: the server command's name. */
    target: string;
    pid: number;
    host: { pid: number; name?: string };
    attachedAt: string;
    /** The servers this client's command uses, with the RSS of each one's process group (`key`: one of `upstreams`). */
    servers: Array<{ pid: number; rss: number; key?: string }>;
  }>;
  /** The spawned servers (`run`), each shared by the clients of its key, with the RSS of its process group. */
  upstreams: Array<SharedUpstreamStatus & { rss: number }>;
}

/** Whether version `a` is newer than `b` (major.minor.patch compared as numbers; anything else: not newer). */
export function newerVersion(a: string, b: string): boolean {
  const parse = (v: string): number[] | undefined => {
    const m = /^(\d+)\.(\d+)\.(\d+)/.exec(v);
    return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
  };
  const x = parse(a);
  const y = parse(b);
  if (!x || !y) return false;
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i]! > y[i]!;
  return false;
}

/** The hub's answer to an attach header, one line. */
export type AttachReply = { ok: true; id: string; hub: { pid: number; version: string } } | { ok: false; error: string; hint?: string; exit: number; version?: string };

/** A line on the control connection: stderr text for the host, then the exit code last. */
export type ControlLine = { stderr: string } | { exit: number };

/**
 * `--hub MODE` or `--hub=MODE` among the options before `--` (what run passes to its server is
 * never looked at), taken out of argv; else the environment's setting; else `off`.
 */
export function takeHubMode(argv: string[], env: NodeJS.ProcessEnv): { mode: HubMode; argv: string[]; invalid?: string } {
  const rest: string[] = [];
  let mode: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    if (arg === '--hub') {
      mode = argv[i + 1] ?? '';
      i++;
    } else if (arg.startsWith('--hub=')) {
      mode = arg.slice('--hub='.length);
    } else {
      rest.push(arg);
    }
  }
  const chosen = mode ?? env[HUB_MODE_ENV] ?? 'off';
  if (!(HUB_MODES as string[]).includes(chosen)) return { mode: 'off', argv: rest, invalid: chosen };
  return { mode: chosen as HubMode, argv: rest };
}

/**
 * Whether this command line is one the hub runs: `connect` (also the bare URL form) and `run`,
 * not a request for help or the version (those print here).
 */
export function attachable(argv: string[]): boolean {
  const first = argv[0];
  if (first === undefined) return false;
  const options = argv.slice(0, argv.includes('--') ? argv.indexOf('--') : argv.length);
  if (options.some((a) => a === '--help' || a === '-h' || a === '--version' || a === '-v' || a === '-V')) return false;
  return first === 'connect' || first === 'run' || /^https?:\/\//i.test(first) || isServerName(first);
}

/**
 * The CLI's commands besides connect and run, and `help`: a first word that is none of them may
 * name a server of the servers file (`mcp-airlock NAME`), which the hub runs as the line it stands
 * for. Kept here because the shim loads no command parser; a unit test holds it to the program's.
 */
export const OTHER_COMMANDS = ['serve', 'version', 'login', 'logout', 'status', 'audit', 'doctor', 'auth', 'policy', 'hub', 'config', 'secret', 'import', 'install', 'uninstall', 'help'];

/** `mcp-airlock NAME`: a plain word that is no command (the hub finds the server in the client's servers files). */
function isServerName(word: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(word) && !OTHER_COMMANDS.includes(word);
}

/**
 * One question to the hub (`hub status`, `hub stop`, a drain): send `header`, read the first line of
 * the answer (at most 1 MiB, within `timeoutMs`). Undefined when no hub answers.
 */
export function askHub(path: string, header: StopHeader | StatusHeader, timeoutMs = 10_000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ path });
    let text = '';
    const done = (value: string | undefined): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(value);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${JSON.stringify(header)}\n`));
    socket.on('data', (chunk: string) => {
      text += chunk;
      const newline = text.indexOf('\n');
      if (newline >= 0) done(text.slice(0, newline));
      else if (text.length > 1024 * 1024) done(undefined);
    });
    socket.on('end', () => done(text === '' ? undefined : text));
    socket.on('error', () => done(undefined));
  });
}
