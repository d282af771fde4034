import { afterEach, describe, expect, it } from 'vitest';
import { clientCredentialsFlow, requireClientSecret } from '../../../src/auth/client-credentials.js';
import { oauthConfiguration } from '../../../src/auth/oauth-client.js';
import type { ServerMetadata } from '../../../src/auth/server-metadata.js';
import type { ClientRecord } from '../../../src/store/grant-store.js';
import { startRecordingServer, type RecordingServer } from '../../helpers/recording-server.js';
import { thrownAirlockError } from '../../helpers/thrown.js';

let as: RecordingServer | undefined;
afterEach(async () => {
  await as?.close();
  as = undefined;
});

describe('clientCredentialsFlow (RFC 6749 §4.4)', () => {
  it('authenticates with the client secret and asks for the resource and scopes', async () => {
    as = await startRecordingServer(() => ({ json: { access_token: 'at', token_type: 'Bearer', expires_in: 60 } }));
    const metadata = { issuer: as.origin, token_endpoint: `${as.origin}/token` } as ServerMetadata;
    const client: ClientRecord = { issuer: as.origin, clientId: 'agent', clientSecret: 's', tokenEndpointAuthMethod: 'client_secret_basic', method: 'pre-registered', registeredAt: 0 };
    const tokens = await clientCredentialsFlow({ config: oauthConfiguration(metadata, client, { fetch, allowHttp: true }), client, scopes: ['a', 'b'], resourceIndicator: 'https://mcp.example/mcp' });
    expect(tokens.access_token).toBe('at');
    const request = as.requests[0]!;
    expect(request.headers.authorization).toBe(`Basic ${Buffer.from('agent:s').toString('base64')}`);
    expect(Object.fromEntries(new URLSearchParams(request.body))).toEqual({ grant_type: 'client_credentials', scope: 'a b', resource: 'https://mcp.example/mcp' });
  });

  it('refuses a client without a secret', () => {
    expect(thrownAirlockError(() => requireClientSecret(undefined)).code).toBe('AIRLOCK_USAGE');
    expect(thrownAirlockError(() => requireClientSecret({ issuer: 'x', clientId: 'public', method: 'dynamic', registeredAt: 0 })).hint).toContain('--client-secret-env');
  });
});
