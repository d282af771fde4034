/**
 * Which OAuth client airlock is at a given authorization server. MCP 2025-11-25 "Client
 * Registration Approaches", in order: a client the user registered beforehand (id and secret
 * given), a Client ID Metadata Document (its https URL is the client_id) when the server supports
 * it, else Dynamic Client Registration (RFC 7591) as a native application with the exact loopback
 * redirect URI (2026-07-28: `application_type` "native"). Registrations are stored per issuer and
 * never used with another issuer (2026-07-28).
 */
import type { ServerMetadata } from 'openid-client';
import { AirlockError, describeError, quote } from '../errors.js';
import type { Logger } from '../log.js';
import type { ClientRecord, GrantStore } from '../store/grant-store.js';
import { DocumentTooLargeError, readBoundedText } from './bounded-body.js';
import type { FetchLike } from './metadata-fetch.js';
import { registrationBody, type ProviderPlan } from './provider-profiles.js';

export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const CLIENT_NAME = 'mcp-airlock';
const REGISTRATION_TIMEOUT_MS = 15_000;

export interface ClientChoice {
  clientId?: string;
  clientSecret?: string;
  /** The client authenticates with a private key (private_key_jwt, RFC 7523 §2.2) instead of a secret. */
  privateKeyJwt?: boolean;
  /** https URL of our Client ID Metadata Document. */
  clientMetadataUrl?: string;
}

export interface ResolveClientOptions {
  issuer: string;
  metadata: ServerMetadata;
  store: GrantStore;
  choice: ClientChoice;
  /** The loopback redirect URI of this run; undefined for grants without a redirect (device). */
  redirectUri?: string;
  fetch: FetchLike;
  log: Logger;
  now: number;
  /** How to register: an RFC 7591 §3 initial access token (Okta), the provider profile's body rules. */
  registration?: RegistrationSettings;
}

export interface RegistrationSettings {
  /** Sent as `Authorization: Bearer` to the registration endpoint (as it is when it names its scheme: `SSWS …`); never logged. */
  initialAccessToken?: string;
  plan?: ProviderPlan;
}

/**
 * Check a Client ID Metadata Document URL: https with a path (the client_id must be one,
 * draft-ietf-oauth-client-id-metadata-document §3), no fragment.
 */
export function checkClientMetadataUrl(value: string): string {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url || url.protocol !== 'https:' || url.pathname === '/' || url.hash) {
    throw new AirlockError('AIRLOCK_USAGE', `--client-metadata-url must be an https URL with a path, not ${quote(value)}`, {
      hint: 'Publish the client metadata document at an https URL such as https://example.com/mcp-airlock/client.json.',
    });
  }
  return url.href;
}

/** token_endpoint_auth_method for a client secret: basic unless the server lists only post (RFC 8414 §2 default). */
function secretAuthMethod(metadata: ServerMetadata): string {
  const supported = metadata.token_endpoint_auth_methods_supported;
  if (!supported || supported.includes('client_secret_basic')) return 'client_secret_basic';
  return supported.includes('client_secret_post') ? 'client_secret_post' : 'client_secret_basic';
}

/** Whether a stored registration can serve this run. */
function reusable(stored: ClientRecord, options: ResolveClientOptions): boolean {
  if (stored.issuer !== options.issuer) return false;
  if (stored.method !== 'dynamic') return true;
  if (stored.clientSecretExpiresAt && stored.clientSecretExpiresAt * 1000 <= options.now) return false;
  // DCR binds the redirect URI exactly; a run without one (device) can use any registration.
  return options.redirectUri === undefined || stored.redirectUri === options.redirectUri;
}

/**
 * Which client approach applies (MCP 2025-11-25 "Client Registration Approaches", in its order):
 * a pre-registered --client-id, else a Client ID Metadata Document the server supports, else
 * dynamic registration (RFC 7591) when the server offers it, else none. `declined` says that a
 * --client-metadata-url was given but the server does not support metadata documents. Throws
 * AIRLOCK_USAGE for a --client-metadata-url that cannot be a client_id. Used by the login and by
 * doctor, so both always agree.
 */
