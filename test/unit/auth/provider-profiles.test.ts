import { describe, expect, it } from 'vitest';
import { adjustScopes, authorizeExtras, describePlan, detectProvider, planProfile, registrationBody, tokenExtras } from '../../../src/auth/provider-profiles.js';

describe('detectProvider: from the issuer URL, else from the metadata', () => {
  it.each([
    ['https://login.microsoftonline.com/tenant/v2.0', {}, 'entra', 'the issuer host'],
    ['https://sts.windows.net/tenant/', {}, 'entra', 'the issuer host'],
    ['https://as.example.com', { cloud_instance_name: 'microsoftonline.com' }, 'entra', 'the metadata (cloud_instance_name, msgraph_host)'],
    ['https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc', {}, 'cognito', 'the issuer host'],
    ['https://dev-1.okta.com/oauth2/default', {}, 'okta', 'the issuer host'],
    ['https://sso.example.com', { authorization_endpoint: 'https://sso.example.com/oauth2/default/v1/authorize' }, 'okta', 'the metadata (/oauth2/…/v1/ endpoints)'],
    ['https://tenant.eu.auth0.com/', {}, 'auth0', 'the issuer host'],
    ['https://login.example.com/', { mfa_challenge_endpoint: 'https://login.example.com/mfa/challenge' }, 'auth0', 'the metadata (mfa_challenge_endpoint)'],
    ['https://accounts.google.com', {}, 'google', 'the issuer host'],
    ['https://github.com/login/oauth', {}, 'github', 'the issuer host'],
    ['https://gitlab.com', {}, 'gitlab', 'the issuer host'],
    ['https://auth.pingone.eu/env-id/as', {}, 'ping', 'the issuer host'],
    ['https://id.example.com/realms/acme', {}, 'keycloak', 'the issuer path (/realms/…)'],
    ['https://id.example.com/auth', { authorization_endpoint: 'https://id.example.com/auth/protocol/openid-connect/auth' }, 'keycloak', 'the metadata (/protocol/openid-connect/ endpoints)'],
    ['https://as.example.com', {}, 'generic', 'no known provider'],
    ['not a url', {}, 'generic', 'no known provider'],
  ])('%s %j -> %s', (issuer, metadata, id, by) => {
    expect(detectProvider(issuer, metadata)).toEqual({ id, by });
  });
});

describe('planProfile: --provider-profile forces or disables, --skip-adjustment switches one off', () => {
  it('auto recognises; a named profile wins; generic changes nothing', () => {
    expect(planProfile('https://login.microsoftonline.com/t/v2.0', {}).adjustments).toEqual(['omit-resource', 'default-scope']);
    expect(planProfile('https://login.microsoftonline.com/t/v2.0', {}, { choice: 'generic' }).adjustments).toEqual([]);
    expect(planProfile('https://as.example.com', {}, { choice: 'google' })).toMatchObject({ id: 'google', by: '--provider-profile', adjustments: ['offline-consent'] });
  });

  it('skips one adjustment and says so; refuses an unknown name with the valid ones', () => {
    const plan = planProfile('https://login.microsoftonline.com/t/v2.0', {}, { skip: ['omit-resource'] });
    expect(plan.adjustments).toEqual(['default-scope']);
    expect(describePlan(plan, { resource: 'https://mcp.example.com/mcp', scopes: ['https://mcp.example.com/mcp/.default', 'offline_access'] }))
      .toBe('Entra ID (detected from the issuer host): scope "https://mcp.example.com/mcp/.default offline_access"; skipped (--skip-adjustment): omit-resource');
    expect(() => planProfile('https://as.example.com', {}, { skip: ['omit-resources'] })).toThrow(/--skip-adjustment "omit-resources" is not an adjustment airlock makes/);
  });

  it('names what registration needs where a profile cannot fix it (Okta, GitHub)', () => {
    expect(planProfile('https://dev-1.okta.com/oauth2/default', {}).note).toMatch(/initial access token.*--registration-token-env/);
    expect(planProfile('https://github.com/login/oauth', {}).note).toMatch(/no dynamic client registration.*--client-id/);
  });
});

describe('the adjustments', () => {
  const entra = planProfile('https://login.microsoftonline.com/t/v2.0', {});
  const resource = 'https://mcp.example.com/mcp';

  it('Entra: bare scopes become <app-id-uri>/.default plus offline_access; qualified and OpenID scopes stay', () => {
    expect(adjustScopes(entra, ['mcp:read', 'mcp:write'], { resource, named: [] })).toEqual([`${resource}/.default`, 'offline_access']);
    expect(adjustScopes(entra, [], { resource, named: [] })).toEqual([`${resource}/.default`, 'offline_access']);
    expect(adjustScopes(entra, ['openid', 'mcp:read'], { resource, named: ['api://app-1/tools.read'] })).toEqual(['openid', 'api://app-1/.default', 'offline_access']);
    expect(adjustScopes(entra, ['api://app-1/tools.read'], { resource, named: [] })).toEqual(['api://app-1/tools.read', 'offline_access']);
    const withUri = planProfile('https://login.microsoftonline.com/t/v2.0', {}, { appIdUri: 'api://given/' });
    expect(adjustScopes(withUri, ['mcp:read'], { resource, named: [] })).toEqual(['api://given/.default', 'offline_access']);
    expect(adjustScopes(planProfile('https://as.example.com', {}), ['mcp:read'], { resource, named: [] })).toEqual(['mcp:read']);
  });

  it('Auth0: audience on the authorization and token requests; Google: offline access with consent', () => {
    const auth0 = planProfile('https://t.auth0.com/', {});
    expect(authorizeExtras(auth0, resource)).toEqual({ audience: resource });
    expect(tokenExtras(auth0, resource)).toEqual({ audience: resource });
    const google = planProfile('https://accounts.google.com', {});
    expect(authorizeExtras(google, resource)).toEqual({ access_type: 'offline', prompt: 'consent' });
    expect(tokenExtras(google, resource)).toEqual({});
  });

  it('Keycloak: the registration body loses resource and scope members; others keep theirs', () => {
    const body = { client_name: 'x', scope: 'a', resource: 'r' };
    expect(registrationBody(planProfile('https://id.example.com/realms/acme', {}), body)).toEqual({ client_name: 'x' });
    expect(registrationBody(planProfile('https://as.example.com', {}), body)).toEqual(body);
  });
});
