/**
 * Sample records for the store tests, with secrets that are easy to search for, and a logger
 * that keeps its lines.
 */
import { createLogger, type Logger } from '../../src/log.js';
import type { ClientRecord, TokenRecord } from '../../src/store/grant-store.js';

/** Tokens for `resource`; every secret contains `tag` so a test can search for it. */
export function sampleTokens(resource: string, tag = 'x', overrides: Partial<TokenRecord> = {}): TokenRecord {
  return {
    resource,
    issuer: 'https://as.example.com',
    clientId: 'client-1',
    accessToken: `at-SECRET-${tag}`,
    tokenType: 'Bearer',
    refreshToken: `rt-SECRET-${tag}`,
    expiresAt: 1_900_000_000_000,
    scope: 'mcp:read mcp:write',
    subject: 'alice',
    obtainedAt: 1_800_000_000_000,
    ...overrides,
  };
}

/** A client registration for `issuer` with a secret containing `tag`. */
export function sampleClient(issuer: string, tag = 'x', overrides: Partial<ClientRecord> = {}): ClientRecord {
  return {
    issuer,
    clientId: `client-${tag}`,
    clientSecret: `cs-SECRET-${tag}`,
    method: 'dynamic',
    redirectUri: 'http://127.0.0.1:33418/callback',
    tokenEndpointAuthMethod: 'client_secret_basic',
    clientSecretExpiresAt: 0,
    registeredAt: 1_800_000_000_000,
    ...overrides,
  };
}

/** A debug-level logger whose lines (without the trailing newline) end up in `lines`. */
export function captureLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: createLogger('debug', (line) => lines.push(line.replace(/\n$/, ''))), lines };
}

/** Everything a user could see of an error: message, hint, and the messages of its causes. */
export function visibleText(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 5; depth++) {
    parts.push(current.message, String((current as { hint?: unknown }).hint ?? ''), current.stack ?? '');
    current = (current as { cause?: unknown }).cause;
  }
  return parts.join('\n');
}
