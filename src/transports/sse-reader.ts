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
  /**
   * The largest event kept (its data, in UTF-16 code units: bytes for ASCII JSON). A larger one,
   * or a line that grows past it without ending, is skipped without being held in memory, and
   * reported with the start of its data (enough to read a JSON-RPC id from).
   */
  maxEventBytes?: number;
  /**
   * Called when an event passes the limit (`ended: false`, only its start known) and, unless that
   * call returned 'handled' or 'stop', again when it ends (`ended: true`, its last characters known
   * too). 'stop' ends the stream there (what it carried is accounted for; nothing more is wanted).
   */
  onOversize?: (oversize: OversizeEvent) => 'handled' | 'stop' | void;
}

export interface OversizeEvent {
  /** The first characters of the event's data. */
  prefix: string;
  /** The last characters of its data (a JSON-RPC id may come last: `…,"jsonrpc":"2.0","id":7}`). */
  suffix: string;
  /** How much of it was seen before it was skipped (at least the limit). */
  seen: number;
  /** Whether the event has ended (else only its start is known). */
  ended: boolean;
}

const PREFIX_CHARS = 256;

/** Line-by-line state of one stream. */
class SseParser {
  /** The line not ended yet, in pieces. */
  private parts: string[] = [];
  private partsLength = 0;
  private data: string[] = [];
  private dataLength = 0;
  private event = '';
  private lastId: string | undefined;
  /** The event being read is past the limit: its lines are dropped until the blank line that ends it. */
  private oversize: OversizeEvent | undefined;
  /** The line being read is past the limit: text is dropped until a line ends. */
  private skippingLine = false;
  /** A skipped line ended with \r at the end of a chunk: a \n starting the next one belongs to it. */
  private dropLeadingLf = false;
  private readonly max: number;
  /** onOversize asked to end the stream. */
  stopped = false;
  /** The oversize event in progress was dealt with when it passed the limit. */
  private handled = false;

  constructor(private readonly options: SseReadOptions = {}) {
    this.max = options.maxEventBytes ?? Number.POSITIVE_INFINITY;
  }

  /** Add text; return the events it completes. At the end of the stream pass `final`. */
  push(input: string, final = false): SseEvent[] {
    const events: SseEvent[] = [];
    let text = input;
    if (this.dropLeadingLf) {
      this.dropLeadingLf = false;
      if (text.startsWith('\n')) text = text.slice(1);
    }
    if (this.skippingLine) {
      const end = nextLineEnd(text, 0);
      this.skipped(end === -1 ? text : text.slice(0, end));
      if (end === -1) return final ? this.finish(events) : events;
      this.skippingLine = false;
      // The line end closes the skipped line (it is not a blank line of its own).
      text = text.slice(this.afterLineEnd(text, end));
    }
    // A partial line is held as pieces and joined once, when it ends: joining (and searching) it at
    // every chunk made a long line cost its length squared, in time and in garbage.
    let buffer = text;
    if (this.parts.length > 0) {
      if (nextLineEnd(text, 0) === -1) {
        this.hold(text);
        return final ? this.finish(events) : events;
      }
      buffer = this.parts.join('') + text;
      this.parts = [];
      this.partsLength = 0;
    }
    const ends = new LineEnds(buffer);
    let start = 0;
    for (;;) {
      const end = ends.next(start);
      if (end === -1) break;
      this.line(buffer.slice(start, end), events);
      start = this.afterLineEnd(buffer, end);
    }
    if (start < buffer.length) this.hold(buffer.slice(start));
    return final ? this.finish(events) : events;
  }

  /** Where the text after the line end at `end` (CRLF, LF or CR) starts; a CR ending the chunk may be half of a CRLF. */
  private afterLineEnd(text: string, end: number): number {
    if (text.charCodeAt(end) === 13) {
      if (end + 1 === text.length) {
        this.dropLeadingLf = true;
        return text.length;
      }
      if (text.charCodeAt(end + 1) === 10) return end + 2;
    }
    return end + 1;
  }

  /** Keep a piece of a line not ended yet; past the limit, keep only its start and drop the rest as it comes. */
  private hold(piece: string): void {
    this.parts.push(piece);
    this.partsLength += piece.length;
    if (this.partsLength + this.dataLength <= this.max) return;
    const head = this.parts[0]!.length >= PREFIX_CHARS + 8 ? this.parts[0]! : this.parts.join('').slice(0, PREFIX_CHARS + 8);
    const seen = this.partsLength;
    this.parts = [];
    this.partsLength = 0;
    this.markOversize(head.startsWith('data:') ? head.slice(5).trimStart() : '', seen);
    this.skippingLine = true;
  }

