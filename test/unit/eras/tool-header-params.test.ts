import { describe, expect, it } from 'vitest';
import { MAX_HEADER_PARAMS, ToolHeaderIndex, toolHeaderParams, withoutTools } from '../../../src/eras/tool-header-params.js';

/** The example tool of 2026-07-28 server/tools.mdx, "x-mcp-header". */
const executeSql = {
  name: 'execute_sql',
  description: 'Execute SQL on Google Cloud Spanner',
  inputSchema: {
    type: 'object',
    properties: {
      region: { type: 'string', description: 'The region to execute the query in', 'x-mcp-header': 'Region' },
      query: { type: 'string', description: 'The SQL query to execute' },
    },
    required: ['region', 'query'],
  },
};

function toolWith(properties: Record<string, unknown>, extra: Record<string, unknown> = {}, name = 't') {
  return { name, inputSchema: { type: 'object', properties, ...extra } };
}

function reasonOf(tool: unknown): string {
  const verdict = toolHeaderParams(tool);
  if (verdict.ok) throw new Error(`expected a rejection, got ${JSON.stringify(verdict.params)}`);
  return verdict.reason;
}

describe('toolHeaderParams: valid annotations', () => {
  it('reads the spec example', () => {
    expect(toolHeaderParams(executeSql)).toEqual({ ok: true, params: [{ property: 'region', header: 'Region', type: 'string' }] });
  });

  it('reads string, integer and boolean parameters in schema order', () => {
    const tool = toolWith({
      region: { type: 'string', 'x-mcp-header': 'Region' },
      plain: { type: 'number' },
      id: { type: 'integer', 'x-mcp-header': 'Item-Id' },
      verbose: { type: 'boolean', 'x-mcp-header': 'Verbose' },
    });
    expect(toolHeaderParams(tool)).toEqual({
      ok: true,
      params: [
        { property: 'region', header: 'Region', type: 'string' },
        { property: 'id', header: 'Item-Id', type: 'integer' },
        { property: 'verbose', header: 'Verbose', type: 'boolean' },
      ],
    });
  });

  it('accepts every RFC 9110 tchar in a header name', () => {
    const header = "!#$%&'*+-.^_`|~09AZaz";
    expect(toolHeaderParams(toolWith({ a: { type: 'string', 'x-mcp-header': header } }))).toEqual({ ok: true, params: [{ property: 'a', header, type: 'string' }] });
  });

  it('accepts a property nested through properties only, with its path', () => {
    const tool = toolWith({
      target: { type: 'object', properties: { location: { type: 'object', properties: { zone: { type: 'string', 'x-mcp-header': 'Zone' } } } } },
    });
    expect(toolHeaderParams(tool)).toEqual({ ok: true, params: [{ property: 'target.location.zone', header: 'Zone', type: 'string', path: ['target', 'location', 'zone'] }] });
  });

  it('accepts a nullable primitive (["integer", "null"])', () => {
    expect(toolHeaderParams(toolWith({ n: { type: ['null', 'integer'], 'x-mcp-header': 'N' } }))).toEqual({ ok: true, params: [{ property: 'n', header: 'N', type: 'integer' }] });
  });

  it('gives no params for a tool without annotations, without inputSchema, or that is not an object', () => {
    expect(toolHeaderParams(toolWith({ q: { type: 'string' } }))).toEqual({ ok: true, params: [] });
    expect(toolHeaderParams({ name: 'bare' })).toEqual({ ok: true, params: [] });
    expect(toolHeaderParams({ name: 'bool-schema', inputSchema: true })).toEqual({ ok: true, params: [] });
    expect(toolHeaderParams(null)).toEqual({ ok: true, params: [] });
  });

  it('does not mistake instance data or a property named x-mcp-header for an annotation', () => {
    const tool = toolWith({
      'x-mcp-header': { type: 'string' },
      config: { type: 'object', default: { 'x-mcp-header': 'A' }, examples: [{ 'x-mcp-header': 'B' }], const: { 'x-mcp-header': 'C' } },
    });
    expect(toolHeaderParams(tool)).toEqual({ ok: true, params: [] });
  });

  it('survives a schema nested 20,000 levels deep', () => {
    let schema: Record<string, unknown> = { type: 'string', 'x-mcp-header': 'Deep' };
    for (let i = 0; i < 20_000; i++) schema = { type: 'object', properties: { p: schema } };
    const verdict = toolHeaderParams({ name: 'deep', inputSchema: schema });
    expect(verdict.ok && verdict.params[0]?.header).toBe('Deep');
    expect(verdict.ok && verdict.params[0]?.path?.length).toBe(20_000);
  });
});

