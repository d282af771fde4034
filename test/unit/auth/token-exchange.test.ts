/**
 * RFC 8693 token exchange against the real fixture authorization server (oidc-provider with a
 * token-exchange grant) and a trusted issuer on loopback: caching per caller until shortly before
 * expiry, asking for more scope after a 403, and the errors a session sees.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthFixture } from '../../../fixtures/auth/protected-server.mjs';
import { enableTokenExchange, TOKEN_EXCHANGE_GRANT } from '../../../fixtures/auth/token-exchange-grant.mjs';
import { TokenExchanger } from '../../../src/auth/token-exchange.js';
import { createLogger } from '../../../src/log.js';
import { KeyServer } from '../../helpers/key-server.js';
import { startRecordingServer, type RecordingServer } from '../../helpers/recording-server.js';

const idp = new KeyServer();
let upstream: Awaited<ReturnType<typeof startAuthFixture>>;
let exchanges: Array<Record<string, unknown>>;
let client: { clientId: string; clientSecret: string };

beforeAll(async () => {
  await idp.start();
  await idp.addKey('k1');
  upstream = await startAuthFixture({ accessTokenTtl: 120 });
  ({ exchanges } = enableTokenExchange(upstream.provider, { trustedIssuer: idp.url, trustedJwksUri: `${idp.url}/jwks`, resources: [upstream.url], ttl: 120 }));
  const response = await fetch(`${upstream.issuer}/reg`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ grant_types: [TOKEN_EXCHANGE_GRANT], response_types: [], redirect_uris: [], token_endpoint_auth_method: 'client_secret_basic' }),
  });
  const body = (await response.json()) as { client_id: string; client_secret: string };
  client = { clientId: body.client_id, clientSecret: body.client_secret };
});
afterAll(async () => {
  await upstream?.close();
  await idp.close();
});

function exchanger(clock: { now: number }, scope?: string): TokenExchanger {
  return new TokenExchanger({ serverUrl: new URL(upstream.url), issuer: upstream.issuer, ...client, scope, allowHttp: true, log: createLogger('silent'), now: () => clock.now });
}

/** The error a promise rejects with (fails the test when it resolves). */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(() => undefined, (e: unknown) => e as Error);
  if (!error) throw new Error('expected a rejection');
  return error;
}

