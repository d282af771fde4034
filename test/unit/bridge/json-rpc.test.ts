import { describe, expect, it } from 'vitest';
import { classify, errorResponse, kindOf, parseFrame, RpcErrorCode, type JSONRPCMessage } from '../../../src/bridge/json-rpc.js';

const invalid = (reason: string, id: string | number | null = null) => ({ ok: false, code: RpcErrorCode.invalidRequest, reason, id });

describe('RpcErrorCode', () => {
  it('uses the JSON-RPC 2.0 codes', () => {
    expect(RpcErrorCode).toEqual({ parseError: -32700, invalidRequest: -32600, methodNotFound: -32601, invalidParams: -32602, internalError: -32603, upstreamError: -32000 });
  });
});

describe('classify', () => {
  it('accepts a request and returns the very object it was given', () => {
    const value = { jsonrpc: '2.0', id: 1, method: 'tools/list', params: { cursor: 'x' }, _meta: { extra: true } };
    const result = classify(value);
    expect(result).toEqual({ ok: true, kind: 'request', message: value });
    expect(result.ok && result.message).toBe(value);
  });

  it('accepts a string id and array params', () => {
    expect(classify({ jsonrpc: '2.0', id: 'abc', method: 'm', params: [1, 2] })).toMatchObject({ ok: true, kind: 'request' });
  });

  it('accepts a notification (method without id)', () => {
    const value = { jsonrpc: '2.0', method: 'notifications/initialized' };
    expect(classify(value)).toEqual({ ok: true, kind: 'notification', message: value });
  });

  it('accepts a response with a result', () => {
    const value = { jsonrpc: '2.0', id: 7, result: { tools: [] } };
    expect(classify(value)).toEqual({ ok: true, kind: 'response', message: value });
  });

  it('accepts a response with an error', () => {
    const value = { jsonrpc: '2.0', id: 'q', error: { code: -32601, message: 'Method not found' } };
    expect(classify(value)).toEqual({ ok: true, kind: 'response', message: value });
  });

  it('rejects a batch with its own message', () => {
    expect(classify([{ jsonrpc: '2.0', id: 1, method: 'm' }])).toEqual(invalid('JSON-RPC batches are not supported (MCP removed them in 2025-06-18)'));
  });

  it.each([[42], ['text'], [null], [true]])('rejects the non-object %j', (value) => {
    expect(classify(value)).toEqual(invalid('a JSON-RPC message must be a JSON object'));
  });

  it('rejects a wrong jsonrpc version and keeps the id', () => {
    expect(classify({ jsonrpc: '1.0', id: 7, method: 'm' })).toEqual(invalid('the "jsonrpc" member must be exactly "2.0"', 7));
  });

  it('rejects a missing jsonrpc member and keeps a string id', () => {
    expect(classify({ id: 'a', method: 'm' })).toEqual(invalid('the "jsonrpc" member must be exactly "2.0"', 'a'));
  });

  it('rejects a non-string method and keeps the id', () => {
    expect(classify({ jsonrpc: '2.0', id: 3, method: 5 })).toEqual(invalid('the "method" member must be a string', 3));
  });

  it.each([['text'], [null], [5]])('rejects params of %j and keeps the id', (params) => {
    expect(classify({ jsonrpc: '2.0', id: 4, method: 'm', params })).toEqual(invalid('the "params" member must be an object or an array', 4));
  });

  it.each([[null], [{}], [true], [Number.NaN]])('rejects a request whose id is %j, with id null', (id) => {
    expect(classify({ jsonrpc: '2.0', id, method: 'm' })).toEqual(invalid('the "id" member must be a string or a number'));
  });

  it('rejects a response without an id', () => {
    expect(classify({ jsonrpc: '2.0', result: {} })).toEqual(invalid('a response needs a string or number "id"'));
  });

  it('rejects a response whose id is not a string or number', () => {
    expect(classify({ jsonrpc: '2.0', id: [1], result: {} })).toEqual(invalid('a response needs a string or number "id"'));
  });

  it.each([['oops'], [null], [42]])('rejects an error member of %j and keeps the id', (error) => {
    expect(classify({ jsonrpc: '2.0', id: 9, error })).toEqual(invalid('the "error" member must be an object', 9));
  });

  it('rejects an object with neither method nor result/error and keeps the id', () => {
    expect(classify({ jsonrpc: '2.0', id: 2, params: {} })).toEqual(invalid('not a request, notification or response (no "method", "result" or "error")', 2));
  });
});

describe('parseFrame', () => {
  it('answers -32700 with the JSON.parse message for text that is not JSON', () => {
    let jsonMessage = '';
    try {
      JSON.parse('{bad');
    } catch (error) {
      jsonMessage = (error as Error).message;
    }
    expect(parseFrame('{bad')).toEqual({ ok: false, code: RpcErrorCode.parseError, reason: `Parse error: ${jsonMessage}`, id: null });
    expect(RpcErrorCode.parseError).toBe(-32700);
  });

  it('answers -32700 for an empty frame', () => {
    expect(parseFrame('')).toMatchObject({ ok: false, code: -32700, id: null });
  });

  it('answers -32600 for JSON that is not a JSON-RPC message', () => {
    expect(parseFrame('{"jsonrpc":"2.0","id":5}')).toEqual(invalid('not a request, notification or response (no "method", "result" or "error")', 5));
    expect(parseFrame('[]')).toMatchObject({ ok: false, code: -32600 });
  });

  it('classifies a valid frame', () => {
    expect(parseFrame('{"jsonrpc":"2.0","id":1,"result":{"x":1}}')).toEqual({ ok: true, kind: 'response', message: { jsonrpc: '2.0', id: 1, result: { x: 1 } } });
  });
});

describe('errorResponse', () => {
  it('builds an error response with id null and no data member', () => {
    const response = errorResponse(null, -32700, 'Parse error');
    expect(response).toStrictEqual({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } });
    expect('data' in (response as { error: object }).error).toBe(false);
  });

  it('includes data when given', () => {
    expect(errorResponse('r1', -32000, 'upstream closed', { reason: 'exit 1' })).toStrictEqual({
      jsonrpc: '2.0',
      id: 'r1',
      error: { code: -32000, message: 'upstream closed', data: { reason: 'exit 1' } },
    });
  });
});

describe('kindOf', () => {
  it.each<[JSONRPCMessage, string]>([
    [{ jsonrpc: '2.0', id: 1, method: 'm' }, 'request'],
    [{ jsonrpc: '2.0', method: 'm' }, 'notification'],
    [{ jsonrpc: '2.0', id: 1, result: {} }, 'response'],
    [{ jsonrpc: '2.0', id: 1, error: { code: 1, message: 'x' } } as JSONRPCMessage, 'response'],
  ])('%j is a %s', (message, kind) => {
    expect(kindOf(message)).toBe(kind);
  });
});
