/**
 * Which HTTP exchanges wait on the user: the server answered 401 or 403, and the request has not
 * been sent again yet, because a login or a step-up runs in between (the authorized requester
 * sends it again, with the same AbortSignal, once it has a token). --request-timeout measures the
 * server's silence, not the time a user takes in the browser: its deadlines wait while this says so.
 * It wraps the requester under the authorized one, where each try of an exchange is seen, and the
 * one over it, where the exchange ends whatever the login made of it.
 */
import type { HttpRequester } from './http-request.js';

/** A login gives up after 5 minutes (DEFAULT_AUTH_TIMEOUT_MS): an exchange still marked after this is forgotten (a safety bound). */
const FORGET_AFTER_MS = 6 * 60_000;

export class CredentialWaits {
  /** Exchanges (by their signal) whose last try was answered 401/403, and since when. */
  private readonly waiting = new Map<AbortSignal, number>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Under the authorized requester: each try of an exchange; a 401 or 403 marks the exchange as waiting. */
  under(base: HttpRequester): HttpRequester {
    return async (url, init) => {
      const { signal } = init;
      if (signal) this.waiting.delete(signal);
      const response = await base(url, init);
      if (signal && (response.status === 401 || response.status === 403)) this.waiting.set(signal, this.now());
      return response;
    };
  }

  /** Over it: whatever the authorized requester made of the exchange (an answer, an error), it no longer waits. */
  over(request: HttpRequester): HttpRequester {
    return async (url, init) => {
      try {
        return await request(url, init);
      } finally {
        if (init.signal) this.waiting.delete(init.signal);
      }
    };
  }

  /** True while some exchange waits for a login or step-up to finish. */
  get active(): boolean {
    const oldest = this.now() - FORGET_AFTER_MS;
    for (const [signal, since] of this.waiting) if (since < oldest) this.waiting.delete(signal);
    return this.waiting.size > 0;
  }
}
