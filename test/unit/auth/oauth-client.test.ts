import { ClientError, ResponseBodyError } from 'openid-client';
import { describe, expect, it } from 'vitest';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { clientCredentialsGrant } from 'openid-client';
import { formEncode, oauthConfiguration, oauthErrorCode, tokenRequestError } from '../../../src/auth/oauth-client.js';
import type { ServerMetadata } from '../../../src/auth/server-metadata.js';
import { AirlockError } from '../../../src/errors.js';
import { thrownAirlockError } from '../../helpers/thrown.js';
import { refreshTokenGrant } from 'openid-client';

const metadata = { issuer: 'https://as.example', token_endpoint: 'https://as.example/token' } as ServerMetadata;

describe('oauthConfiguration', () => {
  it('sends every request through the injected fetch, with the client authentication stored', async () => {
    const seen: Array<{ url: string; auth: string | null; body: string }> = [];
    const fake = (async (url: string, init: RequestInit) => {
      seen.push({ url, auth: new Headers(init.headers).get('authorization'), body: String(init.body) });
      return Response.json({ access_token: 'a', token_type: 'Bearer' });
    }) as unknown as typeof fetch;
    const config = oauthConfiguration(metadata, { issuer: metadata.issuer, clientId: 'c', clientSecret: 's', tokenEndpointAuthMethod: 'client_secret_basic', method: 'pre-registered', registeredAt: 0 }, { fetch: fake, allowHttp: false });
    await refreshTokenGrant(config, 'rt', { resource: 'https://mcp.example' });
    expect(seen).toHaveLength(1);
    expect(seen[0]!.url).toBe('https://as.example/token');
    expect(seen[0]!.auth).toBe(`Basic ${Buffer.from('c:s').toString('base64')}`);
    expect(new URLSearchParams(seen[0]!.body).get('resource')).toBe('https://mcp.example');
  });

  it('client_secret_basic: the id and secret form-encoded as RFC 6749 App. B says, accepted by a server that does not decode them', async () => {
    // A token endpoint that compares the Basic credentials byte for byte, as many do.
    const server = createServer((req, res) => {
      const expected = `Basic ${Buffer.from('pre-registered-client:s3cret_with.dots*and-dashes').toString('base64')}`;
      const ok = req.headers.authorization === expected;
      res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' }).end(JSON.stringify(ok ? { access_token: 'a', token_type: 'Bearer' } : { error: 'invalid_client' }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const http = { issuer: base, token_endpoint: `${base}/token` } as ServerMetadata;
      const client = { issuer: base, clientId: 'pre-registered-client', clientSecret: 's3cret_with.dots*and-dashes', tokenEndpointAuthMethod: 'client_secret_basic', method: 'pre-registered' as const, registeredAt: 0 };
      await expect(clientCredentialsGrant(oauthConfiguration(http, client, { fetch, allowHttp: true }))).resolves.toMatchObject({ access_token: 'a' });
    } finally {
      server.close();
    }
    // What the encoding does change: space to +, reserved characters percent-encoded.
    expect(formEncode('a b+c:d/~é')).toBe('a+b%2Bc%3Ad%2F%7E%C3%A9');
  });

  it('refuses http endpoints unless allowHttp', async () => {
    const fake = (async () => Response.json({ access_token: 'a', token_type: 'Bearer' })) as unknown as typeof fetch;
    const http = { issuer: 'http://127.0.0.1:9', token_endpoint: 'http://127.0.0.1:9/token' } as ServerMetadata;
    const client = { issuer: http.issuer, clientId: 'c', method: 'dynamic' as const, tokenEndpointAuthMethod: 'none', registeredAt: 0 };
    await expect(refreshTokenGrant(oauthConfiguration(http, client, { fetch: fake, allowHttp: false }), 'rt')).rejects.toThrow('only requests to HTTPS are allowed');
    await expect(refreshTokenGrant(oauthConfiguration(http, client, { fetch: fake, allowHttp: true }), 'rt')).resolves.toMatchObject({ access_token: 'a' });
  });

  it('refuses a secret method without a secret, and unsupported methods', () => {
    expect(thrownAirlockError(() => oauthConfiguration(metadata, { issuer: 'x', clientId: 'c', tokenEndpointAuthMethod: 'client_secret_post', method: 'dynamic', registeredAt: 0 }, { fetch, allowHttp: false })).code).toBe('AIRLOCK_AUTH_REGISTRATION');
    expect(thrownAirlockError(() => oauthConfiguration(metadata, { issuer: 'x', clientId: 'c', tokenEndpointAuthMethod: 'tls_client_auth', method: 'dynamic', registeredAt: 0 }, { fetch, allowHttp: false })).code).toBe('AIRLOCK_AUTH_UNSUPPORTED');
    // private_key_jwt is supported, but needs the key (--client-private-key-file), which is never stored.
    const noKey = thrownAirlockError(() => oauthConfiguration(metadata, { issuer: 'x', clientId: 'c', tokenEndpointAuthMethod: 'private_key_jwt', method: 'pre-registered', registeredAt: 0 }, { fetch, allowHttp: false }));
    expect(noKey.code).toBe('AIRLOCK_USAGE');
    expect(noKey.message).toBe('client "c" authenticates with private_key_jwt but no private key was given');
  });
});

describe('tokenRequestError', () => {
  it('names the OAuth error and keeps the library error as cause', () => {
    const cause = new ResponseBodyError('server responded with an error in the response body', {
      cause: { error: 'invalid_grant', error_description: 'expired' },
      response: new Response(null, { status: 400 }),
    });
    const error = tokenRequestError(cause, 'refreshing');
    expect(error).toMatchObject({ code: 'AIRLOCK_AUTH_TOKEN', message: 'refreshing failed: the authorization server answered "invalid_grant": "expired"' });
    expect(error.cause).toBe(cause);
    expect(oauthErrorCode(error)).toBe('invalid_grant');
  });

  it('drops a library cause that may carry a token response body', () => {
    const cause = new ClientError('unexpected JWT claim value encountered', { cause: { body: { access_token: 'SECRET-AT' } }, code: 'OAUTH_JWT_CLAIM_COMPARISON_FAILED' });
    const error = tokenRequestError(cause, 'exchanging the code');
    expect(error.message).toBe('exchanging the code failed: unexpected JWT claim value encountered');
    expect(JSON.stringify(error.cause, Object.getOwnPropertyNames(error.cause as object))).not.toContain('SECRET-AT');
    expect((error.cause as { code?: string }).code).toBe('OAUTH_JWT_CLAIM_COMPARISON_FAILED');
  });

  it('returns AirlockErrors as they are', () => {
    const original = new AirlockError('AIRLOCK_AUTH_DENIED', 'x');
    expect(tokenRequestError(original, 'y')).toBe(original);
  });
});
