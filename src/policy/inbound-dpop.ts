/**
 * DPoP at `serve`'s door (RFC 9449 §7.1, MCP SEP-1932): a token bound to a key (`cnf.jkt`, §6.1)
 * is accepted only with `Authorization: DPoP <token>` and a proof made with that key for this very
 * request. The proof is checked as §4.3 lists: one `DPoP` header, a JWT with `typ` dpop+jwt, an
 * asymmetric `alg`, a public `jwk` in its header that verifies its signature, `htm` the request's
 * method, `htu` its URL (without query and fragment), `iat` within the window, a `jti` not seen in
 * that window (replay), and `ath` the hash of the token it comes with.
 *
 * A DPoP-bound token presented as Bearer is a downgrade, refused (§7.2); with `required`
 * (--oauth-require-dpop) every token must come with DPoP. Refusals name the error the client acts
 * on: `invalid_dpop_proof` for the proof, `invalid_token` for the token (§7.1), `use_dpop_nonce`
 * for a proof without the server's current nonce (§9, with --oauth-dpop-nonce).
 *
 * Nonces (§9) need no storage: a nonce is the HMAC of a rotation period's number under a secret
 * made at start-up, so the current and the previous period's nonces are computed, never kept. A
 * proof carrying either passes; a restart (a new secret) or two rotations make clients fetch a new
 * one with a single extra 401. The `jti` check keeps refusing replays within the window.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { JWTPayload } from 'jose';

/** The algorithms proofs may be signed with (asymmetric only; §4.2: never `none` or a MAC). */
export const DPOP_PROOF_ALGORITHMS = ['ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512', 'RS256', 'RS384', 'RS512', 'EdDSA', 'Ed25519'];

export interface InboundDpopOptions {
  /** --oauth-require-dpop: Bearer tokens are refused, DPoP-bound ones only. */
  required: boolean;
  /**
   * The URLs a proof's `htu` may name for a request to `path` (§4.3 check 9): the public URL
   * (--resource-url's origin and prefix), and the URL the request itself was sent to.
   */
  expectedUrls(req: IncomingMessage, path: string): string[];
  /** How old (or, with the clock tolerance, how far ahead) a proof's `iat` may be; default 120 s. */
  proofWindowSec?: number;
  /** Seconds of clock difference tolerated for `iat` in the future; default 5. */
  clockToleranceSec?: number;
  /** Proof ids remembered at most (oldest forgotten first); default 100,000. */
  maxRememberedProofs?: number;
  /** --oauth-dpop-nonce: proofs must carry a nonce this server issued (RFC 9449 §9). */
  nonce?: DpopNonceOptions;
  now?: () => number;
}

export interface DpopNonceOptions {
  /** The HMAC key; default 32 random bytes made at start-up (a restart invalidates every nonce). */
  secret?: Buffer;
  /** How long one nonce is issued; it is accepted for one more period after. Default 5 min. */
  rotateMs?: number;
}

/** Default nonce rotation: a new one every 5 minutes, the previous accepted for 5 more. */
export const DPOP_NONCE_ROTATE_MS = 5 * 60_000;

/**
 * Server nonces without storage (RFC 9449 §9): base64url HMAC-SHA256 of the period number. The
 * nonce of period n is issued during n and accepted during n and n+1.
 */
export function dpopNonces(options: DpopNonceOptions, now: () => number): { current(): string; accepts(nonce: unknown): boolean } {
  const secret = options.secret ?? randomBytes(32);
  const rotateMs = options.rotateMs ?? DPOP_NONCE_ROTATE_MS;
  const nonceOf = (period: number): Buffer => createHmac('sha256', secret).update(`dpop-nonce:${period}`).digest();
  const period = (): number => Math.floor(now() / rotateMs);
  return {
    current: () => nonceOf(period()).toString('base64url'),
    accepts(nonce) {
      if (typeof nonce !== 'string' || nonce.length !== 43) return false;
      const given = Buffer.from(nonce, 'base64url');
      if (given.length !== 32 || given.toString('base64url') !== nonce) return false;
      const p = period();
      // Both compared, always: the time taken says nothing about which one matched.
      const current = timingSafeEqual(given, nonceOf(p));
      const previous = timingSafeEqual(given, nonceOf(p - 1));
      return current || previous;
    },
  };
}

