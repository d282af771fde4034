import { describe, expect, it } from 'vitest';
import type { JSONRPCMessage } from '../../../src/bridge/json-rpc.js';
import { classifyOversize, oversizeOnCallStream } from '../../../src/transports/oversize.js';
import { RepeatedWarning } from '../../../src/log.js';

describe('classifyOversize', () => {
  it('finds the id of an answer at the start or, as the SDK v2 writes it, at the end', () => {
    expect(classifyOversize({ prefix: '{"jsonrpc":"2.0","id":7,"result":{"content":[', suffix: 'xx"}]}}' })).toEqual({ kind: 'response', id: 7 });
    expect(classifyOversize({ prefix: '{"result":{"content":[{"text":"xxx', suffix: 'xxx"}]},"jsonrpc":"2.0","id":"a\\"b"}' })).toEqual({ kind: 'response', id: 'a"b' });
    expect(classifyOversize({ prefix: '{"id":-3,"error":{"message":"', suffix: '"}}' })).toEqual({ kind: 'response', id: -3 });
  });

  it('tells a server request and a notification from an answer', () => {
    expect(classifyOversize({ prefix: '{"jsonrpc":"2.0","id":4,"method":"sampling/createMessage","params":{', suffix: '}}}' })).toEqual({ kind: 'request', id: 4 });
    expect(classifyOversize({ prefix: '{"method":"sampling/createMessage","params":{"messages":[', suffix: '}]},"jsonrpc":"2.0","id":9}' })).toEqual({ kind: 'request', id: 9 });
    expect(classifyOversize({ prefix: '{"jsonrpc":"2.0","method":"notifications/message","params":{"data":"', suffix: '"}}' })).toEqual({ kind: 'notification' });
  });

  it('does not take an id nested inside the payload for the message id', () => {
    expect(classifyOversize({ prefix: '{"jsonrpc":"2.0","result":{"items":[{"id":1,', suffix: '{"id":2}]}}' })).toEqual({ kind: 'unknown' });
  });
});

describe('oversizeOnCallStream', () => {
  const run = (prefix: string) => {
    const toClient: JSONRPCMessage[] = [];
    const toServer: JSONRPCMessage[] = [];
    oversizeOnCallStream({ prefix, suffix: '', seen: 2048, ended: false }, 1024, 5, (m) => toClient.push(m), async (m) => void toServer.push(m));
    return { toClient, toServer };
  };

  it('answers the call with the answer\'s error when the event is its answer', () => {
    const { toClient } = run('{"jsonrpc":"2.0","id":5,"result":{"content":[');
    expect(toClient).toHaveLength(1);
    expect((toClient[0] as { error: { message: string } }).error.message).toMatch(/^mcp-airlock: the server's answer \(at least 2048 bytes\)/);
  });

  it('fails the call at once when the start of the event names no id, or is a notification', () => {
    for (const prefix of ['{"result":{"content":[{"text":"', '{"jsonrpc":"2.0","method":"notifications/message","params":{"data":"']) {
      const { toClient, toServer } = run(prefix);
      expect(toServer).toEqual([]);
      expect(toClient).toEqual([
        {
          jsonrpc: '2.0',
          id: 5,
          error: { code: -32000, message: "mcp-airlock: the server sent a message (at least 2048 bytes) larger than --max-message (1024 bytes) on this call's stream; the stream was closed", data: { airlock: 'AIRLOCK_MESSAGE_TOO_LARGE', limit: 1024 } },
        },
      ]);
    }
  });

  it('refuses a server request to the server, and fails the call too', () => {
    const { toClient, toServer } = run('{"jsonrpc":"2.0","id":"s1","method":"sampling/createMessage","params":{');
    expect(toServer.map((m) => (m as { id: unknown }).id)).toEqual(['s1']);
    expect(toClient.map((m) => (m as { id: unknown }).id)).toEqual([5]);
  });
});

describe('RepeatedWarning', () => {
  it('says the first at once, holds the next ones for the interval, then says how many it held', () => {
    const lines: string[] = [];
    let now = 0;
    const warning = new RepeatedWarning((line) => lines.push(line), 10_000, () => now);
    for (let i = 0; i < 500; i++) warning.report('junk');
    now = 12_000;
    warning.report('junk');
    expect(lines).toEqual(['junk', 'junk (and 499 more like it in the last 12 s)']);
  });
});
