/**
 * The servers file: one list of MCP servers for every host (`mcp-airlock.json` in a project,
 * `servers.json` in airlock's config directory), described by schemas/servers.schema.json and
 * docs/servers-file.md:
 *
 *     { "servers": { "github": { "url": "https://api.githubcopilot.com/mcp/",
 *                                "headers": { "Authorization": "Bearer ${keychain:github}" } },
 *                    "files":  { "command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "."] } } }
 *
 * Strict, as the policy file is: an unknown member, a wrong type or a duplicate member is an error
 * with its line and column (and the member it most likely meant), because a typo in `headers`
 * would otherwise start a server without its credentials. `mcpServers` is accepted for `servers`,
 * and `type` in every spelling hosts use.
 */
import { closest } from '../closest-word.js';
import { PROTOCOL_CHOICES } from '../eras/era-adapter.js';
import { quote } from '../errors.js';
import { PROVIDER_PROFILES } from '../auth/provider-profiles.js';
import { pointerToken, type LocatedJson } from '../policy/json-locations.js';
import { displayPath, readLocated, type PolicyIssue } from '../policy/policy-file.js';
import { storageModes } from '../store/storage-mode.js';
import { findReferences, looksLikeSecret } from './secret-references.js';

/** One problem in a servers file; warnings (a secret in clear text) do not make the file invalid. */
export interface FileIssue extends PolicyIssue {
  warning?: true;
}

export type ServerType = 'stdio' | 'http' | 'sse';
export const GRANTS = ['browser', 'device', 'client-credentials'] as const;

export interface ServerAuth {
  account?: string;
  grant?: (typeof GRANTS)[number];
  clientId?: string;
  /** A reference (`${keychain:...}`, `${env:...}`, `${file:...}`): handed to connect through its environment. */
  clientSecret?: string;
  scopes?: string[];
  providerProfile?: string;
}

/** One server as written (references unresolved, paths as written). */
export interface ServerEntry {
  type: ServerType;
  command?: string;
  args?: string[];
  env?: Record<string, string>;
  cwd?: string;
  url?: string;
  headers?: Record<string, string>;
  auth?: ServerAuth;
  storage?: string;
  policyFile?: string;
  share?: boolean;
  idleTimeout?: number;
  maxMessage?: string | number;
  protocol?: string;
}

export const TOP_MEMBERS = ['$schema', 'servers', 'mcpServers'] as const;
export const ENTRY_MEMBERS = ['type', 'command', 'args', 'env', 'cwd', 'url', 'headers', 'auth', 'storage', 'policyFile', 'share', 'idleTimeout', 'maxMessage', 'protocol'] as const;
export const AUTH_MEMBERS = ['account', 'grant', 'clientId', 'clientSecret', 'scopes', 'providerProfile'] as const;
/** Server names: what `mcp-airlock NAME` can be (schemas/servers.schema.json has the same pattern). */
export const SERVER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** RFC 9110 §5.6.2 token. */
export const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** `--max-message`'s sizes (4mb, 512KiB, 1048576). */
export const SIZE = /^\d+(\.\d+)?\s*([kmg]i?b?|b)?$/i;

/** Every spelling of `type` hosts write (VS Code, Claude Code, Cursor, Gemini, Cline...), and what it means. */
export const TYPE_SPELLINGS: Readonly<Record<string, ServerType>> = {
  stdio: 'stdio',
  local: 'stdio',
  http: 'http',
  'streamable-http': 'http',
  streamableHttp: 'http',
  streamable_http: 'http',
  streamablehttp: 'http',
  sse: 'sse',
};

export function normalizeType(value: string): ServerType | undefined {
  return Object.hasOwn(TYPE_SPELLINGS, value) ? TYPE_SPELLINGS[value] : undefined;
}

export interface CheckOptions {
  /** Names `mcp-airlock NAME` can never reach (the CLI's commands): a server so named is a warning. */
  reserved?: readonly string[];
}

