/**
 * One server-sent event stream on a Node response (WHATWG HTML §9.2), with a keep-alive comment
 * so proxies and idle timeouts do not cut a quiet stream.
 */
import type { ServerResponse } from 'node:http';

const KEEPALIVE_MS = 25_000;

export class EventStream {
  private readonly keepalive: NodeJS.Timeout;
  ended = false;

  constructor(
    readonly res: ServerResponse,
    headers: Record<string, string> = {},
  ) {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache, no-transform', Connection: 'keep-alive', ...headers });
    res.flushHeaders();
    this.keepalive = setInterval(() => res.write(': keep-alive\n\n'), KEEPALIVE_MS);
    this.keepalive.unref();
    res.once('close', () => this.finish());
  }

  /** Write one event; `data` must hold no newline (JSON.stringify output never does). */
  write(data: string, event = 'message'): void {
    if (this.ended) throw new Error('the event stream to the client is closed');
    this.res.write(`event: ${event}\ndata: ${data}\n\n`);
  }

  end(): void {
    if (this.ended) return;
    this.finish();
    this.res.end();
  }

  private finish(): void {
    this.ended = true;
    clearInterval(this.keepalive);
  }
}
