/**
 * `mcp-airlock import`: the servers each MCP host's config defines, as entries of the servers file.
 * Each host's spellings are mapped to ours (`serverUrl`, Gemini's `httpUrl`, Zed's `command.path`,
 * Codex's `bearer_token_env_var`), variable references to `${env:NAME}`, and what has no meaning
 * for airlock (`disabled`, `timeout`, `trust`...) is dropped and reported. Lines that already run
 * airlock for a server of the file are left out, so that importing after `install` takes nothing twice.
 */
import { readFile } from 'node:fs/promises';
import { describeError, quote } from '../errors.js';
import { parseLocatedJson } from '../policy/json-locations.js';
import { readCodexServers } from './codex-toml.js';
import { HOST_FORMATS, type HostId } from './host-formats.js';
import { looksLikeSecret } from './secret-references.js';
import { normalizeType, SERVER_NAME } from './servers-file.js';

export interface ImportedServer {
  name: string;
  host: HostId;
  file: string;
  entry: Record<string, unknown>;
  /** Members of the host's entry that have no meaning for airlock, left out. */
  dropped: string[];
}

export interface SkippedServer {
  name: string;
  host: HostId;
  file: string;
  reason: string;
}

export interface HostRead {
  servers: ImportedServer[];
  skipped: SkippedServer[];
  /** The file exists but cannot be read or parsed. */
  problem?: string;
}

class Skip extends Error {}

/** Hosts where `${NAME}` is one of the editor's own variables (`${workspaceFolder}`), not the environment's. */
const EDITOR_VARIABLES: readonly HostId[] = ['vscode', 'cursor'];

/**
 * A host's reference spellings as ours: `${env:VAR}`, and `${VAR}`, `${VAR:-default}` and a whole
 * value `$VAR` where the host reads them from the environment (Claude Code, Gemini...).
 */
export function convertReferences(value: string, host: HostId): string {
  const bareIsEnv = !EDITOR_VARIABLES.includes(host);
  if (bareIsEnv && /^\$[A-Za-z_][A-Za-z0-9_]*$/.test(value)) return `\${env:${value.slice(1)}}`;
  return value.replace(/\$\{([^}]*)\}/g, (whole, inner: string) => {
    const bare = /^([A-Za-z_][A-Za-z0-9_]*)(:-.*)?$/.exec(inner);
    if (bare && bareIsEnv) return `\${env:${bare[1]}}`;
    if (/^env:[A-Za-z_][A-Za-z0-9_]*$/.test(inner)) return whole;
    throw new Skip(`it uses ${quote(whole)}, which only its host can fill in`);
  });
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const strings = (v: unknown): string[] | undefined => (Array.isArray(v) && v.every((s) => typeof s === 'string') ? (v as string[]) : undefined);
function stringMap(v: unknown, host: HostId): Record<string, string> | undefined {
  if (!isObject(v)) return undefined;
  return Object.fromEntries(Object.entries(v).filter((e): e is [string, string] => typeof e[1] === 'string').map(([k, s]) => [k, convertReferences(s, host)]));
}

const PACKAGE = /^(?:@[^/]+\/)?(mcp-remote|mcp-airlock)(?:@.*)?$/;

