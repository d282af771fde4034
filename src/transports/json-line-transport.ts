/**
 * MCP's stdio framing (2025-11-25 basic/transports "stdio"): one JSON-RPC message per line, UTF-8,
 * no embedded newlines. One class serves both ends: our own stdin/stdout (inbound) and a spawned
 * server's stdout/stdin (outbound). Unlike the SDK's stdio transports, a frame that is not JSON or
 * not JSON-RPC is reported to `onInvalidFrame` with its parse verdict, so the inbound side can answer
 * -32700/-32600 and the session goes on.
 */
import type { Readable, Writable } from 'node:stream';
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import { messageText } from '../bridge/message-text.js';
import { parseFrame, RpcErrorCode, type Classified, type JSONRPCMessage } from '../bridge/json-rpc.js';

export type InvalidFrame = Extract<Classified, { ok: false }> & {
  preview: string;
  /** Set for a line past the limit: its first and last characters and its length, never the whole line. */
  oversize?: { prefix: string; suffix: string; seen: number };
};

const EDGE_CHARS = 256;

export interface JsonLineTransportOptions {
  /** A line longer than this is dropped (and reported) instead of buffered without bound. */
  maxLineBytes: number;
  /**
   * When the input ends, report the close (onclose) but keep the output writable until close() is
   * called: a stdio client that closes its stdin still reads the answers it asked for (the bridge
   * waits for them, bounded).
   */
  writableAfterInputEnds?: boolean;
  onInvalidFrame?: (frame: InvalidFrame) => void;
}

const NEWLINE = 0x0a;

export class JsonLineTransport implements Transport {
  readonly transportName = 'stdio';

  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** The line being read is past the limit: it is dropped as it comes, keeping only its edges. */
  private discarding: { prefix: string; suffix: string; seen: number } | undefined;
  private closed = false;

  constructor(
    private readonly input: Readable,
    private readonly output: Writable,
    private readonly options: JsonLineTransportOptions,
  ) {}

  async start(): Promise<void> {
    this.input.on('data', this.onData);
    this.input.on('end', this.onEnd);
    this.input.on('error', this.onStreamError);
    this.output.on('error', this.onStreamError);
    // An input someone paused on purpose (the hub, after reading a shim's header) flows from here.
    this.input.resume();
  }

  async send(message: JSONRPCMessage, _options?: TransportSendOptions): Promise<void> {
    if (this.closed) throw new Error('transport is closed');
    // Not waiting for 'drain': the stream buffers, and the peer reads as fast as it can. Waiting
    // would serialise every caller on the slowest write for no gain in a message pump.
    this.output.write(`${messageText(message)}\n`);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.input.off('data', this.onData);
    this.input.off('end', this.onEnd);
    this.pending = [];
    this.onclose?.();
  }

  private readonly onData = (chunk: Buffer | string): void => {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let start = 0;
    for (let nl = buf.indexOf(NEWLINE); nl !== -1; nl = buf.indexOf(NEWLINE, start)) {
      const piece = buf.subarray(start, nl);
      start = nl + 1;
      if (this.discarding) {
        this.skip(piece); // the end of a line past the limit
        this.reportOversize();
        continue;
      }
      if (this.pendingBytes + piece.length > this.options.maxLineBytes) {
        this.startDiscarding(piece);
        this.reportOversize();
      } else if (this.pendingBytes === 0) {
        this.handleLine(piece.toString('utf8'));
      } else {
        this.pending.push(piece);
        const line = Buffer.concat(this.pending, this.pendingBytes + piece.length).toString('utf8');
        this.pending = [];
        this.pendingBytes = 0;
        this.handleLine(line);
      }
      if (this.closed) return;
    }
    if (start < buf.length) {
      const rest = buf.subarray(start);
      if (this.discarding) {
        this.skip(rest);
      } else if (this.pendingBytes + rest.length > this.options.maxLineBytes) {
        // Stop buffering now; drop the rest of this line up to its newline.
        this.startDiscarding(rest);
      } else {
        this.pendingBytes += rest.length;
        this.pending.push(rest);
      }
    }
  };

  private startDiscarding(piece: Buffer): void {
    const head: Buffer[] = [];
    let headBytes = 0;
    for (const chunk of [...this.pending, piece]) {
      if (headBytes >= EDGE_CHARS) break;
      head.push(chunk.subarray(0, EDGE_CHARS - headBytes));
      headBytes += head.at(-1)!.length;
    }
    this.discarding = { prefix: Buffer.concat(head).toString('utf8'), suffix: '', seen: this.pendingBytes };
    this.pending = [];
    this.pendingBytes = 0;
    this.skip(piece, false);
  }

  private skip(piece: Buffer, fillPrefix = true): void {
    const discarding = this.discarding!;
    discarding.seen += piece.length;
    if (fillPrefix && discarding.prefix.length < EDGE_CHARS) discarding.prefix += piece.subarray(0, EDGE_CHARS - discarding.prefix.length).toString('utf8');
    const tail = piece.subarray(Math.max(0, piece.length - EDGE_CHARS)).toString('utf8');
    discarding.suffix = piece.length >= EDGE_CHARS ? tail : (discarding.suffix + tail).slice(-EDGE_CHARS);
  }

  private reportOversize(): void {
    const oversize = this.discarding!;
    this.discarding = undefined;
    this.options.onInvalidFrame?.({
      ok: false,
      code: RpcErrorCode.invalidRequest,
      reason: `message of ${oversize.seen} bytes is larger than --max-message (${this.options.maxLineBytes} bytes), dropped`,
      id: null,
      preview: '',
      oversize,
    });
  }

  private handleLine(raw: string): void {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') return;
    const frame = parseFrame(line);
    if (frame.ok) {
      this.onmessage?.(frame.message);
    } else {
      this.options.onInvalidFrame?.({ ...frame, preview: line.slice(0, 200) });
    }
  }

  private readonly onEnd = (): void => {
    if (!this.options.writableAfterInputEnds) return void this.close();
    this.input.off('data', this.onData);
    this.onclose?.();
  };

  private readonly onStreamError = (error: Error): void => {
    // EPIPE and friends: the peer is gone. Report once, then close.
    if (this.closed) return;
    this.onerror?.(error);
    void this.close();
  };
}
