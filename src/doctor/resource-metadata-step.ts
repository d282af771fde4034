/**
 * Step 2: the protected resource metadata (RFC 9728), found the way airlock's login finds it (the
 * challenge's `resource_metadata`, then the path-aware, then the root well-known URL: MCP
 * 2025-11-25), every URL tried shown with its answer. Unlike the login, a document that fails a
 * check does not end the run: each rule gets its own verdict, and the authorization server it names
 * is still examined.
 */
import { quote } from '../errors.js';
import { describeOutcomes, firstMetadataDocument, type CandidateOutcome } from '../auth/metadata-fetch.js';
import { metadataUnreadable, MetadataUnauthorizedError, resourceMetadataUrls } from '../auth/resource-metadata.js';
import { authorizationServerMetadataUrls } from '../auth/server-metadata.js';
import { canonicalResourceUri, checkAuthUrl, resourceCovers } from '../auth/resource-uri.js';
import { AirlockError } from '../errors.js';
import { check, type DoctorState, type StepOutput } from './doctor-context.js';
import type { DoctorCheck } from './doctor-report.js';
import { providerOf, trailingSlashHint } from './quirks.js';
import { credentialHeaderExample } from '../transports/upstream-diagnosis.js';

const SPEC_FOUND = 'RFC 9728 §3; MCP 2025-11-25 Protected Resource Metadata Discovery';

function strings(value: unknown): string[] | undefined {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string' && v.length > 0) : undefined;
}

/** The resource checks: present, canonical, and naming this server (RFC 9728 §3.3). */
function resourceChecks(state: DoctorState, raw: unknown, documentUrl: string, issuer: string | undefined): DoctorCheck[] {
  if (typeof raw !== 'string' || !raw) {
    return [check('prm.resource-matches', 'fail', `the metadata at ${quote(documentUrl)} has no "resource"`, 'RFC 9728 §2', `Add "resource": ${quote(state.serverUrl)} to the server's protected resource metadata.`)];
  }
  let canonical: string;
  try {
    canonical = canonicalResourceUri(raw, 'the metadata "resource"');
  } catch (error) {
    return [check('prm.resource-matches', 'fail', (error as Error).message, 'RFC 9728 §2', `Publish "resource": ${quote(state.serverUrl)}.`)];
  }
  const checks: DoctorCheck[] = [];
  if (resourceCovers(canonical, state.serverUrl)) {
    state.resourceIndicator ??= canonical;
    checks.push(check('prm.resource-matches', 'pass', `resource ${quote(raw)} covers ${quote(state.serverUrl)}`, 'RFC 9728 §3.3'));
  } else {
    checks.push(check('prm.resource-matches', 'fail', `the metadata at ${quote(documentUrl)} is for ${quote(raw)}, not for ${quote(state.serverUrl)}`, 'RFC 9728 §3.3',
      `Metadata for another resource must not be used: publish "resource": ${quote(state.serverUrl)} (the URL clients connect to), or check the server URL you gave.`));
  }
  if (raw !== canonical) {
    const slash = raw.endsWith('/') && !canonical.endsWith('/');
    checks.push(check('prm.resource-canonical', 'warn',
      slash ? `resource ${quote(raw)} has a trailing slash; airlock sends ${quote(canonical)}` : `resource ${quote(raw)} is not in canonical form; airlock sends ${quote(canonical)}`,
      'RFC 8707 §2; MCP 2025-11-25 Canonical Server URI',
      slash ? trailingSlashHint(raw, canonical, providerOf(issuer)) : `Publish the canonical form ${quote(canonical)} (lowercase scheme and host, no default port, no fragment).`));
  }
  return checks;
}

/**
 * No resource metadata: is the MCP server's origin an authorization server with RFC 8414 metadata
 * (MCP 2025-03-26)? airlock's login then uses it, so doctor examines it in the next step.
 */
async function legacyAuthorizationServer(state: DoctorState): Promise<{ origin: string; found: boolean; tried: CandidateOutcome[] }> {
  const origin = new URL(state.serverUrl).origin;
  const tried: CandidateOutcome[] = [];
  try {
    checkAuthUrl(origin, 'the authorization server', { allowHttp: state.options.allowHttp });
    await firstMetadataDocument(authorizationServerMetadataUrls(origin), { fetch: state.fetch, log: state.options.log, what: 'authorization server metadata', accept: (body) => body, tried });
    return { origin, found: true, tried };
  } catch {
    return { origin, found: false, tried };
  }
}

