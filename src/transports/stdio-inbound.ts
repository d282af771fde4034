/**
 * The client side of stdio modes: our own stdin and stdout. A line that is not JSON gets a -32700
 * response, one that is not JSON-RPC a -32600 (JSON-RPC 2.0 §5.1), and the session goes on.
 */
import type { Readable, Writable } from 'node:stream';
import { errorResponse } from '../bridge/json-rpc.js';
import { quote } from '../errors.js';
import type { Logger } from '../log.js';
import { JsonLineTransport } from './json-line-transport.js';
import { classifyOversize } from './oversize.js';

export interface StdioInboundOptions {
  maxLineBytes: number;
  log: Logger;
  input?: Readable;
  output?: Writable;
}

export function createStdioInbound(options: StdioInboundOptions): JsonLineTransport {
  const { log } = options;
  const transport: JsonLineTransport = new JsonLineTransport(options.input ?? process.stdin, options.output ?? process.stdout, {
    maxLineBytes: options.maxLineBytes,
    writableAfterInputEnds: true,
    onInvalidFrame: (frame) => {
      log.warn(`client sent an invalid message (${frame.reason})${frame.preview ? `: ${quote(frame.preview, 120)}` : ''}`);
      // A request too large to read still gets its answer, under its id when its edges show one.
      const what = frame.oversize ? classifyOversize(frame.oversize) : undefined;
      if (what?.kind === 'notification' || what?.kind === 'response') return;
      const id = what?.kind === 'request' ? what.id : frame.id;
      const data = frame.oversize ? { airlock: 'AIRLOCK_MESSAGE_TOO_LARGE', limit: options.maxLineBytes } : undefined;
      transport.send(errorResponse(id, frame.code, frame.reason, data)).catch(() => undefined);
    },
  });
  return transport;
}
