import { describe, expect, it } from 'vitest';
import { readSseEvents, type SseEvent } from '../../../src/transports/sse-reader.js';

function streamOf(chunks: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
      controller.close();
    },
  });
}

async function collect(chunks: string[], onRetry?: (ms: number) => void): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  for await (const event of readSseEvents(streamOf(chunks), { onRetry })) events.push(event);
  return events;
}

describe('readSseEvents', () => {
  it('reads events with LF, CRLF and CR line endings alike', async () => {
    const expected = [
      { event: 'endpoint', data: '/messages?sessionId=1', id: undefined },
      { event: 'message', data: '{"a":1}', id: undefined },
    ];
    expect(await collect(['event: endpoint\ndata: /messages?sessionId=1\n\ndata: {"a":1}\n\n'])).toEqual(expected);
    expect(await collect(['event: endpoint\r\ndata: /messages?sessionId=1\r\n\r\ndata: {"a":1}\r\n\r\n'])).toEqual(expected);
    expect(await collect(['event: endpoint\rdata: /messages?sessionId=1\r\rdata: {"a":1}\r\r'])).toEqual(expected);
  });

  it('joins multi-line data, skips comments, and keeps the last id for later events', async () => {
    const events = await collect([': keep-alive\n\nid: 7\ndata: line one\ndata: line two\n\ndata:no-space\n\n']);
    expect(events).toEqual([
      { event: 'message', data: 'line one\nline two', id: '7' },
      { event: 'message', data: 'no-space', id: '7' },
    ]);
  });

  it('reassembles events split at every byte, including a CRLF split between chunks', async () => {
    const text = 'id: 1\r\ndata: {"jsonrpc":"2.0","method":"x","params":{"s":"ü€"}}\r\n\r\n';
    const events = await collect([...text]);
    expect(events).toEqual([{ event: 'message', data: '{"jsonrpc":"2.0","method":"x","params":{"s":"ü€"}}', id: '1' }]);
    expect(await collect(['data: a\r', '\n\r', '\ndata: b\n\n'])).toEqual([
      { event: 'message', data: 'a', id: undefined },
      { event: 'message', data: 'b', id: undefined },
    ]);
  });

  it('carries a 1 MiB data line arriving in 64 KiB chunks', async () => {
    const payload = 'x'.repeat(1024 * 1024);
    const text = `data: ${payload}\n\n`;
    const chunks: string[] = [];
    for (let i = 0; i < text.length; i += 65536) chunks.push(text.slice(i, i + 65536));
    const events = await collect(chunks);
    expect(events).toHaveLength(1);
    expect(events[0]!.data).toBe(payload);
  });

  it('reports retry and ignores events without data and a final event without its blank line', async () => {
    const retries: number[] = [];
    const events = await collect(['retry: 1500\nid: 3\n\nretry: soon\ndata: done\n\ndata: unterminated'], (ms) => retries.push(ms));
    expect(retries).toEqual([1500]);
    expect(events).toEqual([{ event: 'message', data: 'done', id: '3' }]);
  });
});
