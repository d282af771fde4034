import { describe, expect, it } from 'vitest';
import { META_CLIENT_CAPABILITIES, META_PROTOCOL_VERSION } from '../../../src/eras/mcp-headers.js';
import { envelopeFault, isModernErrorAnswer, modernErrorStatus } from '../../../src/eras/modern-wire.js';

describe('envelopeFault', () => {
  it('accepts an envelope with a string version and the client capabilities', () => {
    expect(envelopeFault({ [META_PROTOCOL_VERSION]: '2026-07-28', [META_CLIENT_CAPABILITIES]: {} })).toBeUndefined();
  });

  it('names the first required key that is missing, the version first', () => {
    expect(envelopeFault(undefined)).toBe(`Invalid params: _meta is missing the required "${META_PROTOCOL_VERSION}"`);
    expect(envelopeFault({ [META_CLIENT_CAPABILITIES]: {} })).toBe(`Invalid params: _meta is missing the required "${META_PROTOCOL_VERSION}"`);
    expect(envelopeFault({ [META_PROTOCOL_VERSION]: '2026-07-28' })).toBe(`Invalid params: _meta is missing the required "${META_CLIENT_CAPABILITIES}"`);
  });

  it('counts a version that is not a string as missing', () => {
    expect(envelopeFault({ [META_PROTOCOL_VERSION]: 20260728, [META_CLIENT_CAPABILITIES]: {} })).toBe(`Invalid params: _meta is missing the required "${META_PROTOCOL_VERSION}"`);
  });
});

describe('modern error statuses', () => {
  it('gives the 2026 codes 400, an unknown method 404, anything else 200', () => {
    expect([-32020, -32021, -32022, -32601, -32602, -32000].map(modernErrorStatus)).toEqual([400, 400, 400, 404, 200, 200]);
  });

  it('recognises a modern refusal only by its code and status', () => {
    const answer = (code: number) => ({ jsonrpc: '2.0', id: 1, error: { code, message: 'x' } });
    expect(isModernErrorAnswer(400, answer(-32022))).toBe(true);
    expect(isModernErrorAnswer(404, answer(-32601))).toBe(true);
    expect(isModernErrorAnswer(400, answer(-32601))).toBe(false);
    expect(isModernErrorAnswer(400, answer(-32600))).toBe(false);
    expect(isModernErrorAnswer(404, { jsonrpc: '2.0', id: 1, result: {} })).toBe(false);
  });
});
