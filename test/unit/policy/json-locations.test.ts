import { describe, expect, it } from 'vitest';
import { JsonSyntaxError, locationOf, parseLocatedJson, pointerToken } from '../../../src/policy/json-locations.js';

function syntaxError(text: string): JsonSyntaxError {
  try {
    parseLocatedJson(text);
  } catch (error) {
    expect(error).toBeInstanceOf(JsonSyntaxError);
    return error as JsonSyntaxError;
  }
  throw new Error(`parsed without error: ${text}`);
}

describe('parseLocatedJson', () => {
  it('reads what JSON.parse reads, to the same value', () => {
    const texts = [
      '{}',
      '[]',
      ' {"a": [1, -2.5e3, 0, true, false, null, "x"], "b": {"c": {}}} ',
      '"\\u00e9\\n\\t\\"\\\\\\/"',
      '[[[[]]], {"": ""}]',
      '-0',
      '1E+2',
      '"caf\u00e9 \ud83d\ude00"',
      '{"a":1,"b":[{"c":null}]}',
    ];
    for (const text of texts) expect(parseLocatedJson(text).value, text).toEqual(JSON.parse(text));
  });

  it('refuses what JSON.parse refuses', () => {
    for (const text of ['', '{', '{"a":}', '{"a" 1}', '[1,]', '{,}', "{'a':1}", '01', '1.', '.5', '+1', 'tru', '"a', '"\t"', '"\\x"', '{"a":1}x', 'NaN', '[1 2]']) {
      expect(() => JSON.parse(text), text).toThrow();
      expect(() => parseLocatedJson(text), text).toThrow(JsonSyntaxError);
    }
  });

  it('records where each member key and each element starts, by JSON Pointer', () => {
    const text = '{\n  "rules": [\n    {"id": "a"},\n    {"effect": "deny", "a/b~c": 1}\n  ]\n}';
    const json = parseLocatedJson(text);
    expect(json.locate('')).toEqual({ line: 1, column: 1 });
    expect(json.locate('/rules')).toEqual({ line: 2, column: 3 });
    expect(json.locate('/rules/0')).toEqual({ line: 3, column: 5 });
    expect(json.locate('/rules/0/id')).toEqual({ line: 3, column: 6 });
    expect(json.locate('/rules/1/effect')).toEqual({ line: 4, column: 6 });
    expect(json.locate(`/rules/1/${pointerToken('a/b~c')}`)).toEqual({ line: 4, column: 24 });
    expect(json.locate('/rules/2')).toBeUndefined();
  });

  it('names the problem and its line and column', () => {
    const missing = syntaxError('{\n  "a": 1,\n  "b": \n}');
    expect(missing.reason).toBe('unexpected "}": expected a value');
    expect(missing.location).toEqual({ line: 4, column: 1 });
    expect(missing.message).toBe('unexpected "}": expected a value at line 4, column 1');
    expect(syntaxError('{"a": 1 "b": 2}').reason).toBe('expected "," or "}" after a member, found "\\""');
    expect(syntaxError('{"a": 1,}').reason).toBe('expected a member name in double quotes, found "}"');
    expect(syntaxError('[1, 2').reason).toBe('expected "," or "]" after an element, found the end of the text');
    expect(syntaxError('{"a": "x\ny"}').location).toEqual({ line: 1, column: 9 });
    expect(syntaxError('{"a":\n  "unterminated').location).toEqual({ line: 2, column: 3 });
  });

  it('refuses a duplicate member at the second key: JSON.parse would silently keep the last', () => {
    const error = syntaxError('{"effect": "allow",\n "effect": "deny"}');
    expect(error.reason).toBe('duplicate member "effect"');
    expect(error.location).toEqual({ line: 2, column: 2 });
  });

  it('keeps "__proto__" an ordinary member, never the prototype', () => {
    const value = parseLocatedJson('{"__proto__": {"polluted": true}}').value as Record<string, unknown>;
    expect(Object.keys(value)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect((value as { polluted?: unknown }).polluted).toBeUndefined();
  });

  it('refuses absurd nesting instead of overflowing the stack', () => {
    expect(syntaxError(`${'['.repeat(100)}${']'.repeat(100)}`).reason).toBe('nested deeper than 64 levels');
  });

  it('skips a byte order mark', () => {
    expect(parseLocatedJson('\ufeff{"a": 1}').value).toEqual({ a: 1 });
  });
});

describe('locationOf', () => {
  it('counts lines and columns from 1', () => {
    expect(locationOf('ab\ncd\n', 0)).toEqual({ line: 1, column: 1 });
    expect(locationOf('ab\ncd\n', 4)).toEqual({ line: 2, column: 2 });
    expect(locationOf('ab\ncd\n', 6)).toEqual({ line: 3, column: 1 });
  });
});

describe('parseLocatedJson with jsonc', () => {
  it('takes comments and trailing commas as editors write them, and gives each value its span', () => {
    const text = '// head\n{ /* a */ "a": [1, 2,], "b": {"c": "d",}, }';
    const located = parseLocatedJson(text, { jsonc: true });
    expect(located.value).toEqual({ a: [1, 2], b: { c: 'd' } });
    const span = located.span('/b')!;
    expect(text.slice(span.start, span.end)).toBe('{"c": "d",}');
    expect(located.locate('/a')).toEqual({ line: 2, column: 11 });
  });

  it('strict JSON stays strict', () => {
    expect(() => parseLocatedJson('{"a": 1,}')).toThrow(JsonSyntaxError);
    expect(() => parseLocatedJson('// x\n{}')).toThrow(JsonSyntaxError);
    expect(() => parseLocatedJson('{} /* open', { jsonc: true })).toThrow('unterminated comment');
  });
});
