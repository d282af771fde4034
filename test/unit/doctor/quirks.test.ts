import { describe, expect, it } from 'vitest';
import { audienceHint, issuerMismatchHint, loginFailedHint, metadataNotFoundHint, pkceHint, providerOf, registrationRefusedHint, trailingSlashHint } from '../../../src/doctor/quirks.js';

describe('providerOf', () => {
  it('recognises providers from the issuer URL', () => {
    expect(providerOf('https://login.microsoftonline.com/0000-tenant/v2.0')).toBe('entra');
    expect(providerOf('https://sts.windows.net/0000-tenant/')).toBe('entra');
    expect(providerOf('https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC')).toBe('cognito');
    expect(providerOf('https://sso.example.com/realms/dev')).toBe('keycloak');
    expect(providerOf('https://sso.example.com/auth/realms/dev/')).toBe('keycloak');
    expect(providerOf('https://acme.okta.com/oauth2/default')).toBe('okta');
    expect(providerOf('https://acme.eu.auth0.com/')).toBe('auth0');
    expect(providerOf('https://as.example.com')).toBe('unknown');
    expect(providerOf('not a url')).toBe('unknown');
    expect(providerOf(undefined)).toBe('unknown');
  });
});

describe('named hints', () => {
  it('trailing slash: names Entra and the two ways out', () => {
    expect(trailingSlashHint('https://h/mcp/', 'https://h/mcp', 'entra')).toBe('Entra ID rejects it (AADSTS9010010): publish "resource": "https://h/mcp" in the server\'s protected resource metadata (airlock sends that form), or, if the authorization server only knows "https://h/mcp/", pass --resource "https://h/mcp/".');
  });

  it('PKCE: names the provider when it is Cognito or Entra, and --assume-s256', () => {
    expect(pkceHint('cognito')).toBe('AWS Cognito is known to omit code_challenge_methods_supported while supporting S256: if this server does, pass --assume-s256; otherwise enable PKCE S256 on the authorization server and advertise it in its metadata.');
    expect(pkceHint('entra')).toMatch(/^Microsoft Entra ID is known to omit/);
    expect(pkceHint('unknown')).toMatch(/^AWS Cognito and some Entra ID configurations omit/);
  });

  it('Keycloak: the path issuer, the hostname behind an issuer mismatch, the registration policies', () => {
    expect(metadataNotFoundHint('https://sso/realms/dev', 'keycloak')).toBe('Keycloak serves its metadata at https://sso/realms/dev/.well-known/openid-configuration (the path form the spec tries last): check the realm name in the issuer, and that the realm is enabled.');
    expect(metadataNotFoundHint('https://as', 'unknown')).toMatch(/^The authorization server must publish RFC 8414/);
    expect(issuerMismatchHint('https://sso/realms/dev', 'http://internal:8080/realms/dev', 'keycloak')).toMatch(/Keycloak derives its issuer from the request URL: set the hostname \(KC_HOSTNAME\)/);
    expect(issuerMismatchHint('https://as', 'https://other', 'unknown')).not.toMatch(/Keycloak/);
    expect(registrationRefusedHint('keycloak', 403)).toMatch(/^Keycloak's client registration policies refused/);
    expect(registrationRefusedHint('unknown', 400)).toBe('The authorization server refused dynamic registration (HTTP 400): allow open registration of native clients with loopback redirect URIs, or register a client with its operator and pass --client-id (and --client-secret-env for a confidential one).');
  });

  it('Okta: a failed login names its state requirement and access policies', () => {
    expect(loginFailedHint('okta', 'Check the scopes.')).toBe('Okta requires the state parameter (airlock always sends one) and an access policy rule on the authorization server that allows this client and grant; check both. Check the scopes.');
    expect(loginFailedHint('unknown', 'Check the scopes.')).toBe('Check the scopes.');
  });

  it('audience: provider-specific setting, else RFC 8707', () => {
    expect(audienceHint('https://h/mcp', 'entra')).toBe('In Entra ID, set the app registration\'s Application ID URI to the resource and request its scopes "https://h/mcp", or pass --resource with the audience the MCP server expects.');
    expect(audienceHint('https://h/mcp', 'unknown')).toMatch(/^Configure the authorization server to issue tokens for the resource indicator \(RFC 8707\) "https:\/\/h\/mcp"/);
  });
});
