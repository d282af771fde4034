import { afterEach, describe, expect, it } from 'vitest';
import { checkClientMetadataUrl, resolveClient, type ResolveClientOptions } from '../../../src/auth/client-registration.js';
import type { ServerMetadata } from '../../../src/auth/server-metadata.js';
import { createLogger } from '../../../src/log.js';
import { MemoryGrantStore } from '../../helpers/memory-grant-store.js';
import { startRecordingServer, type RecordingServer, type Reply } from '../../helpers/recording-server.js';
import { thrownAirlockError } from '../../helpers/thrown.js';

let as: RecordingServer | undefined;
afterEach(async () => {
  await as?.close();
  as = undefined;
});

const redirectUri = 'http://127.0.0.1:40123/callback';

async function setup(reply: (body: Record<string, unknown>) => Reply, extra: Partial<ServerMetadata> = {}) {
  as = await startRecordingServer((req) => (req.path === '/reg' ? reply(JSON.parse(req.body || '{}')) : undefined));
  const metadata = { issuer: as.origin, token_endpoint: `${as.origin}/token`, registration_endpoint: `${as.origin}/reg`, ...extra } as ServerMetadata;
  const store = new MemoryGrantStore();
  const options: ResolveClientOptions = { issuer: as.origin, metadata, store, choice: {}, redirectUri, fetch, log: createLogger('silent'), now: 1_000_000 };
  return { options, store, metadata, server: as };
}

const registered = (body: Record<string, unknown>): Reply => ({ status: 201, json: { ...body, client_id: 'dyn-1' } });

