/**
 * The client side of stdio modes: our own stdin and stdout. A line that is not JSON gets a -32700
 * response, one that is not JSON-RPC a -32600 (JSON-RPC 2.0 §5.1), and the session goes on.
 */
import type { Readable, Writable } from 'node:stream';
import { errorResponse } from '../bridge/json-rpc.js';
import { quote } from '../errors.js';
import type { Logger } from '../log.js';
import { JsonLineTransport } from './json-line-transport.js';

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
    onInvalidFrame: (frame) => {
      log.warn(`client sent an invalid message (${frame.reason}): ${quote(frame.preview, 120)}`);
      transport.send(errorResponse(frame.id, frame.code, frame.reason)).catch(() => undefined);
    },
  });
  return transport;
}
