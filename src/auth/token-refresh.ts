/**
 * Refreshing an access token (RFC 6749 §6) with refresh token rotation (OAuth 2.1 §4.3.1, RFC 9700
 * §2.2.2): the new refresh token replaces the old one, which the server has now invalidated. The
 * `resource` goes with the request (RFC 8707 §2.2) so the new access token has the same audience.
 */
import { refreshTokenGrant, ResponseBodyError, type Configuration, type DPoPHandle } from 'openid-client';
import { AirlockError } from '../errors.js';
import type { TokenRecord } from '../store/grant-store.js';
import { tokenRequestError } from './oauth-client.js';
import { resourceParam } from './resource-uri.js';
import { parseScope } from './scopes.js';
import { tokenRecordFrom } from './token-response.js';

export interface RefreshOptions {
  config: Configuration;
  record: TokenRecord;
  /** RFC 8707 resource indicator to send. */
  resourceIndicator: string;
  /** More token request parameters (the provider profile's, e.g. Auth0's audience). */
  tokenParams?: Record<string, string>;
  now: () => number;
  /** RFC 9449 §5: the proof maker of the key the refresh token (and the new access token) is bound to. */
  dpop?: { handle: DPoPHandle; jkt: string };
}

/**
 * Use the record's refresh token. Resolves with the new record (keeping the old refresh token only
 * when the server rotated none in). Rejects with AIRLOCK_AUTH_TOKEN; `refreshRejected` tells a
 * refused refresh (log in again) from a transient failure (network, server error: try later).
 */
export async function refreshTokens(options: RefreshOptions): Promise<TokenRecord> {
  const { record } = options;
  if (!record.refreshToken) {
    throw new AirlockError('AIRLOCK_AUTH_TOKEN', 'there is no refresh token to use', { hint: 'Log in again.' });
  }
  let response;
  try {
    response = await refreshTokenGrant(options.config, record.refreshToken, { ...resourceParam(options.resourceIndicator), ...options.tokenParams }, options.dpop ? { DPoP: options.dpop.handle } : undefined);
  } catch (error) {
    throw tokenRequestError(error, 'refreshing the access token');
  }
  return tokenRecordFrom(response, {
    resource: record.resource,
    issuer: record.issuer,
    clientId: record.clientId,
    requestedScopes: parseScope(record.scope),
    now: options.now(),
    previous: record,
    ...(options.dpop ? { dpopJkt: options.dpop.jkt } : {}),
  });
}

/**
 * The OAuth error code when the authorization server refused the refresh (`invalid_grant`: the
 * refresh token is expired, revoked or already rotated away; `invalid_client`: the registration is
 * gone; RFC 6749 §5.2), so that only a new login helps; undefined for transient failures.
 */
export function refreshRejected(error: unknown): string | undefined {
  const cause = error instanceof AirlockError ? error.cause : error;
  return cause instanceof ResponseBodyError && cause.status < 500 ? cause.error : undefined;
}
