/**
 * Where openid-client enters our code: one `Configuration` per (authorization server, client),
 * built from the metadata we discovered and checked ourselves, with our injected fetch and with
 * plain http allowed only when every endpoint already passed `checkAuthUrl` (loopback + allowHttp).
 * Token endpoint failures become AirlockErrors here (CONVENTIONS 4: keep the cause), without any
 * token in the message, and without a cause that could hold a token response body.
 */
import {
  allowInsecureRequests,
  ClientError,
  ClientSecretPost,
  Configuration,
  customFetch,
  None,
  PrivateKeyJwt,
  ResponseBodyError,
  WWWAuthenticateChallengeError,
  type ClientAuth,
  type ServerMetadata,
} from 'openid-client';
import { AirlockError, describeError, quote, type AirlockErrorCode } from '../errors.js';
import type { ClientRecord } from '../store/grant-store.js';
import { boundedFetch, DocumentTooLargeError } from './bounded-body.js';
import type { ClientSigningKey } from './client-signing-key.js';
import type { FetchLike } from './metadata-fetch.js';

/** Seconds openid-client waits for one HTTP answer. */
const REQUEST_TIMEOUT_S = 30;

/**
 * RFC 6749 §2.3.1 client_secret_basic: client id and secret, each encoded with the
 * application/x-www-form-urlencoded algorithm of Appendix B, joined by ":" and base64-encoded.
 * That encoding leaves letters, digits and `*-._` alone and turns a space into `+` (WHATWG
 * URLSearchParams does exactly that). oauth4webapi's own also escapes `-`, `_`, `.` and `*`
 * (`pre-registered-client` becomes `pre%2Dregistered%2Dclient`), which many authorization servers,
 * which compare the id without decoding it, refuse.
 */
function clientSecretBasic(clientSecret: string): ClientAuth {
  return (_as, client, _body, headers) => {
    headers.set('authorization', basicAuthorization(client.client_id, clientSecret));
  };
}

/** The `Authorization` value of client_secret_basic (see clientSecretBasic), for requests made without openid-client. */
export function basicAuthorization(clientId: string, clientSecret: string): string {
  return `Basic ${Buffer.from(`${formEncode(clientId)}:${formEncode(clientSecret)}`, 'utf8').toString('base64')}`;
}

/** One value, form-encoded (RFC 6749 Appendix B). */
export function formEncode(value: string): string {
  return new URLSearchParams([['', value]]).toString().slice(1);
}

function clientAuthentication(client: ClientRecord, signingKey: ClientSigningKey | undefined): ClientAuth {
  const method = client.tokenEndpointAuthMethod ?? (client.clientSecret ? 'client_secret_basic' : 'none');
  switch (method) {
    case 'none':
      return None();
    case 'client_secret_basic':
    case 'client_secret_post':
      if (!client.clientSecret) {
        throw new AirlockError('AIRLOCK_AUTH_REGISTRATION', `client ${quote(client.clientId)} uses ${method} but no client secret is stored`, {
          hint: 'Give the secret with --client-secret-env or --client-secret-file, or log out and register again.',
        });
      }
      return method === 'client_secret_basic' ? clientSecretBasic(client.clientSecret) : ClientSecretPost(client.clientSecret);
    case 'private_key_jwt':
      // RFC 7523 §2.2: a short-lived JWT with iss = sub = client_id and aud = the issuer, signed with the key.
      if (!signingKey) {
        throw new AirlockError('AIRLOCK_USAGE', `client ${quote(client.clientId)} authenticates with private_key_jwt but no private key was given`, {
          hint: 'Pass --client-private-key-file (PEM or JWK), and --client-signing-alg when the key does not imply the algorithm.',
        });
      }
      return PrivateKeyJwt(signingKey.kid === undefined ? { key: signingKey.key } : { key: signingKey.key, kid: signingKey.kid });
    default:
      throw new AirlockError('AIRLOCK_AUTH_UNSUPPORTED', `client authentication method ${quote(method)} is not supported`, {
        hint: 'mcp-airlock authenticates with none, client_secret_basic, client_secret_post or private_key_jwt; register a client that uses one of them.',
      });
  }
}

export interface OAuthClientOptions {
  fetch: FetchLike;
  allowHttp: boolean;
  /** The key of a private_key_jwt client (--client-private-key-file); never stored. */
  signingKey?: ClientSigningKey;
}

