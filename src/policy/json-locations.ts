/**
 * A strict JSON reader (RFC 8259) that remembers where each member and element starts, so a
 * policy checker can say "line 12, column 7" instead of "somewhere in the file". `JSON.parse`
 * gives no positions, and silently keeps the last of two members with the same name: here a
 * duplicate is an error, because a second `"effect"` in a rule must never quietly win.
 *
 * Positions are 1-based lines and columns (UTF-16 code units, as editors count for most text),
 * keyed by JSON Pointer (RFC 6901): `/rules/3/effect` is where the key `"effect"` of the fourth
 * rule starts; `""` is the document itself.
 *
 * With `jsonc`, the text may also have what editors' settings files allow (VS Code's and Zed's
 * JSONC): `//` and `/* *\/` comments and a trailing comma. `span` gives where each value starts and
 * ends, so that a host's config can be edited in place, its comments and other settings left alone.
 */

export interface JsonLocation {
  line: number;
  column: number;
}

export interface LocatedJson {
  value: unknown;
  /** Where the member or element at this pointer starts (its key, for a member). */
  locate(pointer: string): JsonLocation | undefined;
  /** The character offsets of the value at this pointer: its first character, and the one after its last. */
  span(pointer: string): { start: number; end: number } | undefined;
}

/** What the text may hold beyond RFC 8259. */
export interface JsonDialect {
  /** Comments and trailing commas (JSONC, as VS Code and Zed settings files have them). */
  jsonc?: boolean;
}

/** The text is not JSON: what was wrong and where. */
export class JsonSyntaxError extends Error {
  override readonly name = 'JsonSyntaxError';
  constructor(
    readonly reason: string,
    readonly location: JsonLocation,
  ) {
    super(`${reason} at line ${location.line}, column ${location.column}`);
  }
}

