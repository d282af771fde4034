/**
 * Who the calls are made as, for the audit record: issuer, subject, client id and scopes. Taken
 * from the OAuth login when airlock holds the token, or read from a JWT access token the user
 * supplied in an `Authorization: Bearer` header. Never the token itself.
 *
 * A header token's claims are read, not verified: airlock is not its audience and has no key for
 * it. The record says so (`verified: false`), so a reviewer knows the claims are as presented.
 */
import { parseScope } from '../auth/scopes.js';
import type { AuditPrincipal } from './audit-record.js';

/** JWT claims we read (RFC 9068 §2.2 names for access tokens; `azp` and `scp` as issuers vary). */
interface Claims {
  iss?: unknown;
  sub?: unknown;
  client_id?: unknown;
  azp?: unknown;
  scope?: unknown;
  scp?: unknown;
}

/** The principal a JWT access token claims to be; undefined for an opaque token or a malformed one. */
export function principalFromJwt(token: string): AuditPrincipal | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  let claims: unknown;
  try {
    claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  return principalFromClaims(claims, false);
}

/** The principal in a token's claims (`verified` when airlock checked the signature itself). */
export function principalFromClaims(value: unknown, verified: boolean): AuditPrincipal | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const claims = value as Claims;
  if (typeof claims.iss !== 'string') return undefined;
  const clientId = typeof claims.client_id === 'string' ? claims.client_id : typeof claims.azp === 'string' ? claims.azp : '';
  return {
    issuer: claims.iss,
    ...(typeof claims.sub === 'string' ? { subject: claims.sub } : {}),
    clientId,
    scopes: scopesOf(claims),
    verified,
  };
}

/**
 * RFC 9068 §2.2.3 `scope` (space-separated), or `scp`: an array for some issuers, a
 * space-separated string for others (Entra ID's delegated tokens). Read by serve's inbound checks
 * (a required or per-tool scope), the audit principal and doctor alike.
 */
export function scopesOf(claims: { scope?: unknown; scp?: unknown }): string[] {
  if (typeof claims.scope === 'string') return parseScope(claims.scope);
  if (Array.isArray(claims.scp)) return claims.scp.filter((s): s is string => typeof s === 'string');
  if (typeof claims.scp === 'string') return parseScope(claims.scp);
  return [];
}

/** The principal of the static headers, if they carry a bearer JWT. */
export function principalFromHeaders(headers: Record<string, string>): AuditPrincipal | undefined {
  const value = headers.authorization;
  const match = value === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(value);
  return match ? principalFromJwt(match[1]!) : undefined;
}
