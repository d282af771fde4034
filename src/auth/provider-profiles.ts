/**
 * Provider profiles: the known ways common authorization servers bend the OAuth and MCP rules, and
 * what airlock changes for each. A provider is recognised from its issuer URL and its metadata
 * (`--provider-profile auto`, the default), or named by the user (`--provider-profile entra`, or
 * `generic` for no change at all); a single adjustment is switched off with `--skip-adjustment`.
 * Every adjustment applied is named in one debug line and in `doctor`.
 *
 * Kept free of openid-client so that the CLI and doctor can use it without loading the OAuth client.
 */
import { AirlockError, quote } from '../errors.js';

/** The profiles, `generic` first (no adjustment). */
export const PROVIDER_PROFILES = ['generic', 'entra', 'keycloak', 'okta', 'auth0', 'google', 'cognito', 'github', 'gitlab', 'ping'] as const;
export type ProviderProfileId = (typeof PROVIDER_PROFILES)[number];
/** `--provider-profile`: a profile, or `auto` (recognise it). */
export type ProviderProfileChoice = ProviderProfileId | 'auto';

/**
 * The single adjustments, each switched off by name with `--skip-adjustment`:
 * - `omit-resource` (Entra ID): no RFC 8707 `resource` (AADSTS9010010).
 * - `default-scope` (Entra ID): bare scopes become `<app-id-uri>/.default`, plus `offline_access`.
 * - `audience` (Auth0): `audience=<resource>` on the authorization and token requests.
 * - `offline-consent` (Google): `access_type=offline` and `prompt=consent`, so a refresh token is issued.
 * - `assume-s256` (AWS Cognito): PKCE S256 although the metadata does not advertise it.
 * - `plain-registration` (Keycloak): no `resource` or `scope` member in the registration body.
 */
export const ADJUSTMENTS = ['omit-resource', 'default-scope', 'audience', 'offline-consent', 'assume-s256', 'plain-registration'] as const;
export type AdjustmentName = (typeof ADJUSTMENTS)[number];

const NAMES: Record<ProviderProfileId, string> = {
  generic: 'generic',
  entra: 'Entra ID',
  keycloak: 'Keycloak',
  okta: 'Okta',
  auth0: 'Auth0',
  google: 'Google',
  cognito: 'AWS Cognito',
  github: 'GitHub',
  gitlab: 'GitLab',
  ping: 'Ping Identity',
};

const PROFILE_ADJUSTMENTS: Record<ProviderProfileId, readonly AdjustmentName[]> = {
  generic: [],
  entra: ['omit-resource', 'default-scope'],
  keycloak: ['plain-registration'],
  okta: [],
  auth0: ['audience'],
  google: ['offline-consent'],
  cognito: ['assume-s256'],
  github: [],
  gitlab: [],
  ping: [],
};

/**
 * What a profile cannot change by itself but the user must know (shown with a refused
 * registration, and by doctor).
 */
const PROFILE_NOTES: Partial<Record<ProviderProfileId, string>> = {
  okta: "Okta's registration endpoint needs an initial access token (an API token or an access token with the okta.clients.register scope): pass it with --registration-token-env NAME or --registration-token-file PATH, or register a native client in Okta and pass --client-id.",
  github: 'GitHub offers no dynamic client registration: create an OAuth app (callback http://127.0.0.1:<port>/callback with --callback-port) and pass --client-id and --client-secret-env.',
  gitlab: 'GitLab registers clients dynamically only when the instance allows it: otherwise create an application (Preferences → Applications, non-confidential, redirect http://127.0.0.1:<port>/callback) and pass --client-id.',
  cognito: 'AWS Cognito offers no dynamic client registration: create an app client (public, authorization code grant, callback http://127.0.0.1:<port>/callback) and pass --client-id.',
  ping: 'PingOne and PingFederate register clients dynamically only when a registration policy allows it: otherwise register a native client and pass --client-id.',
};

export function isProviderProfile(value: string): value is ProviderProfileId {
  return (PROVIDER_PROFILES as readonly string[]).includes(value);
}

export function isAdjustmentName(value: string): value is AdjustmentName {
  return (ADJUSTMENTS as readonly string[]).includes(value);
}

/** The display name of a profile ("Entra ID"). */
export function profileName(id: ProviderProfileId): string {
  return NAMES[id];
}

/** The metadata members detection reads (a subset of RFC 8414 plus providers' own). */
export type ProviderMetadata = Record<string, unknown>;