/** A refusal: which `error` the challenge names (§7.1), a short description, and the log line. */
export interface DpopRefusal {
  error: 'invalid_dpop_proof' | 'invalid_token' | 'use_dpop_nonce';
  description: string;
  message: string;
  /** The nonce to send in the `DPoP-Nonce` header of the 401 (§9): for `use_dpop_nonce`. */
  nonce?: string;
}

export interface InboundDpop {
  readonly required: boolean;
  /** How a token comes: `Authorization: Bearer` or `DPoP`; undefined when neither (or malformed). */
  presented(req: IncomingMessage): { scheme: 'bearer' | 'dpop'; token: string } | undefined;
  /** The DPoP checks for a token already verified (`payload`); undefined when the request may pass. */
  check(req: IncomingMessage, scheme: 'bearer' | 'dpop', token: string, payload: JWTPayload): Promise<DpopRefusal | undefined>;
}

const TOKEN = /^(Bearer|DPoP)[ ]+([A-Za-z0-9\-._~+/]+=*)\s*$/i;

function refusal(error: DpopRefusal['error'], description: string, message = description): DpopRefusal {
  return { error, description, message };
}

/** `htu` compared as RFC 9449 §4.3 asks: scheme, host and port normalised, path as it is, no query or fragment. */
function normalizedTarget(value: string): string | undefined {
  try {
    const url = new URL(value);
    return `${url.origin}${url.pathname}`;
  } catch {
    return undefined;
  }
}

/** The thumbprint a token is bound to (`cnf.jkt`), or undefined for an unbound (Bearer) token. */
function boundKey(payload: JWTPayload): string | undefined {
  const cnf = payload['cnf'];
  if (typeof cnf !== 'object' || cnf === null) return undefined;
  const jkt = (cnf as { jkt?: unknown }).jkt;
  return typeof jkt === 'string' ? jkt : undefined;
}

