import type { IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearerToken, checkJwksUri, oauthResourceAuth, sessionOwner, staticTokenAuth } from '../../../src/policy/inbound-auth.js';
import type { AuditPrincipal } from '../../../src/audit/audit-record.js';
import { thrownAirlockError } from '../../helpers/thrown.js';
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

// Issue 14 #4, each case against a real key server on loopback.
describe('oauthResourceAuth, what the attack review broke', () => {
  const idp = new KeyServer();
  const AUD = 'http://r/mcp';
  beforeAll(async () => {
    await idp.start();
    await idp.addKey('k1');
  });
  afterAll(() => idp.close());

  const make = (extra: Partial<Parameters<typeof oauthResourceAuth>[0]> = {}) =>
    oauthResourceAuth({ issuer: idp.url, jwksUri: `${idp.url}/jwks`, audiences: [AUD], requiredScopes: [], toolScopes: [], resourceMetadataUrl: 'http://r/.well-known/oauth-protected-resource/mcp', log, ...extra });
  const bearer = (token: string) => request({ authorization: `Bearer ${token}` });

  it.each([
    ['none', { alg: 'none', typ: 'at+jwt' }],
    ['HS256', { alg: 'HS256', kid: 'k1', typ: 'at+jwt' }],
    ['a made-up alg', { alg: 'XY999', typ: 'at+jwt' }],
    ['no alg', { typ: 'at+jwt' }],
  ])('alg %s is 401 invalid_token, not 503 "keys cannot be fetched", and fetches no keys', async (_name, header) => {
    idp.jwksFetches = 0;
    const verdict = await make().check(bearer(idp.forged(header, { sub: 'u', aud: AUD }, 'c2ln')));
    expect(verdict).toMatchObject({ ok: false, status: 401, wwwAuthenticate: expect.stringContaining('error="invalid_token", error_description="unsupported algorithm"') });
    expect((verdict as { message: string }).message).toMatch(/^Unauthorized: the token uses an unsupported algorithm \(/);
    expect(idp.jwksFetches).toBe(0);
  });

  it('while the JWKS is down, 50 requests fetch it once per cooldown, not 50 times', async () => {
    idp.jwksFetches = 0;
    idp.jwksStatus = 500;
    try {
      const auth = make({ jwksCooldownMs: 60_000 });
      const token = await idp.token({ sub: 'u', aud: AUD });
      const verdicts = await Promise.all(Array.from({ length: 50 }, () => auth.check(bearer(token))));
      for (const verdict of verdicts) expect(verdict).toMatchObject({ ok: false, status: 503 });
      expect(await auth.check(bearer(token))).toMatchObject({ ok: false, status: 503 });
      expect(idp.jwksFetches).toBe(1);
    } finally {
      idp.jwksStatus = undefined;
    }
  });

  it('after the cooldown a recovered JWKS is fetched again', async () => {
    idp.jwksStatus = 503;
    const auth = make({ jwksCooldownMs: 50 });
    const token = await idp.token({ sub: 'u', aud: AUD });
    expect(await auth.check(bearer(token))).toMatchObject({ ok: false, status: 503 });
    idp.jwksStatus = undefined;
    expect(await auth.check(bearer(token))).toMatchObject({ ok: false, status: 503 }); // still within the cooldown
    await new Promise((r) => setTimeout(r, 80));
    expect(await auth.check(bearer(token))).toMatchObject({ ok: true });
  });

  it('refuses a JWKS over the size cap without parsing it (503), and caches that too', async () => {
    idp.jwksFetches = 0;
    idp.jwksBody = JSON.stringify({ keys: idp.keys, padding: 'x'.repeat(300 * 1024) });
    try {
      const auth = make({ jwksCooldownMs: 60_000 });
      const token = await idp.token({ sub: 'u', aud: AUD });
      expect(await auth.check(bearer(token))).toMatchObject({ ok: false, status: 503 });
      expect(await auth.check(bearer(token))).toMatchObject({ ok: false, status: 503 });
      expect(idp.jwksFetches).toBe(1);
      expect(await make({ jwksMaxBytes: 1024 * 1024 }).check(bearer(token))).toMatchObject({ ok: true });
    } finally {
      idp.jwksBody = undefined;
    }
  });

  it('wants typ at+jwt (RFC 9068 §2.1); --oauth-allow-plain-jwt also takes JWT or none, never another typ', async () => {
    const plain = await idp.token({ sub: 'u', aud: AUD }, { typ: 'JWT' });
    const none = await idp.token({ sub: 'u', aud: AUD }, { typ: null });
    const idToken = await idp.token({ sub: 'u', aud: AUD }, { typ: 'id_token+jwt' });
    const mediaType = await idp.token({ sub: 'u', aud: AUD }, { typ: 'application/at+jwt' });
    const strict = make();
    expect(await strict.check(bearer(plain))).toMatchObject({
      ok: false,
      status: 401,
      message: 'Unauthorized: the token is not a JWT access token (typ "JWT", RFC 9068 wants at+jwt); a provider that sends typ JWT needs --oauth-allow-plain-jwt',
      wwwAuthenticate: expect.stringContaining('error="invalid_token"'),
    });
    expect(await strict.check(bearer(none))).toMatchObject({ ok: false, status: 401 });
    expect(await strict.check(bearer(mediaType))).toMatchObject({ ok: true });
    const lenient = make({ allowPlainJwtTyp: true });
    expect(await lenient.check(bearer(plain))).toMatchObject({ ok: true });
    expect(await lenient.check(bearer(none))).toMatchObject({ ok: true });
    expect(await lenient.check(bearer(idToken))).toMatchObject({ ok: false, status: 401 });
  });

  it('session owner: iss + sub, else iss + client_id in its own name space; a token with only azp is refused', async () => {
    const auth = make();
    const alice = await auth.check(bearer(await idp.token({ sub: 'alice', aud: AUD, client_id: 'app' })));
    const azpOnly = await auth.check(bearer(await idp.token({ aud: AUD, azp: 'alice' })));
    const clientAlice = await auth.check(bearer(await idp.token({ aud: AUD, client_id: 'alice' })));
    expect(alice).toMatchObject({ ok: true });
    expect(sessionOwner((alice as { principal: AuditPrincipal }).principal)).toBe(`${idp.url} sub:alice`);
    expect(azpOnly).toMatchObject({ ok: false, status: 401, message: 'Unauthorized: the token names neither a subject (sub) nor a client (client_id)' });
    expect(clientAlice).toMatchObject({ ok: true });
    expect(sessionOwner((clientAlice as { principal: AuditPrincipal }).principal)).toBe(`${idp.url} client:alice`);
    expect(sessionOwner(null)).toBeNull();
  });

  it('wants an https jwks_uri unless it is loopback or --allow-http', () => {
    expect(checkJwksUri('https://idp.example/jwks', false).href).toBe('https://idp.example/jwks');
    expect(checkJwksUri('http://127.0.0.1:8080/jwks', false).hostname).toBe('127.0.0.1');
    expect(checkJwksUri('http://localhost/jwks', false).hostname).toBe('localhost');
    expect(checkJwksUri('http://[::1]:9/jwks', false).hostname).toBe('[::1]');
    expect(checkJwksUri('http://idp.lan/jwks', true).hostname).toBe('idp.lan');
    expect(thrownAirlockError(() => checkJwksUri('http://idp.example/jwks', false)).message).toBe(
      '--oauth-jwks: the JWKS "http://idp.example/jwks" is not https; keys fetched over plain http could be replaced on the way',
    );
    expect(thrownAirlockError(() => checkJwksUri('ftp://idp.example/jwks', true)).code).toBe('AIRLOCK_USAGE');
  });

  it('a JWKS URL with credentials (userinfo, a query key): neither the 503 body nor the log shows them', async () => {
    const lines: string[] = [];
    const capture = createLogger('debug', (line) => lines.push(line));
    const jwksUri = `http://gw-user:s3cr%40t-pass@${idp.url.slice('http://'.length)}/jwks?key=jwks-api-key-123&tenant=t1`;
    const token = await idp.token({ sub: 'u', aud: AUD });
    idp.jwksStatus = 500;
    try {
      const down = make({ jwksUri, jwksCooldownMs: 60_000, log: capture });
      const verdict = await down.check(bearer(token));
      const shown = `http://[REDACTED]@${idp.url.slice('http://'.length)}/jwks?key=[REDACTED]&tenant=[REDACTED]`;
      expect(verdict).toMatchObject({ ok: false, status: 503 });
      const seen = JSON.stringify(verdict) + lines.join('\n');
      for (const secret of ['gw-user', 's3cr', 't-pass', 'jwks-api-key-123', Buffer.from('gw-user:s3cr@t-pass').toString('base64')]) expect(seen).not.toContain(secret);
      expect(verdict).toEqual({ ok: false, status: 503, message: `Service Unavailable: the authorization server's keys (${shown}) cannot be fetched, so no token can be checked; try again later` });
      expect(lines.join('\n')).toContain(`cannot fetch the signing keys from ${shown}: HTTP 500`);
    } finally {
      idp.jwksStatus = undefined;
    }
    // A URL that cannot be used is refused at start without showing its credentials.
    const refused = thrownAirlockError(() => checkJwksUri('http://gw-user:s3cr%40t-pass@idp.example/jwks?key=jwks-api-key-123', false));
    expect(refused.message).toBe('--oauth-jwks: the JWKS "http://[REDACTED]@idp.example/jwks?key=[REDACTED]" is not https; keys fetched over plain http could be replaced on the way');
  });

  it('the userinfo of a JWKS URL goes as Authorization: Basic (fetch refuses a URL with credentials)', async () => {
    const jwksUri = `http://gw-user:s3cr%40t-pass@${idp.url.slice('http://'.length)}/jwks?key=jwks-api-key-123`;
    const auth = make({ jwksUri, jwksCooldownMs: 60_000 });
    expect(await auth.check(bearer(await idp.token({ sub: 'u', aud: AUD })))).toMatchObject({ ok: true });
    expect(idp.jwksAuthorization).toBe(`Basic ${Buffer.from('gw-user:s3cr@t-pass').toString('base64')}`);
  });

  it('a failed refetch for an unknown kid does not block tokens whose key is cached; refetches stay one per cooldown', async () => {
    const auth = make({ jwksCooldownMs: 300 });
    const good = await idp.token({ sub: 'u', aud: AUD });
    expect(await auth.check(bearer(good))).toMatchObject({ ok: true });
    await idp.addKey(`rogue-${Date.now()}`, false);
    const unknown = await idp.token({ sub: 'u', aud: AUD }, { kid: [...(idp as unknown as { signers: Map<string, unknown> }).signers.keys()].at(-1)! });
    await new Promise((r) => setTimeout(r, 350));
    idp.jwksStatus = 500;
    idp.jwksFetches = 0;
    try {
      // The unknown kid makes airlock look again; the issuer is down: that token cannot be checked (503).
      expect(await auth.check(bearer(unknown))).toMatchObject({ ok: false, status: 503 });
      expect(idp.jwksFetches).toBe(1);
      // A token signed with the cached key still validates, at once and again.
      expect(await auth.check(bearer(good))).toMatchObject({ ok: true });
      expect(await auth.check(bearer(await idp.token({ sub: 'v', aud: AUD })))).toMatchObject({ ok: true, principal: { subject: 'v' } });
      // More unknown kids within the cooldown: no new fetch, the remembered failure answers.
      for (let i = 0; i < 20; i++) expect(await auth.check(bearer(unknown))).toMatchObject({ ok: false, status: 503 });
      expect(idp.jwksFetches).toBe(1);
    } finally {
      idp.jwksStatus = undefined;
    }
    // Once the issuer is back and the cooldown has passed, the unknown kid is looked up again: 401, not published.
    await new Promise((r) => setTimeout(r, 350));
    expect(await auth.check(bearer(unknown))).toMatchObject({ ok: false, status: 401, message: 'Unauthorized: the token is signed with a key the issuer does not publish' });
    expect(await auth.check(bearer(good))).toMatchObject({ ok: true });
  });
});
