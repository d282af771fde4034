/**
 * The doctor's authenticated requests with a DPoP-bound access token (RFC 9449 §7.1): each request
 * carries a fresh proof of the key the login bound the token to, made for its URL and method with
 * `ath` for the token; each answer's `DPoP-Nonce` is kept, and a 401 `use_dpop_nonce` (§9) is sent
 * once more with the nonce, as connect's requester does (authorized-requester.ts). The proofs and
 * nonces are the login session's own (AuthSession.dpopProof, .dpopNonce), so doctor checks the same
 * code path connect runs.
 */
import type { FetchLike } from '../auth/metadata-fetch.js';

/** What the doctor needs of the login's session to prove possession of the key. */
export interface DpopProofSource {
  /** The proof for one request that carries `authorization`, or undefined for a Bearer token. */
  dpopProof(url: URL, method: string, authorization: string): Promise<string | undefined>;
  /** Told of each answer to a request with a proof; true for a `use_dpop_nonce` challenge. */
  dpopNonce(url: URL, status: number, header: (name: string) => string | undefined): boolean;
}

/**
 * `base` with a `DPoP` proof on every request that carries `authorization` (the request's own
 * Authorization header is replaced by it). Bodies are strings, so a request can be sent again.
 */
export function dpopFetch(base: FetchLike, proofs: DpopProofSource, authorization: string): FetchLike {
  return async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const method = (init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase();
    const send = async (): Promise<{ response: Response; proved: boolean }> => {
      const headers: Record<string, string> = Object.fromEntries(new Headers(init?.headers));
      headers['authorization'] = authorization;
      const proof = await proofs.dpopProof(url, method, authorization);
      if (proof !== undefined) headers['dpop'] = proof;
      return { response: await base(input, { ...init, headers }), proved: proof !== undefined };
    };
    const header = (response: Response) => (name: string): string | undefined => response.headers.get(name) ?? undefined;
    const first = await send();
    if (!first.proved || !proofs.dpopNonce(url, first.response.status, header(first.response))) return first.response;
    await first.response.body?.cancel().catch(() => undefined);
    const second = await send();
    proofs.dpopNonce(url, second.response.status, header(second.response));
    return second.response;
  };
}
