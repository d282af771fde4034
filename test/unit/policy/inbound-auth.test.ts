import type { IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearerToken, oauthResourceAuth, staticTokenAuth } from '../../../src/policy/inbound-auth.js';
import { createLogger } from '../../../src/log.js';
import { KeyServer } from '../../helpers/key-server.js';

const request = (headers: Record<string, string>, url = '/mcp'): IncomingMessage => ({ headers, url }) as unknown as IncomingMessage;
const log = createLogger('silent');

describe('bearerToken', () => {
  it('takes only a well-formed Authorization: Bearer header', () => {
    expect(bearerToken(request({ authorization: 'Bearer abc.def-ghi_~+/==' }))).toBe('abc.def-ghi_~+/==');
    expect(bearerToken(request({ authorization: 'bearer   xyz' }))).toBe('xyz');
    expect(bearerToken(request({ authorization: 'Basic abc' }))).toBeUndefined();
    expect(bearerToken(request({ authorization: 'Bearer two words' }))).toBeUndefined();
    expect(bearerToken(request({}))).toBeUndefined();
  });
});

describe('staticTokenAuth', () => {
  const auth = staticTokenAuth('s3cret');
  it('accepts the token, refuses others and the query form', async () => {
    expect(await auth.check(request({ authorization: 'Bearer s3cret' }))).toEqual({ ok: true, principal: null, scopes: [] });
    expect(await auth.check(request({ authorization: 'Bearer s3cret2' }))).toMatchObject({ ok: false, status: 401 });
    expect(await auth.check(request({ authorization: 'Bearer s3cre' }))).toMatchObject({ ok: false, status: 401 });
    expect(await auth.check(request({}, '/mcp?access_token=s3cret'))).toMatchObject({ ok: false, status: 400 });
    expect(auth.checkToolScope('anything', [])).toBeUndefined();
  });
});

describe('oauthResourceAuth', () => {
  const idp = new KeyServer();
  beforeAll(async () => {
    await idp.start();
    await idp.addKey('k1');
  });
  afterAll(() => idp.close());

  const make = (cooldown: number) =>
    oauthResourceAuth({ issuer: idp.url, jwksUri: `${idp.url}/jwks`, audiences: ['http://r/mcp'], requiredScopes: [], toolScopes: [{ pattern: 'admin_*', scope: 'admin' }], resourceMetadataUrl: 'http://r/.well-known/oauth-protected-resource/mcp', jwksCooldownMs: cooldown, log });

  it('follows a key rotation: an unknown kid refetches the JWKS once the floor has passed', async () => {
    const auth = make(50);
    const bearer = async (kid: string) => request({ authorization: `Bearer ${await idp.token({ sub: 'u', aud: 'http://r/mcp' }, { kid })}` });
    expect(await auth.check(await bearer('k1'))).toMatchObject({ ok: true });
    await idp.addKey(`k2-${Date.now()}`);
    const kid2 = idp.keys.at(-1)!.kid!;
    await new Promise((r) => setTimeout(r, 80));
    expect(await auth.check(await bearer(kid2))).toMatchObject({ ok: true, principal: { subject: 'u', issuer: idp.url, verified: true } });
  });

  it('within the floor, an unknown kid is refused rather than refetched', async () => {
    const auth = make(60_000);
    expect(await auth.check(request({ authorization: `Bearer ${await idp.token({ sub: 'u', aud: 'http://r/mcp' })}` }))).toMatchObject({ ok: true });
    await idp.addKey(`k3-${Date.now()}`);
    const verdict = await auth.check(request({ authorization: `Bearer ${await idp.token({ sub: 'u', aud: 'http://r/mcp' }, { kid: idp.keys.at(-1)!.kid! })}` }));
    expect(verdict).toMatchObject({ ok: false, status: 401, message: 'Unauthorized: the token is signed with a key the issuer does not publish' });
  });

  it('a token without exp is refused; tool scopes are checked per tool', async () => {
    const auth = make(50);
    const noExp = await idp.token({ sub: 'u', aud: 'http://r/mcp' }, { expiresIn: null });
    expect(JSON.parse(Buffer.from(noExp.split('.')[1]!, 'base64url').toString())).not.toHaveProperty('exp');
    expect(await auth.check(request({ authorization: `Bearer ${noExp}` }))).toMatchObject({ ok: false, status: 401, message: 'Unauthorized: the token has no exp claim', wwwAuthenticate: expect.stringContaining('error_description="missing exp"') });
    expect(auth.checkToolScope('admin_reset', ['admin'])).toBeUndefined();
    expect(auth.checkToolScope('admin_reset', ['user'])).toMatchObject({ ok: false, status: 403, wwwAuthenticate: expect.stringContaining('scope="user admin"') });
    expect(auth.checkToolScope('read', [])).toBeUndefined();
  });

  it('reads scopes from scope, from an scp array, and from a space-separated scp string (Entra ID)', async () => {
    const auth = make(50);
    for (const claims of [{ scope: 'user admin' }, { scp: ['user', 'admin'] }, { scp: 'user admin' }]) {
      const verdict = await auth.check(request({ authorization: `Bearer ${await idp.token({ sub: 'u', aud: 'http://r/mcp', ...claims })}` }));
      expect({ claims, verdict }).toMatchObject({ claims, verdict: { ok: true, scopes: ['user', 'admin'] } });
    }
  });

  it('the principal carries the act chain always, and groups and roles only when the policy names their claims', async () => {
    const token = await idp.token({ sub: 'u', aud: 'http://r/mcp', act: { sub: 'agent', act: { sub: 'orchestrator' } }, groups: ['support'], realm_access: { roles: ['viewer'] } });
    const plain = await make(50).check(request({ authorization: `Bearer ${token}` }));
    expect(plain).toMatchObject({ ok: true, principal: { subject: 'u', actors: [{ subject: 'agent' }, { subject: 'orchestrator' }] } });
    expect((plain as { principal: object }).principal).not.toHaveProperty('groups');
    const named = oauthResourceAuth({ issuer: idp.url, jwksUri: `${idp.url}/jwks`, audiences: ['http://r/mcp'], requiredScopes: [], toolScopes: [], resourceMetadataUrl: 'http://r/m', identityClaims: { groups: ['groups'], roles: ['/realm_access/roles'] }, log });
    expect(await named.check(request({ authorization: `Bearer ${token}` }))).toMatchObject({ ok: true, principal: { subject: 'u', groups: ['support'], roles: ['viewer'], verified: true } });
  });
});
