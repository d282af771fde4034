/**
 * Every auth document is read up to MAX_AUTH_DOCUMENT_BYTES and refused past it, with an error
 * naming the URL and the limit (issue 20: an endless document took 2 GiB and a kill in each case,
 * and an oversized resource metadata document silently triggered the 2025-03-26 fallback). Each
 * reader is tried against a real loopback server whose document never ends (it stops after 64 MiB,
 * so that the unfixed code finishes instead of filling the machine).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { discoverAuthorization } from '../../../src/auth/auth-discovery.js';
import { MAX_AUTH_DOCUMENT_BYTES } from '../../../src/auth/bounded-body.js';
import { clientCredentialsFlow } from '../../../src/auth/client-credentials.js';
import { registerClient } from '../../../src/auth/client-registration.js';
import { requestIdJag } from '../../../src/auth/identity-assertion.js';
import { oauthConfiguration } from '../../../src/auth/oauth-client.js';
import { MetadataUnauthorizedError, metadataUnreadable } from '../../../src/auth/resource-metadata.js';
import { discoverAuthorizationServer, type ServerMetadata } from '../../../src/auth/server-metadata.js';
import { AirlockError } from '../../../src/errors.js';
import { createLogger } from '../../../src/log.js';
import type { ClientRecord } from '../../../src/store/grant-store.js';
import { MemoryGrantStore } from '../../helpers/memory-grant-store.js';
import { sendJson, startOversizedServer, type OversizedServer, type Route } from '../../helpers/oversized-server.js';

const log = createLogger('silent');
let server: OversizedServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(route: Route): Promise<OversizedServer> {
  server = await startOversizedServer(route);
  return server;
}

async function rejection(promise: Promise<unknown>): Promise<AirlockError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  if (!(error instanceof AirlockError)) throw new Error(`expected an AirlockError, got ${String(error)}`);
  return error;
}

/** The reader stopped soon after the limit: what was sent is the limit plus socket buffers, not the 64 MiB on offer. */
async function stoppedEarly(s: OversizedServer): Promise<void> {
  await expect.poll(() => s.sent.length).toBeGreaterThan(0);
  for (const { bytes } of s.sent) expect(bytes).toBeLessThan(16 * 1024 * 1024);
}

const tooLarge = (what: string, url: string): string => `the ${what} at "${url}" is larger than the 1 MiB accepted; not read further`;

