/**
 * Step 6: the MCP server with the token from step 5 (or with none, when it needs none): initialize
 * (MCP 2025-11-25 basic/lifecycle: protocol version, session id, capabilities), the initialized
 * notification, tools/list. A 401 here names why the server rejected the token (its challenge's
 * error_description, and the token's audience when step 5 found it wrong); a 403
 * insufficient_scope names the --scope to pass (RFC 6750 §3.1).
 */
import { quote } from '../errors.js';
import { bearerChallenge } from '../auth/www-authenticate.js';
import { parseScope, stepUpScopes } from '../auth/scopes.js';
import { check, hasFailed, type DoctorState, type StepOutput } from './doctor-context.js';
import type { DoctorCheck } from './doctor-report.js';
import { dpopFetch } from './dpop-fetch.js';
import { initializeRequest, postJsonRpc, PROBE_PROTOCOL_VERSION, type ProbeResult } from './mcp-probe.js';
import { audienceHint, providerOf } from './quirks.js';

const SPEC_AUTH = 'RFC 6750 §3.1; MCP 2025-11-25 authorization';

/** A verdict for a refused request, or undefined when the request got through. */
function refusal(state: DoctorState, probe: ProbeResult, what: string): DoctorCheck | undefined {
  if (probe.status === 401) {
    const challenge = bearerChallenge(probe.headers?.get('www-authenticate'));
    const why = challenge?.error ? `: ${quote(challenge.error)}${challenge.errorDescription ? ` (${quote(challenge.errorDescription)})` : ''}` : '';
    const resource = state.resourceIndicator ?? state.serverUrl;
    const hint = hasFailed(state, 'token.audience')
      ? audienceHint(resource, providerOf(state.issuer))
      : `Check that the MCP server trusts the issuer ${quote(state.issuer)} and expects the audience ${quote(resource)} (or pass --resource with the one it expects).`;
    return check('mcp.token-accepted', 'fail', `the server rejected the access token on ${what} (HTTP 401${why})`, SPEC_AUTH, hint);
  }
  if (probe.status === 403) {
    const challenge = bearerChallenge(probe.headers?.get('www-authenticate'));
    if (challenge?.error === 'insufficient_scope' && challenge.scope) {
      const message = `the server needs scope ${quote(challenge.scope)} for ${what}; the token has ${quote(state.grantedScope ?? '')}`;
      const spec = 'RFC 6750 §3.1; MCP 2025-11-25 Step-Up Authorization Flow';
      // The login's own step-up rule: the union of what the token holds and what is asked for.
      const wanted = stepUpScopes(parseScope(state.grantedScope), challenge.scope);
      if (!wanted) return check('mcp.scope-sufficient', 'fail', message, spec, 'The token already holds every scope the server names, yet it refuses: the server\'s scope check is wrong, or the scope must be granted to this user or client on the authorization server.');
      return check('mcp.scope-sufficient', 'fail', message, spec,
        `Pass --scope ${JSON.stringify(wanted.join(' '))}; server side, name the scope in the 401 challenge (scope="${challenge.scope}") or in scopes_supported so clients ask for it up front.`);
    }
    return check('mcp.scope-sufficient', 'fail', `the server refused ${what} with HTTP 403${challenge?.error ? ` ${quote(challenge.error)}` : ''}`, SPEC_AUTH, 'The token is valid but not allowed: check the user\'s and the client\'s permissions on the server, or the scopes (--scope).');
  }
  return undefined;
}