describe('resolveClient: pre-registered, then metadata document, then DCR (MCP 2025-11-25)', () => {
  it('uses a pre-registered client as given, saved for this issuer, without registering', async () => {
    const { options, store, server } = await setup(registered, { token_endpoint_auth_methods_supported: ['client_secret_post'] });
    const client = await resolveClient({ ...options, choice: { clientId: 'mine', clientSecret: 's3cret' } });
    expect(client).toEqual({ issuer: server.origin, clientId: 'mine', clientSecret: 's3cret', method: 'pre-registered', tokenEndpointAuthMethod: 'client_secret_post', redirectUri, registeredAt: 1_000_000 });
    expect(store.clients.get(server.origin)).toEqual(client);
    expect(server.requests).toHaveLength(0);
  });

  it('uses the client ID metadata document URL as client_id when the server supports it', async () => {
    const { options, server } = await setup(registered, { client_id_metadata_document_supported: true });
    const client = await resolveClient({ ...options, choice: { clientMetadataUrl: 'https://airlock.example/client.json' } });
    expect(client).toMatchObject({ clientId: 'https://airlock.example/client.json', method: 'metadata-document', tokenEndpointAuthMethod: 'none' });
    expect(server.requests).toHaveLength(0);
  });

  it('registers dynamically when the server does not support metadata documents', async () => {
    const { options } = await setup(registered);
    const client = await resolveClient({ ...options, choice: { clientMetadataUrl: 'https://airlock.example/client.json' } });
    expect(client.method).toBe('dynamic');
  });

  it('registers a native public client with the exact loopback redirect URI (RFC 7591, 2026-07-28)', async () => {
    const { options, store, server } = await setup(registered, { device_authorization_endpoint: 'https://as.example/device' });
    const client = await resolveClient(options);
    expect(JSON.parse(server.requests[0]!.body)).toEqual({
      client_name: 'mcp-airlock',
      application_type: 'native',
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    });
    expect(server.requests[0]!.headers['content-type']).toBe('application/json');
    expect(client).toEqual({ issuer: server.origin, clientId: 'dyn-1', method: 'dynamic', redirectUri, tokenEndpointAuthMethod: 'none', registeredAt: 1_000_000 });
    expect(store.clients.get(server.origin)).toEqual(client);
  });

  it('sends an initial access token as Bearer, and one that names its scheme (Okta API tokens: SSWS) as it is', async () => {
    const { options, server } = await setup(registered);
    await resolveClient({ ...options, registration: { initialAccessToken: 'iat-123' } });
    await resolveClient({ ...options, store: new MemoryGrantStore(), registration: { initialAccessToken: 'SSWS 00aBcD' } });
    expect(server.requests.map((r) => r.headers.authorization)).toEqual(['Bearer iat-123', 'SSWS 00aBcD']);
  });

  it('reuses the stored registration for the same issuer and redirect URI, and registers again for another redirect URI', async () => {
    const { options, server } = await setup(registered);
    await resolveClient(options);
    await resolveClient(options);
    expect(server.requests).toHaveLength(1);
    await resolveClient({ ...options, redirectUri: 'http://127.0.0.1:40999/callback' });
    expect(server.requests).toHaveLength(2);
  });

  it('never uses a registration with another issuer', async () => {
    const { options, store, server } = await setup(registered);
    // A store that answers with another issuer's record (keyed wrongly) is not trusted either.
    await store.saveClient({ issuer: 'https://other.example', clientId: 'foreign', method: 'dynamic', redirectUri, registeredAt: 0 });
    store.clients.set(server.origin, store.clients.get('https://other.example')!);
    const client = await resolveClient(options);
    expect(client.clientId).toBe('dyn-1');
    expect(server.requests).toHaveLength(1);
  });

  it('registers again when the stored client secret has expired', async () => {
    const { options, store, server } = await setup(registered);
    await store.saveClient({ issuer: server.origin, clientId: 'old', clientSecret: 'x', clientSecretExpiresAt: 999, method: 'dynamic', redirectUri, registeredAt: 0 });
    expect((await resolveClient(options)).clientId).toBe('dyn-1');
  });

  it('keeps a secret the server issues anyway, with its auth method', async () => {
    const { options } = await setup((body) => ({ status: 201, json: { ...body, client_id: 'c', client_secret: 'sec', token_endpoint_auth_method: 'client_secret_post', client_secret_expires_at: 0 } }));
    expect(await resolveClient(options)).toMatchObject({ clientSecret: 'sec', tokenEndpointAuthMethod: 'client_secret_post', clientSecretExpiresAt: 0 });
  });

  it('registers without redirect URI or authorization_code for the device grant', async () => {
    const { options, server } = await setup(registered, { device_authorization_endpoint: 'https://as.example/device' });
    const { redirectUri: _r, ...device } = options;
    await resolveClient(device);
    expect(JSON.parse(server.requests[0]!.body)).toMatchObject({ redirect_uris: [], response_types: [], grant_types: ['refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'] });
  });

  it('reports a refused registration with the quoted error, and a server without registration', async () => {
    const { options, server } = await setup(() => ({ status: 400, json: { error: 'invalid_redirect_uri', error_description: 'no\nloopback' } }));
    await expect(resolveClient(options)).rejects.toMatchObject({
      code: 'AIRLOCK_AUTH_REGISTRATION',
      message: `client registration at "${server.origin}/reg" was refused (HTTP 400) "invalid_redirect_uri": "no\\nloopback"`,
    });
    const { registration_endpoint: _e, ...without } = options.metadata;
    await expect(resolveClient({ ...options, metadata: without as ServerMetadata })).rejects.toMatchObject({ code: 'AIRLOCK_AUTH_REGISTRATION', hint: expect.stringContaining('--client-id') });
  });

  it('refuses an answer without client_id', async () => {
    const { options } = await setup(() => ({ status: 201, json: { client_name: 'x' } }));
    await expect(resolveClient(options)).rejects.toMatchObject({ code: 'AIRLOCK_AUTH_REGISTRATION', message: expect.stringContaining('without a client_id') });
  });
});

describe('checkClientMetadataUrl', () => {
  it('wants https with a path', () => {
    expect(checkClientMetadataUrl('https://a.example/c.json')).toBe('https://a.example/c.json');
    for (const bad of ['http://a.example/c.json', 'https://a.example/', 'https://a.example', 'https://a.example/c#x', 'nope']) {
      expect(thrownAirlockError(() => checkClientMetadataUrl(bad)).code).toBe('AIRLOCK_USAGE');
    }
  });
});
