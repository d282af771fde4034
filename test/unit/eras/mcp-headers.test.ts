import { describe, expect, it } from 'vitest';
import type { JSONRPCMessage } from '../../../src/bridge/json-rpc.js';
import * as headerValue from '../../../src/eras/header-value.js';
import {
  claimedVersion,
  decodeHeaderValue,
  encodeHeaderValue,
  ErrorCode,
  headerMismatch,
  isModernVersion,
  META_CLIENT_CAPABILITIES,
  META_CLIENT_INFO,
  META_LOG_LEVEL,
  META_PROTOCOL_VERSION,
  META_SERVER_INFO,
  META_SUBSCRIPTION_ID,
  modernRequestHeaders,
  MODERN_PROTOCOL_VERSION,
  paramHeaderName,
  ToolHeaderIndex,
  toolHeaderParams,
  withoutTools,
} from '../../../src/eras/mcp-headers.js';
import * as toolParams from '../../../src/eras/tool-header-params.js';

const envelope = {
  [META_PROTOCOL_VERSION]: '2026-07-28',
  [META_CLIENT_INFO]: { name: 'ExampleClient', version: '1.0.0' },
  [META_CLIENT_CAPABILITIES]: {},
};

function request(method: string, params: Record<string, unknown> = {}, meta: Record<string, unknown> | null = envelope): JSONRPCMessage {
  return { jsonrpc: '2.0', id: 1, method, params: meta === null ? params : { ...params, _meta: meta } } as JSONRPCMessage;
}

function notification(method: string, params: Record<string, unknown> = {}, meta: Record<string, unknown> | null = envelope): JSONRPCMessage {
  return { jsonrpc: '2.0', method, params: meta === null ? params : { ...params, _meta: meta } } as JSONRPCMessage;
}

const response = { jsonrpc: '2.0', id: 1, result: { _meta: envelope } } as unknown as JSONRPCMessage;

/** An index that knows the fixture's `lookup` tool, a nested `zone`, and a tool without headers. */
function lookupIndex(): ToolHeaderIndex {
  const index = new ToolHeaderIndex();
  index.learn({
    tools: [
      {
        name: 'lookup',
        inputSchema: {
          type: 'object',
          properties: {
            region: { type: 'string', 'x-mcp-header': 'Region' },
            id: { type: 'integer', 'x-mcp-header': 'Item-Id' },
            verbose: { type: 'boolean', 'x-mcp-header': 'Verbose' },
            target: { type: 'object', properties: { zone: { type: 'string', 'x-mcp-header': 'Zone' } } },
          },
        },
      },
      { name: 'echo', inputSchema: { type: 'object', properties: { text: { type: 'string' } } } },
    ],
  });
  return index;
}

const lookup = (args: Record<string, unknown>, meta: Record<string, unknown> | null = envelope) => request('tools/call', { name: 'lookup', arguments: args }, meta);

describe('constants', () => {
  it('spells the _meta keys, the version and the error codes as the 2026-07-28 spec does', () => {
    expect([META_PROTOCOL_VERSION, META_CLIENT_CAPABILITIES, META_CLIENT_INFO, META_LOG_LEVEL, META_SERVER_INFO, META_SUBSCRIPTION_ID]).toEqual([
      'io.modelcontextprotocol/protocolVersion',
      'io.modelcontextprotocol/clientCapabilities',
      'io.modelcontextprotocol/clientInfo',
      'io.modelcontextprotocol/logLevel',
      'io.modelcontextprotocol/serverInfo',
      'io.modelcontextprotocol/subscriptionId',
    ]);
    expect(MODERN_PROTOCOL_VERSION).toBe('2026-07-28');
    expect(ErrorCode).toEqual({ headerMismatch: -32020, missingClientCapability: -32021, unsupportedProtocolVersion: -32022 });
  });

  it('re-exports the value codec and the tool annotation reader (one public module)', () => {
    expect(encodeHeaderValue).toBe(headerValue.encodeHeaderValue);
    expect(decodeHeaderValue).toBe(headerValue.decodeHeaderValue);
    expect(toolHeaderParams).toBe(toolParams.toolHeaderParams);
    expect(withoutTools).toBe(toolParams.withoutTools);
    expect(ToolHeaderIndex).toBe(toolParams.ToolHeaderIndex);
  });
});