/** Which provider an issuer and its metadata look like, and why; `generic` when none. */
export function detectProvider(issuer: string | undefined, metadata: ProviderMetadata = {}): { id: ProviderProfileId; by: string } {
  let url: URL | undefined;
  try {
    url = issuer ? new URL(issuer) : undefined;
  } catch {
    url = undefined;
  }
  const host = url?.hostname.toLowerCase() ?? '';
  const path = url?.pathname ?? '';
  const byHost = 'the issuer host';
  if (host === 'login.microsoftonline.com' || host === 'sts.windows.net' || host.endsWith('.ciamlogin.com') || host.endsWith('.b2clogin.com')) return { id: 'entra', by: byHost };
  if (typeof metadata['cloud_instance_name'] === 'string' || typeof metadata['msgraph_host'] === 'string') return { id: 'entra', by: 'the metadata (cloud_instance_name, msgraph_host)' };
  if (/^cognito-idp\.[a-z0-9-]+\.amazonaws\.com$/.test(host) || host.endsWith('.amazoncognito.com')) return { id: 'cognito', by: byHost };
  if (host.endsWith('.okta.com') || host.endsWith('.oktapreview.com') || host.endsWith('.okta-emea.com')) return { id: 'okta', by: byHost };
  if (host.endsWith('.auth0.com')) return { id: 'auth0', by: byHost };
  if (typeof metadata['mfa_challenge_endpoint'] === 'string') return { id: 'auth0', by: 'the metadata (mfa_challenge_endpoint)' };
  if (host === 'accounts.google.com') return { id: 'google', by: byHost };
  if (host === 'github.com') return { id: 'github', by: byHost };
  if (host === 'gitlab.com') return { id: 'gitlab', by: byHost };
  if (/^auth\.pingone\.[a-z.]+$/.test(host) || host.endsWith('.pingidentity.com') || host.endsWith('.pingone.com')) return { id: 'ping', by: byHost };
  if (/\/realms\/[^/]+\/?$/.test(path)) return { id: 'keycloak', by: 'the issuer path (/realms/…)' };
  const authorize = typeof metadata['authorization_endpoint'] === 'string' ? metadata['authorization_endpoint'] : '';
  if (/\/protocol\/openid-connect\/auth$/.test(authorize)) return { id: 'keycloak', by: 'the metadata (/protocol/openid-connect/ endpoints)' };
  if (/\/oauth2\/(?:[^/]+\/)?v1\/authorize$/.test(authorize)) return { id: 'okta', by: 'the metadata (/oauth2/…/v1/ endpoints)' };
  return { id: 'generic', by: 'no known provider' };
}

/** What the user said about profiles (flags), for `planProfile`. */
export interface ProfileSettings {
  /** --provider-profile; default auto. */
  choice?: ProviderProfileChoice;
  /** --skip-adjustment, repeatable. */
  skip?: readonly string[];
  /** --app-id-uri: Entra's application ID URI for `<app-id-uri>/.default`. */
  appIdUri?: string;
}

/** The profile that applies to one authorization server, with the adjustments in force. */
export interface ProviderPlan {
  id: ProviderProfileId;
  name: string;
  /** How it was chosen: "the issuer host", "--provider-profile", ... */
  by: string;
  adjustments: AdjustmentName[];
  /** Adjustments of the profile switched off with --skip-adjustment. */
  skipped: AdjustmentName[];
  appIdUri?: string;
  note?: string;
}

/** Check --skip-adjustment names; throws AIRLOCK_USAGE naming the valid ones. */
export function checkAdjustmentNames(names: readonly string[]): AdjustmentName[] {
  for (const name of names) {
    if (!isAdjustmentName(name)) {
      throw new AirlockError('AIRLOCK_USAGE', `--skip-adjustment ${quote(name)} is not an adjustment airlock makes`, {
        hint: `Use one of ${ADJUSTMENTS.join(', ')}.`,
      });
    }
  }
  return names as AdjustmentName[];
}

/** The profile and its adjustments for `issuer`, as the settings allow. */
export function planProfile(issuer: string, metadata: ProviderMetadata, settings: ProfileSettings = {}): ProviderPlan {
  const choice = settings.choice ?? 'auto';
  const detected = choice === 'auto' ? detectProvider(issuer, metadata) : { id: choice, by: '--provider-profile' };
  const skip = new Set(checkAdjustmentNames(settings.skip ?? []));
  const all = PROFILE_ADJUSTMENTS[detected.id];
  const plan: ProviderPlan = {
    id: detected.id,
    name: NAMES[detected.id],
    by: detected.by,
    adjustments: all.filter((a) => !skip.has(a)),
    skipped: all.filter((a) => skip.has(a)),
  };
  if (settings.appIdUri !== undefined) plan.appIdUri = settings.appIdUri;
  const note = PROFILE_NOTES[detected.id];
  if (note !== undefined) plan.note = note;
  return plan;
}

