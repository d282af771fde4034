import { describe, expect, it } from 'vitest';
import { AirlockError, describeError, ExitCode, quote, toAirlockError, type AirlockErrorCode } from '../../src/errors.js';

function errnoError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

describe('quote', () => {
  it('quotes text as a JSON string, escaping newlines and quotes', () => {
    expect(quote('a "b"\nforged: line\r')).toBe('"a \\"b\\"\\nforged: line\\r"');
  });

  it('turns non-strings into text', () => {
    expect(quote(42)).toBe('"42"');
    expect(quote(undefined)).toBe('"undefined"');
  });

  it('cuts long text at max characters and adds an ellipsis', () => {
    expect(quote('x'.repeat(250))).toBe(`"${'x'.repeat(200)}…"`);
    expect(quote('abcdef', 3)).toBe('"abc…"');
  });

  it('keeps text of exactly max characters whole', () => {
    expect(quote('abc', 3)).toBe('"abc"');
  });
});

describe('describeError', () => {
  it('describes non-errors with String()', () => {
    expect(describeError('plain')).toBe('plain');
    expect(describeError(null)).toBe('null');
  });

  it('gives the message of an error without a cause', () => {
    expect(describeError(new Error('boom'))).toBe('boom');
  });

  it('adds the cause of fetch failed, without repeating a code the message already names', () => {
    const error = new TypeError('fetch failed', { cause: errnoError('connect ECONNREFUSED 127.0.0.1:1', 'ECONNREFUSED') });
    expect(describeError(error)).toBe('fetch failed (connect ECONNREFUSED 127.0.0.1:1)');
  });

  it('prefixes the code when the cause message does not name it', () => {
    const error = new TypeError('fetch failed', { cause: errnoError('getaddrinfo failed', 'ENOTFOUND') });
    expect(describeError(error)).toBe('fetch failed (ENOTFOUND: getaddrinfo failed)');
  });

  it('follows a chain of causes', () => {
    const inner = errnoError('socket hang up', 'ECONNRESET');
    const middle = new Error('request aborted', { cause: inner });
    expect(describeError(new Error('outer', { cause: middle }))).toBe('outer (request aborted) (ECONNRESET: socket hang up)');
  });

  it('does not repeat a cause already contained in the message', () => {
    expect(describeError(new Error('failed: boom', { cause: new Error('boom') }))).toBe('failed: boom');
  });

  it("gives an AirlockError's message alone: it already says what its cause adds (no repeated text)", () => {
    const inner = new AirlockError('AIRLOCK_AUTH_DISCOVERY', 'no metadata found');
    const outer = new AirlockError('AIRLOCK_UPSTREAM_CREDENTIALS', 'HTTP 401 Unauthorized from https://x/mcp, and it offers no OAuth login', { cause: inner });
    expect(describeError(outer)).toBe('HTTP 401 Unauthorized from https://x/mcp, and it offers no OAuth login');
  });

  it("gives OpenSSL's error queue as its reason, on the error and on a cause", () => {
    const dump = '8040C2A9AB7F0000:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../deps/openssl/openssl/ssl/record/ssl3_record.c:350:\n';
    expect(describeError(errnoError(`write EPROTO ${dump}`, 'EPROTO'))).toBe('write EPROTO wrong version number');
    const viaFetch = new TypeError('fetch failed', { cause: Object.assign(errnoError(dump, 'ERR_SSL_WRONG_VERSION_NUMBER'), { reason: 'wrong version number' }) });
    expect(describeError(viaFetch)).toBe('fetch failed (ERR_SSL_WRONG_VERSION_NUMBER: wrong version number)');
  });

  it('ignores a cause that is not an Error', () => {
    expect(describeError(new Error('outer', { cause: { code: 'ECONNREFUSED', message: 'x' } }))).toBe('outer');
  });

  it('stops after three causes', () => {
    const chain = new Error('e0', { cause: new Error('e1', { cause: new Error('e2', { cause: new Error('e3', { cause: new Error('e4') }) }) }) });
    expect(describeError(chain)).toBe('e0 (e1) (e2) (e3)');
  });

  it('describes the AggregateError of a dual-stack connection failure without an empty message', () => {
    // What Node 20's happy-eyeballs connect (autoSelectFamily, on by default) gives when localhost
    // resolves to ::1 and 127.0.0.1 and nothing listens: message '', code ECONNREFUSED.
    const aggregate = Object.assign(
      new AggregateError([errnoError('connect ECONNREFUSED ::1:3000', 'ECONNREFUSED'), errnoError('connect ECONNREFUSED 127.0.0.1:3000', 'ECONNREFUSED')], ''),
      { code: 'ECONNREFUSED' },
    );
    const text = describeError(new TypeError('fetch failed', { cause: aggregate }));
    expect(text).toContain('ECONNREFUSED');
    expect(text).not.toContain(': )');
  });
});

