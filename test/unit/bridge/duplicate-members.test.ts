import { describe, expect, it } from 'vitest';
import { duplicateMember } from '../../../src/bridge/duplicate-members.js';
import { parseFrame } from '../../../src/bridge/json-rpc.js';

describe('duplicateMember', () => {
  it('finds a name given twice at the top level or in params, as JSON.parse reads names', () => {
    expect(duplicateMember('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_file","name":"read_file"}}')).toBe('params.name');
    expect(duplicateMember('{"jsonrpc":"2.0","id":1,"method":"tools/call","method":"ping"}')).toBe('method');
    expect(duplicateMember('{"params":{"name":"delete_file","na\\u006de":"read_file"},"id":1}')).toBe('params.name');
    expect(duplicateMember('{"params":{"arguments":{"x":1},"name":"a"},"id":2,"id":3}')).toBe('id');
  });

  it('leaves alone equal names deeper down, in strings, and in well-formed messages', () => {
    expect(duplicateMember('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{"name":"x","name":"y"}}}')).toBeUndefined();
    expect(duplicateMember('{"jsonrpc":"2.0","id":1,"method":"m","params":{"text":"\\"name\\":1,\\"name\\":2","list":[{"id":1},{"id":2}]}}')).toBeUndefined();
    expect(duplicateMember(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"${'x'.repeat(1 << 20)}"}}}`)).toBeUndefined();
  });
});

describe('parseFrame with duplicate members', () => {
  it("refuses a request whose tool name is given twice, with the request's id", () => {
    const verdict = parseFrame('{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"delete_file","name":"read_file"}}');
    expect(verdict).toEqual({ ok: false, code: -32600, id: 7, reason: 'the member "params.name" appears twice: a server could read it differently from airlock\'s policy and audit, so the message is refused' });
  });
});
