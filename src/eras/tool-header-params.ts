/**
 * `x-mcp-header` annotations (2026-07-28 server/tools.mdx "x-mcp-header"; streamable-http.mdx
 * "Custom Headers from Tool Parameters"): a tool's inputSchema may mark parameters whose values an
 * HTTP client mirrors into `Mcp-Param-{Name}` headers. An HTTP client MUST drop a tool whose
 * annotations break the rules, so one bad tool does not make the whole listing unusable.
 */
import { quote } from '../errors.js';

/** One annotated parameter of a tool. */
export interface HeaderParam {
  /** The property name; for a nested property, its path joined with dots (for messages only). */
  property: string;
  /** The `{Name}` of `Mcp-Param-{Name}`, as declared (case kept; compared ignoring case). */
  header: string;
  type: 'string' | 'integer' | 'boolean';
  /**
   * The chain of `properties` keys from the arguments root, present only for a nested property
   * (the spec allows any depth as long as every step is a `properties` key). A top-level
   * property's path is `[property]`.
   */
  path?: string[];
}

export type ToolHeaderParamsResult = { ok: true; params: HeaderParam[] } | { ok: false; reason: string };

const ANNOTATION = 'x-mcp-header';

/** RFC 9110 §5.6.2 `token` (1*tchar): excludes empty, spaces, control characters and delimiters. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

const HEADER_TYPES = new Set(['string', 'integer', 'boolean']);

/** Keywords whose value is one subschema or an array of them: never part of a `properties` chain. */
const SUBSCHEMA_KEYWORDS = [
  'items', 'prefixItems', 'additionalItems', 'contains', 'additionalProperties', 'unevaluatedProperties',
  'unevaluatedItems', 'propertyNames', 'not', 'if', 'then', 'else', 'allOf', 'anyOf', 'oneOf',
];
/** Keywords whose value maps names to subschemas; `properties` is the only one that keeps reachability. */
const SUBSCHEMA_MAP_KEYWORDS = ['patternProperties', 'dependentSchemas', 'dependencies', '$defs', 'definitions'];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A schema `type` value for a message: quoted, since it comes from the server. */
function describeType(type: unknown): string {
  if (type === undefined) return 'none';
  if (Array.isArray(type)) return `[${type.slice(0, 8).map((t) => quote(String(t), 40)).join(', ')}]`;
  return quote(String(type), 40);
}

/** RFC 6901 JSON Pointer of a schema location, for messages ("" is the schema root). */
function pointer(segments: readonly string[]): string {
  return segments.map((s) => `/${s.replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}

/**
 * The one header-capable type of a property: `"string"`, `"integer"` or `"boolean"`, or such a
 * type together with `"null"` (`["string", "null"]`: the spec's "value is null → omit the header"
 * row covers nullable parameters). Anything else, `number` included, is refused.
 */
function headerType(type: unknown): HeaderParam['type'] | undefined {
  if (typeof type === 'string') return HEADER_TYPES.has(type) ? (type as HeaderParam['type']) : undefined;
  if (!Array.isArray(type)) return undefined;
  const others = type.filter((t) => t !== 'null');
  if (others.length !== 1 || type.length - others.length > 1) return undefined;
  return headerType(others[0]);
}

/** A schema location as a chain to its parent: pushing a child is O(1), whatever the depth. */
interface Step {
  parent: Step | undefined;
  key: string;
}

function keysOf(step: Step | undefined): string[] {
  const keys: string[] = [];
  for (let at = step; at !== undefined; at = at.parent) keys.push(at.key);
  return keys.reverse();
}

interface Pending {
  schema: unknown;
  /** Schema location (for messages). */
  at: Step | undefined;
  /** Property path from the arguments root; undefined at the root and wherever `reachable` is false. */
  path: Step | undefined;
  /** Reached from the root through `properties` keys alone. */
  reachable: boolean;
}

/** More annotated parameters than this is no real tool: refused, so no schema can make us build huge lists. */
export const MAX_HEADER_PARAMS = 64;

function fault(reason: string): ToolHeaderParamsResult {
  return { ok: false, reason };
}

/**
 * Read and check the `x-mcp-header` annotations of one tool definition. The rules (tools.mdx):
 * the value is a non-empty RFC 9110 token (which also excludes CR, LF and every other control
 * character), unique ignoring case within the schema; only on a property of type string, integer
 * or boolean (not number); only on a property reached from the root through `properties` keys
 * alone, so an annotation under items, additionalProperties, allOf/anyOf/oneOf/not, if/then/else,
 * $defs (where `$ref` points) or on the schema root itself makes the tool invalid. Our own limit:
 * at most {@link MAX_HEADER_PARAMS} annotations.
 *
 * A tool without an object inputSchema has no annotations (`ok`, no params); so has a non-object
 * tool: checking the rest of a tool definition is the peers' business, not ours.
 */
export function toolHeaderParams(tool: unknown): ToolHeaderParamsResult {
  const inputSchema = isRecord(tool) ? tool.inputSchema : undefined;
  const params: HeaderParam[] = [];
  const seen = new Map<string, string>();
  // An explicit stack rather than recursion: a hostile schema nested thousands deep must not
  // overflow the call stack. `visited` guards against shared or cyclic objects (not from JSON).
  const stack: Pending[] = [{ schema: inputSchema, at: undefined, path: undefined, reachable: true }];
  const visited = new Set<object>();
  while (stack.length > 0) {
    const { schema, at, path, reachable } = stack.pop()!;
    if (!isRecord(schema) || visited.has(schema)) continue;
    visited.add(schema);

    if (Object.hasOwn(schema, ANNOTATION)) {
      const where = `at ${quote(pointer(keysOf(at)))}`;
      if (!reachable || path === undefined) {
        return fault(
          `x-mcp-header ${where} is not on a property reached through "properties" alone (not the schema root, items, additionalProperties, allOf/anyOf/oneOf/not, if/then/else or $defs)`,
        );
      }
      const header = schema[ANNOTATION];
      if (typeof header !== 'string' || header.length === 0) return fault(`x-mcp-header ${where} must be a non-empty string`);
      if (!TOKEN.test(header)) {
        return fault(`x-mcp-header ${quote(header)} ${where} is not an RFC 9110 token (letters, digits and !#$%&'*+-.^_\`|~ only)`);
      }
      const type = headerType(schema.type);
      if (type === undefined) {
        return fault(`x-mcp-header ${quote(header)} ${where} is on a property of type ${describeType(schema.type)}; only string, integer and boolean are allowed`);
      }
      const earlier = seen.get(header.toLowerCase());
      if (earlier !== undefined) return fault(`x-mcp-header ${quote(header)} ${where} repeats ${quote(earlier)}; names must be unique ignoring case`);
      if (params.length === MAX_HEADER_PARAMS) return fault(`more than ${MAX_HEADER_PARAMS} x-mcp-header annotations`);
      seen.set(header.toLowerCase(), header);
      const keys = keysOf(path);
      const param: HeaderParam = { property: keys.join('.'), header, type };
      if (keys.length > 1) param.path = keys;
      params.push(param);
    }

    // Pushed in reverse, so that properties are checked in their written order (stable messages).
    const next: Pending[] = [];
    const child = (value: unknown, keys: string[], property?: string): void => {
      let step = at;
      for (const key of keys) step = { parent: step, key };
      const keepsPath = reachable && property !== undefined;
      next.push({ schema: value, at: step, path: keepsPath ? { parent: path, key: property } : undefined, reachable: keepsPath });
    };
    if (isRecord(schema.properties)) {
      for (const [key, value] of Object.entries(schema.properties)) child(value, ['properties', key], key);
    }
    for (const keyword of SUBSCHEMA_KEYWORDS) {
      const value = schema[keyword];
      if (Array.isArray(value)) value.forEach((item, i) => child(item, [keyword, String(i)]));
      else child(value, [keyword]);
    }
    for (const keyword of SUBSCHEMA_MAP_KEYWORDS) {
      const value = schema[keyword];
      if (!isRecord(value)) continue;
      for (const [key, item] of Object.entries(value)) child(item, [keyword, key]);
    }
    for (let i = next.length - 1; i >= 0; i--) stack.push(next[i]!);
  }
  return { ok: true, params };
}

