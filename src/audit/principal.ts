/**
 * Who the calls are made as, for the audit record and the policy: issuer, subject, client id,
 * scopes, the delegation chain (RFC 8693 §4.1 `act`) and, when a policy asks for them, groups and
 * roles. Taken from the OAuth login when airlock holds the token, from a JWT access token serve
 * checked, or read from a JWT the user supplied in an `Authorization: Bearer` header. Never the
 * token itself.
 *
 * A header token's claims are read, not verified: airlock is not its audience and has no key for
 * it. The record says so (`verified: false`), so a reviewer knows the claims are as presented.
 */
import { parseScope } from '../auth/scopes.js';
import type { AuditActor, AuditPrincipal } from './audit-record.js';

/** JWT claims we read (RFC 9068 §2.2 names for access tokens; `azp` and `scp` as issuers vary). */
interface Claims {
  iss?: unknown;
  sub?: unknown;
  client_id?: unknown;
  azp?: unknown;
  scope?: unknown;
  scp?: unknown;
  act?: unknown;
}

/** Where groups and roles are in the claims: names of top-level claims, or JSON Pointers ("/realm_access/roles"). */
export interface IdentityClaimNames {
  groups: readonly string[];
  roles: readonly string[];
}

/** A hostile or broken token cannot make a record grow without bound. */
const MAX_CHAIN = 8;
const MAX_VALUES = 256;
const MAX_TEXT = 256;

/** The claims of a JWT, decoded without verification; undefined for an opaque or malformed token. */
export function jwtClaims(token: string): Record<string, unknown> | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const claims: unknown = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
    return typeof claims === 'object' && claims !== null && !Array.isArray(claims) ? (claims as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The principal a JWT access token claims to be; undefined for an opaque token or a malformed one. */
export function principalFromJwt(token: string): AuditPrincipal | undefined {
  const claims = jwtClaims(token);
  return claims === undefined ? undefined : principalFromClaims(claims, false);
}

/**
 * The principal in a token's claims (`verified` when airlock checked the signature itself).
 * Groups and roles are read only when `names` says where they are (a policy that matches them).
 */
export function principalFromClaims(value: unknown, verified: boolean, names?: IdentityClaimNames): AuditPrincipal | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const claims = value as Claims;
  if (typeof claims.iss !== 'string') return undefined;
  const clientId = typeof claims.client_id === 'string' ? claims.client_id : typeof claims.azp === 'string' ? claims.azp : '';
  const actors = actorChain(claims.act);
  return {
    issuer: claims.iss,
    ...(typeof claims.sub === 'string' ? { subject: claims.sub } : {}),
    ...(actors ? { actors } : {}),
    clientId,
    scopes: scopesOf(claims),
    ...(names ? identityClaims(value as Record<string, unknown>, names) : {}),
    verified,
  };
}

/**
 * RFC 8693 §4.1: `act` names the current actor; an `act` inside it names the one before, and so
 * on. Only the identifying members are kept (the RFC says the nested ones are informational: the
 * current actor is the one a decision should look at). Undefined only when there is no `act`.
 *
 * Any `act` makes the token delegated, whatever its shape (issue 20: an `act.sub` of 300
 * characters, empty, a number or an array once made a delegated token pass as direct, and a
 * `delegated: true` deny rule let the call through). A member that is not a usable string is kept
 * as text, cut at MAX_TEXT characters, never dropped; an `act` that is not an object is an actor
 * of its own, named by its JSON text.
 */
export function actorChain(act: unknown): AuditActor[] | undefined {
  if (act === undefined) return undefined;
  const chain: AuditActor[] = [];
  let current: unknown = act;
  while (current !== undefined && chain.length < MAX_CHAIN) {
    if (typeof current !== 'object' || current === null || Array.isArray(current)) {
      chain.push({ subject: claimText(current) });
      break;
    }
    const claims = current as Claims;
    const actor: AuditActor = {};
    if (claims.sub !== undefined) actor.subject = claimText(claims.sub);
    if (claims.iss !== undefined) actor.issuer = claimText(claims.iss);
    if (claims.client_id !== undefined) actor.clientId = claimText(claims.client_id);
    chain.push(actor);
    current = claims.act;
  }
  return chain;
}

