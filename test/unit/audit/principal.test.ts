import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { actorChain, claimsFromHeaders, identityClaims, principalFromClaims, principalFromHeaders, withTokenClaims } from '../../../src/audit/principal.js';

/** An unsigned-looking JWT (the signature is not checked by these readers). */
async function jwt(claims: Record<string, unknown>): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode('k'.repeat(32)));
}

describe('actorChain (RFC 8693 §4.1 act)', () => {
  it('lists the current actor first, then each earlier one', () => {
    const act = { sub: 'agent-7', iss: 'https://idp', act: { sub: 'orchestrator', client_id: 'orch', act: { sub: 'scheduler' } } };
    expect(actorChain(act)).toEqual([{ subject: 'agent-7', issuer: 'https://idp' }, { subject: 'orchestrator', clientId: 'orch' }, { subject: 'scheduler' }]);
  });

  it('is undefined only without act, and stops at a chain too long', () => {
    expect(actorChain(undefined)).toBeUndefined();
    let deep: Record<string, unknown> = { sub: 'last' };
    for (let i = 0; i < 20; i++) deep = { sub: `a${i}`, act: deep };
    expect(actorChain(deep)).toHaveLength(8);
  });

  // Issue 20: each of these made a delegated token pass as direct (the chain came back undefined).
  it('keeps an act of any shape as an actor: a member that is not a string as its JSON text, a long one cut, never dropped', () => {
    const long = 'x'.repeat(300);
    expect(actorChain({ sub: long })).toEqual([{ subject: `${'x'.repeat(255)}\u2026` }]);
    expect(actorChain({ sub: '' })).toEqual([{ subject: '' }]);
    expect(actorChain({ sub: 5 })).toEqual([{ subject: '5' }]);
    expect(actorChain({ sub: ['agent', 'other'] })).toEqual([{ subject: '["agent","other"]' }]);
    expect(actorChain({ sub: { nested: true }, client_id: 7 })).toEqual([{ subject: '{"nested":true}', clientId: '7' }]);
    expect(actorChain({})).toEqual([{}]);
    expect(actorChain({ client_id: long })).toEqual([{ clientId: `${'x'.repeat(255)}\u2026` }]);
    expect(actorChain('agent')).toEqual([{ subject: 'agent' }]);
    expect(actorChain([{ sub: 'x' }])).toEqual([{ subject: '[{"sub":"x"}]' }]);
    expect(actorChain(null)).toEqual([{ subject: 'null' }]);
    expect(actorChain(42)).toEqual([{ subject: '42' }]);
    expect(actorChain({ sub: 'a', act: 'b' })).toEqual([{ subject: 'a' }, { subject: 'b' }]);
    expect(actorChain({ sub: 'x'.repeat(100_000) })![0]!.subject).toHaveLength(256);
  });

  it('cuts a long group instead of dropping it', () => {
    expect(identityClaims({ groups: ['admins-'.padEnd(400, 'x'), 'eng', 7] }, { groups: ['groups'], roles: [] })).toEqual({ groups: [`${'admins-'.padEnd(255, 'x')}\u2026`, 'eng'] });
  });
});

describe('principalFromClaims', () => {
  const claims = {
    iss: 'https://idp',
    sub: 'alice',
    client_id: 'gateway',
    scope: 'mcp:read mcp:write',
    act: { sub: 'agent-7' },
    groups: ['support', 7, 'eng'],
    roles: 'admin',
    realm_access: { roles: ['viewer', 'editor'] },
  };

  it('records the delegation chain next to the subject, always', () => {
    const principal = principalFromClaims(claims, true)!;
    expect(principal).toEqual({ issuer: 'https://idp', subject: 'alice', actors: [{ subject: 'agent-7' }], clientId: 'gateway', scopes: ['mcp:read', 'mcp:write'], verified: true });
    expect(Object.keys(principal)).toEqual(['issuer', 'subject', 'actors', 'clientId', 'scopes', 'verified']);
  });

  it('reads groups and roles only when told where they are: names or JSON Pointers', () => {
    expect(principalFromClaims(claims, true, { groups: ['groups'], roles: ['roles', '/realm_access/roles'] })).toMatchObject({ groups: ['support', 'eng'], roles: ['admin', 'viewer', 'editor'] });
    expect(principalFromClaims({ iss: 'i' }, true, { groups: ['groups'], roles: ['roles'] })).toEqual({ issuer: 'i', clientId: '', scopes: [], verified: true });
    expect(identityClaims({ 'https://example.com/groups': ['a'], 'a/b': ['c'] }, { groups: ['https://example.com/groups', '/a~1b'], roles: ['/missing/deeper'] })).toEqual({ groups: ['a', 'c'] });
    expect(identityClaims({ toString: ['x'] }, { groups: ['constructor'], roles: ['/toString'] })).toEqual({ roles: ['x'] });
  });

  it('a principal without an act claim is as before', () => {
    expect(principalFromClaims({ iss: 'i', sub: 's', azp: 'a', scp: ['x'] }, false)).toEqual({ issuer: 'i', subject: 's', clientId: 'a', scopes: ['x'], verified: false });
  });
});

describe('withTokenClaims (connect: the login principal plus its token claims)', () => {
  const login = { issuer: 'https://idp', subject: 'alice', clientId: 'airlock', scopes: ['mcp:read'] };
  it('adds the chain and the identity claims, keeping the login\'s issuer, client and scopes', () => {
    const claims = { iss: 'https://elsewhere', client_id: 'other', scope: 'x', act: { sub: 'agent' }, groups: ['support'] };
    expect(withTokenClaims(login, claims, { groups: ['groups'], roles: [] })).toEqual({ ...login, actors: [{ subject: 'agent' }], groups: ['support'] });
    expect(withTokenClaims(login, claims)).toEqual({ ...login, actors: [{ subject: 'agent' }] });
  });
  it('returns the same object when the token adds nothing', () => {
    expect(withTokenClaims(login, undefined)).toBe(login);
    expect(withTokenClaims(login, { groups: ['x'] })).toBe(login);
  });
});

describe('headers', () => {
  it('reads a bearer JWT from the static headers, unverified, with its chain', async () => {
    const token = await jwt({ iss: 'https://idp', sub: 'ci', act: { sub: 'bot' }, groups: ['ci'] });
    expect(principalFromHeaders({ authorization: `Bearer ${token}` })).toEqual({ issuer: 'https://idp', subject: 'ci', actors: [{ subject: 'bot' }], clientId: '', scopes: [], verified: false });
    expect(claimsFromHeaders({ authorization: `Bearer ${token}` })).toMatchObject({ sub: 'ci', groups: ['ci'] });
    expect(claimsFromHeaders({ authorization: 'Bearer opaque-token' })).toBeUndefined();
    expect(claimsFromHeaders({})).toBeUndefined();
  });
});
