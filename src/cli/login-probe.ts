/**
 * What `login` asks the server first, without credentials (as connect's first request goes): a
 * `tools/list` POST (never `initialize`: no session is opened if it is let through). A server
 * that answers needs no login; one that is down, not at that path, or behind an https URL while
 * speaking plain HTTP gets the same diagnosis connect gives (upstream-diagnosis.ts), instead of a
 * discovery error about metadata nobody could have served.
 */
import { describeError } from '../errors.js';
import { ERROR_BODY_LIMIT, readTextWithin, type HttpRequester } from '../transports/http-request.js';
import { diagnoseNetwork, diagnoseStatus, diagnoseUpstream, summariseBody } from '../transports/upstream-diagnosis.js';
import { bearerChallenge } from '../auth/www-authenticate.js';
import type { Logger } from '../log.js';

const PROBE_TIMEOUT_MS = 15_000;
/** The version header of the probe: a 2025 server checks it before anything else, after auth. */
const PROBE_PROTOCOL_VERSION = '2025-11-25';

export type LoginProbe =
  /** The server answered without credentials (2xx, or a JSON-RPC error about the request itself). */
  | { kind: 'open'; status: number }
  /** 401 (or 403 with a Bearer challenge): a login may help. */
  | { kind: 'unauthorized'; status: number; wwwAuthenticate?: string }
  /** An answer that says nothing either way (405 from an SSE-only endpoint, 406, ...): log in as asked. */
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

/** Probe `url`; throws the diagnosed AirlockError when the server cannot be talked to at all. */
export async function probeForLogin(url: URL, request: HttpRequester, log: Logger): Promise<LoginProbe> {
  let response;
  try {
    response = await request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': PROBE_PROTOCOL_VERSION },
      body: JSON.stringify({ jsonrpc: '2.0', id: 'mcp-airlock-login-probe', method: 'tools/list', params: {} }),
      signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
    });
  } catch (error) {
    log.debug(`login probe: POST ${url.href} failed: ${describeError(error)}`);
    throw diagnoseNetwork(url, error) ?? diagnoseUpstream(url, error);
  }
  const { status } = response;
  const wwwAuthenticate = response.header('www-authenticate');
  const contentType = response.header('content-type');
  log.debug(`login probe: POST ${url.href} -> ${status}`);
  if (status >= 200 && status < 300) {
    response.discard();
    return { kind: 'open', status };
  }
  if (status === 401 || (status === 403 && bearerChallenge(wwwAuthenticate) !== undefined)) {
    response.discard();
    return wwwAuthenticate === undefined ? { kind: 'unauthorized', status } : { kind: 'unauthorized', status, wwwAuthenticate };
  }
  if (status === 405) return legacyProbe(url, request, log);
  const text = (await readTextWithin(response, ERROR_BODY_LIMIT, true).catch(() => ({ text: '' }))).text;
  const summary = summariseBody(text, contentType);
  // A stateful server answers a request without a session with 400 and a JSON-RPC error: it let us in.
  if (status === 400 && !summary.html && isJsonRpcError(text)) return { kind: 'open', status };
  if (status === 403 || status === 404 || status === 410 || status >= 500 || summary.html) {
    throw diagnoseStatus(url, status, summary.text, { html: summary.html, ...(wwwAuthenticate === undefined ? {} : { wwwAuthenticate }) });
  }
  return { kind: 'unclear', status };
}

/**
 * POST refused with 405: a legacy HTTP+SSE endpoint (2024-11-05) takes a GET. Its stream opening
 * without credentials means no login is needed; the stream is closed as soon as that is known.
 */
async function legacyProbe(url: URL, request: HttpRequester, log: Logger): Promise<LoginProbe> {
  const stop = new AbortController();
  const signal = AbortSignal.any([stop.signal, AbortSignal.timeout(PROBE_TIMEOUT_MS)]);
  try {
    const response = await request(url, { method: 'GET', headers: { accept: 'text/event-stream' }, signal });
    log.debug(`login probe: GET ${url.href} -> ${response.status}`);
    const wwwAuthenticate = response.header('www-authenticate');
    response.discard();
    if (response.ok && (response.header('content-type') ?? '').includes('text/event-stream')) return { kind: 'open', status: response.status };
    if (response.status === 401) return wwwAuthenticate === undefined ? { kind: 'unauthorized', status: 401 } : { kind: 'unauthorized', status: 401, wwwAuthenticate };
    return { kind: 'unclear', status: 405 };
  } catch (error) {
    log.debug(`login probe: GET ${url.href} failed: ${describeError(error)}`);
    return { kind: 'unclear', status: 405 };
  } finally {
    stop.abort();
  }
}
