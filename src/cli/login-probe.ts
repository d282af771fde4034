/**
 * What `login` asks the server first, without credentials (as connect's first request goes): a
 * `tools/list` POST (never `initialize`: no session is opened if it is let through). A server
 * that answers needs no login; one that is down, not at that path, or behind an https URL while
 * speaking plain HTTP gets the same diagnosis connect gives (upstream-diagnosis.ts), instead of a
 * discovery error about metadata nobody could have served.
 */
import { describeError } from '../errors.js';
import type { FetchLike } from '../auth/metadata-fetch.js';
import { bearerChallenge } from '../auth/www-authenticate.js';
import { PROBE_PROTOCOL_VERSION, PROBE_TIMEOUT_MS, postJsonRpc } from '../doctor/mcp-probe.js';
import type { Logger } from '../log.js';
import { diagnoseNetwork, diagnoseStatus, diagnoseUpstream, isWrongPlaceOrFailure, summariseBody } from '../transports/upstream-diagnosis.js';

export type LoginProbe =
  /** The server answered without credentials (2xx, or a JSON-RPC error about the request itself). */
  | { kind: 'open'; status: number }
  /** 401 (or 403 with a Bearer challenge): a login may help. */
  | { kind: 'unauthorized'; status: number; wwwAuthenticate?: string }
  /** An answer that says nothing either way (406, 415, ...): log in as asked. */
  | { kind: 'unclear'; status: number };

/** Whether a body is a JSON-RPC error: the server parsed the request and refused it for itself, not for credentials. */
function isJsonRpcError(text: string): boolean {
  try {
    const body = JSON.parse(text) as { jsonrpc?: unknown; error?: { code?: unknown } };
    return body.jsonrpc === '2.0' && typeof body.error?.code === 'number';
  } catch {
    return false;
  }
}

function unauthorized(status: number, wwwAuthenticate: string | null | undefined): LoginProbe {
  return wwwAuthenticate === null || wwwAuthenticate === undefined ? { kind: 'unauthorized', status } : { kind: 'unauthorized', status, wwwAuthenticate };
}

/** Probe `url` (doctor's probe request); throws the diagnosed AirlockError when the server cannot be talked to at all. */
export async function probeForLogin(url: URL, fetchImpl: FetchLike, log: Logger): Promise<LoginProbe> {
  const probe = await postJsonRpc(fetchImpl, url.href, { jsonrpc: '2.0', id: 'mcp-airlock-login-probe', method: 'tools/list', params: {} }, { 'mcp-protocol-version': PROBE_PROTOCOL_VERSION });
  if (probe.status === undefined) {
    log.debug(`login probe: POST ${url.href} failed: ${probe.error ?? 'unknown error'}`);
    throw diagnoseNetwork(url, probe.failure) ?? diagnoseUpstream(url, probe.failure);
  }
  const { status } = probe;
  const wwwAuthenticate = probe.headers?.get('www-authenticate');
  log.debug(`login probe: POST ${url.href} -> ${status}`);
  if (status >= 200 && status < 300) return { kind: 'open', status };
  if (status === 401 || (status === 403 && bearerChallenge(wwwAuthenticate) !== undefined)) return unauthorized(status, wwwAuthenticate);
  if (status === 405) return legacyProbe(url, fetchImpl, log);
  const text = probe.body ?? '';
  const summary = summariseBody(text, probe.headers?.get('content-type') ?? undefined);
  // A stateful server answers a request without a session with 400 and a JSON-RPC error: it let us in.
  if (status === 400 && !summary.html && isJsonRpcError(text)) return { kind: 'open', status };
  if (status === 403 || isWrongPlaceOrFailure(status, summary.html)) {
    throw diagnoseStatus(url, status, summary.text, { html: summary.html, ...(wwwAuthenticate ? { wwwAuthenticate } : {}) });
  }
  return { kind: 'unclear', status };
}

/**
 * POST refused with 405: a legacy HTTP+SSE endpoint (2024-11-05) takes a GET. Its stream opening
 * without credentials means no login is needed; the stream is closed as soon as that is known.
 */
async function legacyProbe(url: URL, fetchImpl: FetchLike, log: Logger): Promise<LoginProbe> {
  try {
    const response = await fetchImpl(url.href, { method: 'GET', headers: { accept: 'text/event-stream' }, redirect: 'manual', signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    await response.body?.cancel().catch(() => undefined);
    log.debug(`login probe: GET ${url.href} -> ${response.status}`);
    if (response.ok && (response.headers.get('content-type') ?? '').includes('text/event-stream')) return { kind: 'open', status: response.status };
    if (response.status === 401) return unauthorized(401, response.headers.get('www-authenticate'));
  } catch (error) {
    log.debug(`login probe: GET ${url.href} failed: ${describeError(error)}`);
  }
  return { kind: 'unclear', status: 405 };
}
