/**
 * Step 3: the authorization server metadata (RFC 8414, OpenID Connect Discovery), walked in the
 * order MCP 2025-11-25 gives for the issuer the resource metadata named, with each rule airlock's
 * login enforces (issuer equality, usable endpoints, PKCE S256) and what the client step and the
 * login need (registration, grant types, RFC 9207 `iss`), each as its own verdict.
 */
import { AirlockError, quote } from '../errors.js';
import { describeOutcomes, firstMetadataDocument, type CandidateOutcome } from '../auth/metadata-fetch.js';
import { checkAuthUrl } from '../auth/resource-uri.js';
import { authorizationServerMetadataUrls, checkServerMetadata } from '../auth/server-metadata.js';
import { check, type DoctorState, type StepOutput } from './doctor-context.js';
import type { DoctorCheck } from './doctor-report.js';
import { issuerMismatchHint, metadataNotFoundHint, pkceHint, providerOf } from './quirks.js';
import { adjustScopes, applies, describePlan, planProfile } from '../auth/provider-profiles.js';
import { parseScope, selectScopes } from '../auth/scopes.js';

const SPEC_FOUND = 'RFC 8414 §3; MCP 2025-11-25 Authorization Server Metadata Discovery';
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

function pkceCheck(state: DoctorState, body: Record<string, unknown>): DoctorCheck {
  const spec = 'RFC 7636 §4.2; MCP 2025-11-25 Authorization Code Protection';
  const methods = body['code_challenge_methods_supported'];
  if (Array.isArray(methods) && methods.includes('S256')) return check('as.pkce-s256', 'pass', 'code_challenge_methods_supported includes S256', spec);
  const what = Array.isArray(methods) ? `code_challenge_methods_supported lists ${quote(methods.join(' '))} without S256` : 'code_challenge_methods_supported is absent';
  if (state.options.device) return check('as.pkce-s256', 'pass', `${what}; the device grant (--device) does not use PKCE`, spec);
  if (applies(state.providerPlan, 'assume-s256') && !state.options.assumeS256) {
    return check('as.pkce-s256', 'warn', `${what}; S256 is used anyway (${state.providerPlan!.name} profile)`, spec, 'Ask the server operator to advertise code_challenge_methods_supported: ["S256"]; --skip-adjustment assume-s256 refuses instead.');
  }
  if (state.options.assumeS256) {
    return check('as.pkce-s256', 'warn', `${what}; S256 is used anyway (--assume-s256)`, spec, 'Ask the server operator to advertise code_challenge_methods_supported: ["S256"], so clients need no override.');
  }
  return check('as.pkce-s256', 'fail', `${what}: airlock refuses to log in without PKCE S256`, spec, pkceHint(providerOf(state.issuer)));
}

function grantCheck(state: DoctorState, body: Record<string, unknown>): DoctorCheck {
  const spec = 'RFC 8414 §2';
  const listed = Array.isArray(body['grant_types_supported']) ? (body['grant_types_supported'] as unknown[]).filter((g): g is string => typeof g === 'string') : undefined;
  if (state.options.device) {
    if (typeof body['device_authorization_endpoint'] !== 'string' || (listed && !listed.includes(DEVICE_GRANT))) {
      return check('as.grant-types', 'fail', 'no device authorization grant (device_authorization_endpoint, RFC 8628 §4)', 'RFC 8628 §4', 'Drop --device and log in with the browser (add --no-browser to print the URL instead of opening it).');
    }
    return check('as.grant-types', 'pass', 'the device authorization grant is offered', 'RFC 8628 §4');
  }
  if (!listed) return check('as.grant-types', 'pass', 'grant_types_supported is absent (RFC 8414 default: authorization_code, implicit)', spec);
  if (!listed.includes('authorization_code')) {
    return check('as.grant-types', 'fail', `grant_types_supported ${quote(listed.join(' '))} lacks authorization_code`, spec, 'Enable the authorization code grant for public clients on the authorization server, or use --device if it offers that.');
  }
  const refresh = listed.includes('refresh_token') ? '' : ' (no refresh_token: a new login each time the token expires)';
  return check('as.grant-types', 'pass', `grant_types_supported: ${listed.join(' ')}${refresh}`, spec);
}

function registrationCheck(state: DoctorState, body: Record<string, unknown>): DoctorCheck {
  const spec = 'MCP 2025-11-25 Client Registration Approaches; RFC 7591; CIMD';
  const offers: string[] = [];
  if (typeof body['registration_endpoint'] === 'string') offers.push('dynamic registration (registration_endpoint)');
  if (body['client_id_metadata_document_supported'] === true) offers.push('client ID metadata documents');
  if (offers.length) return check('as.registration', 'pass', `offers ${offers.join(' and ')}`, spec);
  if (state.options.clientId) return check('as.registration', 'pass', 'offers no registration; the pre-registered --client-id is used', spec);
  return check('as.registration', 'warn', 'offers neither dynamic registration nor client ID metadata documents', spec, 'Register a client with the server operator (native app, redirect http://127.0.0.1/callback) and pass --client-id.');
}

