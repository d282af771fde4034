/**
 * Edit a JSON (or JSONC) file as a person would: set members of one object and leave every other
 * character where it was: comments, the order and formatting of other settings, the final newline.
 * An MCP host's settings file holds far more than its servers (Zed's and VS Code's are the user's
 * whole editor settings), so rewriting it from a parsed value would lose what is not ours.
 */
import { parseLocatedJson, pointerToken } from '../policy/json-locations.js';

/** The indentation unit the text uses (that of its first indented line), else two spaces. */
function indentUnit(text: string): string {
  return /\n([ \t]+)\S/.exec(text)?.[1] ?? '  ';
}

/** The leading whitespace of the line holding `offset`. */
function lineIndent(text: string, offset: number): string {
  const start = text.lastIndexOf('\n', offset - 1) + 1;
  return /^[ \t]*/.exec(text.slice(start))![0];
}

function serialize(value: unknown, unit: string, indent: string): string {
  return JSON.stringify(value, null, unit).replace(/\n/g, `\n${indent}`);
}

/**
 * `text` with `members` set in the object at `path` (a list of member names from the top): a
 * member that exists gets the new value in place, one that does not is added at the end of the
 * object, and a missing object is added to its parent. Throws when the text is not JSON(C) or
 * something on the path is not an object (the caller says which file).
 */
export function setMembers(text: string, path: readonly string[], members: Record<string, unknown>): string {
  const unit = indentUnit(text);
  let out = text.trim() === '' ? '{}\n' : text;
  for (const [name, value] of Object.entries(members)) {
    const located = parseLocatedJson(out, { jsonc: true });
    // The deepest object of the path that exists, and what is missing below it.
    let depth = 0;
    let holder: unknown = located.value;
    while (depth < path.length && isObject(holder) && Object.hasOwn(holder, path[depth]!)) holder = holder[path[depth++]!];
    if (!isObject(holder)) throw new Error(`${path.slice(0, depth).join('.') || 'the document'} is not a JSON object`);
    const missing = [...path.slice(depth), name];
    let nested: unknown = value;
    for (const key of missing.slice(1).reverse()) nested = { [key]: nested };
    const pointer = path.slice(0, depth).map((k) => `/${pointerToken(k)}`).join('');
    const target = `${pointer}/${pointerToken(missing[0]!)}`;
    const existing = located.span(target);
    const objectSpan = located.span(pointer)!;
    if (existing && missing.length === 1) {
      out = out.slice(0, existing.start) + serialize(nested, unit, lineIndent(out, existing.start)) + out.slice(existing.end);
      continue;
    }
    const outer = lineIndent(out, objectSpan.start);
    const indent = outer + unit;
    const member = `"${missing[0]!.replace(/["\\]/g, '\\$&')}": ${serialize(nested, unit, indent)}`;
    const keys = Object.keys(holder);
    if (keys.length === 0) {
      out = `${out.slice(0, objectSpan.start)}{\n${indent}${member}\n${outer}}${out.slice(objectSpan.end)}`;
    } else {
      const last = located.span(`${pointer}/${pointerToken(keys[keys.length - 1]!)}`)!;
      out = `${out.slice(0, last.end)},\n${indent}${member}${out.slice(last.end)}`;
    }
  }
  return out;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
