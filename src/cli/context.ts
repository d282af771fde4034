/**
 * What every command needs, built once from its options and passed down as one object.
 */
import { createRequire } from 'node:module';
import { createLogger, type LogLevel, type Logger } from '../log.js';
import { ChildReaper } from '../transports/child-reaper.js';
import type { OutboundContext } from '../transports/outbound.js';

/** A stdio line longer than this is dropped with an error instead of buffered without bound. */
export const MAX_STDIO_MESSAGE_BYTES = 64 * 1024 * 1024;
/** After stdin closes, a child gets this long to exit before SIGTERM (and as long again before SIGKILL). */
export const CHILD_KILL_GRACE_MS = 2000;

export const version: string = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

export interface CommandContext extends OutboundContext {
  log: Logger;
  reaper: ChildReaper;
}

export function createContext(logLevel: LogLevel): CommandContext {
  return {
    log: createLogger(logLevel),
    reaper: new ChildReaper(),
    maxLineBytes: MAX_STDIO_MESSAGE_BYTES,
    killGraceMs: CHILD_KILL_GRACE_MS,
  };
}