  /** The stream ended: an oversize event still open is reported (an unfinished normal one is discarded, as the spec says). */
  private finish(events: SseEvent[]): SseEvent[] {
    if (this.oversize) this.reportOversize();
    return events;
  }

  private markOversize(start: string, seen: number): void {
    const first = !this.oversize;
    if (!this.oversize) {
      const held = this.data.join('\n') + (this.data.length > 0 ? '\n' : '');
      this.oversize = { prefix: (held + start).slice(0, PREFIX_CHARS), suffix: '', seen: this.dataLength, ended: false };
    }
    this.oversize.seen += seen - start.length;
    this.skipped(start);
    this.data = [];
    this.dataLength = 0;
    if (first) {
      // Tell at once: an event that never ends would otherwise never be reported.
      const verdict = this.options.onOversize?.({ ...this.oversize, suffix: '' });
      if (verdict === 'handled' || verdict === 'stop') this.handled = true;
      if (verdict === 'stop') this.stopped = true;
    }
  }

  /** Text of the oversize event, dropped as it passes: only its length and last characters are kept. */
  private skipped(text: string): void {
    const oversize = this.oversize!;
    oversize.seen += text.length;
    oversize.suffix = text.length >= PREFIX_CHARS ? text.slice(-PREFIX_CHARS) : (oversize.suffix + text).slice(-PREFIX_CHARS);
  }

  private reportOversize(): void {
    const oversize = this.oversize!;
    this.oversize = undefined;
    const handled = this.handled;
    this.handled = false;
    if (!handled && this.options.onOversize?.({ ...oversize, ended: true }) === 'stop') this.stopped = true;
  }

  private line(line: string, events: SseEvent[]): void {
    if (line === '') {
      if (this.oversize) this.reportOversize();
      else if (this.data.length > 0) events.push({ event: this.event || 'message', data: this.data.join('\n'), id: this.lastId });
      this.data = [];
      this.dataLength = 0;
      this.event = '';
      return;
    }
    if (line.charCodeAt(0) === 58 /* ':' starts a comment */) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    if (field === 'data') {
      if (this.oversize) this.skipped(`\n${value}`);
      else if (this.dataLength + value.length > this.max) this.markOversize(value, value.length);
      else {
        this.data.push(value);
        this.dataLength += value.length + 1;
      }
    }
    else if (field === 'event') this.event = value;
    else if (field === 'id') {
      if (!value.includes('\0')) this.lastId = value;
    } else if (field === 'retry' && /^\d+$/.test(value)) this.options.onRetry?.(Number(value));
  }
}

/**
 * Events of a body (a Node stream or a web ReadableStream). Leaving the loop early ends the body:
 * async iteration destroys a Node stream and cancels a web stream on `return()`.
 */
export async function* readSseEvents(body: AsyncIterable<Uint8Array>, options: SseReadOptions = {}): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  const parser = new SseParser(options);
  for await (const chunk of body) {
    yield* parser.push(decoder.decode(chunk, { stream: true }));
    if (parser.stopped) return; // leaving the loop ends the body
  }
  // An event not closed by a blank line before the end is discarded, as the spec says.
  yield* parser.push(decoder.decode(), true);
}

/**
 * The line ends (LF, CR or CRLF) of one text, in order. Each of \n and \r is searched for again
 * only once it is passed: searching both at every line scanned the rest of a chunk without any \r
 * once per line, which cost a chunk of many small events its length times its line count.
 */
class LineEnds {
  /** The next \n and \r at or after the last position asked for; -1 when there is none. */
  private lf = -2;
  private cr = -2;

  constructor(private readonly text: string) {}

  next(from: number): number {
    if (this.lf !== -1 && this.lf < from) this.lf = this.text.indexOf('\n', from);
    if (this.cr !== -1 && this.cr < from) this.cr = this.text.indexOf('\r', from);
    if (this.cr === -1) return this.lf;
    if (this.lf === -1) return this.cr;
    return Math.min(this.lf, this.cr);
  }
}

function nextLineEnd(text: string, from: number): number {
  const lf = text.indexOf('\n', from);
  const cr = text.indexOf('\r', from);
  if (cr === -1) return lf;
  if (lf === -1) return cr;
  return Math.min(lf, cr);
}
