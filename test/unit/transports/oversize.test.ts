import { describe, expect, it } from 'vitest';
import { classifyOversize, RepeatedWarning } from '../../../src/transports/oversize.js';

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
