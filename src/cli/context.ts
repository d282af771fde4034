/**
 * What every command needs, built once from its options and passed down as one object.
 */
import { createRequire } from 'node:module';
import { createLogger, type LogLevel, type Logger } from '../log.js';
import { ChildReaper } from '../transports/child-reaper.js';
import type { OutboundContext } from '../transports/outbound.js';

import { DEFAULT_MAX_MESSAGE_BYTES } from '../transports/streamable-http-client.js';

export { DEFAULT_MAX_MESSAGE_BYTES };
/** After stdin closes, a child gets this long to exit before SIGTERM (and as long again before SIGKILL). */
export const CHILD_KILL_GRACE_MS = 2000;

export const version: string = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

export interface CommandContext extends OutboundContext {
  log: Logger;
  reaper: ChildReaper;
}

export function createContext(logLevel: LogLevel, maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES): CommandContext {
  return {
    log: createLogger(logLevel),
    reaper: new ChildReaper(),
    maxLineBytes: maxMessageBytes,
    killGraceMs: CHILD_KILL_GRACE_MS,
  };
}