/** RFC 6901 §3: `~` becomes `~0` and `/` becomes `~1` in a reference token. */
export function pointerToken(key: string | number): string {
  return typeof key === 'number' ? String(key) : key.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Deeper than this is refused (a policy is a few levels deep; this bounds the recursion). */
const MAX_DEPTH = 64;

/** Parse `text`, recording the start of every member and element. Throws JsonSyntaxError. */
export function parseLocatedJson(text: string, dialect: JsonDialect = {}): LocatedJson {
  const locations = new Map<string, number>();
  const spans = new Map<string, { start: number; end: number }>();
  let at = text.charCodeAt(0) === 0xfeff ? 1 : 0; // a BOM is not JSON, but editors write one

  const fail = (reason: string, offset = at): never => {
    throw new JsonSyntaxError(reason, locationOf(text, offset));
  };
  const describe = (offset: number): string => (offset >= text.length ? 'the end of the text' : JSON.stringify(text[offset]));
  const skipSpace = (): void => {
    while (at < text.length) {
      const c = text.charCodeAt(at);
      if (dialect.jsonc && text[at] === '/' && text[at + 1] === '/') {
        const end = text.indexOf('\n', at);
        at = end === -1 ? text.length : end;
        continue;
      }
      if (dialect.jsonc && text[at] === '/' && text[at + 1] === '*') {
        const end = text.indexOf('*/', at + 2);
        if (end === -1) fail('unterminated comment');
        at = end + 2;
        continue;
      }
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return;
      at++;
    }
  };
  /** After a ",": in JSONC the closing bracket may follow. */
  const trailing = (close: string): boolean => {
    if (!dialect.jsonc) return false;
    skipSpace();
    if (text[at] !== close) return false;
    at++;
    return true;
  };
  const expect = (char: string, what: string): void => {
    if (text[at] !== char) fail(`expected ${what}, found ${describe(at)}`);
    at++;
  };

  const readString = (): string => {
    const start = at;
    at++; // the opening quote
    let out = '';
    let run = at;
    for (;;) {
      if (at >= text.length) fail('unterminated string', start);
      const c = text.charCodeAt(at);
      if (c === 0x22) break;
      if (c < 0x20) fail('a control character must be escaped inside a string');
      if (c !== 0x5c) {
        at++;
        continue;
      }
      out += text.slice(run, at);
      const escape = text[at + 1];
      const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
      if (escape !== undefined && Object.hasOwn(simple, escape)) {
        out += simple[escape];
        at += 2;
      } else if (escape === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(at + 2, at + 6))) {
        out += String.fromCharCode(parseInt(text.slice(at + 2, at + 6), 16));
        at += 6;
      } else {
        fail(`invalid escape ${JSON.stringify(text.slice(at, at + 2))} in a string`);
      }
      run = at;
    }
    out += text.slice(run, at);
    at++; // the closing quote
    return out;
  };

  const readNumber = (): number => {
    const match = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(at, at + 400));
    if (!match) return fail(`unexpected ${describe(at)}`);
    at += match[0].length;
    return Number(match[0]);
  };

  const readValue = (pointer: string, depth: number): unknown => {
    skipSpace();
    const start = at;
    const value = readBare(pointer, depth);
    spans.set(pointer, { start, end: at });
    return value;
  };

  const readBare = (pointer: string, depth: number): unknown => {
    if (depth > MAX_DEPTH) fail(`nested deeper than ${MAX_DEPTH} levels`);
    const c = text[at];
    if (c === '{') return readObject(pointer, depth);
    if (c === '[') return readArray(pointer, depth);
    if (c === '"') return readString();
    for (const [word, value] of [['true', true], ['false', false], ['null', null]] as const) {
      if (text.startsWith(word, at)) {
        at += word.length;
        return value;
      }
    }
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return readNumber();
    return fail(at >= text.length ? 'unexpected end of the text: a value is missing' : `unexpected ${describe(at)}: expected a value`);
  };

  const readObject = (pointer: string, depth: number): Record<string, unknown> => {
    const object: Record<string, unknown> = {};
    const seen = new Set<string>();
    at++; // {
    skipSpace();
    if (text[at] === '}') {
      at++;
      return object;
    }
    for (;;) {
      skipSpace();
      if (text[at] !== '"') fail(`expected a member name in double quotes, found ${describe(at)}`);
      const keyAt = at;
      const key = readString();
      if (seen.has(key)) fail(`duplicate member ${JSON.stringify(key)}`, keyAt);
      seen.add(key);
      const child = `${pointer}/${pointerToken(key)}`;
      locations.set(child, keyAt);
      skipSpace();
      expect(':', '":" after the member name');
      // defineProperty, not assignment: a member named "__proto__" stays an ordinary member.
      Object.defineProperty(object, key, { value: readValue(child, depth + 1), enumerable: true, writable: true, configurable: true });
      skipSpace();
      if (text[at] === ',') {
        at++;
        if (trailing('}')) return object;
        continue;
      }
      expect('}', '"," or "}" after a member');
      return object;
    }
  };

  const readArray = (pointer: string, depth: number): unknown[] => {
    const array: unknown[] = [];
    at++; // [
    skipSpace();
    if (text[at] === ']') {
      at++;
      return array;
    }
    for (;;) {
      skipSpace();
      const child = `${pointer}/${array.length}`;
      locations.set(child, at);
      array.push(readValue(child, depth + 1));
      skipSpace();
      if (text[at] === ',') {
        at++;
        if (trailing(']')) return array;
        continue;
      }
      expect(']', '"," or "]" after an element');
      return array;
    }
  };

  locations.set('', at);
  const value = readValue('', 0);
  skipSpace();
  if (at < text.length) fail(`unexpected ${describe(at)} after the end of the document`);
  return {
    value,
    locate: (pointer) => {
      const offset = locations.get(pointer);
      return offset === undefined ? undefined : locationOf(text, offset);
    },
    span: (pointer) => spans.get(pointer),
  };
}

/** 1-based line and column of a character offset. */
export function locationOf(text: string, offset: number): JsonLocation {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, column: offset - lineStart + 1 };
}
