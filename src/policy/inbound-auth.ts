/**
 * Who may use `serve`: the checks on every MCP request's credentials, as the MCP authorization
 * spec asks of a server (2025-11-25 basic/authorization, "Access Token Usage" and "Token
 * Handling"). Either a static bearer token, compared in constant time, or an OAuth resource
 * server: JWT access tokens checked against the authorization server's JWKS (signature, issuer,
 * audience, expiry, not-before), with RFC 9728 metadata so clients find where to log in.
 *
 * Fail closed: a JWKS that cannot be fetched refuses the request (503), never lets it through.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import type { AuditPrincipal } from '../audit/audit-record.js';
import { principalFromClaims, scopesOf, type IdentityClaimNames } from '../audit/principal.js';
import { AirlockError, describeError, quote } from '../errors.js';
import type { Logger } from '../log.js';
import { redactString, redactUrl, redactValues, urlSecretValues } from '../redact.js';
import { isLoopbackHost } from '../transports/http-guard.js';
import { readTextWithin } from '../transports/http-request.js';
import type { InboundDpop } from './inbound-dpop.js';
import { DPOP_PROOF_ALGORITHMS } from './inbound-dpop.js';
import { globToRegExp } from './tool-policy.js';

/** The outcome of checking one request. */
export type AuthVerdict =
  /** `token`: the checked OAuth access token, kept only for RFC 8693 exchange (never sent upstream). */
  | { ok: true; principal: AuditPrincipal | null; scopes: string[]; token?: string }
  /** `headers`: more response headers of the refusal (RFC 9449 §9 `DPoP-Nonce`). */
  | { ok: false; status: 400 | 401 | 403 | 503; message: string; wwwAuthenticate?: string; headers?: Record<string, string> };

export interface InboundAuth {
  /** Check the request's credentials. */
  check(req: IncomingMessage): Promise<AuthVerdict>;
  /** A refusal when these scopes lack what calling `tool` needs (403 insufficient_scope), else undefined. */
  checkToolScope(tool: string, scopes: string[]): AuthVerdict | undefined;
}

/**
 * Who owns a serve session: the issuer and the subject (`sub`), else the issuer and the client
 * (`client_id`, RFC 9068 §2.2), in separate name spaces so that a token without `sub` whose client
 * id is someone's subject cannot claim that person's session. Never `azp`: `oauthResourceAuth`
 * refuses a token that names neither a subject nor a client_id. Null for a caller without a principal.
 */
export function sessionOwner(principal: AuditPrincipal | null | undefined): string | null {
  if (!principal) return null;
  return principal.subject !== undefined ? `${principal.issuer} sub:${principal.subject}` : `${principal.issuer} client:${principal.clientId}`;
}

/** A Bearer token, as the DPoP-aware `presented` of inbound-dpop.ts gives it. */
function bearerPresented(req: IncomingMessage): { scheme: 'bearer'; token: string } | undefined {
  const token = bearerToken(req);
  return token === undefined ? undefined : { scheme: 'bearer', token };
}

/** RFC 6750 §2.1: `Authorization: Bearer <token>`; without DPoP, the only way we accept a token. */
export function bearerToken(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  const match = header === undefined ? null : /^Bearer[ ]+([A-Za-z0-9\-._~+/]+=*)\s*$/i.exec(header);
  return match ? match[1] : undefined;
}

/**
 * RFC 6750 §2.3 allows `access_token` in the query; MCP forbids it (2025-11-25 authorization,
 * "Token Requirements"): URLs end up in logs and browser history. Such a request is refused.
 */
function tokenInQuery(req: IncomingMessage): boolean {
  const query = (req.url ?? '').split('?', 2)[1];
  return query !== undefined && new URLSearchParams(query).has('access_token');
}

const QUERY_REFUSAL: AuthVerdict = {
  ok: false,
  status: 400,
  message: 'Bad Request: access tokens are not accepted in the URL query; send them in the Authorization header',
  wwwAuthenticate: 'Bearer error="invalid_request", error_description="token in query string not accepted"',
};

/** A static token: `--auth-token-file`, `--auth-token-env`, `--auth-token-generate`. */
export function staticTokenAuth(expected: string): InboundAuth {
  // Compare digests: equal length whatever the input, so the comparison time says nothing.
  const want = createHash('sha256').update(expected).digest();
  return {
    async check(req) {
      if (tokenInQuery(req)) return QUERY_REFUSAL;
      const token = bearerToken(req);
      if (token === undefined) return { ok: false, status: 401, message: 'Unauthorized: send the token as "Authorization: Bearer <token>"', wwwAuthenticate: 'Bearer' };
      const got = createHash('sha256').update(token).digest();
      if (!timingSafeEqual(got, want)) return { ok: false, status: 401, message: 'Unauthorized: the token is not valid', wwwAuthenticate: 'Bearer error="invalid_token"' };
      return { ok: true, principal: null, scopes: [] };
    },
    checkToolScope: () => undefined,
  };
}

