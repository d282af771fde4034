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

  it('reads all three line endings mixed in one chunk, many events long', async () => {
    const endings = ['\n', '\r', '\r\n'];
    const text = Array.from({ length: 30 }, (_, i) => `id: ${i}${endings[i % 3]}data: ${i}${endings[(i + 1) % 3]}data: more${endings[(i + 2) % 3]}${endings[i % 3]}`).join('');
    const events = await collect([text]);
    expect(events).toEqual(Array.from({ length: 30 }, (_, i) => ({ event: 'message', data: `${i}\nmore`, id: String(i) })));
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

describe('readSseEvents with maxEventBytes', () => {
  async function capped(chunks: string[], max: number): Promise<{ events: SseEvent[]; oversize: Array<{ prefix: string; seen: number }> }> {
    const events: SseEvent[] = [];
    const oversize: Array<{ prefix: string; seen: number }> = [];
    // Each oversize event is told twice when its start alone is not enough: keep the final report.
    for await (const event of readSseEvents(streamOf(chunks), { maxEventBytes: max, onOversize: (o) => void (o.ended && oversize.push(o)) })) events.push(event);
    return { events, oversize };
  }

  it('skips an event past the limit, reports the start of its data, and reads the next one', async () => {
    const big = `{"jsonrpc":"2.0","id":7,"result":{"text":"${'x'.repeat(500)}"}}`;
    const { events, oversize } = await capped([`data: {"a":1}\n\ndata: ${big}\n\ndata: {"b":2}\n\n`], 100);
    expect(events.map((e) => e.data)).toEqual(['{"a":1}', '{"b":2}']);
    expect(oversize).toHaveLength(1);
    expect(oversize[0]!.prefix.startsWith('{"jsonrpc":"2.0","id":7,')).toBe(true);
    expect(oversize[0]!.seen).toBeGreaterThanOrEqual(big.length);
  });

  it('never holds a line that does not end: it is dropped as it comes, chunk by chunk', async () => {
    const chunks = ['data: {"jsonrpc":"2.0","id":"x",', ...Array.from({ length: 50 }, () => 'y'.repeat(1000)), '\n\ndata: {"after":true}\n\n'];
    const { events, oversize } = await capped(chunks, 4096);
    expect(events.map((e) => e.data)).toEqual(['{"after":true}']);
    expect(oversize).toMatchObject([{ prefix: expect.stringMatching(/^\{"jsonrpc":"2\.0","id":"x",y+$/), suffix: 'y'.repeat(256) }]);
    expect(oversize[0]!.seen).toBeGreaterThanOrEqual(50_000);
  });

  it('counts many data lines of one event together, and a CRLF split across chunks ends the skipped line only', async () => {
    const lines = Array.from({ length: 20 }, (_, i) => `data: line ${i} ${'z'.repeat(20)}\r\n`).join('');
    const { events, oversize } = await capped([lines, '\r\n', 'data: ', 'x'.repeat(300), '\r', '\ndata: more\r\n\r\ndata: ok\r\n\r\n'], 200);
    expect(oversize).toHaveLength(2);
    expect(oversize[0]!.prefix.startsWith('line 0 ')).toBe(true);
    expect(events.map((e) => e.data)).toEqual(['ok']);
  });

  it('tells at once when the start names the call, and ends the stream when asked to', async () => {
    const seen: Array<{ prefix: string; ended: boolean }> = [];
    const events: SseEvent[] = [];
    const endless = ['data: {"jsonrpc":"2.0","id":5,"result":"', ...Array.from({ length: 100 }, () => 'w'.repeat(1000))];
    for await (const event of readSseEvents(streamOf(endless), { maxEventBytes: 2048, onOversize: (o) => (seen.push(o), 'stop') })) events.push(event);
    expect(seen).toEqual([expect.objectContaining({ ended: false, prefix: expect.stringMatching(/^\{"jsonrpc":"2\.0","id":5,"result":"w+$/) })]);
    expect(events).toEqual([]);
  });

  it('reports an oversize event the stream ends in', async () => {
    const { events, oversize } = await capped(['data: ', 'q'.repeat(1000)], 100);
    expect(events).toEqual([]);
    expect(oversize).toHaveLength(1);
  });
});
