/**
 * Token revocation on logout (RFC 7009): tell the authorization server that the refresh token and
 * the access token of a stored grant are no longer wanted, so a copy left anywhere (a backup of
 * the keychain, a stolen 0600 file) stops working. RFC 7009 §2.1: a POST of `token` and
 * `token_type_hint` in the form body (never the URL) to the `revocation_endpoint` of the server's
 * metadata (RFC 8414 §2), authenticated as the client the tokens were issued to: a public client
 * sends its client_id in the body, a confidential one its secret the way it registered
 * (client_secret_basic or client_secret_post). openid-client's `tokenRevocation` does the request.
 */
import { tokenRevocation } from 'openid-client';
import { quote } from '../errors.js';
import type { Logger } from '../log.js';
import type { ClientRecord, TokenRecord } from '../store/grant-store.js';
import type { FetchLike } from './metadata-fetch.js';
import { oauthConfiguration, oauthErrorCode, tokenRequestError } from './oauth-client.js';
import { discoverAuthorizationServer } from './server-metadata.js';

/** The RFC 7009 §2.1 `token_type_hint` values, in the order they are revoked. */
export type RevokedTokenType = 'refresh_token' | 'access_token';

export interface RevokeGrantOptions {
  record: TokenRecord;
  /** The registration stored for `record.issuer`; a public client with `record.clientId` when absent. */
  client: ClientRecord | undefined;
  fetch?: FetchLike;
  /** Plain http to loopback authorization servers (as for login). */
  allowHttp: boolean;
  log: Logger;
}

/** What happened at the authorization server. */
export type RevocationOutcome =
  /**
   * `notRevocable`: the server answered `unsupported_token_type` (RFC 7009 §2.2.1), as servers with
   * self-contained JWT access tokens do: such a token stays valid until it expires.
   */
  | { status: 'revoked'; endpoint: string; revoked: RevokedTokenType[]; notRevocable: RevokedTokenType[] }
  /** The metadata advertises no revocation_endpoint: nothing can be revoked (not an error). */
  | { status: 'unsupported' };

/** "the refresh token and the access token": what a message says was (or was not) revoked. */
export function describeRevoked(types: readonly RevokedTokenType[]): string {
  return types.map((t) => (t === 'refresh_token' ? 'the refresh token' : 'the access token')).join(' and ');
}

/** The client to authenticate as: the stored registration when it is the one that got the tokens. */
function revokingClient(record: TokenRecord, client: ClientRecord | undefined): ClientRecord {
  if (client && client.issuer === record.issuer && client.clientId === record.clientId) return client;
  return { issuer: record.issuer, clientId: record.clientId, method: 'pre-registered', tokenEndpointAuthMethod: 'none', registeredAt: 0 };
}


/**
 * Revoke the refresh token (when the record has one), then the access token, at the revocation
 * endpoint of `record.issuer`. Resolves `unsupported` when the server advertises none, and lists a
 * token the server answers `unsupported_token_type` for as `notRevocable`; throws
 * AIRLOCK_AUTH_REVOCATION (or a discovery error) when the server cannot be reached or refuses.
 * The refresh token goes first: revoking it usually revokes its access tokens too (RFC 7009 §2.1).
 */
export async function revokeGrant(options: RevokeGrantOptions): Promise<RevocationOutcome> {
  const { record, log, allowHttp } = options;
  const fetch = options.fetch ?? globalThis.fetch;
  const metadata = await discoverAuthorizationServer(record.issuer, { fetch, allowHttp, log });
  const endpoint = metadata.revocation_endpoint;
  if (!endpoint) return { status: 'unsupported' };
  const config = oauthConfiguration(metadata, revokingClient(record, options.client), { fetch, allowHttp });
  const tokens: Array<[RevokedTokenType, string]> = [];
  if (record.refreshToken) tokens.push(['refresh_token', record.refreshToken]);
  tokens.push(['access_token', record.accessToken]);
  const revoked: RevokedTokenType[] = [];
  const notRevocable: RevokedTokenType[] = [];
  for (const [type, token] of tokens) {
    try {
      await tokenRevocation(config, token, { token_type_hint: type });
    } catch (error) {
      if (oauthErrorCode(error) === 'unsupported_token_type') {
        notRevocable.push(type);
        log.debug(`${quote(endpoint)} cannot revoke ${describeRevoked([type])} (unsupported_token_type)`);
        continue;
      }
      throw tokenRequestError(error, `revoking ${describeRevoked([type])} at ${quote(endpoint)}`, {
        code: 'AIRLOCK_AUTH_REVOCATION',
        refusedHint: 'The authorization server did not accept the revocation; revoke the access of mcp-airlock in your account settings there if it matters.',
        failedHint: 'Check that the authorization server is reachable and retry the logout later, or revoke the access of mcp-airlock in your account settings there.',
      });
    }
    revoked.push(type);
    log.debug(`revoked ${describeRevoked([type])} for ${quote(record.resource)} at ${quote(endpoint)}`);
  }
  return { status: 'revoked', endpoint, revoked, notRevocable };
}
