/**
 * The client credentials grant (RFC 6749 §4.4) for agents and CI: no user, no browser; the client
 * authenticates with the id and secret it was registered with and asks for a token for `resource`
 * (RFC 8707 §2.2). There is no refresh token (RFC 6749 §4.4.3): a new token is simply requested.
 */
import { clientCredentialsGrant, type Configuration, type DPoPHandle, type TokenEndpointResponse } from 'openid-client';
import { AirlockError } from '../errors.js';
import type { ClientRecord } from '../store/grant-store.js';
import { tokenRequestError } from './oauth-client.js';
import { resourceParam } from './resource-uri.js';
import { formatScope } from './scopes.js';

export interface ClientCredentialsOptions {
  config: Configuration;
  client: ClientRecord;
  scopes: readonly string[];
  resourceIndicator: string;
  /** More token request parameters (the provider profile's, e.g. Auth0's audience). */
  tokenParams?: Record<string, string>;
  /** What the request is for, in an error message (default: requesting a token with the client credentials). */
  what?: string;
  /** RFC 9449 §5: ask for a DPoP-bound token with this proof maker. */
  dpop?: DPoPHandle;
}

/**
 * A confidential client is required (a secret, or a private key: RFC 7523 §2.2): the grant would
 * hand a token to anyone knowing a public id.
 */
export function requireClientSecret(client: ClientRecord | undefined): asserts client is ClientRecord {
  if (!client?.clientSecret && client?.tokenEndpointAuthMethod !== 'private_key_jwt') {
    throw new AirlockError('AIRLOCK_USAGE', 'the client credentials grant needs a client id and a secret or a private key', {
      hint: 'Pass --client-id with --client-secret-env NAME, --client-secret-file PATH or --client-private-key-file PATH.',
    });
  }
}

/** Request a token with the client's own credentials. */
export async function clientCredentialsFlow(options: ClientCredentialsOptions): Promise<TokenEndpointResponse> {
  requireClientSecret(options.client);
  const params: Record<string, string> = { ...resourceParam(options.resourceIndicator), ...options.tokenParams };
  const scope = formatScope(options.scopes);
  if (scope) params['scope'] = scope;
  try {
    return await clientCredentialsGrant(options.config, params, options.dpop ? { DPoP: options.dpop } : undefined);
  } catch (error) {
    throw tokenRequestError(error, options.what ?? 'requesting a token with the client credentials');
  }
}