/** Step 2: find the RFC 9728 document in MCP 2025-11-25 order and check it rule by rule (RFC 9728 §2, §3.3). */
export async function resourceMetadataStep(state: DoctorState): Promise<StepOutput> {
  const candidates = resourceMetadataUrls(state.serverUrl, state.challenge.resourceMetadata);
  for (const url of candidates) {
    try {
      checkAuthUrl(url.href, 'the resource metadata URL', { allowHttp: state.options.allowHttp });
    } catch (error) {
      const e = error as AirlockError;
      return { summary: 'refused to fetch', checks: [check('prm.url-allowed', 'fail', e.message, 'OAuth 2.1 §1.5', e.hint)] };
    }
  }
  const tried: CandidateOutcome[] = [];
  let found: { url: string; value: Record<string, unknown> };
  try {
    const named = state.challenge.resourceMetadata === undefined ? undefined : candidates[0]!.href;
    found = await firstMetadataDocument(candidates, {
      fetch: state.fetch,
      log: state.options.log,
      what: 'protected resource metadata',
      accept: (body) => body,
      tried,
      refuseStatus: (status, url) => (status === 401 && url.href === named ? new MetadataUnauthorizedError(url.href, true) : undefined),
    });
  } catch (error) {
    // A document too large to read, or a 401 at the metadata URL the server's own challenge names,
    // is a broken server, not an absent document: login stops there too and never falls back. A 401
    // on a guessed well-known URL may be a static-token server: it reads as not found, as before.
    if (metadataUnreadable(error)) {
      const e = error as AirlockError;
      return { summary: 'unreadable', checks: [check('prm.found', 'fail', e.message, SPEC_FOUND, e.hint)], facts: { tried } };
    }
    const legacy = await legacyAuthorizationServer(state);
    if (legacy.found) {
      // What airlock's login does next (auth-discovery.ts): the origin is the authorization server.
      state.issuer = legacy.origin;
      state.resourceIndicator ??= state.options.resource ? canonicalResourceUri(state.options.resource, '--resource') : state.serverUrl;
      return {
        summary: `none; the MCP 2025-03-26 fallback: the authorization server at the origin ${quote(legacy.origin)}`,
        checks: [check('prm.found', 'warn', `no protected resource metadata (tried ${describeOutcomes(tried)}); airlock falls back to MCP 2025-03-26: the server's origin ${quote(legacy.origin)} publishes authorization server metadata, and is used as the authorization server`,
          `${SPEC_FOUND}; MCP 2025-03-26 Authorization Base URL`,
          `It works, but clients of MCP 2025-06-18 and later need RFC 9728 metadata: publish it at ${resourceMetadataUrls(state.serverUrl)[0]!.href}.`)],
        facts: { tried, legacy: { origin: legacy.origin, tried: legacy.tried } },
      };
    }
    return {
      summary: `not found at ${tried.length + legacy.tried.length} URL${tried.length + legacy.tried.length === 1 ? '' : 's'}`,
      checks: [check('prm.found', 'fail', `no protected resource metadata; tried ${describeOutcomes(tried)}; nor authorization server metadata at the server's origin (the MCP 2025-03-26 fallback); tried ${describeOutcomes(legacy.tried)}`, SPEC_FOUND,
        `The server must publish RFC 9728 metadata at ${resourceMetadataUrls(state.serverUrl)[0]!.href} (or name its URL in WWW-Authenticate resource_metadata); if it takes an API key instead, pass it with --header "${credentialHeaderExample(state.wwwAuthenticate)}". (A 2025-03-26 server with only /authorize, /token and /register at its origin is still tried by connect and login.)`)],
      facts: { tried, legacy: { origin: legacy.origin, tried: legacy.tried } },
    };
  }
  const body = found.value;
  const servers = strings(body['authorization_servers']) ?? [];
  const issuer = servers[0];
  const checks: DoctorCheck[] = [check('prm.found', 'pass', `found at ${quote(found.url)} (URL ${tried.length} of ${candidates.length} in spec order)`, SPEC_FOUND)];
  checks.push(...resourceChecks(state, body['resource'], found.url, issuer));
  if (issuer) {
    state.issuer = issuer;
    checks.push(check('prm.authorization-servers', 'pass', servers.length > 1 ? `names ${servers.length} authorization servers; airlock uses the first, ${quote(issuer)}` : `names ${quote(issuer)}`, 'RFC 9728 §2; MCP 2025-11-25'));
  } else {
    checks.push(check('prm.authorization-servers', 'fail', `the metadata at ${quote(found.url)} lists no authorization_servers`, 'RFC 9728 §2; MCP 2025-11-25 (MUST list at least one)',
      'Add "authorization_servers": ["<issuer URL>"] to the server\'s protected resource metadata.'));
  }
  const scopes = strings(body['scopes_supported']);
  if (scopes?.length) state.scopesSupported = scopes;
  if (state.options.resource) state.resourceIndicator = canonicalResourceUri(state.options.resource, '--resource');
  const scopeSpec = 'MCP 2025-11-25 Scope Selection Strategy';
  if (state.options.scope) checks.push(check('prm.scopes', 'pass', `--scope ${quote(state.options.scope)} is asked for`, scopeSpec));
  else if (state.challenge.scope) checks.push(check('prm.scopes', 'pass', `the challenge's scope ${quote(state.challenge.scope)} is asked for`, scopeSpec));
  else if (scopes?.length) checks.push(check('prm.scopes', 'pass', `no scope in the challenge; all of scopes_supported ${quote(scopes.join(' '))} are asked for`, scopeSpec));
  else {
    checks.push(check('prm.scopes', 'warn', 'neither the 401 challenge nor scopes_supported names a scope, so no scope is asked for', scopeSpec,
      'If the server needs a scope, pass it with --scope "<scope>"; server side, name it in the challenge (WWW-Authenticate: Bearer scope="...") or in scopes_supported.'));
  }
  return {
    summary: `${quote(found.url)}: resource ${quote(body['resource'])}, authorization server ${issuer ? quote(issuer) : 'none'}`,
    checks,
    facts: { tried, url: found.url, document: body },
  };
}