describe('AirlockError', () => {
  it.each<[AirlockErrorCode, number]>([
    ['AIRLOCK_USAGE', 2],
    ['AIRLOCK_BAD_URL', 2],
    ['AIRLOCK_INSECURE_URL', 2],
    ['AIRLOCK_BAD_HEADER', 2],
    ['AIRLOCK_HEADER_FILE', 3],
    ['AIRLOCK_MISSING_ENV', 3],
    ['AIRLOCK_SPAWN_FAILED', 4],
    ['AIRLOCK_UPSTREAM_UNREACHABLE', 4],
    ['AIRLOCK_UPSTREAM_HTTP', 4],
    ['AIRLOCK_UPSTREAM_CLOSED', 4],
    ['AIRLOCK_UPSTREAM_TLS', 4],
    ['AIRLOCK_UPSTREAM_CREDENTIALS', 5],
    ['AIRLOCK_COMMAND_NOT_FOUND', 3],
    ['AIRLOCK_LISTEN_FAILED', 6],
    ['AIRLOCK_AUDIT_WRITE', 3],
    ['AIRLOCK_AUDIT_READ', 3],
    ['AIRLOCK_POLICY_FILE', 3],
    ['AIRLOCK_SERVERS_FILE', 3],
    ['AIRLOCK_MISSING_SECRET', 3],
    ['AIRLOCK_HOST_CONFIG', 3],
    ['AIRLOCK_AUDIT_BROKEN', 7],
    ['AIRLOCK_AUTH_DISCOVERY', 5],
    ['AIRLOCK_AUTH_RESOURCE_MISMATCH', 5],
    ['AIRLOCK_AUTH_ISSUER_MISMATCH', 5],
    ['AIRLOCK_AUTH_NO_PKCE', 5],
    ['AIRLOCK_AUTH_UNSUPPORTED', 5],
    ['AIRLOCK_AUTH_REGISTRATION', 5],
    ['AIRLOCK_AUTH_STATE_MISMATCH', 5],
    ['AIRLOCK_AUTH_ISS_MISMATCH', 5],
    ['AIRLOCK_AUTH_CALLBACK', 5],
    ['AIRLOCK_AUTH_DENIED', 5],
    ['AIRLOCK_AUTH_TIMEOUT', 5],
    ['AIRLOCK_AUTH_TOKEN', 5],
    ['AIRLOCK_AUTH_INSUFFICIENT_SCOPE', 5],
    ['AIRLOCK_AUTH_REVOCATION', 5],
    ['AIRLOCK_KEYCHAIN_UNAVAILABLE', 5],
    ['AIRLOCK_CREDENTIAL_STORE', 5],
    ['AIRLOCK_LOCK_TIMEOUT', 5],
    ['AIRLOCK_INTERNAL', 1],
  ])('%s exits with %i', (code, exitCode) => {
    expect(new AirlockError(code, 'm').exitCode).toBe(exitCode);
  });

  it('matches the documented exit code table', () => {
    expect(ExitCode).toEqual({ ok: 0, internal: 1, usage: 2, config: 3, upstream: 4, auth: 5, listen: 6, auditBroken: 7, interrupted: 130, terminated: 143 });
  });

  it('keeps code, message, hint and cause', () => {
    const cause = new Error('low level');
    const error = new AirlockError('AIRLOCK_LISTEN_FAILED', 'cannot listen', { hint: 'pick another port', cause });
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('AirlockError');
    expect(error.code).toBe('AIRLOCK_LISTEN_FAILED');
    expect(error.message).toBe('cannot listen');
    expect(error.hint).toBe('pick another port');
    expect(error.cause).toBe(cause);
  });

  it('has no hint and no cause when none are given', () => {
    const error = new AirlockError('AIRLOCK_USAGE', 'bad');
    expect(error.hint).toBeUndefined();
    expect('cause' in error).toBe(false);
  });
});

describe('toAirlockError', () => {
  it('returns an AirlockError as it is', () => {
    const error = new AirlockError('AIRLOCK_USAGE', 'bad');
    expect(toAirlockError(error)).toBe(error);
  });

  it('wraps other errors as AIRLOCK_INTERNAL with exit code 1', () => {
    const cause = new TypeError('fetch failed', { cause: errnoError('connect ECONNREFUSED 127.0.0.1:1', 'ECONNREFUSED') });
    const error = toAirlockError(cause);
    expect(error).toBeInstanceOf(AirlockError);
    expect(error.code).toBe('AIRLOCK_INTERNAL');
    expect(error.exitCode).toBe(1);
    expect(error.message).toBe('fetch failed (connect ECONNREFUSED 127.0.0.1:1)');
    expect(error.hint).toBe('This is a bug in mcp-airlock or an unexpected environment; rerun with --log-level debug and report it.');
    expect(error.cause).toBe(cause);
  });

  it('wraps thrown non-errors', () => {
    const error = toAirlockError('just a string');
    expect(error.code).toBe('AIRLOCK_INTERNAL');
    expect(error.message).toBe('just a string');
    expect(error.cause).toBe('just a string');
  });
});