export interface OAuthResourceOptions {
  issuer: string;
  jwksUri: string;
  /** Accepted `aud` values (the canonical resource URLs by default). */
  audiences: string[];
  /** Scopes every request needs. */
  requiredScopes: string[];
  /** `pattern=scope`: calling a matching tool also needs the scope. */
  toolScopes: Array<{ pattern: string; scope: string }>;
  /** The metadata URL clients are pointed at in WWW-Authenticate (RFC 9728 §5.1). */
  resourceMetadataUrl: string;
  /** Seconds of clock difference tolerated for exp and nbf. */
  clockToleranceSec?: number;
  /**
   * Least time between two JWKS fetches: for unknown key ids (a flood of made-up kids cannot hammer
   * the issuer), and after a failed fetch (while the JWKS is down, requests get 503 from the
   * remembered failure instead of a fetch each).
   */
  jwksCooldownMs?: number;
  /** The largest JWKS accepted, in bytes (default 256 KiB): a huge one is refused, not parsed. */
  jwksMaxBytes?: number;
  /** Accept `typ: JWT` (or no typ) as well as RFC 9068's `at+jwt`, for providers that send plain JWTs. */
  allowPlainJwtTyp?: boolean;
  /** Where the caller's groups and roles are in the token, when the policy matches them (--policy-file `claims`). */
  identityClaims?: IdentityClaimNames;
  /** Fetch for the JWKS (tests); default the global fetch. */
  fetch?: typeof fetch;
  /** DPoP-bound tokens (RFC 9449 §7): how they are checked, and whether only they are taken. */
  dpop?: InboundDpop;
  log: Logger;
}

/** Asymmetric JWS algorithms (RFC 7518 §3, RFC 8037): a JWKS publishes public keys, so never HS* and never `none`. */
const SUPPORTED_JWT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];

const DEFAULT_JWKS_MAX_BYTES = 256 * 1024;

/**
 * The JWKS URL must be https, or http to a loopback host, or http with --allow-http: keys fetched
 * over plain http can be swapped on the way, and then any token verifies.
 */
export function checkJwksUri(jwksUri: string, allowHttp: boolean, what = '--oauth-jwks'): URL {
  let url: URL;
  try {
    url = new URL(jwksUri);
  } catch {
    throw new AirlockError('AIRLOCK_USAGE', `${what}: ${quote(redactString(jwksUri))} is not a URL`, { hint: 'Give the JWKS URL of the authorization server, https://….' });
  }
  if (url.protocol === 'https:') return url;
  if (url.protocol === 'http:' && (allowHttp || isLoopbackHost(url.hostname))) return url;
  throw new AirlockError('AIRLOCK_USAGE', `${what}: the JWKS ${quote(redactUrl(jwksUri))} is not https; keys fetched over plain http could be replaced on the way`, {
    hint: url.protocol === 'http:' ? 'Use the https URL, or pass --allow-http if this network is trusted.' : 'Use the https URL of the JWKS.',
  });
}

/** The JWKS could not be fetched: the request is refused with 503, not let through. */
class KeysUnavailable extends Error {}

/** A token refused before verification: its header names no algorithm we accept. */
class UnsupportedAlgorithm extends Error {}

/**
 * The `WWW-Authenticate` value: a Bearer challenge, or a DPoP one (RFC 9449 §7.1, with `algs`) when
 * DPoP is required or the refusal is about DPoP. Where both are taken, Bearer alone: DPoP clients
 * learn of DPoP from the metadata (`dpop_signing_alg_values_supported`).
 */
function challenge(options: OAuthResourceOptions, params: Record<string, string>, scheme?: 'dpop'): string {
  const all = { resource_metadata: options.resourceMetadataUrl, ...params };
  // RFC 6750 §3: quoted-string values; ours never contain quotes or backslashes, but be safe.
  const text = Object.entries(all).map(([k, v]) => `${k}="${v.replace(/["\\]/g, '')}"`).join(', ');
  return options.dpop?.required || scheme === 'dpop' ? `DPoP algs="${DPOP_PROOF_ALGORITHMS.join(' ')}", ${text}` : `Bearer ${text}`;
}

