/**
 * What a JWT access token (RFC 9068) says about itself, decoded without verification: the doctor
 * compares it with what the MCP server will check (audience = the resource, RFC 8707 §2 and MCP
 * 2025-11-25 "Token Audience Binding"; issuer; expiry; scopes). Only claims are shown, never the
 * token. An opaque token gets `skipped` checks: the authenticated probe is then the only test.
 */
import { decodeJwt, type JWTPayload } from 'jose';
import { quote } from '../errors.js';
import { parseScope } from '../auth/scopes.js';
import { check } from './doctor-context.js';
import type { DoctorCheck } from './doctor-report.js';
import { audienceHint, type Provider } from './quirks.js';
import { scopesOf } from '../audit/principal.js';

/** The claims of a JWT, or undefined for an opaque token. */
export function decodeAccessToken(token: string): JWTPayload | undefined {
  try {
    return decodeJwt(token);
  } catch {
    return undefined;
  }
}

/** The claims safe to show: no token, no signature. */
export function shownClaims(claims: JWTPayload): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of ['iss', 'sub', 'aud', 'exp', 'iat', 'nbf', 'scope', 'scp', 'client_id', 'azp']) {
    if (claims[name] !== undefined) out[name] = claims[name];
  }
  return out;
}

export interface TokenExpectations {
  /** The RFC 8707 resource the token was asked for. */
  resource: string;
  issuer: string;
  /** Scopes asked for (may be empty). */
  requestedScopes: readonly string[];
  /** The `scope` of the token response, when given. */
  grantedScope?: string;
  now: number;
  provider: Provider;
}

/** The token's own scopes, else what the token response said was granted. */
function tokenScopes(claims: JWTPayload, grantedScope: string | undefined): string[] {
  const inToken = scopesOf(claims as { scope?: unknown; scp?: unknown });
  return inToken.length > 0 ? inToken : parseScope(grantedScope);
}

/** token.audience, token.issuer, token.expiry, token.scopes for a decoded JWT. */
export function tokenChecks(claims: JWTPayload, expected: TokenExpectations): DoctorCheck[] {
  const checks: DoctorCheck[] = [];
  const aud = claims.aud === undefined ? [] : Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  const audSpec = 'RFC 8707 §2; RFC 9068 §4; MCP 2025-11-25 Token Audience Binding';
  if (aud.length === 0) {
    checks.push(check('token.audience', 'warn', 'the access token has no aud claim; the MCP server cannot check it was issued for it', audSpec, audienceHint(expected.resource, expected.provider)));
  } else if (aud.includes(expected.resource)) {
    checks.push(check('token.audience', 'pass', `aud ${quote(aud.join(' '))} includes the resource ${quote(expected.resource)}`, audSpec));
  } else {
    checks.push(check('token.audience', 'fail', `the access token is for audience ${quote(aud.join(' '))}, not for the resource ${quote(expected.resource)}`, audSpec, audienceHint(expected.resource, expected.provider)));
  }
  if (claims.iss === expected.issuer) checks.push(check('token.issuer', 'pass', `iss ${quote(claims.iss)}`, 'RFC 9068 §4'));
  else checks.push(check('token.issuer', 'fail', `iss ${quote(claims.iss)} is not the authorization server ${quote(expected.issuer)}`, 'RFC 9068 §4', 'The MCP server will reject it: the authorization server must sign tokens with the issuer its metadata names.'));
  const nowS = Math.floor(expected.now / 1000);
  if (typeof claims.exp !== 'number') checks.push(check('token.expiry', 'warn', 'the access token has no exp claim', 'RFC 9068 §2.2', 'Configure the authorization server to issue short-lived tokens with exp.'));
  else if (claims.exp <= nowS) checks.push(check('token.expiry', 'fail', `the access token expired ${nowS - claims.exp} s ago`, 'RFC 9068 §2.2', 'Check the clocks of this machine and the authorization server.'));
  else checks.push(check('token.expiry', 'pass', `expires in ${Math.round((claims.exp - nowS) / 60)} min (${new Date(claims.exp * 1000).toISOString()})`, 'RFC 9068 §2.2'));
  const granted = tokenScopes(claims, expected.grantedScope);
  const missing = expected.requestedScopes.filter((s) => !granted.includes(s));
  const scopeSpec = 'RFC 6749 §3.3; MCP 2025-11-25 Scope Selection Strategy';
  if (missing.length) {
    checks.push(check('token.scopes', 'warn', `asked for ${quote(expected.requestedScopes.join(' '))}, granted ${quote(granted.join(' '))}`, scopeSpec, `The authorization server did not grant ${quote(missing.join(' '))}: allow these scopes for this client (or this user) on the authorization server.`));
  } else {
    checks.push(check('token.scopes', 'pass', granted.length ? `scopes ${quote(granted.join(' '))}` : 'no scopes asked for or granted', scopeSpec));
  }
  return checks;
}
