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

/** Line-by-line state of one stream. */
class SseParser {
  private buffer = '';
  private scanFrom = 0;
  private data: string[] = [];
  private event = '';
  private lastId: string | undefined;

  constructor(private readonly onRetry?: (ms: number) => void) {}

  /** Add text; return the events it completes. At the end of the stream pass `final`. */
  push(text: string, final = false): SseEvent[] {
    const events: SseEvent[] = [];
    const buffer = this.buffer + text;
    let start = 0;
    for (;;) {
      const end = nextLineEnd(buffer, this.scanFrom);
      if (end === -1) break;
      // A \r at the very end may be the first half of \r\n: wait for more, unless there is no more.
      if (buffer[end] === '\r' && end + 1 === buffer.length && !final) break;
      this.line(buffer.slice(start, end), events);
      start = end + (buffer[end] === '\r' && buffer[end + 1] === '\n' ? 2 : 1);
      this.scanFrom = start;
    }
    this.buffer = buffer.slice(start);
    // Nothing ends a line past here, but a trailing \r may still turn out to be half of \r\n.
    this.scanFrom = Math.max(0, this.buffer.length - 1);
    return events;
  }

  private line(line: string, events: SseEvent[]): void {
    if (line === '') {
      if (this.data.length > 0) events.push({ event: this.event || 'message', data: this.data.join('\n'), id: this.lastId });
      this.data = [];
      this.event = '';
      return;
    }
    if (line.charCodeAt(0) === 58 /* ':' starts a comment */) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id') {
      if (!value.includes('\0')) this.lastId = value;
    } else if (field === 'retry' && /^\d+$/.test(value)) this.onRetry?.(Number(value));
  }
}

/**
 * Events of a body (a Node stream or a web ReadableStream). Leaving the loop early ends the body:
 * async iteration destroys a Node stream and cancels a web stream on `return()`.
 */
export async function* readSseEvents(body: AsyncIterable<Uint8Array>, options: SseReadOptions = {}): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  const parser = new SseParser(options.onRetry);
  for await (const chunk of body) yield* parser.push(decoder.decode(chunk, { stream: true }));
  // An event not closed by a blank line before the end is discarded, as the spec says.
  yield* parser.push(decoder.decode(), true);
}

function nextLineEnd(text: string, from: number): number {
  const lf = text.indexOf('\n', from);
  const cr = text.indexOf('\r', from);
  if (cr === -1) return lf;
  if (lf === -1) return cr;
  return Math.min(lf, cr);
}