/** The JOSE header of a compact JWS, or undefined when it is not one. */
function protectedHeader(token: string): { alg?: unknown; typ?: unknown } | undefined {
  const dot = token.indexOf('.');
  if (dot <= 0) return undefined;
  try {
    const value = JSON.parse(Buffer.from(token.slice(0, dot), 'base64url').toString('utf8')) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as { alg?: unknown; typ?: unknown }) : undefined;
  } catch {
    return undefined;
  }
}

/** RFC 9068 §2.1: `at+jwt`, also written `application/at+jwt`. */
function typOf(value: unknown): string | undefined {
  return typeof value === 'string' ? value.toLowerCase().replace(/^application\//, '') : undefined;
}

type JoseModule = typeof import('jose');
let joseModule: Promise<JoseModule> | undefined;
/** jose loads only when a token is first checked. */
const loadJose = (): Promise<JoseModule> => (joseModule ??= import('jose'));

/** Read a response body up to `limit` bytes; past it, stop reading and fail. */
async function readCapped(response: Response, limit: number): Promise<string> {
  const declared = Number(response.headers.get('content-length'));
  if (declared > limit) {
    await response.body?.cancel().catch(() => undefined);
    throw new Error(`the JWKS is ${declared} bytes, more than the ${limit} accepted`);
  }
  if (!response.body) return '';
  const body = await readTextWithin({ body: response.body }, limit);
  if (!body.complete) throw new Error(`the JWKS is more than the ${limit} bytes accepted`);
  return body.text;
}

/**
 * The JWKS URL as fetched (without userinfo: fetch refuses a URL with credentials, so a
 * `user:password@` becomes client_secret_basic-style `Authorization: Basic`), and the forms of it
 * that may be shown (see redactUrl) or must be scrubbed from error texts.
 */
function jwksTarget(jwksUri: string): { url: string; headers: Record<string, string>; shown: string; scrub: (text: string) => string } {
  const url = new URL(jwksUri);
  const headers: Record<string, string> = { accept: 'application/json' };
  if (url.username || url.password) {
    const decode = (v: string): string => {
      try {
        return decodeURIComponent(v);
      } catch {
        return v;
      }
    };
    headers['authorization'] = `Basic ${Buffer.from(`${decode(url.username)}:${decode(url.password)}`, 'utf8').toString('base64')}`;
    url.username = '';
    url.password = '';
  }
  const secrets = urlSecretValues(jwksUri);
  if (headers['authorization']) secrets.push(headers['authorization'].slice('Basic '.length));
  return { url: url.href, headers, shown: redactUrl(jwksUri), scrub: (text) => redactValues(text, secrets) };
}

/**
 * The issuer's keys: fetched when first needed, again after 10 minutes or for an unknown key id,
 * never larger than the cap. Fetches are at most one per cooldown, whatever asks for them (a flood
 * of made-up kids cannot hammer the issuer). A failed fetch never spoils the keys already held:
 * a token signed with a cached key keeps validating while the issuer is unreachable; only a token
 * that needs keys airlock does not have (none fetched yet, an unknown kid) gets the 503, and
 * without keys at all the remembered failure answers until the cooldown has passed.
 */
function keySource(options: OAuthResourceOptions, target: ReturnType<typeof jwksTarget>): JWTVerifyGetKey {
  const cooldownMs = options.jwksCooldownMs ?? 30_000;
  const maxAgeMs = 10 * 60_000;
  const limit = options.jwksMaxBytes ?? DEFAULT_JWKS_MAX_BYTES;
  const doFetch = options.fetch ?? globalThis.fetch;
  let keys: JWTVerifyGetKey | undefined;
  let fetchedAt = 0;
  /** When the last fetch started, whatever came of it: the cooldown counts from here. */
  let attemptedAt = 0;
  let failure: { message: string; at: number } | undefined;
  let inflight: Promise<void> | undefined;

  const refresh = (): Promise<void> => {
    inflight ??= (async () => {
      attemptedAt = Date.now();
      const jose = await loadJose();
      try {
        const response = await doFetch(target.url, { headers: target.headers, redirect: 'error', signal: AbortSignal.timeout(5_000) });
        if (!response.ok) {
          await response.body?.cancel().catch(() => undefined);
          throw new Error(`HTTP ${response.status}`);
        }
        const text = await readCapped(response, limit);
        let document: unknown;
        try {
          document = JSON.parse(text);
        } catch {
          throw new Error('the JWKS is not JSON');
        }
        keys = jose.createLocalJWKSet(document as Parameters<JoseModule['createLocalJWKSet']>[0]);
        fetchedAt = Date.now();
        failure = undefined;
      } catch (error) {
        failure = { message: target.scrub(describeError(error)), at: Date.now() };
        throw new KeysUnavailable(failure.message);
      } finally {
        inflight = undefined;
      }
    })();
    return inflight;
  };

  const coolingDown = (): boolean => Date.now() - attemptedAt < cooldownMs;

  return async (header, token) => {
    if (!keys) {
      if (failure && coolingDown()) throw new KeysUnavailable(failure.message);
      await refresh();
    } else if (Date.now() - fetchedAt > maxAgeMs && !coolingDown()) {
      // Time to look again; an issuer that cannot be reached leaves the keys held as they are.
      await refresh().catch((error: unknown) => options.log.warn(`cannot refetch the signing keys from ${target.shown}: ${describeError(error)}; still using the keys fetched ${Math.round((Date.now() - fetchedAt) / 60_000)} min ago`));
    }
    try {
      return await keys!(header, token);
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'ERR_JWKS_NO_MATCHING_KEY') throw error;
      // Within the cooldown: the last fetch decides. It failed: the key cannot be known (503);
      // it succeeded: the issuer does not publish the key (401).
      if (coolingDown()) {
        if (failure && failure.at >= fetchedAt) throw new KeysUnavailable(failure.message);
        throw error;
      }
    }
    // An unknown key id: perhaps the issuer rotated its keys. Look once more (a failure here
    // answers this token only).
    await refresh();
    return keys!(header, token);
  };
}