/** Step 6: initialize, initialized and tools/list with the token (MCP 2025-11-25 basic/lifecycle, server/tools). */
export async function authenticatedStep(state: DoctorState): Promise<StepOutput> {
  if (state.unreachable) return { summary: '', checks: [], skipped: 'the server cannot be reached (see unauthenticated)' };
  if (state.legacySse) return { summary: '', checks: [], skipped: 'a legacy HTTP+SSE endpoint: this step speaks streamable HTTP (mcp-airlock connect reaches it with --transport sse, or auto)' };
  const headers: Record<string, string> = { ...state.options.headers };
  let probeFetch = state.fetch;
  if (state.requiresAuth !== false) {
    if (!state.accessToken) return { summary: '', checks: [], skipped: state.options.login ? 'no access token (see login)' : 'no access token: pass --login' };
    // The login's token replaces a user's Authorization header, whatever its spelling.
    for (const name of Object.keys(headers)) if (name.toLowerCase() === 'authorization') delete headers[name];
    if (state.tokenType === 'DPoP' && state.dpopProofs) {
      // RFC 9449 §7.1: a DPoP-bound token goes with the DPoP scheme and a proof per request (a server refuses it as Bearer).
      const authorization = `DPoP ${state.accessToken}`;
      headers['authorization'] = authorization;
      probeFetch = dpopFetch(state.fetch, state.dpopProofs, authorization);
    } else {
      headers['authorization'] = `Bearer ${state.accessToken}`;
    }
  }
  const url = state.options.url.href;
  const checks: DoctorCheck[] = [];
  const init = await postJsonRpc(probeFetch, url, initializeRequest(1), headers);
  if (init.status === undefined) {
    return { summary: 'no answer', checks: [check('mcp.initialize', 'fail', `POST ${url} failed: ${init.error ?? 'unknown error'}`, 'MCP 2025-11-25 basic/transports', 'Check that the server is reachable.')] };
  }
  const refused = refusal(state, init, 'initialize');
  if (refused) return { summary: `initialize refused (HTTP ${init.status})`, checks: [refused] };
  if (state.requiresAuth !== false) checks.push(check('mcp.token-accepted', 'pass', 'the server accepted the access token', SPEC_AUTH));
  const result = init.answer?.result;
  if (init.status !== 200 || !result || typeof result['protocolVersion'] !== 'string') {
    const error = init.answer?.error?.message;
    checks.push(check('mcp.initialize', 'fail', `initialize answered HTTP ${init.status}${error ? ` with error ${quote(error)}` : ' without an InitializeResult'}`, 'MCP 2025-11-25 basic/lifecycle', 'Check the server logs; the MCP endpoint must answer initialize with a JSON-RPC result.'));
    return { summary: 'initialize failed', checks };
  }
  const version = result['protocolVersion'] as string;
  const sessionId = init.headers?.get('mcp-session-id') ?? undefined;
  const capabilities = result['capabilities'] && typeof result['capabilities'] === 'object' ? Object.keys(result['capabilities']) : [];
  const serverInfo = result['serverInfo'] as { name?: unknown; version?: unknown } | undefined;
  checks.push(check('mcp.initialize', 'pass', `protocol ${quote(version)}, server ${quote(serverInfo?.name)} ${quote(serverInfo?.version)}, session ${sessionId ? quote(sessionId) : 'none (stateless)'}, capabilities ${capabilities.join(', ') || 'none'}`, 'MCP 2025-11-25 basic/lifecycle'));

  const next: Record<string, string> = { ...headers, 'mcp-protocol-version': version };
  if (sessionId) next['mcp-session-id'] = sessionId;
  await postJsonRpc(probeFetch, url, { jsonrpc: '2.0', method: 'notifications/initialized' }, next);
  const list = await postJsonRpc(probeFetch, url, { jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} }, next);
  const listRefused = refusal(state, list, 'tools/list');
  let tools: number | undefined;
  if (listRefused) checks.push(listRefused);
  else {
    const listed = list.answer?.result?.['tools'];
    if (Array.isArray(listed)) {
      tools = listed.length;
      checks.push(check('mcp.tools-list', 'pass', `${tools} tool${tools === 1 ? '' : 's'}`, 'MCP 2025-11-25 server/tools'));
    } else {
      checks.push(check('mcp.tools-list', capabilities.includes('tools') ? 'fail' : 'skipped', `tools/list answered HTTP ${list.status ?? list.error}${list.answer?.error?.message ? ` with error ${quote(list.answer.error.message)}` : ''}`, 'MCP 2025-11-25 server/tools', 'The server declares the tools capability but does not list tools; check its logs.'));
    }
  }
  if (sessionId) {
    // End the session we opened (a 405 is allowed: MCP 2025-11-25 basic/transports).
    await probeFetch(url, { method: 'DELETE', headers: next, signal: AbortSignal.timeout(5000) }).then((r) => r.body?.cancel()).catch(() => undefined);
  }
  const facts: Record<string, unknown> = { protocolVersion: version, requestedProtocolVersion: PROBE_PROTOCOL_VERSION, capabilities, serverInfo };
  if (sessionId) facts['sessionId'] = sessionId;
  if (tools !== undefined) facts['tools'] = tools;
  const toolCount = tools === undefined ? 'tools not listed' : `${tools} tool${tools === 1 ? '' : 's'}`;
  return { summary: `protocol ${version}, ${toolCount}${sessionId ? ', session id given' : ''}`, checks, facts };
}
