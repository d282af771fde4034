/**
 * The authorization code grant with PKCE for a native client (RFC 6749 §4.1, RFC 7636, RFC 8252):
 * build the authorization request with S256, `state` and `resource`, show or open it, wait for the
 * loopback callback, check `iss` (RFC 9207) and `state` before anything else, then exchange the
 * code with the verifier and `resource` (RFC 8707 §2.2).
 */
import { timingSafeEqual } from 'node:crypto';
import {
  authorizationCodeGrant,
  buildAuthorizationUrl,
  calculatePKCECodeChallenge,
  randomPKCECodeVerifier,
  randomState,
  type Configuration,
  type DPoPHandle,
  type ServerMetadata,
  type TokenEndpointResponse,
} from 'openid-client';
import { AirlockError, describeError, quote } from '../errors.js';
import type { Logger } from '../log.js';
import { checkBrowserUrl } from './browser.js';
import type { CallbackServer } from './callback-server.js';
import { tokenRequestError } from './oauth-client.js';
import { resourceParam } from './resource-uri.js';
import { formatScope } from './scopes.js';
import { pasteInstructions, type PastedRedirect } from './pasted-redirect.js';

/** Parameters that must appear at most once in an authorization response (RFC 6749 §3.1). */
const SINGLE_VALUED = ['code', 'state', 'iss', 'error', 'error_description', 'error_uri'];

/**
 * Refuse a server that does not advertise PKCE S256 (MCP 2025-11-25 "Authorization Code
 * Protection": if `code_challenge_methods_supported` is absent, clients MUST refuse), unless the
 * user vouches for it with `assumeS256` (AWS Cognito and some Entra setups omit the field but
 * support S256).
 */
export function requireS256(metadata: ServerMetadata, assumeS256: boolean, log: Logger, why = '--assume-s256'): void {
  const methods = metadata.code_challenge_methods_supported;
  if (Array.isArray(methods) && methods.includes('S256')) return;
  const what = Array.isArray(methods)
    ? `lists code_challenge_methods_supported ${quote(methods.join(' '))} without S256`
    : 'does not advertise code_challenge_methods_supported';
  if (assumeS256) {
    log.warn(`the authorization server ${quote(metadata.issuer)} ${what}; using S256 anyway as asked (${why})`);
    return;
  }
  throw new AirlockError('AIRLOCK_AUTH_NO_PKCE', `the authorization server ${quote(metadata.issuer)} ${what}, so PKCE cannot be relied on`, {
    hint: 'If you know the server supports PKCE S256 (AWS Cognito and some Entra configurations omit it from their metadata), pass --assume-s256.',
  });
}