export function applies(plan: ProviderPlan | undefined, adjustment: AdjustmentName): boolean {
  return plan?.adjustments.includes(adjustment) ?? false;
}

/** Scopes any OpenID provider takes as they are (not a resource's). */
const OIDC_SCOPES = new Set(['openid', 'profile', 'email', 'address', 'phone', 'offline_access']);

/** A scope that already names its resource (`api://app/read`, `https://host/api/.default`). */
function qualified(scope: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\/[^/]+\/.+/i.test(scope);
}

/**
 * Entra ID's application ID URI for `.default`: --app-id-uri, else the prefix of a qualified scope
 * the server names (`api://app` of `api://app/read`), else the resource itself (the v1 `resource`
 * becomes the v2 scope `<resource>/.default`, Microsoft identity platform "Scopes and permissions").
 */
export function entraAppIdUri(plan: ProviderPlan, resource: string, named: readonly string[]): string {
  if (plan.appIdUri) return plan.appIdUri.replace(/\/+$/, '');
  const scope = named.find(qualified);
  return scope ? scope.slice(0, scope.lastIndexOf('/')) : resource.replace(/\/+$/, '');
}

/**
 * The scopes to request under the plan. Entra ID (`default-scope`): scopes that already name their
 * resource and OpenID scopes stay; bare resource scopes (`mcp:read`, which Entra would read as
 * Microsoft Graph's) are replaced by `<app-id-uri>/.default`, which is also asked for when no scope
 * names the resource; `offline_access` is added, without which Entra issues no refresh token.
 */
export function adjustScopes(plan: ProviderPlan | undefined, scopes: readonly string[], context: { resource: string; named: readonly string[] }): string[] {
  if (!plan || !applies(plan, 'default-scope')) return [...scopes];
  const kept = scopes.filter((s) => OIDC_SCOPES.has(s) || qualified(s));
  const result = [...kept];
  if (!kept.some(qualified)) result.push(`${entraAppIdUri(plan, context.resource, [...scopes, ...context.named])}/.default`);
  if (!result.includes('offline_access')) result.push('offline_access');
  return result;
}

/** Extra parameters of the authorization request; the user's --authorize-param win. */
export function authorizeExtras(plan: ProviderPlan | undefined, resource: string): Record<string, string> {
  const extras: Record<string, string> = {};
  if (applies(plan, 'offline-consent')) Object.assign(extras, { access_type: 'offline', prompt: 'consent' });
  if (applies(plan, 'audience') && resource) extras['audience'] = resource;
  return extras;
}

/** Extra parameters of token requests (code exchange, refresh, client credentials, device). */
export function tokenExtras(plan: ProviderPlan | undefined, resource: string): Record<string, string> {
  return applies(plan, 'audience') && resource ? { audience: resource } : {};
}

/** The registration body under the plan: Keycloak's policies refuse `resource` and `scope` members. */
export function registrationBody<T extends Record<string, unknown>>(plan: ProviderPlan | undefined, body: T): T {
  if (!applies(plan, 'plain-registration')) return body;
  const { resource: _resource, scope: _scope, ...rest } = body;
  return rest as T;
}

/**
 * One line naming the profile and what it changes, for the debug log and doctor:
 * `Entra ID (detected from the issuer host): omitting resource, scope "api://app/.default offline_access"`.
 */
export function describePlan(plan: ProviderPlan, context: { resource: string; scopes?: readonly string[] }): string {
  const parts: string[] = [];
  for (const adjustment of plan.adjustments) {
    switch (adjustment) {
      case 'omit-resource':
        parts.push(`omitting resource ${quote(context.resource)} (AADSTS9010010)`);
        break;
      case 'default-scope':
        parts.push(context.scopes ? `scope ${quote(context.scopes.join(' '))}` : 'scopes as <app-id-uri>/.default plus offline_access');
        break;
      case 'audience':
        parts.push(`audience ${quote(context.resource)}`);
        break;
      case 'offline-consent':
        parts.push('access_type=offline and prompt=consent (for a refresh token)');
        break;
      case 'assume-s256':
        parts.push('PKCE S256 assumed (not advertised)');
        break;
      case 'plain-registration':
        parts.push('registration without resource and scope members');
        break;
    }
  }
  const how = plan.by === '--provider-profile' ? 'as --provider-profile says' : plan.id === 'generic' ? 'no known provider recognised' : `detected from ${plan.by}`;
  const changes = parts.length ? parts.join(', ') : 'no adjustment';
  const skipped = plan.skipped.length ? `; skipped (--skip-adjustment): ${plan.skipped.join(', ')}` : '';
  return `${plan.name} (${how}): ${changes}${skipped}`;
}
