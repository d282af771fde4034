/**
 * Fetching one well-known JSON metadata document (RFC 8414 §3, RFC 9728 §3) and walking a list of
 * candidate URLs until one answers. Documents come from the network: bounded in size and time,
 * redirects not followed (as openid-client's own discovery does), only a JSON object accepted.
 */
import { AirlockError, describeError, quote } from '../errors.js';
import type { Logger } from '../log.js';
import { DocumentTooLargeError, MAX_AUTH_DOCUMENT_BYTES, readBoundedText } from './bounded-body.js';
/** Per request. */
export const METADATA_TIMEOUT_MS = 15_000;

export type FetchLike = typeof fetch;

/** How one candidate URL went: a status, or the network error. */
export interface CandidateOutcome {
  url: string;
  status?: number;
  error?: string;
  /** The document was larger than MAX_AUTH_DOCUMENT_BYTES: an error, never a missing document. */
  tooLarge?: true;
}

/** A document that was found and accepted, and what the candidates up to it answered. */
export interface FoundDocument<T> {
  url: string;
  value: T;
  tried: CandidateOutcome[];
}

/**
 * GET `url` and parse a JSON object. Resolves with the outcome: a body only for a 200 answer with
 * a JSON object; anything else is reported, not thrown, so the caller can try the next candidate.
 */
export async function fetchMetadataDocument(
  url: URL,
  fetchImpl: FetchLike,
): Promise<{ outcome: CandidateOutcome; body?: Record<string, unknown> }> {
  const outcome: CandidateOutcome = { url: url.href };
  let response: Response;
  try {
    response = await fetchImpl(url.href, {
      method: 'GET',
      headers: { accept: 'application/json' },
      redirect: 'manual',
      signal: AbortSignal.timeout(METADATA_TIMEOUT_MS),
    });
  } catch (error) {
    outcome.error = describeError(error);
    return { outcome };
  }
  outcome.status = response.status;
  if (response.status !== 200) {
    await response.body?.cancel();
    return { outcome };
  }
  let text: string;
  try {
    text = await readBoundedText(response, url.href, { what: 'document', code: 'AIRLOCK_AUTH_DISCOVERY' });
  } catch (error) {
    if (error instanceof DocumentTooLargeError) {
      outcome.error = `larger than the ${MAX_AUTH_DOCUMENT_BYTES} bytes accepted`;
      outcome.tooLarge = true;
    } else {
      outcome.error = `unreadable: ${describeError(error)}`;
    }
    return { outcome };
  }
  try {
    const body: unknown = JSON.parse(text);
    if (body !== null && typeof body === 'object' && !Array.isArray(body)) {
      return { outcome, body: body as Record<string, unknown> };
    }
    outcome.error = 'not a JSON object';
  } catch {
    outcome.error = 'not JSON';
  }
  return { outcome };
}

/** "url (404); url (ECONNREFUSED)" for messages. */
export function describeOutcomes(tried: CandidateOutcome[]): string {
  return tried.map((t) => `${quote(t.url)} (${t.error ?? t.status})`).join('; ');
}

/**
 * Try each candidate in order and return what `accept` makes of the first JSON object found.
 * `accept` returns an AirlockError to reject the document: the walk then stops with that error
 * (a document that is there but wrong is not skipped silently). So does a document larger than
 * MAX_AUTH_DOCUMENT_BYTES (DocumentTooLargeError). An answer that `refuseStatus` turns into an
 * error (a 401) does not stop the walk; but when no candidate has the document, the first such
 * error is thrown instead of MetadataNotFoundError (the document is not "not there"). `tried`,
 * when given, receives each outcome as it happens, so a caller (doctor) sees every URL tried even
 * when the walk throws.
 */
export async function firstMetadataDocument<T>(
  candidates: URL[],
  options: {
    fetch: FetchLike;
    log: Logger;
    what: string;
    accept: (body: Record<string, unknown>, url: URL) => T | AirlockError;
    /** An error for an answer that must not count as "not here" (a 401), thrown when no candidate has the document. */
    refuseStatus?: (status: number, url: URL) => AirlockError | undefined;
    tried?: CandidateOutcome[];
  },
): Promise<FoundDocument<T>> {
  const tried: CandidateOutcome[] = options.tried ?? [];
  let refused: AirlockError | undefined;
  for (const url of candidates) {
    const { outcome, body } = await fetchMetadataDocument(url, options.fetch);
    tried.push(outcome);
    options.log.debug(`${options.what}: GET ${url.href} -> ${outcome.error ?? outcome.status}`);
    if (outcome.tooLarge) throw new DocumentTooLargeError('AIRLOCK_AUTH_DISCOVERY', options.what, url.href, MAX_AUTH_DOCUMENT_BYTES);
    if (!body) {
      refused ??= outcome.status === undefined ? undefined : options.refuseStatus?.(outcome.status, url);
      continue;
    }
    const value = options.accept(body, url);
    if (value instanceof AirlockError) throw value;
    return { url: url.href, value, tried };
  }
  throw refused ?? new MetadataNotFoundError(options.what, tried);
}

/**
 * No candidate URL had the document (as opposed to a document that is there but wrong): the one
 * case in which the MCP 2025-03-26 fallback may be tried (see auth-discovery.ts).
 */
export class MetadataNotFoundError extends AirlockError {
  readonly tried: CandidateOutcome[];

  constructor(what: string, tried: CandidateOutcome[]) {
    super('AIRLOCK_AUTH_DISCOVERY', `no ${what} found; tried ${describeOutcomes(tried)}`, {
      hint: `The server must publish its ${what} (MCP authorization 2025-11-25); check the URL, or run mcp-airlock doctor.`,
    });
    this.tried = tried;
  }
}