describe('isModernVersion', () => {
  it.each([
    ['2024-10-07', false],
    ['2024-11-05', false],
    ['2025-03-26', false],
    ['2025-06-18', false],
    ['2025-11-25', false],
    ['2026-07-27', false],
    ['2026-07-28', true],
    ['2026-12-01', true],
    ['2031-01-01', true],
    ['DRAFT-2026-v1', false],
    ['draft', false],
    ['2026-7-28', false],
    ['2026-07-28 ', false],
    ['', false],
  ])('%j → %s', (version, modern) => {
    expect(isModernVersion(version)).toBe(modern);
  });
});

describe('claimedVersion', () => {
  it('reads params._meta of a request and of a notification', () => {
    expect(claimedVersion(request('tools/list'))).toBe('2026-07-28');
    expect(claimedVersion(notification('notifications/cancelled', {}, { [META_PROTOCOL_VERSION]: '2027-01-01' }))).toBe('2027-01-01');
  });

  it('is undefined without a claim, for a non-string claim, and for a response', () => {
    expect(claimedVersion(request('tools/list', {}, null))).toBeUndefined();
    expect(claimedVersion(request('tools/list', {}, { progressToken: 1 }))).toBeUndefined();
    expect(claimedVersion(request('tools/list', {}, { [META_PROTOCOL_VERSION]: 20260728 }))).toBeUndefined();
    expect(claimedVersion({ jsonrpc: '2.0', id: 1, method: 'tools/list' } as JSONRPCMessage)).toBeUndefined();
    expect(claimedVersion(response)).toBeUndefined();
  });
});