const claimsOf = (authorization: string): Record<string, unknown> => JSON.parse(Buffer.from(authorization.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;

describe('TokenExchanger', () => {
  it('exchanges once per caller, and again only when the exchanged token is within 30 s of expiry', async () => {
    const clock = { now: Date.now() };
    const tx = exchanger(clock, 'mcp:read');
    const subject = await idp.token({ sub: 'ivy' });
    const start = exchanges.length;
    const first = await tx.authorizationFor(subject);
    expect(claimsOf(first)).toMatchObject({ sub: 'ivy', aud: upstream.url, scope: 'mcp:read', client_id: client.clientId });
    expect(await tx.authorizationFor(subject)).toBe(first);
    clock.now += 89_000; // 31 s left of 120
    expect(await tx.authorizationFor(subject)).toBe(first);
    clock.now += 2_000; // 29 s left
    expect(await tx.authorizationFor(subject)).not.toBe(first);
    expect(exchanges.length - start).toBe(2);
    // Another caller gets their own.
    expect(claimsOf(await tx.authorizationFor(await idp.token({ sub: 'jay' }))).sub).toBe('jay');
    expect(exchanges.length - start).toBe(3);
  });

  it('after a 403 insufficient_scope it asks for the union of scopes; the same challenge twice is refused', async () => {
    const tx = exchanger({ now: Date.now() }, 'mcp:read');
    const source = tx.sourceFor(() => subject);
    const subject = await idp.token({ sub: 'kim' });
    expect(claimsOf((await source.authorization())!).scope).toBe('mcp:read');
    const challenge = 'Bearer error="insufficient_scope", scope="mcp:write"';
    await source.onInsufficientScope(challenge);
    expect(exchanges.at(-1)).toMatchObject({ subject: 'kim' });
    expect(claimsOf((await source.authorization())!).scope).toBe('mcp:read mcp:write');
    expect(exchanges.at(-1)!.scope).toBe('mcp:read mcp:write');
    const again = await rejection(source.onInsufficientScope(challenge));
    expect(again).toMatchObject({ code: 'AIRLOCK_AUTH_INSUFFICIENT_SCOPE', message: 'the upstream still refuses the exchanged token for lack of scope' });
  });

  it('a subject token the authorization server does not trust is invalid_grant; a session without a token is told why', async () => {
    const tx = exchanger({ now: Date.now() });
    const untrusted = await idp.token({ sub: 'lee' }, { issuer: 'https://elsewhere.example' });
    const error = await rejection(tx.authorizationFor(untrusted));
    expect(error).toMatchObject({ code: 'AIRLOCK_AUTH_TOKEN', message: `exchanging the caller's token at "${upstream.issuer}" (RFC 8693) failed: the authorization server answered "invalid_grant": "grant request is invalid"` });
    expect(String((error as Error).message)).not.toContain(untrusted);
    const none = await rejection(tx.sourceFor(() => undefined).authorization());
    expect(none).toMatchObject({ code: 'AIRLOCK_AUTH_TOKEN', message: "token exchange needs the caller's access token, and this request came without one" });
  });

  it('delegate: presents airlock\'s own client credentials token as the actor (once for all callers); the issued token names it in act', async () => {
    const registration = await fetch(`${upstream.issuer}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_types: [TOKEN_EXCHANGE_GRANT, 'client_credentials'], response_types: [], redirect_uris: [], token_endpoint_auth_method: 'client_secret_basic' }),
    });
    const actor = (await registration.json()) as { client_id: string; client_secret: string };
    const tx = new TokenExchanger({ serverUrl: new URL(upstream.url), issuer: upstream.issuer, clientId: actor.client_id, clientSecret: actor.client_secret, delegate: true, allowHttp: true, log: createLogger('silent') });
    const start = exchanges.length;
    expect(claimsOf(await tx.authorizationFor(await idp.token({ sub: 'uma' })))).toMatchObject({ sub: 'uma', act: { sub: actor.client_id }, client_id: actor.client_id });
    expect(claimsOf(await tx.authorizationFor(await idp.token({ sub: 'val' })))).toMatchObject({ sub: 'val', act: { sub: actor.client_id } });
    expect(exchanges.slice(start).map((e) => [e.subject, e.actor])).toEqual([['uma', actor.client_id], ['val', actor.client_id]]);
    expect(upstream.asRequests.filter((r) => r.grantType === 'client_credentials' && r.clientId === actor.client_id)).toHaveLength(1);
  });

  it('exchanges only at the pinned issuer: an upstream whose metadata names another (evil) authorization server is refused, and that server receives nothing', async () => {
    const servers: RecordingServer[] = [];
    try {
      // The evil server looks like a token exchange server and would answer with a token.
      const evil = await startRecordingServer((req, origin) => {
        if (req.path === '/.well-known/oauth-authorization-server') return { json: { issuer: origin, token_endpoint: `${origin}/token`, grant_types_supported: [TOKEN_EXCHANGE_GRANT] } };
        if (req.path === '/token') return { json: { access_token: 'evil-token', token_type: 'Bearer', issued_token_type: 'urn:ietf:params:oauth:token-type:access_token' } };
        return undefined;
      });
      servers.push(evil);
      const evilUpstream = await startRecordingServer((req, origin) =>
        req.path === '/.well-known/oauth-protected-resource/mcp' ? { json: { resource: `${origin}/mcp`, authorization_servers: [evil.origin] } } : undefined,
      );
      servers.push(evilUpstream);
      const tx = new TokenExchanger({ serverUrl: new URL(`${evilUpstream.origin}/mcp`), issuer: upstream.issuer, ...client, allowHttp: true, log: createLogger('silent') });
      const subject = await idp.token({ sub: 'mallory-victim' });
      const error = await rejection(tx.authorizationFor(subject));
      expect(error).toMatchObject({
        code: 'AIRLOCK_AUTH_ISSUER_MISMATCH',
        message: `the upstream "${evilUpstream.origin}/mcp" names the authorization server "${evil.origin}" in its resource metadata ("${evilUpstream.origin}/.well-known/oauth-protected-resource/mcp"), not the token exchange server "${upstream.issuer}"; no caller's token or client secret was sent to it`,
      });
      expect((error as { hint?: string }).hint).toContain('--token-exchange-issuer');
      // Nothing at all reached the evil server: not its metadata, let alone the token or the secret.
      expect(evil.requests).toEqual([]);
      const everything = JSON.stringify([...evil.requests, ...evilUpstream.requests]);
      expect(everything).not.toContain(subject);
      expect(everything).not.toContain(client.clientSecret);
      expect(everything).not.toContain(Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64'));
    } finally {
      await Promise.all(servers.map((s) => s.close()));
    }
  });

  it('an upstream without resource metadata: the exchange still goes to the pinned issuer, for the upstream URL as the resource', async () => {
    const bare = await startRecordingServer(() => undefined);
    try {
      const tx = new TokenExchanger({ serverUrl: new URL(`${bare.origin}/mcp`), issuer: upstream.issuer, ...client, allowHttp: true, log: createLogger('silent') });
      const start = exchanges.length;
      // The fixture's authorization server only issues tokens for its own resource: the refusal names the resource asked for.
      const error = await rejection(tx.authorizationFor(await idp.token({ sub: 'noa' })));
      expect(error.message).toContain(`exchanging the caller's token at "${upstream.issuer}" (RFC 8693) failed`);
      expect(exchanges.slice(start).map((e) => e.resource)).toEqual([`${bare.origin}/mcp`]);
    } finally {
      await bare.close();
    }
  });
});
