/**
 * The device authorization grant (RFC 8628), for sessions without a local browser (SSH): ask the
 * device authorization endpoint for a user code, show the verification URI and the code through a
 * callback, and poll the token endpoint at the server's interval (openid-client handles
 * `authorization_pending` and `slow_down`, RFC 8628 §3.5) until the user approved, denied, or the
 * code expired. `resource` goes with both requests (RFC 8707).
 */
import {
  initiateDeviceAuthorization,
  pollDeviceAuthorizationGrant,
  type Configuration,
  type DPoPHandle, type TokenEndpointResponse,
} from 'openid-client';
import { AirlockError, quote } from '../errors.js';
import type { Logger } from '../log.js';
import { oauthErrorCode, tokenRequestError } from './oauth-client.js';
import { checkAuthUrl, resourceParam } from './resource-uri.js';
import { formatScope } from './scopes.js';

export interface DeviceCodeInfo {
  verificationUri: string;
  verificationUriComplete?: string;
  userCode: string;
  /** Seconds until the code expires. */
  expiresIn: number;
}

export interface DeviceGrantOptions {
  config: Configuration;
  scopes: readonly string[];
  resourceIndicator: string;
  /** More parameters for both requests (the provider profile's, e.g. Auth0's audience). */
  tokenParams?: Record<string, string>;
  onDeviceCode?: (info: DeviceCodeInfo) => void;
  /** Upper bound on the whole wait; the code's own expiry may end it sooner. */
  timeoutMs: number;
  allowHttp: boolean;
  log: Logger;
  /** RFC 9449 §5: ask for a DPoP-bound token with this proof maker. */
  dpop?: DPoPHandle;
}

/** Run the device grant and resolve with the token endpoint response. */
export async function deviceGrantFlow(options: DeviceGrantOptions): Promise<TokenEndpointResponse> {
  const { config, log } = options;
  const metadata = config.serverMetadata();
  if (!metadata.device_authorization_endpoint) {
    throw new AirlockError('AIRLOCK_AUTH_UNSUPPORTED', `the authorization server ${quote(metadata.issuer)} does not offer the device authorization grant`, {
      hint: 'Log in with the browser instead (drop --device), using --no-browser to print the URL.',
    });
  }
  const params: Record<string, string> = { ...resourceParam(options.resourceIndicator), ...options.tokenParams };
  const scope = formatScope(options.scopes);
  if (scope) params['scope'] = scope;

  let authorization;
  try {
    authorization = await initiateDeviceAuthorization(config, params);
  } catch (error) {
    throw tokenRequestError(error, 'starting the device authorization');
  }
  // The user is told to open these: the same rules as any URL we would open ourselves.
  checkAuthUrl(authorization.verification_uri, 'the verification URI', { allowHttp: options.allowHttp });
  const info: DeviceCodeInfo = {
    verificationUri: authorization.verification_uri,
    userCode: authorization.user_code,
    expiresIn: authorization.expires_in,
  };
  if (authorization.verification_uri_complete) {
    checkAuthUrl(authorization.verification_uri_complete, 'the verification URI', { allowHttp: options.allowHttp });
    info.verificationUriComplete = authorization.verification_uri_complete;
  }
  if (options.onDeviceCode) options.onDeviceCode(info);
  else log.info(`to log in, open ${info.verificationUri} and enter the code ${info.userCode}`);

  const signal = AbortSignal.timeout(Math.min(options.timeoutMs, authorization.expires_in * 1000));
  try {
    return await pollDeviceAuthorizationGrant(config, authorization, { ...resourceParam(options.resourceIndicator), ...options.tokenParams }, { signal, ...(options.dpop ? { DPoP: options.dpop } : {}) });
  } catch (error) {
    const code = oauthErrorCode(error);
    if (code === 'access_denied') {
      throw new AirlockError('AIRLOCK_AUTH_DENIED', 'the device login was denied', { hint: 'Approve the request on the verification page, then log in again.', cause: error });
    }
    const aborted = (error as { code?: string }).code;
    if (code === 'expired_token' || aborted === 'OAUTH_TIMEOUT' || aborted === 'OAUTH_ABORT') {
      throw new AirlockError('AIRLOCK_AUTH_TIMEOUT', 'the device code expired before the login was approved', {
        hint: 'Enter the code sooner, or raise --auth-timeout.',
      });
    }
    throw tokenRequestError(error, 'waiting for the device login');
  }
}