function issCheck(body: Record<string, unknown>): DoctorCheck {
  const spec = 'RFC 9207 §3';
  return body['authorization_response_iss_parameter_supported'] === true
    ? check('as.iss-parameter', 'pass', 'authorization_response_iss_parameter_supported: true; airlock requires and checks iss', spec)
    : check('as.iss-parameter', 'pass', 'iss in the authorization response is not advertised; airlock checks it when present (RFC 9207 §2.4)', spec);
}

/** The provider profile the login would apply, and what it changes (provider-profiles.ts). */
function profileCheck(state: DoctorState, issuer: string, body: Record<string, unknown>): DoctorCheck {
  const spec = 'mcp-airlock provider profiles (docs/auth-and-login.md)';
  let plan;
  try {
    plan = planProfile(issuer, body, state.options.profile);
  } catch (error) {
    return check('as.provider-profile', 'fail', (error as Error).message, spec, (error as AirlockError).hint);
  }
  state.providerPlan = plan;
  const resource = state.resourceIndicator ?? state.serverUrl;
  const scopes = adjustScopes(plan, selectScopes({ requested: state.options.scope, challenge: state.challenge.scope, supported: state.scopesSupported }), {
    resource,
    named: [...parseScope(state.challenge.scope), ...(state.scopesSupported ?? [])],
  });
  const note = plan.note ? ` ${plan.note}` : '';
  return check('as.provider-profile', 'pass', `${describePlan(plan, { resource, scopes })}.${note}`, spec);
}

/** Step 3: find the RFC 8414 / OpenID metadata in MCP 2025-11-25 order and check it rule by rule. */
export async function authorizationServerStep(state: DoctorState): Promise<StepOutput> {
  const issuer = state.issuer;
  if (!issuer) return { summary: '', checks: [], skipped: 'no authorization server is known (see resource-metadata)' };
  const provider = providerOf(issuer);
  try {
    checkAuthUrl(issuer, 'the authorization server', { allowHttp: state.options.allowHttp });
  } catch (error) {
    const e = error as AirlockError;
    return { summary: 'refused to fetch', checks: [check('as.url-allowed', 'fail', e.message, 'OAuth 2.1 §1.5', e.hint)] };
  }
  const candidates = authorizationServerMetadataUrls(issuer);
  const tried: CandidateOutcome[] = [];
  let found: { url: string; value: Record<string, unknown> };
  try {
    found = await firstMetadataDocument(candidates, { fetch: state.fetch, log: state.options.log, what: 'authorization server metadata', accept: (body) => body, tried });
  } catch {
    return {
      summary: `not found at ${tried.length} URLs`,
      checks: [check('as.found', 'fail', `no authorization server metadata for ${quote(issuer)}; tried ${describeOutcomes(tried)}`, SPEC_FOUND, metadataNotFoundHint(issuer, provider))],
      facts: { issuer, tried },
    };
  }
  const body = found.value;
  const checks: DoctorCheck[] = [check('as.found', 'pass', `found at ${quote(found.url)} (URL ${tried.length} of ${candidates.length} in spec order)`, SPEC_FOUND)];
  if (body['issuer'] === issuer) {
    checks.push(check('as.issuer-matches', 'pass', `issuer ${quote(issuer)} is the one named`, 'RFC 8414 §3.3'));
  } else {
    checks.push(check('as.issuer-matches', 'fail', `the metadata at ${quote(found.url)} names issuer ${quote(body['issuer'])}, expected ${quote(issuer)}`, 'RFC 8414 §3.3; MCP 2026-07-28', issuerMismatchHint(issuer, body['issuer'], provider)));
  }
  // The issuer has its own verdict above; this checks the rest as the login would (token and other endpoints).
  const usable = checkServerMetadata({ ...body, issuer }, issuer, found.url, state.options.allowHttp);
  if (usable instanceof AirlockError) {
    checks.push(check('as.endpoints', 'fail', usable.message, 'RFC 8414 §2; OAuth 2.1 §1.5', usable.hint));
  } else {
    state.serverMetadata = usable;
    checks.push(check('as.endpoints', 'pass', `token endpoint ${quote(usable.token_endpoint)}${usable.authorization_endpoint ? `, authorization endpoint ${quote(usable.authorization_endpoint)}` : ''}`, 'RFC 8414 §2'));
  }
  checks.push(profileCheck(state, issuer, body));
  checks.push(pkceCheck(state, body), registrationCheck(state, body), grantCheck(state, body), issCheck(body));
  return {
    summary: `${quote(issuer)} at ${quote(found.url)}`,
    checks,
    facts: { issuer, tried, url: found.url, document: body },
  };
}
