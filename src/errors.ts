/**
 * One error type for everything a user can cause or meet. Each error has a stable string code
 * (for scripts and tests), a one-line message, a hint that names the next step, and the process
 * exit code the CLI uses for it. Lower-level errors are kept as `cause`, never swallowed.
 */

/** Exit codes, documented in docs/errors-and-exit-codes.md. Stable: scripts depend on them. */
export const ExitCode = {
  ok: 0,
  internal: 1,
  usage: 2,
  config: 3,
  upstream: 4,
  /** Credentials: the keychain or the credential files cannot be used, or a login lock timed out. */
  auth: 5,
  listen: 6,
  /** `audit verify` found a broken or missing record. */
  auditBroken: 7,
  interrupted: 130,
  terminated: 143,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** Stable error codes. Never renamed once released; add new ones instead. */
export type AirlockErrorCode =
  | 'AIRLOCK_USAGE'
  | 'AIRLOCK_BAD_URL'
  | 'AIRLOCK_INSECURE_URL'
  | 'AIRLOCK_BAD_HEADER'
  | 'AIRLOCK_HEADER_FILE'
  | 'AIRLOCK_MISSING_ENV'
  | 'AIRLOCK_SPAWN_FAILED'
  | 'AIRLOCK_COMMAND_NOT_FOUND'
  | 'AIRLOCK_UPSTREAM_UNREACHABLE'
  | 'AIRLOCK_UPSTREAM_HTTP'
  | 'AIRLOCK_UPSTREAM_CLOSED'
  /** The server took a request and did not answer it within --request-timeout. */
  | 'AIRLOCK_UPSTREAM_TIMEOUT'
  | 'AIRLOCK_UPSTREAM_TLS'
  | 'AIRLOCK_UPSTREAM_CREDENTIALS'
  | 'AIRLOCK_LISTEN_FAILED'
  | 'AIRLOCK_AUDIT_WRITE'
  | 'AIRLOCK_AUDIT_READ'
  | 'AIRLOCK_AUDIT_BROKEN'
  | 'AIRLOCK_AUDIT_KEY'
  | 'AIRLOCK_POLICY_FILE'
  | 'AIRLOCK_SERVERS_FILE'
  | 'AIRLOCK_MISSING_SECRET'
  | 'AIRLOCK_HOST_CONFIG'
  | 'AIRLOCK_AUTH_DISCOVERY'
  | 'AIRLOCK_AUTH_RESOURCE_MISMATCH'
  | 'AIRLOCK_AUTH_ISSUER_MISMATCH'
  | 'AIRLOCK_AUTH_NO_PKCE'
  | 'AIRLOCK_AUTH_UNSUPPORTED'
  | 'AIRLOCK_AUTH_REGISTRATION'
  | 'AIRLOCK_AUTH_STATE_MISMATCH'
  | 'AIRLOCK_AUTH_ISS_MISMATCH'
  | 'AIRLOCK_AUTH_CALLBACK'
  | 'AIRLOCK_AUTH_DENIED'
  | 'AIRLOCK_AUTH_TIMEOUT'
  | 'AIRLOCK_AUTH_TOKEN'
  | 'AIRLOCK_AUTH_INSUFFICIENT_SCOPE'
  | 'AIRLOCK_AUTH_REVOCATION'
  | 'AIRLOCK_KEYCHAIN_UNAVAILABLE'
  | 'AIRLOCK_CREDENTIAL_STORE'
  | 'AIRLOCK_LOCK_TIMEOUT'
  | 'AIRLOCK_INTERNAL';

const exitCodeFor: Record<AirlockErrorCode, ExitCodeValue> = {
  AIRLOCK_USAGE: ExitCode.usage,
  AIRLOCK_BAD_URL: ExitCode.usage,
  AIRLOCK_INSECURE_URL: ExitCode.usage,
  AIRLOCK_BAD_HEADER: ExitCode.usage,
  AIRLOCK_HEADER_FILE: ExitCode.config,
  AIRLOCK_MISSING_ENV: ExitCode.config,
  AIRLOCK_SPAWN_FAILED: ExitCode.upstream,
  /** serve/run: the command is not on PATH, or not an executable file (checked before listening). */
  AIRLOCK_COMMAND_NOT_FOUND: ExitCode.config,
  AIRLOCK_UPSTREAM_UNREACHABLE: ExitCode.upstream,
  AIRLOCK_UPSTREAM_HTTP: ExitCode.upstream,
  AIRLOCK_UPSTREAM_CLOSED: ExitCode.upstream,
  AIRLOCK_UPSTREAM_TIMEOUT: ExitCode.upstream,
  /** https to a plain-HTTP server, or a certificate Node does not trust. */
  AIRLOCK_UPSTREAM_TLS: ExitCode.upstream,
  /** A 401/403 from a server that offers no OAuth login: it wants an API key or a static token. */
  AIRLOCK_UPSTREAM_CREDENTIALS: ExitCode.auth,
  AIRLOCK_LISTEN_FAILED: ExitCode.listen,
  AIRLOCK_AUDIT_WRITE: ExitCode.config,
  AIRLOCK_AUDIT_READ: ExitCode.config,
  AIRLOCK_AUDIT_BROKEN: ExitCode.auditBroken,
  AIRLOCK_AUDIT_KEY: ExitCode.config,
  AIRLOCK_POLICY_FILE: ExitCode.config,
  /** The servers file (mcp-airlock.json, servers.json) cannot be read or is not valid. */
  AIRLOCK_SERVERS_FILE: ExitCode.config,
  /** A `${keychain:NAME}` or `${file:PATH}` reference of the servers file has nothing behind it. */
  AIRLOCK_MISSING_SECRET: ExitCode.config,
  /** An MCP host's config file (import, install, uninstall) cannot be read, parsed or written. */
  AIRLOCK_HOST_CONFIG: ExitCode.config,
  AIRLOCK_AUTH_DISCOVERY: ExitCode.auth,
  AIRLOCK_AUTH_RESOURCE_MISMATCH: ExitCode.auth,
  AIRLOCK_AUTH_ISSUER_MISMATCH: ExitCode.auth,
  AIRLOCK_AUTH_NO_PKCE: ExitCode.auth,
  AIRLOCK_AUTH_UNSUPPORTED: ExitCode.auth,
  AIRLOCK_AUTH_REGISTRATION: ExitCode.auth,
  AIRLOCK_AUTH_STATE_MISMATCH: ExitCode.auth,
  AIRLOCK_AUTH_ISS_MISMATCH: ExitCode.auth,
  AIRLOCK_AUTH_CALLBACK: ExitCode.auth,
  AIRLOCK_AUTH_DENIED: ExitCode.auth,
  AIRLOCK_AUTH_TIMEOUT: ExitCode.auth,
  AIRLOCK_AUTH_TOKEN: ExitCode.auth,
  AIRLOCK_AUTH_INSUFFICIENT_SCOPE: ExitCode.auth,
  AIRLOCK_AUTH_REVOCATION: ExitCode.auth,
  AIRLOCK_KEYCHAIN_UNAVAILABLE: ExitCode.auth,
  AIRLOCK_CREDENTIAL_STORE: ExitCode.auth,
  AIRLOCK_LOCK_TIMEOUT: ExitCode.auth,
  AIRLOCK_INTERNAL: ExitCode.internal,
};

export interface AirlockErrorOptions {
  /** What the user should do next, one line. */
  hint?: string;
  cause?: unknown;
}

export class AirlockError extends Error {
  override readonly name = 'AirlockError';
  readonly code: AirlockErrorCode;
  readonly hint: string | undefined;
  readonly exitCode: ExitCodeValue;

  constructor(code: AirlockErrorCode, message: string, options: AirlockErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.hint = options.hint;
    this.exitCode = exitCodeFor[code];
  }
}

/**
 * A failure the command has already shown to the user (login's failed step, with message and
 * hint): the CLI's error handling maps it to its exit code without printing it a second time.
 */
export class ReportedError extends Error {
  override readonly name = 'ReportedError';

  constructor(readonly failure: AirlockError) {
    super(failure.message, { cause: failure });
  }
}

/** Quote untrusted text for a message so that it cannot forge log lines (CONVENTIONS 5). */
export function quote(value: unknown, max = 200): string {
  const text = typeof value === 'string' ? value : String(value);
  const cut = text.length > max ? `${text.slice(0, max)}…` : text;
  return JSON.stringify(cut);
}

/**
 * Describe any thrown value in one line, following `cause` chains of network errors. An
 * AirlockError's message already says what its cause adds: it is given alone, so a message is
 * never repeated inside itself.
 */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (error instanceof AirlockError) return error.message;
  let text = withoutOpenSslDump(error.message, error);
  // fetch() failures say only "fetch failed"; the useful part (ECONNREFUSED, ENOTFOUND) is the cause.
  let cause = (error as { cause?: unknown }).cause;
  for (let depth = 0; cause instanceof Error && depth < 3; depth++) {
    const more = describeCause(cause);
    // A cause that only repeats the message adds its code alone ("Parse Error: ... (HPE_INVALID_CONSTANT)").
    const code = (cause as { code?: unknown }).code;
    if (more && !text.includes(more)) text += text.includes(withoutOpenSslDump(cause.message, cause)) && typeof code === 'string' ? (text.includes(code) ? '' : ` (${code})`) : ` (${more})`;
    cause = (cause as { cause?: unknown }).cause;
  }
  return text;
}