export type ClientApproach =
  | { path: 'pre-registered'; clientId: string }
  | { path: 'metadata-document'; clientId: string }
  | { path: 'dynamic'; endpoint: string; declined: boolean }
  | { path: 'none'; declined: boolean };

export function clientApproach(choice: ClientChoice, metadata: ServerMetadata): ClientApproach {
  if (choice.clientId) return { path: 'pre-registered', clientId: choice.clientId };
  let declined = false;
  if (choice.clientMetadataUrl) {
    const clientId = checkClientMetadataUrl(choice.clientMetadataUrl);
    if (metadata.client_id_metadata_document_supported === true) return { path: 'metadata-document', clientId };
    declined = true;
  }
  const endpoint = metadata.registration_endpoint;
  return endpoint ? { path: 'dynamic', endpoint, declined } : { path: 'none', declined };
}

/**
 * The record of a client registered in advance (--client-id): it authenticates with its private
 * key, else its secret (the method the server prefers), else not at all (a public client).
 */
export function preRegisteredClient(issuer: string, clientId: string, choice: Pick<ClientChoice, 'clientSecret' | 'privateKeyJwt'>, metadata: ServerMetadata, now: number): ClientRecord {
  const record: ClientRecord = { issuer, clientId, method: 'pre-registered', registeredAt: now };
  if (choice.privateKeyJwt) {
    record.tokenEndpointAuthMethod = 'private_key_jwt';
  } else if (choice.clientSecret) {
    record.clientSecret = choice.clientSecret;
    record.tokenEndpointAuthMethod = secretAuthMethod(metadata);
  } else {
    record.tokenEndpointAuthMethod = 'none';
  }
  return record;
}

/** Pick, reuse or register the client for `issuer`, and save it in the store. */
export async function resolveClient(options: ResolveClientOptions): Promise<ClientRecord> {
  const { choice, issuer, metadata, store, log, now } = options;
  const approach = clientApproach(choice, metadata);
  if (approach.path === 'pre-registered') {
    const record = preRegisteredClient(issuer, approach.clientId, choice, metadata, now);
    if (options.redirectUri) record.redirectUri = options.redirectUri;
    await store.saveClient(record);
    return record;
  }
  if (approach.path === 'metadata-document') {
    const record: ClientRecord = { issuer, clientId: approach.clientId, method: 'metadata-document', tokenEndpointAuthMethod: 'none', registeredAt: now };
    await store.saveClient(record);
    return record;
  }
  if (approach.declined) log.info(`${quote(issuer)} does not support client ID metadata documents; registering dynamically instead`);
  const stored = await store.loadClient(issuer);
  if (stored && reusable(stored, options)) {
    log.debug(`using the ${stored.method} client ${quote(stored.clientId)} stored for ${quote(issuer)}`);
    return stored;
  }
  const record = await registerClient({ ...options, previous: stored });
  await store.saveClient(record);
  return record;
}

/** What to do about a refused registration: the provider profile's advice first, then the token or a pre-registered client. */
function registrationRefusedHint(status: number, registration: RegistrationSettings | undefined): string {
  const note = registration?.plan?.note;
  if (note) return note;
  if ((status === 401 || status === 403) && registration?.initialAccessToken === undefined) {
    return 'The registration endpoint wants credentials: pass an initial access token (RFC 7591 §3) with --registration-token-env NAME or --registration-token-file PATH, or register a client with its operator and pass --client-id.';
  }
  return 'The server may not allow open registration: register a client with its operator and pass --client-id.';
}

/**
 * Dynamic Client Registration (RFC 7591 §3.1): a public native client (token_endpoint_auth_method
 * "none", RFC 8252 §8.4) with the exact loopback redirect URI, for the grants this server offers.
 */
