/**
 * Which scopes to ask for. MCP 2025-11-25 "Scope Selection Strategy": the `scope` of the 401
 * challenge first, else every `scopes_supported` of the protected resource metadata, else no
 * `scope` parameter at all (never invented defaults such as "openid"). Step-up on 403
 * `insufficient_scope` (MCP 2025-11-25 "Step-Up Authorization Flow"; 2026-07-28 asks for the union
 * of the scopes held and the new ones).
 */

/** A scope-token per RFC 6749 §3.3: printable ASCII without space, `"` and `\`. */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

/** The scopes of a space-delimited `scope` value, in order, without duplicates or invalid tokens. */
export function parseScope(scope: string | undefined): string[] {
  if (!scope) return [];
  return unionScopes(scope.split(' ').filter((s) => SCOPE_TOKEN.test(s)));
}

/** The `scope` parameter value for a list, or undefined for none (then the parameter is omitted). */
export function formatScope(scopes: readonly string[]): string | undefined {
  return scopes.length ? scopes.join(' ') : undefined;
}

/** All scopes of all lists, first occurrence first. */
export function unionScopes(...lists: ReadonlyArray<readonly string[]>): string[] {
  return [...new Set(lists.flat())];
}

export interface ScopeSources {
  /** What the user asked for with --scope: overrides everything else. */
  requested?: string;
  /** `scope` of the WWW-Authenticate challenge. */
  challenge?: string;
  /** `scopes_supported` of the protected resource metadata (RFC 9728 §2). */
  supported?: readonly string[];
}

/** The scopes for an authorization request (MCP 2025-11-25 "Scope Selection Strategy"). */
export function selectScopes(sources: ScopeSources): string[] {
  const requested = parseScope(sources.requested);
  if (requested.length) return requested;
  const challenge = parseScope(sources.challenge);
  if (challenge.length) return challenge;
  return parseScope(sources.supported?.join(' '));
}

/**
 * The scopes for a step-up request: the union of what was held and what the 403 challenge asks
 * for, or undefined when the challenge asks for nothing we do not already hold (asking again could
 * not help, and a server that keeps answering 403 must not keep a browser opening).
 */
export function stepUpScopes(held: readonly string[], challenge: string | undefined): string[] | undefined {
  const wanted = parseScope(challenge);
  const have = new Set(held);
  if (!wanted.some((s) => !have.has(s))) return undefined;
  return unionScopes(held, wanted);
}