/** A claim as text for the record and the rules: a string as it is, anything else as JSON; cut at MAX_TEXT. */
function claimText(value: unknown): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  return truncated(text);
}

/** Cut to MAX_TEXT characters, the last one an ellipsis, so a cut value shows it was cut. */
function truncated(text: string): string {
  return text.length <= MAX_TEXT ? text : `${text.slice(0, MAX_TEXT - 1)}\u2026`;
}

/** Groups and roles from the claims `names` points at (each claim an array of strings, or one string). */
export function identityClaims(claims: Record<string, unknown>, names: IdentityClaimNames): { groups?: string[]; roles?: string[] } {
  const groups = claimValues(claims, names.groups);
  const roles = claimValues(claims, names.roles);
  return { ...(groups ? { groups } : {}), ...(roles ? { roles } : {}) };
}

function claimValues(claims: Record<string, unknown>, names: readonly string[]): string[] | undefined {
  const values = new Set<string>();
  for (const name of names) {
    const value = name.startsWith('/') ? atPointer(claims, name) : Object.hasOwn(claims, name) ? claims[name] : undefined;
    for (const item of Array.isArray(value) ? value : [value]) {
      // A long value is cut, not dropped: a deny rule on a group must still see it.
      if (typeof item === 'string' && item !== '' && values.size < MAX_VALUES) values.add(truncated(item));
    }
  }
  return values.size > 0 ? [...values] : undefined;
}

/** RFC 6901 evaluation over own members only. */
function atPointer(document: unknown, pointer: string): unknown {
  let value = document;
  for (const raw of pointer.split('/').slice(1)) {
    const token = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (typeof value !== 'object' || value === null || !Object.hasOwn(value, token)) return undefined;
    value = (value as Record<string, unknown>)[token];
  }
  return value;
}

/**
 * The delegation chain and identity claims of a token airlock sends (connect), added to the
 * principal of the login that obtained it. The login's issuer, client and scopes stay as stored.
 */
export function withTokenClaims(principal: AuditPrincipal, claims: Record<string, unknown> | undefined, names?: IdentityClaimNames): AuditPrincipal {
  if (claims === undefined) return principal;
  const actors = actorChain(claims.act);
  const identity = names ? identityClaims(claims, names) : {};
  if (!actors && !identity.groups && !identity.roles) return principal;
  const { issuer, subject, clientId, scopes, verified } = principal;
  return {
    issuer,
    ...(subject === undefined ? {} : { subject }),
    ...(actors ? { actors } : {}),
    clientId,
    scopes,
    ...identity,
    ...(verified === undefined ? {} : { verified }),
  };
}

/**
 * RFC 9068 §2.2.3 `scope` (space-separated), or `scp`: an array for some issuers, a
 * space-separated string for others (Entra ID's delegated tokens). Read by serve's inbound checks
 * (a required or per-tool scope), the audit principal and doctor alike.
 */
export function scopesOf(claims: { scope?: unknown; scp?: unknown }): string[] {
  if (typeof claims.scope === 'string') return parseScope(claims.scope);
  if (Array.isArray(claims.scp)) return claims.scp.filter((s): s is string => typeof s === 'string');
  if (typeof claims.scp === 'string') return parseScope(claims.scp);
  return [];
}

/** The principal of the static headers, if they carry a bearer JWT. */
export function principalFromHeaders(headers: Record<string, string>): AuditPrincipal | undefined {
  const token = bearerOf(headers.authorization);
  return token === undefined ? undefined : principalFromJwt(token);
}

/** The claims of a bearer JWT in the static headers (read, not verified), if there is one. */
export function claimsFromHeaders(headers: Record<string, string>): Record<string, unknown> | undefined {
  const token = bearerOf(headers.authorization);
  return token === undefined ? undefined : jwtClaims(token);
}

/** The token of an `Authorization: Bearer` value. */
export function bearerOf(value: string | undefined): string | undefined {
  const match = value === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(value);
  return match ? match[1]! : undefined;
}