describe('toolHeaderParams: invalid annotations', () => {
  it.each([
    ['an empty name', ''],
    ['a name with a space', 'Bad Name'],
    ['a name with CR LF', 'A\r\nB'],
    ['a name with a colon', 'a:b'],
    ['a name with a slash', 'a/b'],
    ['a name with parentheses', 'a(b)'],
    ['a non-ASCII name', 'Régión'],
    ['a name with NUL', 'a\u0000'],
  ])('rejects %s', (_what, header) => {
    expect(toolHeaderParams(toolWith({ a: { type: 'string', 'x-mcp-header': header } })).ok).toBe(false);
  });

  it('names the header and its location in a token rejection', () => {
    expect(reasonOf(toolWith({ a: { type: 'string', 'x-mcp-header': 'Bad Name' } }))).toBe(
      'x-mcp-header "Bad Name" at "/properties/a" is not an RFC 9110 token (letters, digits and !#$%&\'*+-.^_`|~ only)',
    );
  });

  it.each([[42], [true], [null], [{ name: 'X' }], [['X']]])('rejects the non-string name %j', (header) => {
    expect(reasonOf(toolWith({ a: { type: 'string', 'x-mcp-header': header } }))).toBe('x-mcp-header at "/properties/a" must be a non-empty string');
  });

  it('rejects type number, and says which type', () => {
    expect(reasonOf(toolWith({ amount: { type: 'number', 'x-mcp-header': 'Amount' } }))).toBe(
      'x-mcp-header "Amount" at "/properties/amount" is on a property of type "number"; only string, integer and boolean are allowed',
    );
  });

  it.each([
    ['object', { type: 'object' }],
    ['array', { type: 'array', items: { type: 'string' } }],
    ['null', { type: 'null' }],
    ['missing', {}],
    ['["number", "null"]', { type: ['number', 'null'] }],
    ['["string", "integer"]', { type: ['string', 'integer'] }],
    ['["null"]', { type: ['null'] }],
    ['an unknown word', { type: 'text' }],
  ])('rejects a property whose type is %s', (_what, schema) => {
    expect(toolHeaderParams(toolWith({ a: { ...schema, 'x-mcp-header': 'A' } })).ok).toBe(false);
  });

  it('says "none" for a property without a type', () => {
    expect(reasonOf(toolWith({ a: { 'x-mcp-header': 'A' } }))).toBe('x-mcp-header "A" at "/properties/a" is on a property of type none; only string, integer and boolean are allowed');
  });

  it('rejects names that repeat ignoring case, naming both', () => {
    const tool = toolWith({ a: { type: 'string', 'x-mcp-header': 'Region' }, b: { type: 'string', 'x-mcp-header': 'REGION' } });
    expect(reasonOf(tool)).toBe('x-mcp-header "REGION" at "/properties/b" repeats "Region"; names must be unique ignoring case');
  });

  it('rejects the same name used twice at different depths', () => {
    const tool = toolWith({ a: { type: 'string', 'x-mcp-header': 'Zone' }, o: { type: 'object', properties: { z: { type: 'string', 'x-mcp-header': 'zone' } } } });
    expect(toolHeaderParams(tool).ok).toBe(false);
  });

  it('rejects an annotation on the schema root', () => {
    expect(reasonOf({ name: 'r', inputSchema: { type: 'object', 'x-mcp-header': 'Root', properties: {} } })).toBe(
      'x-mcp-header at "" is not on a property reached through "properties" alone (not the schema root, items, additionalProperties, allOf/anyOf/oneOf/not, if/then/else or $defs)',
    );
  });

  const annotated = { type: 'string', 'x-mcp-header': 'Hidden' };
  it.each([
    ['items', toolWith({ list: { type: 'array', items: annotated } }), '/properties/list/items'],
    ['a property of items', toolWith({ list: { type: 'array', items: { type: 'object', properties: { id: annotated } } } }), '/properties/list/items/properties/id'],
    ['prefixItems', toolWith({ pair: { type: 'array', prefixItems: [{ type: 'integer' }, annotated] } }), '/properties/pair/prefixItems/1'],
    ['additionalProperties', toolWith({}, { additionalProperties: annotated }), '/additionalProperties'],
    ['patternProperties', toolWith({}, { patternProperties: { '^x': annotated } }), '/patternProperties/^x'],
    ['anyOf', toolWith({ v: { anyOf: [annotated, { type: 'null' }] } }), '/properties/v/anyOf/0'],
    ['oneOf', toolWith({}, { oneOf: [{ properties: { v: annotated } }] }), '/oneOf/0/properties/v'],
    ['allOf', toolWith({}, { allOf: [{ properties: { v: annotated } }] }), '/allOf/0/properties/v'],
    ['not', toolWith({ v: { type: 'string', not: annotated } }), '/properties/v/not'],
    ['if', toolWith({}, { if: { properties: { v: annotated } } }), '/if/properties/v'],
    ['then', toolWith({}, { then: { properties: { v: annotated } } }), '/then/properties/v'],
    ['else', toolWith({}, { else: { properties: { v: annotated } } }), '/else/properties/v'],
    ['$defs behind a $ref', toolWith({ v: { $ref: '#/$defs/v' } }, { $defs: { v: annotated } }), '/$defs/v'],
    ['definitions', toolWith({}, { definitions: { v: annotated } }), '/definitions/v'],
    ['dependentSchemas', toolWith({}, { dependentSchemas: { a: { properties: { v: annotated } } } }), '/dependentSchemas/a/properties/v'],
  ])('rejects an annotation under %s', (_what, tool, where) => {
    expect(reasonOf(tool)).toBe(
      `x-mcp-header at ${JSON.stringify(where)} is not on a property reached through "properties" alone (not the schema root, items, additionalProperties, allOf/anyOf/oneOf/not, if/then/else or $defs)`,
    );
  });

  it(`accepts ${MAX_HEADER_PARAMS} annotations and refuses one more`, () => {
    const many = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`p${i}`, { type: 'string', 'x-mcp-header': `H${i}` }]));
    expect(toolHeaderParams(toolWith(many(MAX_HEADER_PARAMS))).ok).toBe(true);
    expect(reasonOf(toolWith(many(MAX_HEADER_PARAMS + 1)))).toBe(`more than ${MAX_HEADER_PARAMS} x-mcp-header annotations`);
  });

  it('escapes / and ~ in the location it reports (RFC 6901)', () => {
    expect(reasonOf(toolWith({ 'a/b~c': { type: 'number', 'x-mcp-header': 'X' } }))).toContain('at "/properties/a~1b~0c"');
  });
});

