import { describe, expect, it } from 'vitest';
import type { JSONRPCMessage } from '../../../src/bridge/json-rpc.js';
import { messageText, rememberText } from '../../../src/bridge/message-text.js';
import { parseFrame } from '../../../src/bridge/json-rpc.js';

describe('messageText', () => {
  it('gives back the text a message arrived as, byte for byte (key order, spacing, escapes kept)', () => {
    const text = '{"id":1, "jsonrpc":"2.0","result":{"s":"\\u00fc"}}';
    const message = JSON.parse(text) as JSONRPCMessage;
    rememberText(message, text);
    expect(messageText(message)).toBe(text);
  });

  it('serialises a message built in airlock, or derived from another one', () => {
    const original = JSON.parse('{"jsonrpc":"2.0","id":2,"result":{"tools":[1,2]}}') as JSONRPCMessage;
    rememberText(original, '{"jsonrpc":"2.0","id":2,"result":{"tools":[1,2]}}');
    const filtered = { ...original, result: { tools: [1] } } as JSONRPCMessage;
    expect(messageText(filtered)).toBe('{"jsonrpc":"2.0","id":2,"result":{"tools":[1]}}');
  });

  it('never reuses text with a line break, which stdio framing and SSE data lines forbid', () => {
    const text = '{"jsonrpc":"2.0",\n"method":"x"}';
    const message = JSON.parse(text) as JSONRPCMessage;
    rememberText(message, text);
    expect(messageText(message)).toBe('{"jsonrpc":"2.0","method":"x"}');
    const crText = '{"jsonrpc":"2.0",\r"method":"y"}';
    const crMessage = JSON.parse(crText) as JSONRPCMessage;
    rememberText(crMessage, crText);
    expect(messageText(crMessage)).toBe('{"jsonrpc":"2.0","method":"y"}');
  });
});

describe('withMessageId', () => {
  it('patches the id where SDKs write it, at the start or the end, and keeps the rest of the text as it was', async () => {
    const { withMessageId } = await import('../../../src/bridge/message-text.js');
    const start = parseFrame('{"jsonrpc":"2.0","id":7,"result":{"text":"  spaced  ","nested":{"id":7}}}');
    const end = parseFrame('{"result":{"content":[{"id":7}]},"jsonrpc":"2.0","id":7}');
    const elsewhere = parseFrame('{"result":{},"id":7,"jsonrpc":"2.0"}');
    if (!start.ok || !end.ok || !elsewhere.ok) throw new Error('fixtures must parse');
    expect(messageText(withMessageId(start.message, 'caller-1'))).toBe('{"jsonrpc":"2.0","id":"caller-1","result":{"text":"  spaced  ","nested":{"id":7}}}');
    expect(messageText(withMessageId(end.message, 42))).toBe('{"result":{"content":[{"id":7}]},"jsonrpc":"2.0","id":42}');
    // Anywhere else: serialised again, correctly.
    expect(JSON.parse(messageText(withMessageId(elsewhere.message, 3)))).toEqual({ result: {}, id: 3, jsonrpc: '2.0' });
  });
});