/** An OAuth 2.0 resource server over JWT access tokens (RFC 9068), keys from a JWKS (RFC 7517). */
export function oauthResourceAuth(options: OAuthResourceOptions): InboundAuth {
  // The JWKS URL may carry credentials (userinfo, a query key): messages and logs show it redacted.
  const jwks = jwksTarget(options.jwksUri);
  const keys = keySource(options, jwks);
  const getKey: JWTVerifyGetKey = async (header, token) => {
    try {
      return await keys(header, token);
    } catch (error) {
      if (error instanceof KeysUnavailable) throw error;
      const code = (error as { code?: unknown }).code;
      if (typeof code === 'string' && code.startsWith('ERR_J')) throw error; // a verdict on the token, not the keys
      throw new KeysUnavailable(jwks.scrub(describeError(error)));
    }
  };
  const scopeParam: Record<string, string> = options.requiredScopes.length > 0 ? { scope: options.requiredScopes.join(' ') } : {};
  const unauthorized = (message: string, description?: string): AuthVerdict => ({
    ok: false,
    status: 401,
    message: `Unauthorized: ${message}`,
    wwwAuthenticate: challenge(options, description === undefined ? scopeParam : { ...scopeParam, error: 'invalid_token', error_description: description }),
  });
  const toolRules = options.toolScopes.map((rule) => ({ ...rule, re: globToRegExp(rule.pattern) }));

  return {
    async check(req) {
      if (tokenInQuery(req)) return QUERY_REFUSAL;
      const presented = options.dpop ? options.dpop.presented(req) : bearerPresented(req);
      if (presented === undefined) return unauthorized('this server requires an OAuth access token; see the resource_metadata in WWW-Authenticate');
      const { token } = presented;
      let payload: JWTPayload;
      try {
        // Before any key is looked up: `alg: none` or an algorithm we do not take is the token's
        // fault (401), never an outage of the keys (503).
        const header = protectedHeader(token);
        if (!header) throw Object.assign(new Error('not a JWS'), { code: 'ERR_JWS_INVALID' });
        if (typeof header.alg !== 'string' || !SUPPORTED_JWT_ALGORITHMS.includes(header.alg)) throw new UnsupportedAlgorithm(typeof header.alg === 'string' ? header.alg.slice(0, 20) : 'none given');
        const typ = typOf(header.typ);
        if (typ !== 'at+jwt' && !(options.allowPlainJwtTyp && (typ === undefined || typ === 'jwt'))) {
          options.log.info(`refused a token: its typ is ${JSON.stringify(header.typ ?? null)}, not at+jwt`);
          return unauthorized(
            `the token is not a JWT access token (typ ${JSON.stringify(typeof header.typ === 'string' ? header.typ.slice(0, 40) : null)}, RFC 9068 wants at+jwt)${options.allowPlainJwtTyp ? '' : '; a provider that sends typ JWT needs --oauth-allow-plain-jwt'}`,
            'typ is not at+jwt',
          );
        }
        const jose = await loadJose();
        ({ payload } = await jose.jwtVerify(token, getKey, {
          issuer: options.issuer,
          audience: options.audiences,
          clockTolerance: options.clockToleranceSec ?? 30,
          requiredClaims: ['exp'],
          algorithms: SUPPORTED_JWT_ALGORITHMS,
        }));
      } catch (error) {
        if (error instanceof KeysUnavailable) {
          options.log.error(`cannot fetch the signing keys from ${jwks.shown}: ${jwks.scrub(error.message)}`);
          return { ok: false, status: 503, message: `Service Unavailable: the authorization server's keys (${jwks.shown}) cannot be fetched, so no token can be checked; try again later` };
        }
        const [message, description] = rejection(error);
        options.log.info(`refused a token: ${message}`);
        return unauthorized(message, description);
      }
      // RFC 9068 §2.2 requires both; the session owner needs one of them (never azp, see sessionOwner).
      if (typeof payload.sub !== 'string' && typeof payload.client_id !== 'string') {
        options.log.info('refused a token: it names neither a subject (sub) nor a client (client_id)');
        return unauthorized('the token names neither a subject (sub) nor a client (client_id)', 'missing sub and client_id');
      }
      const refused = await options.dpop?.check(req, presented.scheme, token, payload);
      if (refused) {
        options.log.info(`refused a token: ${refused.message}`);
        return {
          ok: false,
          status: 401,
          message: `Unauthorized: ${refused.message}`,
          wwwAuthenticate: challenge(options, { ...scopeParam, error: refused.error, error_description: refused.description }, 'dpop'),
          ...(refused.nonce !== undefined ? { headers: { 'DPoP-Nonce': refused.nonce } } : {}),
        };
      }
      const scopes = scopesOf(payload as { scope?: unknown; scp?: unknown });
      const missing = options.requiredScopes.filter((s) => !scopes.includes(s));
      if (missing.length > 0) {
        return {
          ok: false,
          status: 403,
          message: `Forbidden: the token lacks the scope ${missing.join(' ')}`,
          wwwAuthenticate: challenge(options, { error: 'insufficient_scope', scope: options.requiredScopes.join(' '), error_description: `requires ${missing.join(' ')}` }),
        };
      }
      // The principal carries the delegation chain (RFC 8693 §4.1 `act`) and, for the policy, groups and roles.
      return { ok: true, principal: principalFromClaims(payload, true, options.identityClaims) ?? null, scopes, token };
    },
    checkToolScope(tool, scopes) {
      const needed = [...new Set(toolRules.filter((r) => r.re.test(tool)).map((r) => r.scope))];
      const missing = needed.filter((s) => !scopes.includes(s));
      if (missing.length === 0) return undefined;
      // RFC 6750 §3.1 and MCP "Scope Challenge Handling": name every scope the call needs, so the
      // client can re-authorize with them.
      const all = [...new Set([...options.requiredScopes, ...scopes, ...needed])].join(' ');
      return {
        ok: false,
        status: 403,
        message: `Forbidden: calling tool ${JSON.stringify(tool)} requires the scope ${missing.join(' ')}`,
        wwwAuthenticate: challenge(options, { error: 'insufficient_scope', scope: all, error_description: `tool requires ${missing.join(' ')}` }),
      };
    },
  };
}