/** "ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:1"; an AggregateError (dual-stack connect) lists its parts. */
function describeCause(cause: Error): string {
  const code = (cause as { code?: string }).code;
  let message = withoutOpenSslDump(cause.message, cause);
  if (!message && cause instanceof AggregateError) {
    message = [...new Set(cause.errors.map((e: unknown) => (e instanceof Error ? e.message : String(e))))].join('; ');
  }
  if (!code) return message;
  if (!message) return code;
  return message.includes(code) ? message : `${code}: ${message}`;
}

/**
 * OpenSSL's error queue ("8040...:error:0A00010B:SSL routines:ssl3_get_record:wrong version
 * number:../deps/openssl/...:350:\n") as its reason alone ("wrong version number").
 */
function withoutOpenSslDump(message: string, error: Error): string {
  const dump = /(?:\s|^)[0-9A-F]{8,}:error:[0-9A-F]+:[^:]*:[^:]*:([^:\n]+)[^\n]*\n?/.exec(message);
  if (!dump) return message;
  const reason = (error as { reason?: unknown }).reason;
  const said = typeof reason === 'string' && reason ? reason : dump[1]!.trim();
  return `${message.slice(0, dump.index)}${dump.index > 0 ? ' ' : ''}${said}`.trim();
}

/** Wrap an unknown failure so the CLI can always print code, message and hint. */
export function toAirlockError(error: unknown): AirlockError {
  if (error instanceof AirlockError) return error;
  return new AirlockError('AIRLOCK_INTERNAL', describeError(error), {
    hint: 'This is a bug in mcp-airlock or an unexpected environment; rerun with --log-level debug and report it.',
    cause: error,
  });
}

/** What an HTTP error answer said besides its status, for the diagnosis (upstream-diagnosis.ts). */
export interface HttpAnswerDetails {
  /** The answer's WWW-Authenticate header (a 401 or 403). */
  wwwAuthenticate?: string;
  /** The body was an HTML page (the message then holds only its title). */
  html?: boolean;
  /** The Location of a redirect airlock did not follow (to another origin). */
  location?: string;
}

/**
 * An HTTP answer with a status we cannot use; `code` is the status, as the SDK's transport errors
 * have it (-1: no usable answer). The message holds the body in one line, an HTML page summarised.
 */
export class HttpStatusError extends Error {
  override readonly name = 'HttpStatusError';
  constructor(
    readonly code: number,
    message: string,
    readonly details: HttpAnswerDetails = {},
  ) {
    super(message);
  }
}

const logged = new WeakSet<object>();

/** Mark a failure as already shown on stderr (with its hint), so that callers up the stack do not log it again. */
export function markLogged<T extends Error>(error: T): T {
  logged.add(error);
  return error;
}

/** Whether `markLogged` was called on this failure. */
export function wasLogged(error: unknown): boolean {
  return typeof error === 'object' && error !== null && logged.has(error);
}