/** Every problem in `text`, and the servers when there is no error. */
export function checkServersFile(text: string, options: CheckOptions = {}): { servers?: Record<string, ServerEntry>; issues: FileIssue[] } {
  const { value: servers, issues } = readLocated(text, (json) => {
    const reader = new ServersReader(json, options);
    return { value: reader.read(), issues: reader.issues };
  });
  return issues.some((i: FileIssue) => !i.warning) || !servers ? { issues } : { servers, issues };
}

type Json = Record<string, unknown>;

class ServersReader {
  readonly issues: FileIssue[] = [];

  constructor(
    private readonly json: LocatedJson,
    private readonly options: CheckOptions,
  ) {}

  read(): Record<string, ServerEntry> {
    const servers: Record<string, ServerEntry> = {};
    const top = this.object('', this.json.value, TOP_MEMBERS);
    if (!top) return servers;
    if (top.$schema !== undefined && typeof top.$schema !== 'string') this.issue('/$schema', '$schema must be a string (the schema\'s location)');
    if (top.servers !== undefined && top.mcpServers !== undefined) this.issue('/mcpServers', 'write "servers" or "mcpServers", not both');
    const key = top.servers !== undefined ? 'servers' : 'mcpServers';
    if (top[key] === undefined) {
      this.issue('', 'the file has no "servers" member: write { "servers": { "NAME": { ... } } }');
      return servers;
    }
    const list = this.object(`/${key}`, top[key], undefined);
    for (const [name, value] of Object.entries(list ?? {})) {
      const pointer = `/${key}/${pointerToken(name)}`;
      if (!SERVER_NAME.test(name)) this.issue(pointer, `server name ${quote(name)} must be 1-64 letters, digits and . _ - (starting with a letter or digit): it is typed as \`mcp-airlock NAME\``);
      else if (this.options.reserved?.includes(name)) this.warn(pointer, `server ${quote(name)} has the name of a command: \`mcp-airlock ${name}\` runs the command; rename the server`);
      const entry = this.entry(pointer, value);
      if (entry) servers[name] = entry;
    }
    return servers;
  }