function toolsOf(result: unknown): unknown[] | undefined {
  return isRecord(result) && Array.isArray(result.tools) ? result.tools : undefined;
}

function nameOf(tool: unknown): string | undefined {
  return isRecord(tool) && typeof tool.name === 'string' ? tool.name : undefined;
}

/**
 * What a bridge knows about the tools of one server: each listed tool's annotated parameters,
 * learned from `tools/list` results as they pass, so that a later `tools/call` can carry its
 * `Mcp-Param-*` headers (streamable-http.mdx, "Client Behavior" step 3).
 */
export class ToolHeaderIndex {
  readonly #params = new Map<string, HeaderParam[]>();

  /**
   * Learn from one `tools/list` result page. Returns the tools a Streamable HTTP client must drop
   * (invalid annotations), with the reason to log. Pages accumulate, as cursor pagination needs;
   * a tool seen again replaces its entry, and a tool now invalid is forgotten. Call {@link clear}
   * first when a listing starts over (a request without a cursor, or after list_changed).
   * Entries without a string name are neither learned nor reported.
   */
  learn(result: unknown): { dropped: Array<{ name: string; reason: string }> } {
    const dropped: Array<{ name: string; reason: string }> = [];
    for (const tool of toolsOf(result) ?? []) {
      const name = nameOf(tool);
      if (name === undefined) continue;
      const verdict = toolHeaderParams(tool);
      if (verdict.ok) {
        this.#params.set(name, verdict.params);
      } else {
        this.#params.delete(name);
        dropped.push({ name, reason: verdict.reason });
      }
    }
    return { dropped };
  }

  /**
   * The annotated parameters of a learned tool: an empty array for a tool that has none, undefined
   * for a tool never listed (or dropped): then the caller does not know which headers it needs.
   */
  paramsFor(toolName: string): HeaderParam[] | undefined {
    return this.#params.get(toolName);
  }

  /** How many tools are known (with or without annotated parameters). */
  get size(): number {
    return this.#params.size;
  }

  clear(): void {
    this.#params.clear();
  }
}

/**
 * A `tools/list` result without the named tools, as a new object (the input is never changed), so
 * a client sees the valid tools of a listing with a bad one in it. Returns the input itself when
 * none of its tools is named, so an unchanged result keeps its original bytes downstream.
 */
export function withoutTools(result: unknown, names: Set<string>): unknown {
  const tools = toolsOf(result);
  if (tools === undefined || names.size === 0) return result;
  const kept = tools.filter((tool) => {
    const name = nameOf(tool);
    return name === undefined || !names.has(name);
  });
  if (kept.length === tools.length) return result;
  return { ...(result as Record<string, unknown>), tools: kept };
}
