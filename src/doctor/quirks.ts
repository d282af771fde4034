/**
 * Known quirks of common authorization servers, named in the doctor's hints so that a user reads
 * "Entra ID rejects ..." instead of a bare RFC section. The provider is recognised as the login's
 * provider profile recognises it (src/auth/provider-profiles.ts), here from the issuer URL only.
 */
import { detectProvider } from '../auth/provider-profiles.js';

export type Provider = 'entra' | 'cognito' | 'keycloak' | 'okta' | 'auth0' | 'unknown';

const HINTED: readonly string[] = ['entra', 'cognito', 'keycloak', 'okta', 'auth0'];

/** Which provider an issuer URL looks like, among those the hints know. */
export function providerOf(issuer: string | undefined): Provider {
  const { id } = detectProvider(issuer);
  return HINTED.includes(id) ? (id as Provider) : 'unknown';
}

const NAMES: Record<Provider, string> = {
  entra: 'Microsoft Entra ID',
  cognito: 'AWS Cognito',
  keycloak: 'Keycloak',
  okta: 'Okta',
  auth0: 'Auth0',
  unknown: 'the authorization server',
};

/** A display name for hints. */
export function providerName(provider: Provider): string {
  return NAMES[provider];
}

/**
 * A resource identifier with a trailing slash. airlock sends the canonical form without it (MCP
 * 2025-11-25 "Canonical Server URI"); Entra ID refuses a resource that differs by that slash
 * (AADSTS9010010), and other servers may refuse the canonical form when they registered the other.
 */
export function trailingSlashHint(resource: string, canonical: string, provider: Provider): string {
  const entra = provider === 'entra' ? 'Entra ID rejects it (AADSTS9010010): ' : 'Entra ID, for one, rejects a resource that differs by a trailing slash (AADSTS9010010): ';
  return `${entra}publish "resource": ${JSON.stringify(canonical)} in the server's protected resource metadata (airlock sends that form), or, if the authorization server only knows ${JSON.stringify(resource)}, pass --resource ${JSON.stringify(resource)}.`;
}

/** `code_challenge_methods_supported` missing or without S256 (MCP 2025-11-25: clients MUST refuse). */
export function pkceHint(provider: Provider): string {
  const who = provider === 'cognito' || provider === 'entra'
    ? `${providerName(provider)} is known to omit code_challenge_methods_supported while supporting S256`
    : 'AWS Cognito and some Entra ID configurations omit code_challenge_methods_supported while supporting S256';
  return `${who}: if this server does, pass --assume-s256; otherwise enable PKCE S256 on the authorization server and advertise it in its metadata.`;
}

/** No metadata document at any candidate URL. */
export function metadataNotFoundHint(issuer: string, provider: Provider): string {
  if (provider === 'keycloak') {
    return `Keycloak serves its metadata at ${issuer.replace(/\/$/, '')}/.well-known/openid-configuration (the path form the spec tries last): check the realm name in the issuer, and that the realm is enabled.`;
  }
  return 'The authorization server must publish RFC 8414 or OpenID Connect discovery metadata at one of these URLs; check the issuer named in the protected resource metadata (authorization_servers).';
}

/** The metadata's issuer is not the one named (RFC 8414 §3.3). */
export function issuerMismatchHint(named: string, claimed: unknown, provider: Provider): string {
  const keycloak = provider === 'keycloak' || (typeof claimed === 'string' && /\/realms\//.test(claimed))
    ? ' Keycloak derives its issuer from the request URL: set the hostname (KC_HOSTNAME) to the public URL, and name the realm URL exactly in authorization_servers.'
    : '';
  return `List exactly ${JSON.stringify(claimed)} in the server's authorization_servers (if that is the right server), or fix the issuer the authorization server publishes; airlock will not use metadata whose issuer differs (mix-up protection).${keycloak}`;
}

/** Dynamic client registration was refused. */
export function registrationRefusedHint(provider: Provider, status: number | undefined): string {
  if (provider === 'keycloak') {
    return "Keycloak's client registration policies refused the anonymous registration (Trusted Hosts, Allowed Client Scopes, Consent Required): in the realm's Clients → Client registration → Anonymous access policies, allow 127.0.0.1 and the scopes, or register a client and pass --client-id.";
  }
  if (provider === 'okta' || provider === 'auth0') {
    return `${providerName(provider)} allows open dynamic registration only when enabled for the tenant: enable it, or register a native client with the redirect http://127.0.0.1/callback and pass --client-id.`;
  }
  return `The authorization server refused dynamic registration${status ? ` (HTTP ${status})` : ''}: allow open registration of native clients with loopback redirect URIs, or register a client with its operator and pass --client-id (and --client-secret-env for a confidential one).`;
}

/** Login failed at the authorization server: provider-specific advice where there is some. */
export function loginFailedHint(provider: Provider, fallback: string | undefined): string | undefined {
  if (provider === 'okta') {
    return `Okta requires the state parameter (airlock always sends one) and an access policy rule on the authorization server that allows this client and grant; check both. ${fallback ?? ''}`.trim();
  }
  return fallback;
}

/** The token's audience is not this resource (RFC 8707 §2, RFC 9068 §4). */
export function audienceHint(resource: string, provider: Provider): string {
  const where = provider === 'entra'
    ? 'In Entra ID, set the app registration\'s Application ID URI to the resource and request its scopes'
    : provider === 'keycloak'
      ? 'In Keycloak, add an audience mapper for the resource to the client scope'
      : 'Configure the authorization server to issue tokens for the resource indicator (RFC 8707)';
  return `${where} ${JSON.stringify(resource)}, or pass --resource with the audience the MCP server expects.`;
}