  private entry(pointer: string, value: unknown): ServerEntry | undefined {
    const json = this.object(pointer, value, ENTRY_MEMBERS);
    if (!json) return undefined;
    const entry: Partial<ServerEntry> = {};
    const type = this.text(`${pointer}/type`, json.type);
    const command = this.text(`${pointer}/command`, json.command);
    const url = this.text(`${pointer}/url`, json.url);
    let kind: ServerType | undefined = type === undefined ? undefined : normalizeType(type);
    if (type !== undefined && kind === undefined) {
      const near = closest(type, Object.keys(TYPE_SPELLINGS));
      this.issue(`${pointer}/type`, `unknown type ${quote(type)}${near ? ` (did you mean ${quote(near)}?)` : ''}: use stdio, http (also streamable-http, streamableHttp) or sse`);
    }
    if (command !== undefined && url !== undefined) this.issue(`${pointer}/url`, `${displayPath(pointer)} has both "command" and "url": a server is spawned or remote, not both`);
    else if (command === undefined && url === undefined) this.issue(pointer, `${displayPath(pointer)} needs "command" (a server airlock starts) or "url" (a remote server)`);
    kind ??= command !== undefined ? 'stdio' : 'http';
    if (kind === 'stdio' && url !== undefined) this.issue(`${pointer}/type`, `${displayPath(pointer)} is of type stdio but has a "url": use "command", or type http or sse`);
    if (kind !== 'stdio' && command !== undefined) this.issue(`${pointer}/type`, `${displayPath(pointer)} is of type ${kind} but has a "command": use "url", or type stdio`);
    entry.type = kind;
    if (command !== undefined) entry.command = command;
    if (url !== undefined) {
      entry.url = url;
      if (!/^https?:\/\//i.test(url)) this.issue(`${pointer}/url`, `${displayPath(pointer)}.url must be an http:// or https:// URL`);
    }
    const args = this.strings(`${pointer}/args`, json.args);
    if (args) {
      entry.args = args;
      args.forEach((arg, i) => this.references(`${pointer}/args/${i}`, arg, true));
    }
    const env = this.map(`${pointer}/env`, json.env, ENV_NAME, 'an environment variable\'s name');
    if (env) entry.env = env;
    const headers = this.map(`${pointer}/headers`, json.headers, HEADER_NAME, 'a header name');
    if (headers) entry.headers = headers;
    if (kind === 'stdio') for (const member of ['headers', 'auth'] as const) if (json[member] !== undefined) this.issue(`${pointer}/${member}`, `${displayPath(pointer)}.${member} is for remote servers (with "url"); a spawned server takes its secrets in "env"`);
    if (kind !== 'stdio') for (const member of ['args', 'env', 'cwd'] as const) if (json[member] !== undefined) this.issue(`${pointer}/${member}`, `${displayPath(pointer)}.${member} is for spawned servers (with "command")`);
    const cwd = this.text(`${pointer}/cwd`, json.cwd);
    if (cwd !== undefined) entry.cwd = cwd;
    const policyFile = this.text(`${pointer}/policyFile`, json.policyFile);
    if (policyFile !== undefined) entry.policyFile = policyFile;
    const storage = this.choice(`${pointer}/storage`, json.storage, storageModes);
    if (storage !== undefined) entry.storage = storage;
    const protocol = this.choice(`${pointer}/protocol`, json.protocol, PROTOCOL_CHOICES);
    if (protocol !== undefined) entry.protocol = protocol;
    if (json.share !== undefined) {
      if (typeof json.share === 'boolean') entry.share = json.share;
      else this.issue(`${pointer}/share`, `${displayPath(pointer)}.share must be true or false`);
    }
    if (json.idleTimeout !== undefined) {
      if (typeof json.idleTimeout === 'number' && Number.isFinite(json.idleTimeout) && json.idleTimeout >= 0) entry.idleTimeout = json.idleTimeout;
      else this.issue(`${pointer}/idleTimeout`, `${displayPath(pointer)}.idleTimeout must be a number of seconds (0: never)`);
    }
    if (json.maxMessage !== undefined) {
      const size = json.maxMessage;
      if ((typeof size === 'number' && Number.isInteger(size) && size >= 1) || (typeof size === 'string' && SIZE.test(size.trim()))) entry.maxMessage = size;
      else this.issue(`${pointer}/maxMessage`, `${displayPath(pointer)}.maxMessage must be a size such as "4mb", "512kb" or a number of bytes`);
    }
    const auth = json.auth === undefined ? undefined : this.auth(`${pointer}/auth`, json.auth);
    if (auth) entry.auth = auth;
    return entry as ServerEntry;
  }

  private auth(pointer: string, value: unknown): ServerAuth | undefined {
    const json = this.object(pointer, value, AUTH_MEMBERS);
    if (!json) return undefined;
    const auth: ServerAuth = {};
    for (const member of ['account', 'clientId', 'clientSecret'] as const) {
      const text = this.text(`${pointer}/${member}`, json[member]);
      if (text !== undefined) auth[member] = text;
    }
    if (auth.clientSecret !== undefined) {
      const { references } = findReferences(auth.clientSecret);
      if (references.length !== 1 || references[0]!.text !== auth.clientSecret) this.issue(`${pointer}/clientSecret`, `${displayPath(pointer)}.clientSecret must be one reference, such as "\${keychain:NAME}": never the secret itself`);
      else this.references(`${pointer}/clientSecret`, auth.clientSecret, false);
    }
    const grant = this.choice(`${pointer}/grant`, json.grant, GRANTS);
    if (grant !== undefined) auth.grant = grant;
    const profile = this.choice(`${pointer}/providerProfile`, json.providerProfile, ['auto', ...PROVIDER_PROFILES]);
    if (profile !== undefined) auth.providerProfile = profile;
    if (json.scopes !== undefined) {
      const scopes = typeof json.scopes === 'string' ? json.scopes.split(/\s+/).filter(Boolean) : this.strings(`${pointer}/scopes`, json.scopes);
      if (scopes) auth.scopes = scopes;
    }
    return auth;
  }

  /** A map of names to strings (env, headers), each value checked for references and clear-text secrets. */
  private map(pointer: string, value: unknown, name: RegExp, what: string): Record<string, string> | undefined {
    const json = this.object(pointer, value, undefined, true);
    if (!json) return undefined;
    const out: Record<string, string> = {};
    for (const [key, item] of Object.entries(json)) {
      const at = `${pointer}/${pointerToken(key)}`;
      if (!name.test(key)) this.issue(at, `${quote(key)} is not ${what}`);
      if (typeof item !== 'string') {
        this.issue(at, `${displayPath(at)} must be a string`);
        continue;
      }
      out[key] = item;
      this.references(at, item, false);
      if (looksLikeSecret(key, item)) this.warn(at, `${displayPath(at)} looks like a secret in clear text: store it with \`mcp-airlock secret set NAME\` and write \${keychain:NAME}`);
    }
    return out;
  }

  private references(pointer: string, value: string, inArgs: boolean): void {
    const { references, problem } = findReferences(value);
    if (problem) this.issue(pointer, `${displayPath(pointer)}: ${problem}`);
    else if (inArgs && references.some((r) => r.kind !== 'env')) {
      this.warn(pointer, `${displayPath(pointer)}: a secret in "args" is in the server's command line, which other local users can see; pass it in "env" if the server can read it there`);
    }
  }

  // --- member readers: each records an issue and returns undefined when the value is wrong ---

  private object(pointer: string, value: unknown, known: readonly string[] | undefined, optional = false): Json | undefined {
    if (value === undefined && optional) return undefined;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.issue(pointer, `${pointer === '' ? 'the file' : displayPath(pointer)} must be a JSON object`);
      return undefined;
    }
    for (const key of Object.keys(value)) {
      if (known && !known.includes(key)) {
        const near = closest(key, known);
        const where = pointer === '' ? '' : ` in ${displayPath(pointer)}`;
        this.issue(`${pointer}/${pointerToken(key)}`, `unknown member ${quote(key)}${where}${near ? ` (did you mean ${quote(near)}?)` : ''}; known: ${known.join(', ')}`);
      }
    }
    return value as Json;
  }