function sameString(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export interface ExpectedResponse {
  state: string;
  /** The issuer recorded before redirecting (RFC 9207 §2.4). */
  issuer: string;
  /** The server advertised authorization_response_iss_parameter_supported: an absent `iss` is then an error. */
  issRequired: boolean;
}

/**
 * Check an authorization response, failing closed: repeated parameters, then `iss` (RFC 9207 §2.4:
 * compared as a plain string; on mismatch the error fields are neither used nor shown, as they may
 * come from an attacker's server), then `state` (RFC 6749 §10.12), then `error` (RFC 6749 §4.1.2.1,
 * shown quoted: the issuer is now verified or not claimed), then `code`.
 */
export function verifyAuthorizationResponse(params: URLSearchParams, expected: ExpectedResponse): void {
  for (const name of SINGLE_VALUED) {
    if (params.getAll(name).length > 1) {
      throw new AirlockError('AIRLOCK_AUTH_CALLBACK', `the authorization response repeats the parameter ${quote(name)}`, {
        hint: 'Something other than the authorization server sent this response; start the login again.',
      });
    }
  }
  const iss = params.get('iss');
  if (iss === null && expected.issRequired) {
    throw new AirlockError('AIRLOCK_AUTH_ISS_MISMATCH', `the authorization response carries no iss, although ${quote(expected.issuer)} advertises authorization_response_iss_parameter_supported`, {
      hint: 'RFC 9207: the response may come from another authorization server (mix-up attack); it was ignored. Start the login again.',
    });
  }
  if (iss !== null && iss !== expected.issuer) {
    throw new AirlockError('AIRLOCK_AUTH_ISS_MISMATCH', `the authorization response names issuer ${quote(iss)}, expected ${quote(expected.issuer)}`, {
      hint: 'RFC 9207: the response comes from another authorization server (mix-up attack?); it was ignored. Start the login again.',
    });
  }
  const state = params.get('state');
  if (state === null || !sameString(state, expected.state)) {
    throw new AirlockError('AIRLOCK_AUTH_STATE_MISMATCH', state === null ? 'the authorization response has no state' : 'the authorization response has a state that does not match this login', {
      hint: 'The response does not belong to this login (an old browser tab, or a forged request); it was discarded. Start the login again.',
    });
  }
  const error = params.get('error');
  if (error !== null) {
    const description = params.get('error_description');
    throw new AirlockError('AIRLOCK_AUTH_DENIED', `the authorization server refused the authorization: ${quote(error)}${description ? ` (${quote(description)})` : ''}`, {
      hint: error === 'access_denied' ? 'Access was denied in the browser; log in again and approve the request.' : 'Check the scopes (--scope) and the client registration.',
    });
  }
  if (!params.get('code')) {
    throw new AirlockError('AIRLOCK_AUTH_CALLBACK', 'the authorization response has no code', {
      hint: 'The authorization server sent an incomplete response; start the login again.',
    });
  }
}

export interface AuthorizationCodeOptions {
  config: Configuration;
  callback: CallbackServer;
  scopes: readonly string[];
  /** RFC 8707 resource indicator, sent in the authorization and the token request ('' with --omit-resource). */
  resourceIndicator: string;
  /** --authorize-param and the provider profile's: more parameters for the authorization request. */
  extraParams?: Record<string, string>;
  /** More parameters for the token request (the provider profile's, e.g. Auth0's audience). */
  tokenParams?: Record<string, string>;
  openUrl: (url: string) => Promise<void>;
  noBrowser: boolean;
  onAuthorizationUrl?: (url: string) => void;
  timeoutMs: number;
  log: Logger;
  /** Headless login: the redirect URL may also be pasted back (the terminal, stdin, a file). */
  pasted?: PastedRedirect;
  /** Why the browser may be on another machine (remoteSessionReason): the SSH port forward is suggested. */
  remoteReason?: string;
  /** RFC 9449: bind the code to this key (`dpop_jkt`, §10) and prove it at the token endpoint (§5). */
  dpop?: { handle: DPoPHandle; jkt: string };
}

/** Run the whole grant and resolve with the token endpoint response. */
export async function authorizationCodeFlow(options: AuthorizationCodeOptions): Promise<TokenEndpointResponse> {
  const { config, callback, log } = options;
  const metadata = config.serverMetadata();
  const verifier = randomPKCECodeVerifier();
  const state = randomState();
  const params: Record<string, string> = {
    redirect_uri: callback.redirectUri,
    code_challenge: await calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    ...resourceParam(options.resourceIndicator),
  };
  const scope = formatScope(options.scopes);
  if (scope) params['scope'] = scope;
  if (options.dpop) params['dpop_jkt'] = options.dpop.jkt;
  // --authorize-param: extra parameters a provider wants (Google's access_type=offline); the
  // protocol's own were refused when the option was parsed (see checkAuthorizeParams).
  for (const [name, value] of Object.entries(options.extraParams ?? {})) params[name] = value;
  const url = buildAuthorizationUrl(config, params).href;
  checkBrowserUrl(url);

  const verify = (p: URLSearchParams): void => verifyAuthorizationResponse(p, {
    state,
    issuer: metadata.issuer,
    issRequired: metadata.authorization_response_iss_parameter_supported === true,
  });
  const fromCallback = callback.waitForCallback({ verify, timeoutMs: options.timeoutMs });
  // A pasted redirect is checked exactly as one that reaches the callback server (iss, state).
  const stopPaste = new AbortController();
  const response = options.pasted
    ? Promise.race([fromCallback, options.pasted.read(callback.redirectUri, stopPaste.signal).then((p) => (verify(p), p))])
    : fromCallback;
  // Awaited below; until then a timeout must not count as an unhandled rejection.
  response.catch(() => undefined);
  fromCallback.catch(() => undefined);
  if (options.onAuthorizationUrl) options.onAuthorizationUrl(url);
  else log.info(`to log in, open ${url}`);
  if (options.pasted || options.remoteReason) {
    log.warn(pasteInstructions(callback.redirectUri, { ...(options.remoteReason ? { reason: options.remoteReason } : {}), paste: options.pasted?.where }));
  }
  if (!options.noBrowser) {
    try {
      await options.openUrl(url);
    } catch (error) {
      log.warn(`could not open a browser (${describeError(error)}); open the URL by hand`);
    }
  }
  let received: URLSearchParams;
  try {
    received = await response;
  } finally {
    stopPaste.abort();
  }

  const currentUrl = new URL(callback.redirectUri);
  currentUrl.search = received.toString();
  try {
    // openid-client checks iss and state once more (oauth4webapi validateAuthResponse).
    return await authorizationCodeGrant(config, currentUrl, { pkceCodeVerifier: verifier, expectedState: state }, { ...resourceParam(options.resourceIndicator), ...options.tokenParams }, options.dpop ? { DPoP: options.dpop.handle } : undefined);
  } catch (error) {
    throw tokenRequestError(error, 'exchanging the authorization code');
  }
}