export function inboundDpop(options: InboundDpopOptions): InboundDpop {
  const windowSec = options.proofWindowSec ?? 120;
  const toleranceSec = options.clockToleranceSec ?? 5;
  const maxSeen = options.maxRememberedProofs ?? 100_000;
  const now = options.now ?? Date.now;
  const nonces = options.nonce ? dpopNonces(options.nonce, now) : undefined;
  /** `jkt jti` -> when it may be forgotten (ms): a proof outside the window is refused anyway. */
  const seen = new Map<string, number>();

  const remember = (key: string, until: number): boolean => {
    const at = now();
    if ((seen.get(key) ?? 0) > at) return false;
    if (seen.size >= maxSeen) {
      for (const [k, expires] of seen) if (expires <= at) seen.delete(k);
      while (seen.size >= maxSeen) seen.delete(seen.keys().next().value!);
    }
    seen.set(key, until);
    return true;
  };

  return {
    required: options.required,

    presented(req) {
      const header = req.headers.authorization;
      const match = header === undefined ? null : TOKEN.exec(header);
      return match ? { scheme: match[1]!.toLowerCase() as 'bearer' | 'dpop', token: match[2]! } : undefined;
    },

    async check(req, scheme, token, payload) {
      const jkt = boundKey(payload);
      if (scheme === 'bearer') {
        if (jkt !== undefined) return refusal('invalid_token', 'DPoP-bound token presented as Bearer', 'a DPoP-bound token was presented as a Bearer token (a downgrade); send it with "Authorization: DPoP" and a proof');
        if (options.required) return refusal('invalid_token', 'DPoP required', 'this server takes DPoP-bound tokens only (--oauth-require-dpop); the client must ask its authorization server for DPoP tokens');
        return undefined;
      }
      if (jkt === undefined) return refusal('invalid_token', 'token is not DPoP-bound', 'a token that is not DPoP-bound (no cnf.jkt) was presented with the DPoP scheme');
      const raw = req.headers['dpop'];
      if (raw === undefined) return refusal('invalid_dpop_proof', 'missing DPoP proof', 'the request has no DPoP proof header');
      // §4.3 check 1: exactly one proof (Node joins repeated headers with ", ").
      if (Array.isArray(raw) || raw.includes(',')) return refusal('invalid_dpop_proof', 'more than one DPoP proof');
      const jose = await import('jose');
      let header: ReturnType<typeof jose.decodeProtectedHeader>;
      try {
        header = jose.decodeProtectedHeader(raw);
      } catch {
        return refusal('invalid_dpop_proof', 'DPoP proof is not a JWT');
      }
      if (header.typ !== 'dpop+jwt') return refusal('invalid_dpop_proof', 'typ is not dpop+jwt');
      if (typeof header.alg !== 'string' || !DPOP_PROOF_ALGORITHMS.includes(header.alg)) return refusal('invalid_dpop_proof', 'unsupported proof algorithm');
      const jwk = header.jwk;
      if (typeof jwk !== 'object' || jwk === null) return refusal('invalid_dpop_proof', 'no jwk in the proof header');
      if ('d' in jwk || 'p' in jwk || 'k' in jwk) return refusal('invalid_dpop_proof', 'the proof jwk is not a public key');
      let claims: JWTPayload;
      try {
        const key = await jose.importJWK(jwk, header.alg);
        ({ payload: claims } = await jose.jwtVerify(raw, key, { typ: 'dpop+jwt', algorithms: DPOP_PROOF_ALGORITHMS }));
      } catch {
        return refusal('invalid_dpop_proof', 'DPoP proof signature does not verify');
      }
      if (typeof claims.jti !== 'string' || claims.jti.length === 0 || claims.jti.length > 256) return refusal('invalid_dpop_proof', 'missing or bad jti');
      if (claims['htm'] !== req.method) return refusal('invalid_dpop_proof', 'htm does not match the request method', `the DPoP proof is for the method ${JSON.stringify(String(claims['htm']).slice(0, 16))}, not ${req.method}`);
      const path = (req.url ?? '/').split('?', 1)[0]!;
      const htu = typeof claims['htu'] === 'string' ? normalizedTarget(claims['htu']) : undefined;
      const expected = options.expectedUrls(req, path).map(normalizedTarget);
      if (htu === undefined || !expected.includes(htu)) return refusal('invalid_dpop_proof', 'htu does not match the request URL', `the DPoP proof is for ${JSON.stringify(String(claims['htu']).slice(0, 200))}, not this request's URL`);
      const nowSec = now() / 1000;
      if (typeof claims.iat !== 'number' || claims.iat > nowSec + toleranceSec || claims.iat < nowSec - windowSec) return refusal('invalid_dpop_proof', 'iat outside the accepted window', `the DPoP proof's iat is outside the ${windowSec} s window`);
      if (claims['ath'] !== createHash('sha256').update(token, 'ascii').digest('base64url')) return refusal('invalid_dpop_proof', 'ath does not match the access token');
      if ((await jose.calculateJwkThumbprint(jwk, 'sha256')) !== jkt) return refusal('invalid_token', 'proof key does not match the token binding', "the DPoP proof is signed with another key than the one the token is bound to (cnf.jkt)");
      // §4.3 check 10, §9: a nonce this server issued, else a 401 that gives one (the client sends a new proof with it).
      if (nonces && !nonces.accepts(claims['nonce'])) {
        const given = claims['nonce'] !== undefined;
        return {
          ...refusal('use_dpop_nonce', 'Resource server requires nonce in DPoP proof', given ? 'the DPoP proof carries a nonce this server did not issue, or an expired one; a new one is in DPoP-Nonce' : 'the DPoP proof has no nonce; this server requires one (--oauth-dpop-nonce), given in DPoP-Nonce'),
          nonce: nonces.current(),
        };
      }
      // §11.1: a proof is used once. Remembered for as long as its iat is acceptable.
      if (!remember(`${jkt} ${claims.jti}`, (claims.iat + windowSec + toleranceSec) * 1000)) return refusal('invalid_dpop_proof', 'DPoP proof replayed', 'the DPoP proof was used before (its jti was seen): a replay');
      return undefined;
    },
  };
}
