/**
 * Enterprise-managed authorization (cross-app access; MCP extension
 * io.modelcontextprotocol/enterprise-managed-authorization, SEP-990): the user's single sign-on
 * ID token is exchanged at the enterprise IdP for an Identity Assertion JWT Authorization Grant
 * (ID-JAG; RFC 8693 token exchange, requested_token_type `...:id-jag`, audience = the MCP server's
 * authorization server, resource = the MCP server), which airlock then presents to that
 * authorization server as a JWT bearer grant (RFC 7523 §2.1) with its own client there. No
 * browser and no consent screen: the IdP's policy decides.
 *
 * The ID token and the ID-JAG are never stored or logged; the access token is kept like every
 * other grant's.
 */
import { genericGrantRequest, type Configuration, type ServerMetadata, type DPoPHandle, type TokenEndpointResponse } from 'openid-client';
import { jwtClaims } from '../audit/principal.js';
import { AirlockError, describeError, quote } from '../errors.js';
import type { Logger } from '../log.js';
import { DocumentTooLargeError, readBoundedText } from './bounded-body.js';
import type { FetchLike } from './metadata-fetch.js';
import { authorizationCodeFlow, requireS256 } from './authorization-code.js';
import { startCallbackServer } from './callback-server.js';
import { preRegisteredClient } from './client-registration.js';
import { basicAuthorization, oauthConfiguration, tokenRequestError } from './oauth-client.js';
import { resourceParam } from './resource-uri.js';
import { formatScope } from './scopes.js';
import { TOKEN_EXCHANGE_GRANT } from './token-exchange.js';

const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const ID_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:id_token';
const ID_JAG_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:id-jag';

const REQUEST_TIMEOUT_MS = 30_000;

/** The enterprise IdP and what the user brings from it. */
export interface IdentityProvider {
  /** The IdP's issuer; its token endpoint comes from its metadata (RFC 8414 / OIDC Discovery). */
  issuer: string;
  /** airlock's client at the IdP. */
  clientId: string;
  clientSecret?: string;
  /**
   * The user's ID token from the IdP (issued to `clientId`). Without it airlock runs the OpenID
   * Connect login at the IdP itself (authorization code with PKCE, scope openid, in the browser).
   */
  idToken?: string;
}

export interface IdJagRequest {
  idp: IdentityProvider & { idToken: string };
  /** The IdP's metadata (discoverAuthorizationServer), fetched once per login by the caller. */
  idpMetadata: ServerMetadata;
  /** The MCP server's authorization server (its issuer): the ID-JAG's audience. */
  audience: string;
  /** RFC 8707 resource: the MCP server. */
  resource: string;
  scopes: readonly string[];
  fetch: FetchLike;
  log: Logger;
}

function idpRefusal(issuer: string, status: number, body: Record<string, unknown>): AirlockError {
  const error = typeof body['error'] === 'string' ? ` ${quote(body['error'])}` : '';
  const description = typeof body['error_description'] === 'string' ? `: ${quote(body['error_description'])}` : '';
  return new AirlockError('AIRLOCK_AUTH_TOKEN', `exchanging the ID token for an ID-JAG at the identity provider ${quote(issuer)} failed (HTTP ${status})${error}${description}`, {
    hint: body['error'] === 'invalid_grant'
      ? 'The ID token is expired or was not issued to --idp-client-id: get a fresh one from your single sign-on.'
      : 'Check --idp-client-id and its secret, and that the IdP allows cross-app access to this server.',
  });
}

/**
 * RFC 8693 §2.1 at the IdP: the ID token for an ID-JAG. A plain form POST (the answer's
 * token_type "N_A" is not one an OAuth token library accepts), client_secret_basic encoded as
 * RFC 6749 App. B asks, or client_id in the body for a public IdP client.
 */
