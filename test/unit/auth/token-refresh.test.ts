import { afterEach, describe, expect, it } from 'vitest';
import { oauthConfiguration } from '../../../src/auth/oauth-client.js';
import type { ServerMetadata } from '../../../src/auth/server-metadata.js';
import { refreshRejected, refreshTokens } from '../../../src/auth/token-refresh.js';
import type { TokenRecord } from '../../../src/store/grant-store.js';
import { startRecordingServer, type RecordingServer, type Reply } from '../../helpers/recording-server.js';

let as: RecordingServer | undefined;
afterEach(async () => {
  await as?.close();
  as = undefined;
});

const record: TokenRecord = {
  resource: 'https://mcp.example/mcp',
  issuer: '',
  clientId: 'c',
  accessToken: 'old-at',
  tokenType: 'Bearer',
  refreshToken: 'old-rt',
  scope: 'a b',
  obtainedAt: 0,
};

async function refresh(reply: Reply) {
  as = await startRecordingServer((req) => (req.path === '/token' ? reply : undefined));
  const metadata = { issuer: as.origin, token_endpoint: `${as.origin}/token` } as ServerMetadata;
  const config = oauthConfiguration(metadata, { issuer: as.origin, clientId: 'c', method: 'dynamic', tokenEndpointAuthMethod: 'none', registeredAt: 0 }, { fetch, allowHttp: true });
  return refreshTokens({ config, record: { ...record, issuer: as.origin }, resourceIndicator: 'https://mcp.example/mcp', now: () => 5000 });
}

describe('refreshTokens (RFC 6749 §6 with rotation)', () => {
  it('sends the refresh token with the resource and stores the rotated refresh token', async () => {
    const next = await refresh({ json: { access_token: 'new-at', token_type: 'Bearer', refresh_token: 'new-rt', expires_in: 60 } });
    expect(Object.fromEntries(new URLSearchParams(as!.requests[0]!.body))).toEqual({
      grant_type: 'refresh_token',
      refresh_token: 'old-rt',
      resource: 'https://mcp.example/mcp',
      client_id: 'c',
    });
    expect(next).toMatchObject({ accessToken: 'new-at', refreshToken: 'new-rt', expiresAt: 65_000, scope: 'a b', obtainedAt: 5000, resource: record.resource });
  });

  it('keeps the old refresh token when the server sends none', async () => {
    expect((await refresh({ json: { access_token: 'new-at', token_type: 'Bearer' } })).refreshToken).toBe('old-rt');
  });

  it('classifies a refused refresh (invalid_grant) apart from a server failure', async () => {
    const refused = await refresh({ status: 400, json: { error: 'invalid_grant' } }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'AIRLOCK_AUTH_TOKEN' });
    expect(refreshRejected(refused)).toBe('invalid_grant');
    await as!.close();
    const broken = await refresh({ status: 503, json: { error: 'temporarily_unavailable' } }).catch((e: unknown) => e);
    expect(refreshRejected(broken)).toBeUndefined();
    await as!.close();
    const garbage = await refresh({ status: 502, text: 'bad gateway' }).catch((e: unknown) => e);
    expect(garbage).toMatchObject({ code: 'AIRLOCK_AUTH_TOKEN' });
    expect(refreshRejected(garbage)).toBeUndefined();
  });
});