/** An openid-client Configuration for `client` at the authorization server described by `metadata`. */
export function oauthConfiguration(metadata: ServerMetadata, client: ClientRecord, options: OAuthClientOptions): Configuration {
  const clientMetadata = client.tokenEndpointAuthMethod ? { token_endpoint_auth_method: client.tokenEndpointAuthMethod } : {};
  const config = new Configuration(metadata, client.clientId, clientMetadata, clientAuthentication(client, options.signingKey));
  // Token, device, revocation answers: read whole, but never past MAX_AUTH_DOCUMENT_BYTES.
  const fetchImpl = boundedFetch(options.fetch, { what: 'authorization server response', code: 'AIRLOCK_AUTH_TOKEN' });
  config[customFetch] = (url, init) => fetchImpl(url, init as RequestInit);
  config.timeout = REQUEST_TIMEOUT_S;
  // Every endpoint in `metadata` passed checkAuthUrl, so http here means loopback with allowHttp.
  if (options.allowHttp) allowInsecureRequests(config);
  return config;
}

/** The OAuth error code of a failed token or device request (`invalid_grant`, ...), if the server sent one. */
export function oauthErrorCode(error: unknown): string | undefined {
  if (error instanceof ResponseBodyError) return error.error;
  if (error instanceof AirlockError) return oauthErrorCode(error.cause);
  // The stand-in cause of a refusal sent as a WWW-Authenticate challenge (see tokenRequestError).
  if (error instanceof Error && 'oauthError' in error && typeof error.oauthError === 'string') return error.oauthError;
  return undefined;
}

/**
 * An AirlockError for a failed request to the token (or device authorization) endpoint. An OAuth
 * error answer (RFC 6749 §5.2) is named with its code and description, quoted; the cause is kept.
 * Other failures (unexpected status, invalid success response) keep only the message and code of
 * the library error: openid-client attaches the response body to those, and a body of a 200
 * answer holds tokens.
 */
export interface RequestErrorOptions {
  /** Default AIRLOCK_AUTH_TOKEN. */
  code?: AirlockErrorCode;
  /** The hint when the server refused the request with an OAuth error (default: one per error code). */
  refusedHint?: string;
  /** The hint when the server could not be reached or answered something unexpected. */
  failedHint?: string;
}

export function tokenRequestError(error: unknown, what: string, options: RequestErrorOptions = {}): AirlockError {
  if (error instanceof AirlockError) return error;
  // Our boundedFetch refused an oversized answer; openid-client wrapped it ("something went wrong").
  if (error instanceof Error && error.cause instanceof DocumentTooLargeError) return error.cause;
  const code = options.code ?? 'AIRLOCK_AUTH_TOKEN';
  const refused = (oauthError: string, description: string | undefined, cause: Error): AirlockError =>
    new AirlockError(code, `${what} failed: the authorization server answered ${quote(oauthError)}${description ? `: ${quote(description)}` : ''}`, {
      hint: options.refusedHint
        ?? (oauthError === 'invalid_grant' ? 'The grant is no longer valid; log in again (mcp-airlock login <url>).'
        : oauthError === 'invalid_client' ? 'The authorization server did not accept the client: check --client-id and --client-secret-env/--client-secret-file, or log in again to register anew.'
        : 'Check the client registration and scopes, or run mcp-airlock doctor <url>.'),
      cause,
    });
  if (error instanceof ResponseBodyError) return refused(error.error, error.error_description, error);
  if (error instanceof WWWAuthenticateChallengeError) {
    // RFC 6749 §5.2: a failed client authentication may be a 401 with a challenge instead of a body.
    const params = error.cause.find((c) => typeof c.parameters.error === 'string')?.parameters;
    const stand = Object.assign(new Error(error.message), { code: error.code, status: error.status }, params?.error ? { oauthError: params.error } : {});
    return refused(params?.error ?? `HTTP ${error.status}`, params?.error_description, stand);
  }
  const safeCause = error instanceof ClientError
    ? Object.assign(new Error(error.message), { code: error.code })
    : error instanceof TypeError ? error : new Error(describeError(error));
  return new AirlockError(code, `${what} failed: ${describeError(safeCause)}`, {
    hint: options.failedHint ?? 'Check that the authorization server is reachable, or run mcp-airlock doctor <url>.',
    cause: safeCause,
  });
}