/** One host entry as a servers-file entry; throws Skip with the reason it cannot be taken. */
export function hostEntry(raw: unknown, host: HostId): { entry: Record<string, unknown>; dropped: string[] } {
  if (!isObject(raw)) throw new Skip('its entry is not an object');
  if (raw.disabled === true || raw.enabled === false) throw new Skip(`it is disabled in ${HOST_FORMATS[host].label}`);
  // Read here, or with no meaning once a server is airlock's: Zed's `source` says "custom" (a command).
  const used = new Set(['command', 'args', 'env', 'cwd', 'url', 'serverUrl', 'httpUrl', 'headers', 'http_headers', 'env_http_headers', 'bearer_token_env_var', 'type', 'disabled', 'enabled', 'source']);
  const entry: Record<string, unknown> = {};
  // Zed's first format: "command": { "path", "args", "env" }.
  const command = isObject(raw.command) ? raw.command.path : raw.command;
  const args = strings(isObject(raw.command) ? raw.command.args : raw.args) ?? [];
  const env = stringMap(isObject(raw.command) ? raw.command.env : raw.env, host);
  const url = [raw.url, raw.serverUrl, raw.httpUrl].find((u): u is string => typeof u === 'string');
  if (typeof command === 'string' && command !== '') {
    const at = args.findIndex((a) => PACKAGE.test(a));
    const rest = at === -1 ? [] : args.slice(at + 1);
    if ((at !== -1 && PACKAGE.exec(args[at]!)![1] === 'mcp-airlock' && rest.length === 1 && !/^https?:/i.test(rest[0]!)) || /mcp-airlock\.js$/.test(args[0] ?? '')) {
      throw new Skip('it is already an mcp-airlock line (mcp-airlock install wrote it)');
    }
    if (at !== -1 && rest.length === 1 && /^https?:\/\//i.test(rest[0]!)) {
      entry.url = rest[0]; // `npx mcp-remote URL` and airlock's own drop-in line: the remote server itself
    } else {
      entry.command = convertReferences(command, host);
      if (args.length > 0) entry.args = args.map((arg) => convertReferences(arg, host));
      if (env && Object.keys(env).length > 0) entry.env = env;
      if (typeof raw.cwd === 'string') entry.cwd = raw.cwd;
    }
  } else if (url !== undefined) {
    entry.url = convertReferences(url, host);
    const type = typeof raw.type === 'string' ? normalizeType(raw.type) : undefined;
    // Gemini: url is SSE, httpUrl streamable HTTP.
    if (host === 'gemini') entry.type = raw.httpUrl === url ? 'http' : 'sse';
    else if (type === 'sse' || type === 'http') entry.type = type;
    const headers: Record<string, string> = { ...stringMap(raw.headers, host), ...stringMap(raw.http_headers, host) };
    for (const [name, variable] of Object.entries(stringMap(raw.env_http_headers, host) ?? {})) headers[name] = `\${env:${variable}}`;
    if (typeof raw.bearer_token_env_var === 'string') headers.Authorization = `Bearer \${env:${raw.bearer_token_env_var}}`;
    if (Object.keys(headers).length > 0) entry.headers = headers;
  } else {
    throw new Skip('it has neither a command nor a URL');
  }
  const dropped = Object.keys(raw).filter((k) => !used.has(k) && !(k === 'cwd' && entry.cwd !== undefined));
  return { entry, dropped };
}

/** The servers of one host file; undefined when it does not exist. */
export async function readHostFile(host: HostId, file: string): Promise<HostRead | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return { servers: [], skipped: [], problem: `cannot read it: ${describeError(error)}` };
  }
  let list: Record<string, unknown>;
  try {
    const format = HOST_FORMATS[host];
    if (format.syntax === 'toml') list = readCodexServers(text);
    else {
      const value = parseLocatedJson(text, { jsonc: true }).value;
      const held = isObject(value) ? value[format.key] : undefined;
      list = isObject(held) ? held : {};
    }
  } catch (error) {
    return { servers: [], skipped: [], problem: `not valid ${HOST_FORMATS[host].syntax === 'toml' ? 'TOML' : 'JSON'}: ${describeError(error)}` };
  }
  const read: HostRead = { servers: [], skipped: [] };
  for (const [name, raw] of Object.entries(list)) {
    if (!SERVER_NAME.test(name)) {
      read.skipped.push({ name, host, file, reason: 'its name is not one `mcp-airlock NAME` can take (letters, digits and . _ -)' });
      continue;
    }
    try {
      read.servers.push({ name, host, file, ...hostEntry(raw, host) });
    } catch (error) {
      if (!(error instanceof Skip)) throw error;
      read.skipped.push({ name, host, file, reason: error.message });
    }
  }
  return read;
}

/** A plain-text secret found in an imported entry: where it is, and the part to store. */
export interface FoundSecret {
  member: 'env' | 'headers';
  key: string;
  /** What stays around the reference (`Bearer `), and the secret itself. */
  prefix: string;
  value: string;
}

export function plainSecrets(entry: Record<string, unknown>): FoundSecret[] {
  const found: FoundSecret[] = [];
  for (const member of ['env', 'headers'] as const) {
    for (const [key, value] of Object.entries((entry[member] as Record<string, string> | undefined) ?? {})) {
      if (!looksLikeSecret(key, value)) continue;
      const scheme = /^(Bearer|Basic|Token)\s+(\S.*)$/i.exec(value);
      found.push({ member, key, prefix: scheme ? `${scheme[1]} ` : '', value: scheme ? scheme[2]! : value });
    }
  }
  return found;
}
