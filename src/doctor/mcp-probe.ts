/**
 * One JSON-RPC request to a streamable HTTP MCP server (MCP 2025-11-25 basic/transports), as the
 * doctor's probes need it: POST with `Accept: application/json, text/event-stream`, the answer read
 * from a JSON body or from the first matching event of an SSE body, and the headers a 401 or 403
 * carries. Never throws for an HTTP answer; a network failure is returned as `error`.
 */
import { describeError } from '../errors.js';
import type { FetchLike } from '../auth/metadata-fetch.js';
import { MAX_AUTH_DOCUMENT_BYTES, readBoundedText } from '../auth/bounded-body.js';
import { readSseEvents } from '../transports/sse-reader.js';
import { MAX_REDIRECTS, sameOriginRedirect } from '../transports/http-request.js';

export const PROBE_PROTOCOL_VERSION = '2025-11-25';
/** Longest wait for one probe answer (doctor, and the login probe). */
export const PROBE_TIMEOUT_MS = 15_000;

export interface JsonRpcAnswer {
  result?: Record<string, unknown>;
  error?: { code?: number; message?: string };
}

export interface ProbeResult {
  status?: number;
  error?: string;
  /** The network failure itself, for the diagnosis (upstream-diagnosis.ts). */
  failure?: unknown;
  headers?: Headers;
  answer?: JsonRpcAnswer;
  /** A refusal's body (other than a 401's), at most BODY_LIMIT characters, for the diagnosis. */
  body?: string;
}

const BODY_LIMIT = 64 * 1024;

/** The initialize request the doctor sends (MCP 2025-11-25 basic/lifecycle). */
export function initializeRequest(id: number): Record<string, unknown> {
  return {
    jsonrpc: '2.0',
    id,
    method: 'initialize',
    params: { protocolVersion: PROBE_PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'mcp-airlock-doctor', version: '1' } },
  };
}

function asAnswer(value: unknown, id: unknown): JsonRpcAnswer | undefined {
  const messages = Array.isArray(value) ? value : [value];
  for (const m of messages) {
    if (m && typeof m === 'object' && (m as { id?: unknown }).id === id) return m as JsonRpcAnswer;
  }
  return undefined;
}

async function readAnswer(response: Response, id: unknown): Promise<JsonRpcAnswer | undefined> {
  const type = response.headers.get('content-type') ?? '';
  if (!response.body) return undefined;
  if (type.includes('text/event-stream')) {
    try {
      // An event past the limit is dropped as it comes (never held); the answer is then missing.
      for await (const event of readSseEvents(response.body, { maxEventBytes: MAX_AUTH_DOCUMENT_BYTES, onOversize: () => 'stop' })) {
        if (event.event !== 'message' || !event.data) continue;
        try {
          const answer = asAnswer(JSON.parse(event.data), id);
          if (answer) return answer;
        } catch {
          // not JSON: keep reading
        }
      }
    } finally {
      await response.body.cancel().catch(() => undefined);
    }
    return undefined;
  }
  const text = await readBoundedText(response, response.url, { what: 'answer', code: 'AIRLOCK_UPSTREAM_HTTP' }).catch(() => '');
  try {
    return asAnswer(JSON.parse(text), id);
  } catch {
    return undefined;
  }
}

/** The first `max` bytes of a body as text; the rest is not read (a refusal's body can be endless). */
async function readPrefix(response: Response, max: number): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  try {
    while (bytes < max) {
      const { value, done } = await reader.read();
      if (done) break;
      chunks.push(value);
      bytes += value.byteLength;
    }
  } catch {
    // what arrived is what there is
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks).toString('utf8').slice(0, max);
}

/** POST one JSON-RPC message; for a request (with `id`) read its answer. */
export async function postJsonRpc(fetchImpl: FetchLike, url: string, message: Record<string, unknown>, headers: Record<string, string>): Promise<ProbeResult> {
  let response: Response;
  let current = new URL(url);
  try {
    // Same-origin 307/308 redirects are followed as connect follows them (the POST is kept); each
    // hop is recorded as its own exchange.
    for (let hop = 0; ; hop++) {
      response = await fetchImpl(current.href, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
        body: JSON.stringify(message),
        redirect: 'manual',
        signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
      });
      const next = (response.status === 307 || response.status === 308) && hop < MAX_REDIRECTS ? sameOriginRedirect(response.status, response.headers.get('location'), current) : undefined;
      if (!next) break;
      await response.body?.cancel().catch(() => undefined);
      current = next;
    }
  } catch (error) {
    return { error: describeError(error), failure: error };
  }
  const result: ProbeResult = { status: response.status, headers: response.headers };
  if (response.status === 200 && message['id'] !== undefined) {
    const answer = await readAnswer(response, message['id']);
    if (answer) result.answer = answer;
  } else if (response.status >= 400 && response.status !== 401) {
    result.body = await readPrefix(response, BODY_LIMIT);
  } else {
    await response.body?.cancel().catch(() => undefined);
  }
  return result;
}
