/**
 * Every document airlock reads during authorization (protected resource metadata, authorization
 * server metadata, registration responses, token and ID-JAG responses, and whatever openid-client
 * fetches through our `customFetch`) comes from a server that may be hostile or broken. Each is
 * read up to a fixed size and refused past it, with an error that names the URL and the limit:
 * an endless body must never fill memory, and an oversized document is an error, never taken for
 * a missing one (which would change what discovery does next).
 */
import { AirlockError, quote, type AirlockErrorCode } from '../errors.js';
import type { FetchLike } from './metadata-fetch.js';

/** The largest auth document read: metadata, registration and token responses are a few KiB. */
export const MAX_AUTH_DOCUMENT_BYTES = 1024 * 1024;

/** "1 MiB", "256 KiB" or "1000 bytes", for messages. */
export function describeBytes(bytes: number): string {
  if (bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`;
  if (bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} bytes`;
}

/** An auth document past the limit: it was not read further, and nothing of it is used. */
export class DocumentTooLargeError extends AirlockError {
  readonly url: string;
  readonly limit: number;

  constructor(code: AirlockErrorCode, what: string, url: string, limit: number) {
    super(code, `the ${what} at ${quote(url)} is larger than the ${describeBytes(limit)} accepted; not read further`, {
      hint: `Authorization documents are read up to ${describeBytes(limit)}; a larger one comes from a broken or hostile server: report it to its operator.`,
    });
    this.url = url;
    this.limit = limit;
  }
}

export interface BodyLimit {
  /** What the document is, for the message ("token response"). */
  what: string;
  /** The error code of a refusal. */
  code: AirlockErrorCode;
  /** Default MAX_AUTH_DOCUMENT_BYTES. */
  limit?: number;
}

/**
 * The body of `response` (from `url`), up to the limit; past it (a declared Content-Length, or the
 * bytes as they come) the body is cancelled and DocumentTooLargeError thrown.
 */
export async function readBoundedBody(response: Response, url: string, bound: BodyLimit): Promise<Uint8Array> {
  const limit = bound.limit ?? MAX_AUTH_DOCUMENT_BYTES;
  const tooLarge = (): DocumentTooLargeError => new DocumentTooLargeError(bound.code, bound.what, url, limit);
  const declared = Number(response.headers.get('content-length') ?? '');
  if (Number.isFinite(declared) && declared > limit) {
    await response.body?.cancel().catch(() => undefined);
    throw tooLarge();
  }
  if (!response.body) return new Uint8Array(0);
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    bytes += value.byteLength;
    if (bytes > limit) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

/** The same, as UTF-8 text. */
export async function readBoundedText(response: Response, url: string, bound: BodyLimit): Promise<string> {
  return Buffer.from(await readBoundedBody(response, url, bound)).toString('utf8');
}

/** Statuses whose Response may not have a body (Fetch standard "null body status"). */
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

/**
 * A fetch whose answers are read whole, up to the limit, before anyone sees them: for libraries
 * that read bodies themselves (openid-client's `customFetch`). Past the limit it throws
 * DocumentTooLargeError (openid-client wraps it as the cause of its own error; see
 * `tokenRequestError`).
 */
export function boundedFetch(fetchImpl: FetchLike, bound: BodyLimit): FetchLike {
  return async (input, init) => {
    const response = await fetchImpl(input, init);
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const body = await readBoundedBody(response, url, bound);
    return new Response(NULL_BODY_STATUSES.has(response.status) ? null : body, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };
}
