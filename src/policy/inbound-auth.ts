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
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { AuditPrincipal } from '../audit/audit-record.js';
import { principalFromClaims, scopesOf, type IdentityClaimNames } from '../audit/principal.js';
import { describeError } from '../errors.js';
import type { Logger } from '../log.js';
import { globToRegExp } from './tool-policy.js';

/** The outcome of checking one request. */
export type AuthVerdict =
  /** `token`: the checked OAuth access token, kept only for RFC 8693 exchange (never sent upstream). */
  | { ok: true; principal: AuditPrincipal | null; scopes: string[]; token?: string }
  | { ok: false; status: 400 | 401 | 403 | 503; message: string; wwwAuthenticate?: string };

export interface InboundAuth {
  /** Check the request's credentials. */
  check(req: IncomingMessage): Promise<AuthVerdict>;
  /** A refusal when these scopes lack what calling `tool` needs (403 insufficient_scope), else undefined. */
  checkToolScope(tool: string, scopes: string[]): AuthVerdict | undefined;
}

/** RFC 6750 §2.1: `Authorization: Bearer <token>`; the only way we accept a token. */
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
  /** Least time between two JWKS fetches for unknown key ids (a flood of made-up kids cannot hammer the issuer). */
  jwksCooldownMs?: number;
  /** Where the caller's groups and roles are in the token, when the policy matches them (--policy-file `claims`). */
  identityClaims?: IdentityClaimNames;
  log: Logger;
}

/** The JWKS could not be fetched: the request is refused with 503, not let through. */
class KeysUnavailable extends Error {}

function challenge(options: OAuthResourceOptions, params: Record<string, string>): string {
  const all = { resource_metadata: options.resourceMetadataUrl, ...params };
  // RFC 6750 §3: quoted-string values; ours never contain quotes or backslashes, but be safe.
  return `Bearer ${Object.entries(all).map(([k, v]) => `${k}="${v.replace(/["\\]/g, '')}"`).join(', ')}`;
}

/** An OAuth 2.0 resource server over JWT access tokens (RFC 9068), keys from a JWKS (RFC 7517). */
export function oauthResourceAuth(options: OAuthResourceOptions): InboundAuth {
  // jose caches the set, refetches on an unknown kid, and keeps a floor between refetches.
  const remote = createRemoteJWKSet(new URL(options.jwksUri), { cooldownDuration: options.jwksCooldownMs ?? 30_000, cacheMaxAge: 10 * 60_000, timeoutDuration: 5_000 });
  const getKey: JWTVerifyGetKey = async (header, token) => {
    try {
      return await remote(header, token);
    } catch (error) {
      if (error instanceof joseErrors.JWKSNoMatchingKey || error instanceof joseErrors.JWKSMultipleMatchingKeys) throw error;
      throw new KeysUnavailable(describeError(error), { cause: error });
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
      const token = bearerToken(req);
      if (token === undefined) return unauthorized('this server requires an OAuth access token; see the resource_metadata in WWW-Authenticate');
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, getKey, {
          issuer: options.issuer,
          audience: options.audiences,
          clockTolerance: options.clockToleranceSec ?? 30,
          requiredClaims: ['exp'],
        }));
      } catch (error) {
        if (error instanceof KeysUnavailable) {
          options.log.error(`cannot fetch the signing keys from ${options.jwksUri}: ${error.message}`);
          return { ok: false, status: 503, message: `Service Unavailable: the authorization server's keys (${options.jwksUri}) cannot be fetched, so no token can be checked; try again later` };
        }
        const [message, description] = rejection(error);
        options.log.info(`refused a token: ${message}`);
        return unauthorized(message, description);
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
  if (error instanceof joseErrors.JWTExpired) return ['the token has expired', 'token expired'];
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    const claim = error.claim;
    if (error.reason === 'missing') return [`the token has no ${claim} claim`, `missing ${claim}`];
    if (claim === 'aud') return ['the token is for another audience (aud)', 'audience mismatch'];
    if (claim === 'iss') return ['the token comes from another issuer (iss)', 'issuer mismatch'];
    if (claim === 'nbf') return ['the token is not valid yet (nbf)', 'token not yet valid'];
    return [`the token's ${claim} claim is not acceptable`, `invalid ${claim}`];
  }
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return ['the token signature does not verify', 'bad signature'];
  if (error instanceof joseErrors.JWKSNoMatchingKey) return ['the token is signed with a key the issuer does not publish', 'unknown signing key'];
  if (error instanceof joseErrors.JOSEAlgNotAllowed || error instanceof joseErrors.JOSENotSupported) return ['the token uses an unsupported algorithm', 'unsupported algorithm'];
  return ['the token is not a valid JWT access token', 'malformed token'];
}
