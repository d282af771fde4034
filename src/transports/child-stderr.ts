/**
 * A spawned server's stderr, line by line. Each line is passed on to airlock's stderr behind a
 * label (`[session 1a2b3c4d] …`, `[server 4242] …`), so that the output of several children can
 * be told apart and none of it passes for airlock's own lines; and the last few lines are kept, so
 * that a child that exits at start (a mistyped npx package) says why in the error the client gets,
 * not only "exited with code 1" (issue 21). Both are redacted (redact.ts): a server may print its
 * own configuration, keys included.
 */
import { redactString } from '../redact.js';

/** Lines kept for the exit error, and their size in all: enough for npm's or Python's last words, bounded. */
const TAIL_LINES = 5;
const TAIL_CHARS = 2048;
/** A line longer than this is passed on in pieces (a child must not make airlock hold an endless line). */
const MAX_LINE_CHARS = 8192;

export class ChildStderr {
  private partial = '';
  private readonly tail: string[] = [];

  constructor(
    private readonly label: string,
    /** Where passed-on lines go (airlock's stderr); undefined: kept for the tail only. */
    private readonly write: ((text: string) => void) | undefined,
  ) {}

  /** Text the child wrote. */
  push(text: string): void {
    let rest = this.partial + text;
    for (let end = rest.indexOf('\n'); end !== -1; end = rest.indexOf('\n')) {
      this.line(rest.slice(0, end));
      rest = rest.slice(end + 1);
    }
    while (rest.length > MAX_LINE_CHARS) {
      this.line(rest.slice(0, MAX_LINE_CHARS));
      rest = rest.slice(MAX_LINE_CHARS);
    }
    this.partial = rest;
  }

  /** The stream ended: a last line without its newline counts too. */
  end(): void {
    if (this.partial !== '') this.line(this.partial);
    this.partial = '';
  }

  /** The last lines the child wrote (at most 5, 2 KiB), redacted, joined by newlines; '' when it wrote none. */
  lastLines(): string {
    const lines: string[] = [];
    let size = 0;
    for (let i = this.tail.length - 1; i >= 0; i--) {
      const line = this.tail[i]!;
      if (size + line.length > TAIL_CHARS) {
        if (lines.length === 0) lines.unshift(`…${line.slice(-(TAIL_CHARS - 1))}`);
        break;
      }
      lines.unshift(line);
      size += line.length + 1;
    }
    return lines.join('\n');
  }

  private line(raw: string): void {
    const line = redactString(raw.replace(/\r$/, ''));
    this.write?.(`[${this.label}] ${line}\n`);
    if (line.trim() === '') return;
    this.tail.push(line);
    if (this.tail.length > TAIL_LINES) this.tail.shift();
  }
}