/** A one-line reason for a rejected token, and the error_description for the client. */
function rejection(error: unknown): [string, string] {
  if (error instanceof UnsupportedAlgorithm) return [`the token uses an unsupported algorithm (${JSON.stringify(error.message)})`, 'unsupported algorithm'];
  const code = (error as { code?: unknown }).code;
  if (code === 'ERR_JWT_EXPIRED') return ['the token has expired', 'token expired'];
  if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED') {
    const { claim, reason } = error as { claim: string; reason: string };
    if (reason === 'missing') return [`the token has no ${claim} claim`, `missing ${claim}`];
    if (claim === 'aud') return ['the token is for another audience (aud)', 'audience mismatch'];
    if (claim === 'iss') return ['the token comes from another issuer (iss)', 'issuer mismatch'];
    if (claim === 'nbf') return ['the token is not valid yet (nbf)', 'token not yet valid'];
    return [`the token's ${claim} claim is not acceptable`, `invalid ${claim}`];
  }
  if (code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') return ['the token signature does not verify', 'bad signature'];
  if (code === 'ERR_JWKS_NO_MATCHING_KEY') return ['the token is signed with a key the issuer does not publish', 'unknown signing key'];
  if (code === 'ERR_JOSE_ALG_NOT_ALLOWED' || code === 'ERR_JOSE_NOT_SUPPORTED') return ['the token uses an unsupported algorithm', 'unsupported algorithm'];
  return ['the token is not a valid JWT access token', 'malformed token'];
}