describe('ToolHeaderIndex', () => {
  const lookup = toolWith({ region: { type: 'string', 'x-mcp-header': 'Region' } }, {}, 'lookup');
  const echo = toolWith({ text: { type: 'string' } }, {}, 'echo');
  const bad = toolWith({ amount: { type: 'number', 'x-mcp-header': 'Amount' } }, {}, 'bad_header_tool');

  it('learns the annotated params of each listed tool; [] for a tool without any, undefined for one never listed', () => {
    const index = new ToolHeaderIndex();
    expect(index.learn({ tools: [lookup, echo] })).toEqual({ dropped: [] });
    expect(index.paramsFor('lookup')).toEqual([{ property: 'region', header: 'Region', type: 'string' }]);
    expect(index.paramsFor('echo')).toEqual([]);
    expect(index.paramsFor('nope')).toBeUndefined();
    expect(index.size).toBe(2);
  });

  it('reports invalid tools as dropped, with the reason, and does not learn them', () => {
    const index = new ToolHeaderIndex();
    expect(index.learn({ tools: [echo, bad] })).toEqual({
      dropped: [{ name: 'bad_header_tool', reason: 'x-mcp-header "Amount" at "/properties/amount" is on a property of type "number"; only string, integer and boolean are allowed' }],
    });
    expect(index.paramsFor('bad_header_tool')).toBeUndefined();
    expect(index.size).toBe(1);
  });

  it('accumulates pages of a paginated listing', () => {
    const index = new ToolHeaderIndex();
    index.learn({ tools: [lookup], nextCursor: 'page-2' });
    index.learn({ tools: [echo] });
    expect(index.paramsFor('lookup')).toHaveLength(1);
    expect(index.paramsFor('echo')).toEqual([]);
    expect(index.size).toBe(2);
  });

  it('replaces a tool seen again, and forgets it when it has become invalid', () => {
    const index = new ToolHeaderIndex();
    index.learn({ tools: [lookup] });
    index.learn({ tools: [toolWith({ id: { type: 'integer', 'x-mcp-header': 'Item-Id' } }, {}, 'lookup')] });
    expect(index.paramsFor('lookup')).toEqual([{ property: 'id', header: 'Item-Id', type: 'integer' }]);
    const now = index.learn({ tools: [{ ...bad, name: 'lookup' }] });
    expect(now.dropped.map((d) => d.name)).toEqual(['lookup']);
    expect(index.paramsFor('lookup')).toBeUndefined();
    expect(index.size).toBe(0);
  });

  it('ignores results that are not tool listings, and tools without a string name', () => {
    const index = new ToolHeaderIndex();
    for (const result of [null, 'x', [], {}, { tools: 'x' }, { tools: [null, 5, { inputSchema: bad.inputSchema }, { name: 7 }] }]) {
      expect(index.learn(result)).toEqual({ dropped: [] });
    }
    expect(index.size).toBe(0);
  });

  it('forgets everything on clear()', () => {
    const index = new ToolHeaderIndex();
    index.learn({ tools: [lookup, echo] });
    index.clear();
    expect(index.size).toBe(0);
    expect(index.paramsFor('lookup')).toBeUndefined();
  });
});

describe('withoutTools', () => {
  const listing = { tools: [{ name: 'a' }, { name: 'b' }, { name: 'c' }, { noName: true }], nextCursor: 'n', _meta: { k: 1 } };

  it('returns a new result without the named tools, keeping the other fields', () => {
    const before = structuredClone(listing);
    const result = withoutTools(listing, new Set(['b', 'c']));
    expect(result).toEqual({ tools: [{ name: 'a' }, { noName: true }], nextCursor: 'n', _meta: { k: 1 } });
    expect(result).not.toBe(listing);
    expect(listing).toEqual(before);
  });

  it('returns the input itself when nothing is dropped', () => {
    expect(withoutTools(listing, new Set())).toBe(listing);
    expect(withoutTools(listing, new Set(['zzz']))).toBe(listing);
  });

  it('returns a non-listing unchanged', () => {
    const odd = { tools: 'x' };
    expect(withoutTools(odd, new Set(['x']))).toBe(odd);
    expect(withoutTools(null, new Set(['x']))).toBeNull();
  });
});
