/**
 * What every command needs, built once from its options and passed down as one object.
 */
import { createLogger, type LogLevel, type Logger } from '../log.js';
import { ChildReaper } from '../transports/child-reaper.js';
import type { OutboundContext } from '../transports/outbound.js';
import type { Invocation } from './invocation.js';

import { DEFAULT_MAX_MESSAGE_BYTES } from '../transports/streamable-http-client.js';

export { DEFAULT_MAX_MESSAGE_BYTES };
/** After stdin closes, a child gets this long to exit before SIGTERM (and as long again before SIGKILL). */
export const CHILD_KILL_GRACE_MS = 2000;

export { version } from '../version.js';

export interface CommandContext extends OutboundContext {
  log: Logger;
  reaper: ChildReaper;
}

/**
 * `io`: a hosted invocation (the hub) sends log lines and a spawned server's stderr to its client's
 * stderr and takes the reaper from its host; otherwise airlock's own stderr and a reaper of its own.
 */
export function createContext(logLevel: LogLevel, maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES, io?: Invocation): CommandContext {
  const writeStderr = io?.hosted ? io.writeStderr : undefined;
  return {
    log: createLogger(logLevel, writeStderr),
    ...(writeStderr ? { writeStderr } : {}),
    reaper: io?.hosted ? io.hosted.newReaper() : new ChildReaper(),
    ...(io?.hosted?.upstreams ? { upstreams: io.hosted.upstreams } : {}),
    maxLineBytes: maxMessageBytes,
    killGraceMs: CHILD_KILL_GRACE_MS,
  };
}