export async function registerClient(options: ResolveClientOptions & { previous?: ClientRecord }): Promise<ClientRecord> {
  const { metadata, issuer, redirectUri } = options;
  const endpoint = metadata.registration_endpoint;
  if (!endpoint) {
    throw new AirlockError('AIRLOCK_AUTH_REGISTRATION', `the authorization server ${quote(issuer)} offers no dynamic client registration`, {
      hint: 'Register a client with the server operator and pass --client-id (and --client-secret-env), or --client-metadata-url if the server supports it.',
    });
  }
  const grantTypes = redirectUri ? ['authorization_code', 'refresh_token'] : ['refresh_token'];
  if (metadata.device_authorization_endpoint) grantTypes.push(DEVICE_CODE_GRANT);
  const body = registrationBody(options.registration?.plan, {
    client_name: CLIENT_NAME,
    application_type: 'native',
    redirect_uris: redirectUri ? [redirectUri] : [],
    grant_types: grantTypes,
    response_types: redirectUri ? ['code'] : [],
    token_endpoint_auth_method: 'none',
  });
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
  const initialAccessToken = options.registration?.initialAccessToken;
  // A value that names its scheme is sent as it is: Okta's API tokens go as `SSWS <token>`.
  if (initialAccessToken !== undefined) headers['authorization'] = /^[A-Za-z][A-Za-z0-9-]*\s+\S+$/.test(initialAccessToken) ? initialAccessToken : `Bearer ${initialAccessToken}`;
  let response: Response;
  try {
    response = await options.fetch(endpoint, {
      method: 'POST',
      headers,
      body: JSON.stringify(body),
      redirect: 'manual',
      signal: AbortSignal.timeout(REGISTRATION_TIMEOUT_MS),
    });
  } catch (error) {
    throw new AirlockError('AIRLOCK_AUTH_REGISTRATION', `client registration at ${quote(endpoint)} failed: ${describeError(error)}`, {
      hint: 'Check that the authorization server is reachable.',
      cause: error,
    });
  }
  const text = await readBoundedText(response, endpoint, { what: 'client registration response', code: 'AIRLOCK_AUTH_REGISTRATION' }).catch((error: unknown) => {
    if (error instanceof DocumentTooLargeError) throw error;
    return '';
  });
  let answer: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) answer = parsed as Record<string, unknown>;
  } catch {
    // not JSON: reported below
  }
  if (response.status !== 201 && response.status !== 200) {
    const error = typeof answer['error'] === 'string' ? ` ${quote(answer['error'])}` : '';
    const description = typeof answer['error_description'] === 'string' ? `: ${quote(answer['error_description'])}` : '';
    throw new AirlockError('AIRLOCK_AUTH_REGISTRATION', `client registration at ${quote(endpoint)} was refused (HTTP ${response.status})${error}${description}`, {
      hint: registrationRefusedHint(response.status, options.registration),
    });
  }
  const clientId = answer['client_id'];
  if (typeof clientId !== 'string' || !clientId) {
    throw new AirlockError('AIRLOCK_AUTH_REGISTRATION', `client registration at ${quote(endpoint)} answered without a client_id`, {
      hint: 'The authorization server does not follow RFC 7591 §3.2.1; report it to its operator.',
    });
  }
  const record: ClientRecord = { issuer, clientId, method: 'dynamic', registeredAt: options.now };
  if (redirectUri) record.redirectUri = redirectUri;
  const secret = answer['client_secret'];
  const method = answer['token_endpoint_auth_method'];
  if (typeof secret === 'string' && secret) {
    record.clientSecret = secret;
    record.tokenEndpointAuthMethod = typeof method === 'string' && method !== 'none' ? method : 'client_secret_basic';
    const expiresAt = answer['client_secret_expires_at'];
    if (typeof expiresAt === 'number') record.clientSecretExpiresAt = expiresAt;
  } else {
    record.tokenEndpointAuthMethod = 'none';
  }
  options.log.info(`registered ${CLIENT_NAME} at ${quote(issuer)} as client ${quote(clientId)}${options.previous ? ' (replacing the stored registration)' : ''}`);
  return record;
}
