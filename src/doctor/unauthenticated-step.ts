/**
 * Step 1: the MCP server without credentials. A protected server answers 401 with a Bearer
 * challenge (RFC 6750 §3) that may name its resource metadata (RFC 9728 §5.1) and the scope it
 * wants (MCP 2025-11-25 "Scope Selection Strategy"); a server that answers the initialize needs no
 * authorization, and the OAuth steps are then skipped.
 */
import { quote } from '../errors.js';
import { bearerChallenge } from '../auth/www-authenticate.js';
import { check, type DoctorState, type StepOutput } from './doctor-context.js';
import { initializeRequest, postJsonRpc, PROBE_TIMEOUT_MS, type ProbeResult } from './mcp-probe.js';
import { diagnoseNetwork, diagnoseStatus, displayUrl, isWrongPlaceOrFailure, summariseBody } from '../transports/upstream-diagnosis.js';

const SPEC_401 = 'MCP 2025-11-25 authorization; RFC 6750 §3';
const SPEC_CHALLENGE = 'RFC 9728 §5.1';

/** Step 1: POST initialize without credentials and read the 401's Bearer challenge (RFC 6750 §3, RFC 9728 §5.1). */
export async function unauthenticatedStep(state: DoctorState): Promise<StepOutput> {
  const headers = { ...state.options.headers };
  const first: ProbeResult = await postJsonRpc(state.fetch, state.options.url.href, initializeRequest(0), headers);
  if (first.status === undefined) {
    state.unreachable = true;
    // The same words connect and login use (upstream-diagnosis.ts); the raw error only when it is not a known case.
    const diagnosis = diagnoseNetwork(state.options.url, first.failure);
    const message = diagnosis?.message ?? `POST ${displayUrl(state.options.url)} failed: ${first.error ?? 'unknown error'}`;
    return {
      summary: `no answer: ${diagnosis?.message ?? first.error ?? 'unknown error'}`,
      checks: [check('unauth.reachable', 'fail', message, 'MCP 2025-11-25 basic/transports', diagnosis?.hint ?? 'Check the URL, that the server is running, and the network (HTTPS_PROXY, firewall).')],
    };
  }
  // A POST refused with 400, 404 or 405 may be a legacy HTTP+SSE endpoint: ask it as the
  // 2025-11-25 transports spec's backwards compatibility does, with a GET for its event stream.
  const legacy = first.status === 400 || first.status === 404 || first.status === 405 ? await legacyStream(state) : undefined;
  if (legacy?.open) {
    state.requiresAuth = false;
    state.legacySse = true;
    return {
      summary: `a legacy HTTP+SSE endpoint: its event stream opened without credentials (HTTP ${legacy.status}); this server needs no authorization`,
      checks: [check('unauth.status', 'pass', `POST answered HTTP ${first.status}, and GET opened a legacy HTTP+SSE event stream (HTTP ${legacy.status}) without credentials; the OAuth steps do not apply`, `${SPEC_401}; MCP 2025-11-25 basic/transports (backwards compatibility)`)],
      facts: { status: first.status, legacySse: true, getStatus: legacy.status },
    };
  }
  // A legacy endpoint behind OAuth: its GET's 401 and challenge are the ones to read.
  if (legacy?.status === 401) state.legacySse = true;
  const probe: ProbeResult & { status: number } = legacy?.status === 401 ? { status: 401, ...(legacy.headers ? { headers: legacy.headers } : {}) } : { ...first, status: first.status };
  const www = probe.headers?.get('www-authenticate') ?? null;
  const facts: Record<string, unknown> = { status: probe.status };
  if (state.legacySse) facts['legacySse'] = true;
  if (www !== null) facts['wwwAuthenticate'] = www;
  if (www !== null && probe.status === 401) state.wwwAuthenticate = www;

  if (probe.status >= 200 && probe.status < 300) {
    state.requiresAuth = false;
    return {
      summary: `HTTP ${probe.status} without credentials: this server needs no authorization`,
      checks: [check('unauth.status', 'pass', `the server answered initialize without credentials (HTTP ${probe.status}); the OAuth steps do not apply`, SPEC_401)],
      facts,
    };
  }
  if (probe.status !== 401) {
    // A 404, an HTML page or a 5xx: connect's diagnosis (path, page title, server failure); other statuses keep doctor's OAuth view.
    const summary = summariseBody(probe.body ?? '', probe.headers?.get('content-type') ?? undefined);
    const diagnosis = isWrongPlaceOrFailure(probe.status, summary.html) ? diagnoseStatus(state.options.url, probe.status, summary.text, { html: summary.html }) : undefined;
    const hint = diagnosis?.hint ?? (probe.status === 403
      ? 'A 403 without a prior 401 usually means a firewall, a WAF or an IP allow-list in front of the server; an OAuth-protected MCP server answers 401.'
      : 'An OAuth-protected MCP server answers an unauthenticated request with 401 and a WWW-Authenticate challenge; check the URL and the server logs.');
    return {
      summary: `HTTP ${probe.status}, expected 401`,
      checks: [check('unauth.status', 'fail', diagnosis?.message ?? `the server answered HTTP ${probe.status} to an unauthenticated initialize`, SPEC_401, hint)],
      facts,
    };
  }

  state.requiresAuth = true;
  const checks = [check('unauth.status', 'pass', 'HTTP 401: the server requires authorization', SPEC_401)];
  const challenge = bearerChallenge(www);
  if (!challenge) {
    checks.push(check('unauth.challenge', 'warn', www === null ? 'the 401 carries no WWW-Authenticate header' : `the 401's WWW-Authenticate has no Bearer challenge: ${quote(www)}`, 'RFC 6750 §3; RFC 9110 §11.6.1', 'The server should answer 401 with WWW-Authenticate: Bearer resource_metadata="<its RFC 9728 metadata URL>"; airlock falls back to the well-known URLs.'));
    return { summary: 'HTTP 401 without a Bearer challenge', checks, facts };
  }
  state.challenge = challenge;
  facts['challenge'] = challenge;
  checks.push(check('unauth.challenge', 'pass', 'Bearer challenge present', 'RFC 6750 §3'));
  checks.push(challenge.resourceMetadata
    ? check('unauth.resource-metadata', 'pass', `resource_metadata=${quote(challenge.resourceMetadata)}`, SPEC_CHALLENGE)
    : check('unauth.resource-metadata', 'pass', 'no resource_metadata in the challenge; the well-known URLs are tried next (MCP 2025-11-25 allows either)', SPEC_CHALLENGE));
  checks.push(challenge.scope
    ? check('unauth.scope', 'pass', `scope=${quote(challenge.scope)} (asked for first)`, 'MCP 2025-11-25 Scope Selection Strategy')
    : check('unauth.scope', 'pass', 'no scope in the challenge; the metadata\'s scopes_supported are used instead', 'MCP 2025-11-25 Scope Selection Strategy'));
  const parts = [`HTTP 401, Bearer challenge`];
  if (challenge.resourceMetadata) parts.push('resource_metadata');
  if (challenge.scope) parts.push(`scope ${quote(challenge.scope)}`);
  if (challenge.error) parts.push(`error ${quote(challenge.error)}`);
  return { summary: parts.join(', '), checks, facts };
}

/**
 * GET the URL as a legacy HTTP+SSE client would (2024-11-05): `open` when an event stream comes
 * back, which is closed at once; the status (and a 401's headers) otherwise; undefined when the
 * GET got no answer. The user's --header headers go with it, as with the POST.
 */
async function legacyStream(state: DoctorState): Promise<{ open: boolean; status: number; headers?: Headers } | undefined> {
  try {
    const response = await state.fetch(state.options.url.href, {
      method: 'GET',
      headers: { ...state.options.headers, accept: 'text/event-stream' },
      redirect: 'manual',
      signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
    });
    await response.body?.cancel().catch(() => undefined);
    const open = response.ok && (response.headers.get('content-type') ?? '').includes('text/event-stream');
    return { open, status: response.status, headers: response.headers };
  } catch {
    return undefined; // no answer: the POST's status is what there is to report
  }
}
