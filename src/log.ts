/**
 * The logger. Everything goes to stderr: in stdio modes stdout carries JSON-RPC only.
 * One instance is created by the CLI and passed down (no module-level mutable state).
 */
export const logLevels = ['silent', 'error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof logLevels)[number];

export interface Logger {
  readonly level: LogLevel;
  error(message: string): void;
  warn(message: string): void;
  info(message: string): void;
  debug(message: string): void;
  /** The next step after an error line ("[mcp-airlock] hint: ..."), shown whenever errors are. */
  hint(message: string): void;
}

const rank: Record<LogLevel, number> = { silent: 0, error: 1, warn: 2, info: 3, debug: 4 };

export function createLogger(
  level: LogLevel,
  write: (line: string) => void = (line) => process.stderr.write(line),
): Logger {
  const threshold = rank[level];
  const emit = (l: Exclude<LogLevel, 'silent'> | 'hint', message: string): void => {
    if (rank[l === 'hint' ? 'error' : l] <= threshold) write(`[mcp-airlock] ${l}: ${message}\n`);
  };
  return {
    level,
    error: (m) => emit('error', m),
    warn: (m) => emit('warn', m),
    info: (m) => emit('info', m),
    debug: (m) => emit('debug', m),
    hint: (m) => emit('hint', m),
  };
}

export function isLogLevel(value: string): value is LogLevel {
  return (logLevels as readonly string[]).includes(value);
}

/**
 * One warning line per interval for something an upstream may repeat without end (junk events,
 * oversize notifications), with the count of the ones held back since the last line.
 */
export class RepeatedWarning {
  private last = Number.NEGATIVE_INFINITY;
  private held = 0;

  constructor(
    private readonly warn: (text: string) => void,
    private readonly intervalMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  report(text: string): void {
    const now = this.now();
    if (now - this.last < this.intervalMs) {
      this.held += 1;
      return;
    }
    const more = this.held > 0 ? ` (and ${this.held} more like it in the last ${Math.round((now - this.last) / 1000)} s)` : '';
    this.last = now;
    this.held = 0;
    this.warn(`${text}${more}`);
  }
}