export async function requestIdJag(request: IdJagRequest): Promise<string> {
  const { idp } = request;
  const endpoint = request.idpMetadata.token_endpoint!;
  const body = new URLSearchParams({
    grant_type: TOKEN_EXCHANGE_GRANT,
    requested_token_type: ID_JAG_TOKEN_TYPE,
    audience: request.audience,
    resource: request.resource,
    subject_token: idp.idToken,
    subject_token_type: ID_TOKEN_TYPE,
  });
  const scope = formatScope(request.scopes);
  if (scope) body.set('scope', scope);
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  if (idp.clientSecret !== undefined) {
    headers['authorization'] = basicAuthorization(idp.clientId, idp.clientSecret);
  } else {
    body.set('client_id', idp.clientId);
  }
  let response: Response;
  try {
    response = await request.fetch(endpoint, { method: 'POST', headers, body: body.toString(), redirect: 'manual', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  } catch (error) {
    throw new AirlockError('AIRLOCK_AUTH_TOKEN', `the identity provider ${quote(idp.issuer)} could not be reached: ${describeError(error)}`, {
      hint: 'Check --idp-issuer and the network.',
      cause: error,
    });
  }
  const text = await readBoundedText(response, endpoint, { what: 'ID-JAG token exchange response', code: 'AIRLOCK_AUTH_TOKEN' }).catch((error: unknown) => {
    if (error instanceof DocumentTooLargeError) throw error;
    return '';
  });
  let answer: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) answer = parsed as Record<string, unknown>;
  } catch {
    // not JSON: reported below without the body
  }
  if (response.status !== 200) throw idpRefusal(idp.issuer, response.status, answer);
  const jag = answer['access_token'];
  if (typeof jag !== 'string' || !jag || answer['issued_token_type'] !== ID_JAG_TOKEN_TYPE) {
    throw new AirlockError('AIRLOCK_AUTH_TOKEN', `the identity provider ${quote(idp.issuer)} answered the token exchange without an ID-JAG (issued_token_type ${quote(answer['issued_token_type'])})`, {
      hint: 'The IdP does not support cross-app access (draft-ietf-oauth-identity-assertion-authz-grant).',
    });
  }
  request.log.debug(`obtained an ID-JAG from ${quote(idp.issuer)} for ${quote(request.audience)}`);
  return jag;
}

/** RFC 7523 §2.1 at the MCP server's authorization server: an assertion (an ID-JAG, a workload's JWT) for an access token. */
export async function jwtBearerGrant(config: Configuration, assertion: string, scopes: readonly string[], resource: string, what = 'presenting the ID-JAG (JWT bearer grant)', dpop?: DPoPHandle): Promise<TokenEndpointResponse> {
  const params: Record<string, string> = { assertion, ...resourceParam(resource) };
  const scope = formatScope(scopes);
  if (scope) params['scope'] = scope;
  try {
    return await genericGrantRequest(config, JWT_BEARER_GRANT, params, dpop ? { DPoP: dpop } : undefined);
  } catch (error) {
    // No retry and no other grant: the server's refusal (invalid_grant, invalid_scope,
    // unauthorized_client) is the answer (SEP-1933).
    throw tokenRequestError(error, what, {
      refusedHint: 'The authorization server did not accept the assertion: check --client-id (and its secret), that it trusts the issuer of the assertion, and --scope.',
    });
  }
}

/** Seconds before its `exp` an ID token from an IdP login is no longer reused. */
const ID_TOKEN_MARGIN_S = 60;

/** When an ID token is still good for another exchange: its `exp`, read without verification (the IdP checks it). */
export function idTokenUsable(idToken: string, nowMs: number): boolean {
  const exp = jwtClaims(idToken)?.['exp'];
  return typeof exp === 'number' && exp - ID_TOKEN_MARGIN_S > nowMs / 1000;
}

export interface IdentityProviderLogin {
  idp: IdentityProvider;
  /** The IdP's metadata (discoverAuthorizationServer), fetched once per login by the caller. */
  idpMetadata: ServerMetadata;
  fetch: FetchLike;
  allowHttp: boolean;
  assumeS256: boolean;
  callbackHost?: string;
  callbackPort?: number;
  openUrl: (url: string) => Promise<void>;
  noBrowser: boolean;
  onAuthorizationUrl?: (url: string) => void;
  timeoutMs: number;
  log: Logger;
}

/**
 * The OpenID Connect login at the IdP that cross-app access runs when no ID token was given:
 * authorization code with PKCE S256, scope `openid`, no `resource` (the IdP is not the resource's
 * authorization server), with airlock's pre-registered client there. Resolves with the ID token.
 */
export async function loginAtIdentityProvider(options: IdentityProviderLogin): Promise<string> {
  const { idp, log, idpMetadata: metadata } = options;
  requireS256(metadata, options.assumeS256, log);
  const client = preRegisteredClient(idp.issuer, idp.clientId, idp, metadata, 0);
  const callback = await startCallbackServer({ host: options.callbackHost, port: options.callbackPort, log });
  try {
    log.info(`logging in at the identity provider ${quote(idp.issuer)} for cross-app access`);
    const response = await authorizationCodeFlow({
      config: oauthConfiguration(metadata, client, { fetch: options.fetch, allowHttp: options.allowHttp }),
      callback,
      scopes: ['openid'],
      resourceIndicator: '',
      openUrl: options.openUrl,
      noBrowser: options.noBrowser,
      ...(options.onAuthorizationUrl ? { onAuthorizationUrl: options.onAuthorizationUrl } : {}),
      timeoutMs: options.timeoutMs,
      log,
    });
    if (typeof response.id_token !== 'string') {
      throw new AirlockError('AIRLOCK_AUTH_TOKEN', `the identity provider ${quote(idp.issuer)} answered the login without an ID token`, {
        hint: 'Check that --idp-client-id may use the openid scope at the IdP, or pass the ID token with --idp-id-token-env.',
      });
    }
    return response.id_token;
  } finally {
    await callback.close();
  }
}
