/**
 * The part of TOML (v1.0.0) that Codex's `~/.codex/config.toml` uses for MCP servers, read and
 * written without a TOML library: tables `[mcp_servers.NAME]` and `[mcp_servers.NAME.env]`, keys
 * bare or quoted, values that are strings (basic and literal), arrays of strings (over several
 * lines too), inline tables, booleans and numbers; `#` comments. Anything else in the file is
 * skipped when reading and left untouched when writing, since only the `mcp_servers` tables are ours.
 */

type Value = string | number | boolean | Value[] | { [key: string]: Value };

export class TomlSyntaxError extends Error {
  constructor(
    readonly reason: string,
    readonly line: number,
  ) {
    super(`${reason} at line ${line}`);
  }
}

class Cursor {
  at = 0;
  constructor(
    readonly text: string,
    readonly line: number,
  ) {}
  fail(reason: string): never {
    throw new TomlSyntaxError(reason, this.line);
  }
  space(): void {
    while (this.at < this.text.length && /[ \t\r\n]/.test(this.text[this.at]!)) this.at++;
    if (this.text[this.at] === '#') {
      const end = this.text.indexOf('\n', this.at);
      this.at = end === -1 ? this.text.length : end;
      this.space();
    }
  }
  key(): string {
    this.space();
    const c = this.text[this.at];
    if (c === '"' || c === "'") return this.string();
    const match = /^[A-Za-z0-9_-]+/.exec(this.text.slice(this.at));
    if (!match) this.fail(`expected a key, found ${JSON.stringify(c ?? 'the end of the line')}`);
    this.at += match[0].length;
    return match[0];
  }
  dottedKey(): string[] {
    const keys = [this.key()];
    for (this.space(); this.text[this.at] === '.'; this.space()) {
      this.at++;
      keys.push(this.key());
    }
    return keys;
  }
  string(): string {
    const quote = this.text[this.at]!;
    this.at++;
    let out = '';
    while (this.at < this.text.length && this.text[this.at] !== quote) {
      const c = this.text[this.at++]!;
      if (c === '\n') this.fail('a string cannot span lines here');
      if (quote === "'" || c !== '\\') {
        out += c;
        continue;
      }
      const e = this.text[this.at++];
      const simple: Record<string, string> = { b: '\b', t: '\t', n: '\n', f: '\f', r: '\r', '"': '"', '\\': '\\' };
      if (e !== undefined && Object.hasOwn(simple, e)) out += simple[e];
      else if (e === 'u' || e === 'U') {
        const hex = this.text.slice(this.at, this.at + (e === 'u' ? 4 : 8));
        if (!/^[0-9a-fA-F]+$/.test(hex)) this.fail('bad unicode escape');
        out += String.fromCodePoint(parseInt(hex, 16));
        this.at += hex.length;
      } else this.fail(`bad escape \\${e ?? ''}`);
    }
    if (this.text[this.at] !== quote) this.fail('unterminated string');
    this.at++;
    return out;
  }
  value(): Value {
    this.space();
    const c = this.text[this.at];
    if (c === '"' || c === "'") {
      if (this.text.startsWith(c.repeat(3), this.at)) this.fail('multi-line strings are not supported here');
      return this.string();
    }
    if (c === '[') {
      this.at++;
      const list: Value[] = [];
      for (this.space(); this.text[this.at] !== ']'; this.space()) {
        list.push(this.value());
        this.space();
        if (this.text[this.at] === ',') this.at++;
        else if (this.text[this.at] !== ']') this.fail('expected "," or "]" in an array');
      }
      this.at++;
      return list;
    }
    if (c === '{') {
      this.at++;
      const table: { [key: string]: Value } = {};
      for (this.space(); this.text[this.at] !== '}'; this.space()) {
        const keys = this.dottedKey();
        this.space();
        if (this.text[this.at++] !== '=') this.fail('expected "=" in an inline table');
        assign(table, keys, this.value(), this.line);
        this.space();
        if (this.text[this.at] === ',') this.at++;
        else if (this.text[this.at] !== '}') this.fail('expected "," or "}" in an inline table');
      }
      this.at++;
      return table;
    }
    const word = /^[^\s,\]}#]+/.exec(this.text.slice(this.at))?.[0] ?? '';
    this.at += word.length;
    if (word === 'true' || word === 'false') return word === 'true';
    if (/^[+-]?\d[\d_]*(\.\d+)?([eE][+-]?\d+)?$/.test(word)) return Number(word.replace(/_/g, ''));
    return this.fail(`unsupported value ${JSON.stringify(word || c || '')}`);
  }
}