  private text(pointer: string, value: unknown): string | undefined {
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || value === '') {
      this.issue(pointer, `${displayPath(pointer)} must be a non-empty string`);
      return undefined;
    }
    return value;
  }

  private strings(pointer: string, value: unknown): string[] | undefined {
    if (value === undefined) return undefined;
    if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
      this.issue(pointer, `${displayPath(pointer)} must be a list of strings`);
      return undefined;
    }
    return value as string[];
  }

  private choice<T extends string>(pointer: string, value: unknown, choices: readonly T[]): T | undefined {
    const text = this.text(pointer, value);
    if (text === undefined) return undefined;
    if ((choices as readonly string[]).includes(text)) return text as T;
    const near = closest(text, choices);
    this.issue(pointer, `${displayPath(pointer)} is ${quote(text)}${near ? ` (did you mean ${quote(near)}?)` : ''}: use ${choices.join(', ')}`);
    return undefined;
  }

  private issue(pointer: string, message: string): void {
    if (this.issues.length < 100) this.issues.push({ pointer, ...(this.json.locate(pointer) ?? { line: 1, column: 1 }), message });
  }

  private warn(pointer: string, message: string): void {
    if (this.issues.length < 100) this.issues.push({ pointer, ...(this.json.locate(pointer) ?? { line: 1, column: 1 }), message, warning: true });
  }
}
