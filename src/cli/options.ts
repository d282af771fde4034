/**
 * Parsing and checking of the options several commands share. Each returns a typed value or throws
 * an AirlockError that names the flag and the fix.
 */
import { InvalidArgumentError } from 'commander';
import { AirlockError, quote } from '../errors.js';
import { isLogLevel, type LogLevel } from '../log.js';
import { isLoopbackHost } from '../transports/http-guard.js';
import type { RemoteTransportMode } from '../transports/remote-transport.js';
import { PROTOCOL_CHOICES, type ProtocolChoice } from '../eras/era-adapter.js';
import { parseEnvAssignment } from '../transports/child-env.js';
import { schemelessUrlError } from './usage-errors.js';

/** `--transport` values, with mcp-remote's spellings as aliases. */
const transportAliases: Record<string, RemoteTransportMode> = {
  auto: 'auto',
  http: 'http',
  'streamable-http': 'http',
  streamablehttp: 'http',
  sse: 'sse',
  'http-first': 'auto',
  'sse-first': 'sse-first',
  'http-only': 'http',
  'sse-only': 'sse',
};

export function parseTransportMode(value: string): RemoteTransportMode {
  const key = value.toLowerCase();
  const mode = Object.hasOwn(transportAliases, key) ? transportAliases[key] : undefined;
  if (!mode) throw new InvalidArgumentError(`use auto, http or sse (or mcp-remote's http-first, sse-first, http-only, sse-only).`);
  return mode;
}

/** `--protocol`: which MCP era the server speaks, or `auto` to find out from the first exchange. */
export function parseProtocol(value: string): ProtocolChoice {
  const choice = PROTOCOL_CHOICES.find((known) => known === value.toLowerCase());
  if (!choice) throw new InvalidArgumentError('use auto, 2025-11-25 or 2026-07-28.');
  return choice;
}

/** `--protocol 2026-07-28` with `--transport sse` cannot work: HTTP+SSE is a 2025-era transport. */
export function checkProtocolTransport(protocol: ProtocolChoice, transport: RemoteTransportMode): void {
  if (protocol === '2026-07-28' && transport === 'sse') {
    throw new AirlockError('AIRLOCK_USAGE', '--protocol 2026-07-28 cannot go over --transport sse: the legacy HTTP+SSE transport exists only in the 2025 era', {
      hint: 'Use --transport http (or auto) for a 2026-07-28 server, or drop --protocol.',
    });
  }
}

/** `--env NAME=VALUE` (repeatable) for a spawned server. */
export function collectEnv(value: string, previous: Record<string, string> = {}): Record<string, string> {
  try {
    return parseEnvAssignment(value, previous);
  } catch {
    // Not the message of parseEnvAssignment: it repeats the value, which may be a secret.
    throw new InvalidArgumentError('use NAME=VALUE, NAME made of letters, digits and _ (not starting with a digit); to pass a variable as it is, use --env-allow NAME.');
  }
}

export function parseLogLevel(value: string): LogLevel {
  const level = value.toLowerCase() === 'none' ? 'silent' : value.toLowerCase();
  if (!isLogLevel(level)) throw new InvalidArgumentError('use silent, error, warn, info or debug.');
  return level;
}

const sizeUnits: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3 };

/** "4mb", "512KiB", "1048576" -> bytes. */
export function parseSize(value: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
  const unitName = match?.[2]!.toLowerCase() ?? '';
  const unit = match && Object.hasOwn(sizeUnits, unitName) ? sizeUnits[unitName]! : undefined;
  const bytes = match && unit !== undefined ? Math.floor(Number(match[1]) * unit) : 0;
  if (bytes < 1) throw new InvalidArgumentError('use a size such as 4mb, 512kb or 1048576.');
  return bytes;
}

/** Bytes as people write them: 33554432 -> "32 MiB", 1500 -> "1500 bytes". For help texts. */
export function formatSize(bytes: number): string {
  for (const [unit, size] of [['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size} ${unit}`;
  }
  return `${bytes} bytes`;
}

/** Seconds for help texts, with the larger unit people think in: 1800 -> "1800 s = 30 min". */
export function formatSeconds(seconds: number): string {
  if (seconds >= 3600 && seconds % 3600 === 0) return `${seconds} s = ${seconds / 3600} h`;
  if (seconds >= 60 && seconds % 60 === 0) return `${seconds} s = ${seconds / 60} min`;
  return `${seconds} s`;
}

export function parsePort(value: string): number {
  const port = value.trim() === '' ? NaN : Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidArgumentError('use a port number from 0 to 65535 (0 picks a free one).');
  return port;
}

/**
 * connect's optional second argument, mcp-remote's OAuth callback port. A second server URL there
 * (`mcp-airlock URL1 URL2`) is named as such, not as a bad port: one airlock bridges one server.
 */
export function parseCallbackPortArgument(value: string): number {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value.trim())) {
    throw new AirlockError('AIRLOCK_USAGE', `connect takes one server URL; ${quote(value, 80)} is a second one`, {
      hint: 'Run one mcp-airlock per server (one entry each in the MCP host\'s config). The optional second argument is the OAuth callback port, as in mcp-remote.',
    });
  }
  return parsePort(value);
}

export function parseSeconds(value: string): number {
  const seconds = value.trim() === '' ? NaN : Number(value);
  if (!Number.isFinite(seconds) || seconds < 0) throw new InvalidArgumentError('use a number of seconds (0 switches it off).');
  return seconds;
}

/** --request-timeout's help (connect, serve --upstream); the defaults are request-deadline.ts's. */
export const REQUEST_TIMEOUT_HELP = 'fail and cancel a request the server leaves unanswered this long (progress restarts the clock; a login is not counted); default 600 s, 60 s for the first exchange; 0: no limit';

/** Seconds from a flag to ms; undefined stays undefined (the default applies). */
export function secondsToMs(seconds: number | undefined): number | undefined {
  return seconds === undefined ? undefined : Math.round(seconds * 1000);
}

export function parsePositiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('use a whole number of at least 1.');
  return n;
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/**
 * Check a server URL: http(s) only, and plain http only to loopback unless --allow-http
 * (mcp-remote's rule: headers and tokens must not cross a network in clear text).
 */
export function parseServerUrl(value: string, allowHttp: boolean): URL {
  const schemeless = schemelessUrlError(value);
  if (schemeless) throw schemeless;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new AirlockError('AIRLOCK_BAD_URL', `not a URL: ${quote(value)}`, { hint: 'Give the full server URL, such as https://mcp.example.com/mcp.' });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new AirlockError('AIRLOCK_BAD_URL', `unsupported URL scheme ${quote(url.protocol)}; only http and https`, { hint: 'Give the full server URL, such as https://mcp.example.com/mcp.' });
  }
  if (url.protocol === 'http:' && !allowHttp && !isLoopbackHost(url.hostname)) {
    throw new AirlockError('AIRLOCK_INSECURE_URL', `refusing plain http to ${quote(url.host)}: headers and tokens would cross the network unencrypted`, {
      hint: 'Use https, or pass --allow-http if this network is trusted.',
    });
  }
  return url;
}
