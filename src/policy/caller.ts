/**
 * Who is calling, as the policy matches it. Built from the audit principal of the session: in
 * `serve` the inbound caller's checked token (or the holder of the static token), in `connect` the
 * logged-in user's token, in `run` the local OS user. A caller nobody identified is anonymous:
 * rules with a `principal` condition never match it, and it shares one rate-limit bucket.
 */
import type { AuditActor, AuditPrincipal } from '../audit/audit-record.js';

export interface Caller {
  /**
   * Stable per identity: the rate limiter's bucket key. Its parts are namespaced (a JSON array
   * naming what each is), so a client id never collides with a subject of the same text.
   */
  key: string;
  issuer?: string;
  subject?: string;
  clientId?: string;
  scopes: readonly string[];
  groups: readonly string[];
  roles: readonly string[];
  /** `sub` of each actor in the delegation chain, current actor first (RFC 8693 §4.1). */
  actors: readonly string[];
  delegated: boolean;
}

const NONE: readonly string[] = Object.freeze([]);

export const ANONYMOUS: Caller = Object.freeze({ key: 'anonymous', scopes: NONE, groups: NONE, roles: NONE, actors: NONE, delegated: false });

/** The local OS user (`run`): subject is the user name, issuer "local". */
export function localUserCaller(name: string): Caller {
  return { key: JSON.stringify(['local', name]), issuer: 'local', subject: name, scopes: NONE, groups: NONE, roles: NONE, actors: NONE, delegated: false };
}

/** Whoever holds serve's static token: one identity, subject "static-token". */
export const STATIC_TOKEN_CALLER: Caller = Object.freeze({ key: 'static-token', issuer: 'static-token', subject: 'static-token', scopes: NONE, groups: NONE, roles: NONE, actors: NONE, delegated: false });

/** How the policy names an actor of the delegation chain: its `sub`, else its client id. */
function actorName(actor: AuditActor): string {
  return actor.subject ?? actor.clientId ?? '';
}

export function callerFromPrincipal(principal: AuditPrincipal): Caller {
  const actors = principal.actors?.map(actorName) ?? NONE;
  return {
    // A token without `sub` is its client's: keyed as a client, never as the subject of that name (issue 20).
    key: JSON.stringify(principal.subject === undefined ? ['client', principal.issuer, principal.clientId] : ['subject', principal.issuer, principal.subject]),
    issuer: principal.issuer,
    ...(principal.subject === undefined ? {} : { subject: principal.subject }),
    ...(principal.clientId === '' ? {} : { clientId: principal.clientId }),
    scopes: principal.scopes,
    groups: principal.groups ?? NONE,
    roles: principal.roles ?? NONE,
    actors,
    delegated: actors.length > 0,
  };
}

/**
 * The caller of a session as a function the stage calls per message. The principal may change
 * between calls (serve: a refreshed token with other scopes); while it says the same thing, the
 * same Caller object is returned, so the stage can keep the decisions it made for it.
 */
export function callerSource(principal: (() => AuditPrincipal | null | undefined) | undefined, fallback: Caller): () => Caller {
  if (principal === undefined) return () => fallback;
  let last: AuditPrincipal | undefined;
  let caller = fallback;
  return () => {
    const current = principal() ?? undefined;
    if (current === undefined) return fallback;
    if (current !== last) {
      // serve checks the token of every request, so each brings a new (usually equal) principal.
      if (last === undefined || !samePrincipal(current, last)) caller = callerFromPrincipal(current);
      last = current;
    }
    return caller;
  };
}

function same(x: readonly string[] | undefined, y: readonly string[] | undefined): boolean {
  return x === y || (x !== undefined && y !== undefined && x.length === y.length && x.every((v, i) => v === y[i]));
}

function samePrincipal(a: AuditPrincipal, b: AuditPrincipal): boolean {
  return (
    a.issuer === b.issuer &&
    a.subject === b.subject &&
    a.clientId === b.clientId &&
    same(a.scopes, b.scopes) &&
    same(a.groups, b.groups) &&
    same(a.roles, b.roles) &&
    sameActors(a.actors, b.actors)
  );
}

/** Whether two delegation chains name the same actors (no arrays made: serve asks per request). */
function sameActors(x: readonly AuditActor[] | undefined, y: readonly AuditActor[] | undefined): boolean {
  if (x === y) return true;
  if ((x?.length ?? 0) !== (y?.length ?? 0)) return false;
  return x === undefined || x.every((actor, i) => actorName(actor) === actorName(y![i]!));
}

/** "subject \"alice\" (groups: support)", for refusals and `policy explain`. */
export function describeCaller(caller: Caller): string {
  if (caller === ANONYMOUS || (caller.subject === undefined && caller.clientId === undefined)) return 'an anonymous caller';
  const who = caller.subject !== undefined ? `subject ${JSON.stringify(caller.subject)}` : `client ${JSON.stringify(caller.clientId)}`;
  const actor = caller.actors.length > 0 ? ` through actor ${JSON.stringify(caller.actors[0])}` : '';
  const more = (['groups', 'roles', 'scopes'] as const).filter((k) => caller[k].length > 0).map((k) => `${k}: ${caller[k].map((v) => JSON.stringify(v)).join(', ')}`);
  return `${who}${actor}${more.length > 0 ? ` (${more.join('; ')})` : ''}`;
}