function assign(table: { [key: string]: Value }, keys: string[], value: Value, line: number): void {
  let at = table;
  for (const key of keys.slice(0, -1)) {
    const next = Object.hasOwn(at, key) ? at[key] : (at[key] = {});
    if (typeof next !== 'object' || Array.isArray(next)) throw new TomlSyntaxError(`${keys.join('.')} is set twice`, line);
    at = next;
  }
  Object.defineProperty(at, keys[keys.length - 1]!, { value, enumerable: true, writable: true, configurable: true });
}

/** Statements: a table header or a `key = value`, with the line it starts on; values may span lines. */
function* statements(text: string): Generator<{ line: number; cursor: Cursor; header?: string[] }> {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const trimmed = lines[i]!.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    if (trimmed.startsWith('[')) {
      const cursor = new Cursor(trimmed.replace(/^\[\[?/, ''), i + 1);
      yield { line: i + 1, cursor, header: trimmed.startsWith('[[') ? ['[['] : cursor.dottedKey() };
      continue;
    }
    // A value may go on over lines (an array): take lines until the brackets close.
    let chunk = lines[i]!;
    const start = i;
    while (unclosed(chunk) && i + 1 < lines.length) chunk += `\n${lines[++i]!}`;
    yield { line: start + 1, cursor: new Cursor(chunk, start + 1) };
  }
}

function unclosed(text: string): boolean {
  let depth = 0;
  let quote = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = '';
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '#') {
      const end = text.indexOf('\n', i);
      if (end === -1) break;
      i = end;
    } else if (c === '[' || c === '{') depth++;
    else if (c === ']' || c === '}') depth--;
  }
  return depth > 0;
}

/** The `mcp_servers` table of a Codex config: NAME to its table. Throws TomlSyntaxError. */
export function readCodexServers(text: string): Record<string, Record<string, unknown>> {
  const root: { [key: string]: Value } = {};
  let table: string[] = [];
  for (const { cursor, header } of statements(text)) {
    if (header) {
      table = header[0] === '[[' ? ['[['] : header;
      continue;
    }
    // Only what is under mcp_servers is read; other tables may use TOML this reader does not know.
    const keys = cursor.dottedKey();
    const full = [...table, ...keys];
    if (full[0] !== 'mcp_servers') continue;
    cursor.space();
    if (cursor.text[cursor.at++] !== '=') cursor.fail('expected "=" after the key');
    assign(root, full, cursor.value(), cursor.line);
  }
  const servers = root.mcp_servers;
  return typeof servers === 'object' && !Array.isArray(servers) ? (servers as Record<string, Record<string, unknown>>) : {};
}

function tomlString(value: string): string {
  return JSON.stringify(value).replace(/[\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function tomlKey(key: string): string {
  return /^[A-Za-z0-9_-]+$/.test(key) ? key : tomlString(key);
}

/**
 * `text` with the tables of `servers` (NAME to `{ command, args }`) set: the tables of those
 * names (`[mcp_servers.NAME]` and below) are removed where they are and the new ones appended; the
 * rest of the file stays as it was.
 */
export function setCodexServers(text: string, servers: Record<string, { command: string; args: string[] }>): string {
  const names = new Set(Object.keys(servers));
  const kept: string[] = [];
  let dropping = false;
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed.startsWith('[')) {
      let header: string[] = [];
      try {
        header = new Cursor(trimmed.replace(/^\[\[?/, ''), 0).dottedKey();
      } catch {
        header = [];
      }
      dropping = header[0] === 'mcp_servers' && header[1] !== undefined && names.has(header[1]);
    }
    if (!dropping) kept.push(line);
  }
  let out = kept.join('\n');
  if (out !== '' && !out.endsWith('\n')) out += '\n';
  for (const [name, { command, args }] of Object.entries(servers)) {
    out += `${out === '' ? '' : '\n'}[mcp_servers.${tomlKey(name)}]\ncommand = ${tomlString(command)}\nargs = [${args.map(tomlString).join(', ')}]\n`;
  }
  return out;
}