describe('auth documents are read up to 1 MiB', () => {
  it('the limit is 1 MiB', () => {
    expect(MAX_AUTH_DOCUMENT_BYTES).toBe(1024 * 1024);
  });

  it('an endless protected resource metadata document is an error naming the URL and the limit, not a missing one (no 2025-03-26 fallback)', async () => {
    const s = await start((req) => (req.url === '/.well-known/oauth-protected-resource/mcp' ? 'endless' : undefined));
    const error = await rejection(discoverAuthorization({ serverUrl: `${s.origin}/mcp`, fetch, allowHttp: true, log }));
    expect(error.message).toBe(tooLarge('protected resource metadata', `${s.origin}/.well-known/oauth-protected-resource/mcp`));
    expect(error.code).toBe('AIRLOCK_AUTH_DISCOVERY');
    // The walk stopped there: neither the root form nor the origin's authorization server metadata was asked for.
    expect(s.requests).toEqual(['GET /.well-known/oauth-protected-resource/mcp']);
    await stoppedEarly(s);
  });

  it('an endless authorization server metadata document', async () => {
    const s = await start((req, res, origin) => {
      if (req.url === '/.well-known/oauth-protected-resource/mcp') return sendJson(res, 200, { resource: `${origin}/mcp`, authorization_servers: [`${origin}/as`] });
      if (req.url === '/.well-known/oauth-authorization-server/as') return 'endless';
      return sendJson(res, 404, {});
    });
    const error = await rejection(discoverAuthorization({ serverUrl: `${s.origin}/mcp`, fetch, allowHttp: true, log }));
    expect(error.message).toBe(tooLarge('authorization server metadata', `${s.origin}/.well-known/oauth-authorization-server/as`));
    expect(s.requests.filter((r) => r.includes('openid-configuration'))).toEqual([]);
    await stoppedEarly(s);
  });

  it('a resource metadata URL answering 401 is not a server without metadata: no 2025-03-26 fallback, the error says the server is misconfigured', async () => {
    const s = await start((req, res) => sendJson(res, req.url!.startsWith('/.well-known/oauth-protected-resource') ? 401 : 404, { error: 'unauthorized' }));
    const guessed = await rejection(discoverAuthorization({ serverUrl: `${s.origin}/mcp`, fetch, allowHttp: true, log }));
    expect(guessed).toBeInstanceOf(MetadataUnauthorizedError);
    expect(guessed.message).toBe(`the protected resource metadata at "${s.origin}/.well-known/oauth-protected-resource/mcp" answered 401 Unauthorized; a server that offers OAuth must serve it without a token (RFC 9728), so the server is misconfigured, or it takes a static token or an API key instead`);
    expect(guessed.hint).toContain('--header "Authorization: Bearer ${TOKEN}"');
    // Both well-known URLs were tried; the origin's authorization server metadata (the fallback) was not.
    expect(s.requests).toEqual(['GET /.well-known/oauth-protected-resource/mcp', 'GET /.well-known/oauth-protected-resource']);
    // Guessed URLs may be a static-token server that 401s every path: login and connect keep the API-key hint for it.
    expect(metadataUnreadable(guessed)).toBe(false);

    const named = await rejection(discoverAuthorization({ serverUrl: `${s.origin}/mcp`, resourceMetadataUrl: `${s.origin}/.well-known/oauth-protected-resource/mcp`, fetch, allowHttp: true, log }));
    expect(named.message).toBe(`the protected resource metadata at "${s.origin}/.well-known/oauth-protected-resource/mcp", named by the server's 401 challenge, answered 401 Unauthorized; the server is misconfigured (RFC 9728 metadata must be readable without a token)`);
    expect(metadataUnreadable(named)).toBe(true);
  });

  it('a 401 on the path-aware URL does not hide metadata published at the root', async () => {
    const s = await start((req, res, origin) => {
      if (req.url === '/.well-known/oauth-protected-resource/mcp') return sendJson(res, 401, {});
      if (req.url === '/.well-known/oauth-protected-resource') return sendJson(res, 200, { resource: `${origin}/mcp`, authorization_servers: [`${origin}/as`] });
      if (req.url === '/.well-known/oauth-authorization-server/as') return sendJson(res, 200, { issuer: `${origin}/as`, token_endpoint: `${origin}/as/token` });
      return sendJson(res, 404, {});
    });
    const target = await discoverAuthorization({ serverUrl: `${s.origin}/mcp`, fetch, allowHttp: true, log });
    expect(target.issuer).toBe(`${s.origin}/as`);
  });

  it('an endless client registration response', async () => {
    const s = await start((req) => (req.url === '/register' ? 'endless' : undefined));
    const metadata = { issuer: s.origin, token_endpoint: `${s.origin}/token`, registration_endpoint: `${s.origin}/register` } as ServerMetadata;
    const error = await rejection(registerClient({ issuer: s.origin, metadata, store: new MemoryGrantStore(), choice: {}, redirectUri: 'http://127.0.0.1:1/cb', fetch, log, now: 0 }));
    expect(error.message).toBe(tooLarge('client registration response', `${s.origin}/register`));
    expect(error.code).toBe('AIRLOCK_AUTH_REGISTRATION');
    await stoppedEarly(s);
  });

  it("an endless token response, read by openid-client through our customFetch", async () => {
    const s = await start((req) => (req.url === '/token' ? 'endless' : undefined));
    const metadata = { issuer: s.origin, token_endpoint: `${s.origin}/token` } as ServerMetadata;
    const client: ClientRecord = { issuer: s.origin, clientId: 'c', clientSecret: 'the-client-secret', method: 'pre-registered', tokenEndpointAuthMethod: 'client_secret_basic', registeredAt: 0 };
    const config = oauthConfiguration(metadata, client, { fetch, allowHttp: true });
    const error = await rejection(clientCredentialsFlow({ config, client, scopes: [], resourceIndicator: `${s.origin}/mcp` }));
    expect(error.message).toBe(tooLarge('authorization server response', `${s.origin}/token`));
    expect(error.code).toBe('AIRLOCK_AUTH_TOKEN');
    expect(error.message).not.toContain('the-client-secret');
    await stoppedEarly(s);
  });

  it('an endless ID-JAG answer from the identity provider', async () => {
    const s = await start((req) => (req.url === '/idp/token' ? 'endless' : undefined));
    const idpMetadata = { issuer: `${s.origin}/idp`, token_endpoint: `${s.origin}/idp/token` } as ServerMetadata;
    const error = await rejection(requestIdJag({
      idp: { issuer: `${s.origin}/idp`, clientId: 'idp-client', clientSecret: 'idp-secret', idToken: 'an-id-token' },
      idpMetadata,
      audience: `${s.origin}/as`,
      resource: `${s.origin}/mcp`,
      scopes: [],
      fetch,
      log,
    }));
    expect(error.message).toBe(tooLarge('ID-JAG token exchange response', `${s.origin}/idp/token`));
    await stoppedEarly(s);
  });

  it('a declared Content-Length past the limit is refused before reading', async () => {
    const s = await start((req, res) => {
      if (req.url !== '/.well-known/oauth-authorization-server') return sendJson(res, 404, {});
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(2 * 1024 * 1024) });
      res.write('{"issuer":"');
    });
    const error = await rejection(discoverAuthorizationServer(s.origin, { fetch, allowHttp: true, log }));
    expect(error.message).toBe(tooLarge('authorization server metadata', `${s.origin}/.well-known/oauth-authorization-server`));
  });

  it('a document of exactly the limit is read', async () => {
    const s = await start((req, res, origin) => {
      if (req.url !== '/.well-known/oauth-authorization-server') return sendJson(res, 404, {});
      const base = JSON.stringify({ issuer: origin, token_endpoint: `${origin}/token`, pad: '' });
      const document = base.replace('"pad":""', `"pad":"${'a'.repeat(MAX_AUTH_DOCUMENT_BYTES - base.length)}"`);
      expect(Buffer.byteLength(document)).toBe(MAX_AUTH_DOCUMENT_BYTES);
      res.writeHead(200, { 'content-type': 'application/json' }).end(document);
    });
    const metadata = await discoverAuthorizationServer(s.origin, { fetch, allowHttp: true, log });
    expect(metadata.token_endpoint).toBe(`${s.origin}/token`);
  });
});
