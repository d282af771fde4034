/**
 * A Server-Sent Events reader (WHATWG HTML §9.2 "Server-sent events", the event stream format):
 * `data`, `event`, `id` and `retry` fields, comments, and all three line endings. Small and
 * allocation-light, because every message of an HTTP upstream passes through it.
 */
export interface SseEvent {
  /** The `event` field; "message" when absent. */
  event: string;
  data: string;
  /** The last event id seen on this stream (carried over from earlier events, per the spec). */
  id: string | undefined;
}

export interface SseReadOptions {
  /** Called with the `retry` field's value (ms) when the server sends one. */
  onRetry?: (ms: number) => void;
}

export async function* readSseEvents(body: ReadableStream<Uint8Array>, options: SseReadOptions = {}): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  let buffer = '';
  let scanFrom = 0;
  let data: string[] = [];
  let event = '';
  let lastId: string | undefined;
  const reader = body.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let start = 0;
      for (;;) {
        const end = nextLineEnd(buffer, scanFrom);
        if (end === -1) break;
        // A lone \r at the very end may be the first half of \r\n: wait for the next chunk.
        if (buffer[end] === '\r' && end + 1 === buffer.length) break;
        const line = buffer.slice(start, end);
        start = end + (buffer[end] === '\r' && buffer[end + 1] === '\n' ? 2 : 1);
        scanFrom = start;
        if (line === '') {
          if (data.length > 0) yield { event: event || 'message', data: data.join('\n'), id: lastId };
          data = [];
          event = '';
          continue;
        }
        if (line.charCodeAt(0) === 58 /* ':' comment */) continue;
        const colon = line.indexOf(':');
        const field = colon === -1 ? line : line.slice(0, colon);
        let fieldValue = colon === -1 ? '' : line.slice(colon + 1);
        if (fieldValue.charCodeAt(0) === 32) fieldValue = fieldValue.slice(1);
        if (field === 'data') data.push(fieldValue);
        else if (field === 'event') event = fieldValue;
        else if (field === 'id') {
          if (!fieldValue.includes('\0')) lastId = fieldValue;
        } else if (field === 'retry' && /^\d+$/.test(fieldValue)) options.onRetry?.(Number(fieldValue));
      }
      // No line end past scanFrom, but a trailing \r may still turn out to be half of \r\n.
      buffer = buffer.slice(start);
      scanFrom = Math.max(0, buffer.length - 1);
    }
  } finally {
    reader.releaseLock();
    await body.cancel().catch(() => undefined);
  }
}

function nextLineEnd(text: string, from: number): number {
  const lf = text.indexOf('\n', from);
  const cr = text.indexOf('\r', from);
  if (cr === -1) return lf;
  if (lf === -1) return cr;
  return Math.min(lf, cr);
}
