/**
 * OAuth on the wire: every request to the MCP server carries the session's access token, and a
 * 401 (or a 403 insufficient_scope) is answered by refreshing, logging in or stepping up, then
 * sending the same request again (MCP authorization 2025-11-25, "Authorization Flow Steps" and
 * "Scope Challenge Handling"). Bodies are strings, so a request can be replayed as it was.
 *
 * Tokens go only to the server they were issued for: a request to any other origin (there should
 * be none: redirects and SSE endpoints are same-origin only) gets no Authorization header.
 */
import type { HttpRequester, HttpResponse } from '../transports/http-request.js';
import { bearerChallenge } from './www-authenticate.js';

/** What the requester needs of an AuthSession. */
export interface TokenSource {
  authorization(): Promise<string | undefined>;
  onUnauthorized(wwwAuthenticate: string | null): Promise<void>;
  onInsufficientScope(wwwAuthenticate: string): Promise<void>;
  /** RFC 9449 §7.1: the `DPoP` proof header for a request carrying `authorization`, or undefined (a Bearer token). */
  dpopProof?(url: URL, method: string, authorization: string): Promise<string | undefined>;
  /** RFC 9449 §9: told of each answer to a request with a proof; true for a `use_dpop_nonce` challenge (send once more). */
  dpopNonce?(url: URL, status: number, header: (name: string) => string | undefined): boolean;
}

/** A 401 or a step-up is retried this many times per request, then the answer goes back as it is. */
const MAX_RETRIES = 2;

function insufficientScope(response: HttpResponse): string | undefined {
  if (response.status !== 403) return undefined;
  const header = response.header('www-authenticate');
  return header !== undefined && bearerChallenge(header)?.error === 'insufficient_scope' ? header : undefined;
}

export interface AuthorizedRequesterOptions {
  /**
   * Ask `auth` for a token before the very first request. Off by default: the credential store
   * opens on first use (a keychain probe is a child process, ~100 ms), so the first requests go
   * without a token while it opens, and only a 401 waits for it. A server that needs no login
   * costs nothing; one that does costs one extra 401. On when a token is always needed anyway.
   */
  eager?: boolean;
}

export function authorizedRequester(base: HttpRequester, auth: TokenSource, server: URL, options: AuthorizedRequesterOptions = {}): HttpRequester {
  let warming: Promise<void> | undefined;
  let warm = options.eager === true;
  return async (url, init) => {
    if (url.origin !== server.origin) return base(url, init);
    const attempt = async (): Promise<HttpResponse> => {
      const authorization = await auth.authorization();
      if (authorization === undefined) return base(url, init);
      const send = async (): Promise<{ response: HttpResponse; proved: boolean }> => {
        const proof = await auth.dpopProof?.(url, init.method, authorization);
        const headers = proof === undefined ? { ...init.headers, authorization } : { ...init.headers, authorization, dpop: proof };
        return { response: await base(url, { ...init, headers }), proved: proof !== undefined };
      };
      const first = await send();
      // A DPoP-bound token: the server may want a nonce in the proof (RFC 9449 §9); one more try with it.
      if (!first.proved || !auth.dpopNonce?.(url, first.response.status, (name) => first.response.header(name))) return first.response;
      first.response.discard();
      const second = await send();
      auth.dpopNonce(url, second.response.status, (name) => second.response.header(name));
      return second.response;
    };
    let response: HttpResponse;
    if (warm) {
      response = await attempt();
    } else {
      warming ??= auth.authorization().then(
        () => void (warm = true),
        () => void (warm = true), // a store that cannot open is reported again by the attempt that needs it
      );
      response = await base(url, init);
      if (response.status === 401 || insufficientScope(response) !== undefined) {
        response.discard();
        await warming;
        response = await attempt();
      }
    }
    for (let retry = 0; retry < MAX_RETRIES; retry++) {
      const stepUp = insufficientScope(response);
      if (response.status !== 401 && stepUp === undefined) break;
      const challenge = response.header('www-authenticate') ?? null;
      response.discard();
      if (stepUp !== undefined) await auth.onInsufficientScope(stepUp);
      else await auth.onUnauthorized(challenge);
      response = await attempt();
    }
    return response;
  };
}
