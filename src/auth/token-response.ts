/**
 * Turning a token endpoint response (RFC 6749 §5.1) into the record the store keeps, and deciding
 * when a stored access token needs a refresh.
 */
import type { TokenEndpointResponse } from 'openid-client';
import { AirlockError, quote } from '../errors.js';
import type { TokenRecord } from '../store/grant-store.js';
import { formatScope, parseScope } from './scopes.js';

/** Refresh this long before expiry at most (network time, clock skew). */
export const REFRESH_MARGIN_MS = 60_000;

export interface TokenContext {
  /** Canonical URL of the MCP server: the store key and the only place the token goes. */
  resource: string;
  issuer: string;
  clientId: string;
  /** Scopes asked for; recorded when the server does not say what it granted (RFC 6749 §5.1). */
  requestedScopes: readonly string[];
  now: number;
  /** The record being refreshed: its refresh token stays when the server rotates none in (RFC 6749 §6). */
  previous?: TokenRecord;
  /** The request carried a DPoP proof of this key (RFC 9449 §5): a `DPoP` token is bound to it. */
  dpopJkt?: string;
}

/**
 * The `sub` of a JWT access token, decoded without verification: only for `status` and the audit
 * log (who the token says we are), never for a decision. Opaque tokens give undefined.
 */
export function unverifiedSubject(accessToken: string): string | undefined {
  const parts = accessToken.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const payload: unknown = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
    const sub = (payload as { sub?: unknown } | null)?.sub;
    return typeof sub === 'string' && sub.length <= 256 ? sub : undefined;
  } catch {
    return undefined;
  }
}

/** The stored record for a successful token response. */
export function tokenRecordFrom(response: TokenEndpointResponse, context: TokenContext): TokenRecord {
  const tokenType = response.token_type.toLowerCase();
  const dpop = tokenType === 'dpop' && context.dpopJkt !== undefined;
  if (tokenType !== 'bearer' && !dpop) {
    throw new AirlockError('AIRLOCK_AUTH_TOKEN', `the authorization server issued a token of type ${quote(response.token_type)}; only Bearer and DPoP are supported`, {
      hint: tokenType === 'dpop' ? 'The server issued a DPoP-bound token to a request without a DPoP proof; drop --dpop never.' : 'Configure the client for Bearer or DPoP tokens.',
    });
  }
  const granted = parseScope(response.scope);
  const scope = formatScope(granted.length ? granted : context.requestedScopes) ?? context.previous?.scope;
  const record: TokenRecord = {
    resource: context.resource,
    issuer: context.issuer,
    clientId: context.clientId,
    accessToken: response.access_token,
    tokenType: dpop ? 'DPoP' : 'Bearer',
    obtainedAt: context.now,
  };
  if (dpop) record.dpopJkt = context.dpopJkt!;
  const refreshToken = response.refresh_token ?? context.previous?.refreshToken;
  if (refreshToken) record.refreshToken = refreshToken;
  if (typeof response.expires_in === 'number' && response.expires_in > 0) record.expiresAt = context.now + response.expires_in * 1000;
  if (scope) record.scope = scope;
  const subject = unverifiedSubject(response.access_token) ?? context.previous?.subject;
  if (subject) record.subject = subject;
  return record;
}

/**
 * Whether the access token should be refreshed now: within REFRESH_MARGIN_MS of expiry, or within
 * the last quarter of its life for short-lived tokens, so a request never leaves with a token that
 * expires on the way. Tokens without a known expiry are used until the server rejects them.
 */
export function needsRefresh(record: TokenRecord, now: number): boolean {
  if (record.expiresAt === undefined) return false;
  const lifetime = Math.max(0, record.expiresAt - record.obtainedAt);
  const margin = Math.min(REFRESH_MARGIN_MS, lifetime / 4);
  return now >= record.expiresAt - margin;
}

/** Whether the access token has not expired yet. */
export function isUnexpired(record: TokenRecord, now: number): boolean {
  return record.expiresAt === undefined || now < record.expiresAt;
}
