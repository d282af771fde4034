/**
 * Who the calls are made as, for the audit record: issuer, subject, client id and scopes. Taken
 * from the OAuth login when airlock holds the token, or read from a JWT access token the user
 * supplied in an `Authorization: Bearer` header. Never the token itself.
 *
 * A header token's claims are read, not verified: airlock is not its audience and has no key for
 * it. The record says so (`verified: false`), so a reviewer knows the claims are as presented.
 */
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
  let claims: Claims;
  try {
    claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as Claims;
  } catch {
    return undefined;
  }
  if (typeof claims !== 'object' || claims === null || typeof claims.iss !== 'string') return undefined;
  const clientId = typeof claims.client_id === 'string' ? claims.client_id : typeof claims.azp === 'string' ? claims.azp : '';
  const scopes = typeof claims.scope === 'string' ? claims.scope.split(' ').filter(Boolean) : Array.isArray(claims.scp) ? claims.scp.filter((s): s is string => typeof s === 'string') : [];
  return {
    issuer: claims.iss,
    ...(typeof claims.sub === 'string' ? { subject: claims.sub } : {}),
    clientId,
    scopes,
    verified: false,
  };
}

/** The principal of the static headers, if they carry a bearer JWT. */
export function principalFromHeaders(headers: Record<string, string>): AuditPrincipal | undefined {
  const value = headers.authorization;
  const match = value === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(value);
  return match ? principalFromJwt(match[1]!) : undefined;
}