describe('modernRequestHeaders', () => {
  it('gives the spec tools/call example its headers', () => {
    const message = request('tools/call', { name: 'get_weather', arguments: { location: 'Seattle, WA' } });
    expect(modernRequestHeaders(message)).toEqual({ 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'get_weather' });
  });

  it('gives the spec resources/read example the uri as mcp-name', () => {
    const message = request('resources/read', { uri: 'file:///projects/myapp/config.json' });
    expect(modernRequestHeaders(message)).toEqual({ 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'resources/read', 'mcp-name': 'file:///projects/myapp/config.json' });
  });

  it('gives prompts/get its name, and other methods no mcp-name', () => {
    expect(modernRequestHeaders(request('prompts/get', { name: 'greet' }))['mcp-name']).toBe('greet');
    expect(modernRequestHeaders(request('tools/list', { name: 'not-mirrored' }))).toEqual({ 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/list' });
  });

  it('encodes a name that is not header-safe', () => {
    expect(modernRequestHeaders(request('tools/call', { name: 'météo' }))['mcp-name']).toBe('=?base64?bcOpdMOpbw==?=');
    expect(modernRequestHeaders(request('resources/read', { uri: '=?base64?x?=' }))['mcp-name']).toBe('=?base64?PT9iYXNlNjQ/eD89?=');
  });

  it('gives a notification its version and method', () => {
    expect(modernRequestHeaders(notification('notifications/cancelled', { requestId: 1 }))).toEqual({ 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'notifications/cancelled' });
  });

  it('gives a body without a _meta version no version header (the header follows the body)', () => {
    expect(modernRequestHeaders(request('tools/call', { name: 'echo' }, null))).toEqual({ 'mcp-method': 'tools/call', 'mcp-name': 'echo' });
  });

  it('gives a response no headers', () => {
    expect(modernRequestHeaders(response)).toEqual({});
  });

  it('skips a version, method or name no header can carry', () => {
    expect(modernRequestHeaders(request('tools/list', {}, { [META_PROTOCOL_VERSION]: '2026-07-28\r\nX-Evil: 1' }))).toEqual({ 'mcp-method': 'tools/list' });
    expect(modernRequestHeaders(request('tools/list\nX: y'))).toEqual({ 'mcp-protocol-version': '2026-07-28' });
    expect(modernRequestHeaders(request('tools/call', { name: 'a\uD800' }))).toEqual({ 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call' });
    expect(modernRequestHeaders(request('tools/call', { name: 42 }))).toEqual({ 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call' });
  });

  it('mirrors annotated arguments: strings as-is, integers in decimal, booleans lowercase', () => {
    expect(modernRequestHeaders(lookup({ region: 'us-west1', id: -7, verbose: false }), lookupIndex())).toEqual({
      'mcp-protocol-version': '2026-07-28',
      'mcp-method': 'tools/call',
      'mcp-name': 'lookup',
      'mcp-param-region': 'us-west1',
      'mcp-param-item-id': '-7',
      'mcp-param-verbose': 'false',
    });
  });

  it('encodes an argument the spec table would encode', () => {
    const headers = modernRequestHeaders(lookup({ region: 'Hello, 世界', verbose: true, id: 9007199254740991 }), lookupIndex());
    expect(headers['mcp-param-region']).toBe('=?base64?SGVsbG8sIOS4lueVjA==?=');
    expect(headers['mcp-param-verbose']).toBe('true');
    expect(headers['mcp-param-item-id']).toBe('9007199254740991');
  });

  it('mirrors a nested annotated argument', () => {
    expect(modernRequestHeaders(lookup({ target: { zone: 'z1' } }), lookupIndex())['mcp-param-zone']).toBe('z1');
  });

  it.each([
    ['absent', {}],
    ['null', { region: null, id: null, verbose: null }],
    ['of another type', { region: 5, id: '42', verbose: 'true' }],
    ['a fractional integer', { id: 42.5 }],
    ['an unsafe integer', { id: 9007199254740992 }],
    ['a string with a lone surrogate', { region: 'a\uDC00' }],
    ['inherited, not own', Object.create({ region: 'from-the-prototype' }) as Record<string, unknown>],
    ['under a nested object that is not one', { target: 'flat' }],
  ])('sends no mcp-param header for an argument that is %s', (_what, args) => {
    const headers = modernRequestHeaders(lookup(args), lookupIndex());
    expect(Object.keys(headers).filter((name) => name.startsWith('mcp-param-'))).toEqual([]);
  });

  it('sends no mcp-param headers without an index, for a tool the index never saw, or for another method', () => {
    const args = { region: 'us-west1' };
    expect(modernRequestHeaders(lookup(args))).not.toHaveProperty('mcp-param-region');
    expect(modernRequestHeaders(request('tools/call', { name: 'other', arguments: args }), lookupIndex())).not.toHaveProperty('mcp-param-region');
    expect(modernRequestHeaders(request('prompts/get', { name: 'lookup', arguments: args }), lookupIndex())).not.toHaveProperty('mcp-param-region');
  });

  it('mirrors annotated arguments on a legacy body too (some legacy servers require them)', () => {
    expect(modernRequestHeaders(lookup({ region: 'eu' }, null), lookupIndex())).toEqual({ 'mcp-method': 'tools/call', 'mcp-name': 'lookup', 'mcp-param-region': 'eu' });
  });

  it('names param headers in lowercase', () => {
    expect(paramHeaderName({ property: 'id', header: 'Item-Id', type: 'integer' })).toBe('mcp-param-item-id');
  });
});

describe('headerMismatch', () => {
  const index = lookupIndex();

  it.each([
    ['tools/call with params', lookup({ region: ' padded ', id: 42, verbose: true, target: { zone: 'é' } })],
    ['resources/read', request('resources/read', { uri: 'fixture://counter' })],
    ['prompts/get with a non-ASCII name', request('prompts/get', { name: 'grüß' })],
    ['tools/list', request('tools/list')],
    ['a notification', notification('notifications/cancelled', { requestId: 1 })],
  ])('accepts the headers modernRequestHeaders derives for %s', (_what, message) => {
    expect(headerMismatch(message, modernRequestHeaders(message, index), index)).toBeUndefined();
  });

  it('compares header names ignoring case and trims values', () => {
    const headers = { 'MCP-PROTOCOL-VERSION': ' 2026-07-28 ', 'mcp-METHOD': 'tools/call\t', 'Mcp-Name': ' lookup', 'Mcp-Param-REGION': ' eu ' };
    expect(headerMismatch(lookup({ region: 'eu' }), headers, index)).toBeUndefined();
  });

  const full = { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'lookup' };

  it.each([
    ['mcp-protocol-version', 'MCP-Protocol-Version header is missing; the body\'s _meta says "2026-07-28"'],
    ['mcp-method', 'Mcp-Method header is missing; the body\'s method is "tools/call"'],
    ['mcp-name', 'Mcp-Name header is missing; the body\'s params.name is "lookup"'],
  ])('requires %s on a modern request', (name, reason) => {
    const headers: Record<string, string> = { ...full };
    delete headers[name];
    expect(headerMismatch(lookup({}), headers, index)).toBe(reason);
  });

  it('reports a version, method or name that differs', () => {
    expect(headerMismatch(lookup({}), { ...full, 'mcp-protocol-version': '2025-11-25' }, index)).toBe(
      'MCP-Protocol-Version header value "2025-11-25" does not match body value "2026-07-28"',
    );
    expect(headerMismatch(lookup({}), { ...full, 'mcp-method': 'tools/list' }, index)).toBe('Mcp-Method header value "tools/list" does not match body value "tools/call"');
    expect(headerMismatch(lookup({}), { ...full, 'mcp-name': 'foo' }, index)).toBe('Mcp-Name header value "foo" does not match body value "lookup"');
  });

  it('compares header values case-sensitively', () => {
    expect(headerMismatch(lookup({}), { ...full, 'mcp-method': 'TOOLS/CALL' }, index)).toBe('Mcp-Method header value "TOOLS/CALL" does not match body value "tools/call"');
  });

  it('decodes a sentinel Mcp-Name before comparing, and refuses a malformed one', () => {
    const message = request('tools/call', { name: 'météo' });
    const base = { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call' };
    expect(headerMismatch(message, { ...base, 'mcp-name': '=?base64?bcOpdMOpbw==?=' })).toBeUndefined();
    expect(headerMismatch(message, { ...base, 'mcp-name': '=?base64?bcOpdMOpbw?=' })).toBe(
      'Mcp-Name header value "=?base64?bcOpdMOpbw?=" is malformed (a bad =?base64?…?= value or a character no header may carry)',
    );
  });

  it('reports an Mcp-Name header when the body has no name', () => {
    expect(headerMismatch(request('tools/call', {}), { ...full })).toBe('Mcp-Name header value "lookup" does not match the body, which has no string params.name');
  });

  it('requires the Mcp-Param header of each annotated argument present on a modern request', () => {
    expect(headerMismatch(lookup({ id: 42 }), full, index)).toBe('Mcp-Param-Item-Id header is missing; the body\'s argument "id" is "42"');
  });

  it('reports an Mcp-Param header that differs, after decoding', () => {
    expect(headerMismatch(lookup({ region: 'eu' }), { ...full, 'mcp-param-region': 'us' }, index)).toBe('Mcp-Param-Region header value "us" does not match body value "eu"');
    expect(headerMismatch(lookup({ region: 'Hello, 世界' }), { ...full, 'mcp-param-region': '=?base64?SGVsbG8sIOS4lueVjA==?=' }, index)).toBeUndefined();
    expect(headerMismatch(lookup({ region: '=?base64?literal?=' }), { ...full, 'mcp-param-region': '=?base64?literal?=' }, index)).toBe(
      'Mcp-Param-Region header value "=?base64?literal?=" is malformed (a bad =?base64?…?= value or a character no header may carry)',
    );
  });

  it('refuses a plain Mcp-Param value with a character no header may carry', () => {
    expect(headerMismatch(lookup({ region: 'é' }), { ...full, 'mcp-param-region': 'é' }, index)).toBe(
      'Mcp-Param-Region header value "é" is malformed (a bad =?base64?…?= value or a character no header may carry)',
    );
  });

  it.each([
    ['42', true],
    ['42.0', true],
    ['042', true],
    ['42.5', false],
    ['0x2a', false],
    ['4.2e1', false],
    ['+42', false],
    ['', false],
  ])('compares the integer header %j with 42 numerically (equal: %s)', (value, equal) => {
    const verdict = headerMismatch(lookup({ id: 42 }), { ...full, 'mcp-param-item-id': value }, index);
    if (equal) expect(verdict).toBeUndefined();
    else expect(verdict).toBe(`Mcp-Param-Item-Id header value ${JSON.stringify(value)} does not match body value "42"`);
  });

  it('compares booleans as lowercase text', () => {
    expect(headerMismatch(lookup({ verbose: true }), { ...full, 'mcp-param-verbose': 'true' }, index)).toBeUndefined();
    expect(headerMismatch(lookup({ verbose: true }), { ...full, 'mcp-param-verbose': 'True' }, index)).toBe('Mcp-Param-Verbose header value "True" does not match body value "true"');
  });

  it('does not expect an Mcp-Param header for a null or absent argument, and ignores one sent anyway', () => {
    expect(headerMismatch(lookup({ region: null }), full, index)).toBeUndefined();
    expect(headerMismatch(lookup({ region: null }), { ...full, 'mcp-param-region': 'eu' }, index)).toBeUndefined();
    expect(headerMismatch(lookup({}), { ...full, 'mcp-param-region': 'eu' }, index)).toBeUndefined();
  });

  it('leaves an argument of another type than declared to params validation', () => {
    expect(headerMismatch(lookup({ id: 'forty-two' }), full, index)).toBeUndefined();
  });

  it('ignores Mcp-Param headers it does not know, and all of them without an index', () => {
    expect(headerMismatch(lookup({ region: 'eu' }), { ...full, 'mcp-param-unknown': 'x', 'mcp-param-region': 'us' })).toBeUndefined();
    expect(headerMismatch(lookup({ region: 'eu' }), { ...full, 'mcp-param-unknown': 'x' }, index)).toBe('Mcp-Param-Region header is missing; the body\'s argument "region" is "eu"');
  });

  it('refuses a header given twice, as an array or under two spellings', () => {
    expect(headerMismatch(lookup({}), { ...full, 'mcp-name': ['lookup', 'lookup'] }, index)).toBe('Mcp-Name header appears 2 times');
    expect(headerMismatch(lookup({}), { ...full, 'Mcp-Method': 'tools/call' }, index)).toBe('Mcp-Method header appears 2 times');
  });

  it('accepts a one-element array and treats an undefined entry as absent', () => {
    expect(headerMismatch(lookup({}), { ...full, 'mcp-name': ['lookup'], 'mcp-param-region': undefined }, index)).toBeUndefined();
  });

  it('does not require headers on a legacy request, nor compare its version header', () => {
    const legacy = lookup({ region: 'eu' }, null);
    expect(headerMismatch(legacy, {}, index)).toBeUndefined();
    expect(headerMismatch(legacy, { 'mcp-protocol-version': '2025-06-18' }, index)).toBeUndefined();
  });

  it('still checks the headers a legacy request does carry', () => {
    const legacy = lookup({ region: 'eu' }, null);
    expect(headerMismatch(legacy, { 'mcp-method': 'tools/list' }, index)).toBe('Mcp-Method header value "tools/list" does not match body value "tools/call"');
    expect(headerMismatch(legacy, { 'mcp-param-region': 'us' }, index)).toBe('Mcp-Param-Region header value "us" does not match body value "eu"');
  });

  it('does not require headers on a notification, but checks those present', () => {
    const message = notification('notifications/cancelled', { requestId: 1 });
    expect(headerMismatch(message, {})).toBeUndefined();
    expect(headerMismatch(message, { 'mcp-protocol-version': '2025-11-25' })).toBe('MCP-Protocol-Version header value "2025-11-25" does not match body value "2026-07-28"');
  });

  it('has nothing to say about a response', () => {
    expect(headerMismatch(response, { 'mcp-method': 'x' })).toBeUndefined();
  });

  it('quotes hostile header values so they cannot forge log lines', () => {
    expect(headerMismatch(lookup({}), { ...full, 'mcp-method': 'a\nERROR fake' }, index)).toBe('Mcp-Method header value "a\\nERROR fake" does not match body value "tools/call"');
  });
});
