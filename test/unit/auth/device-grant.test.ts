import { afterEach, describe, expect, it } from 'vitest';
import { deviceGrantFlow, type DeviceCodeInfo } from '../../../src/auth/device-grant.js';
import { oauthConfiguration } from '../../../src/auth/oauth-client.js';
import type { ServerMetadata } from '../../../src/auth/server-metadata.js';
import { createLogger } from '../../../src/log.js';
import { startRecordingServer, type RecordingServer, type Reply } from '../../helpers/recording-server.js';

let as: RecordingServer | undefined;
afterEach(async () => {
  await as?.close();
  as = undefined;
});

/** An authorization server whose token endpoint answers from `token` in turn. */
async function flow(token: Reply[], device: (origin: string) => Record<string, unknown> = (o) => ({ verification_uri: `${o}/activate` }), shown: DeviceCodeInfo[] = []) {
  let polls = 0;
  as = await startRecordingServer((req, origin) => {
    if (req.path === '/device') return { json: { device_code: 'dc', user_code: 'ABCD-EFGH', expires_in: 30, interval: 0.01, ...device(origin) } };
    if (req.path === '/token') return token[Math.min(polls++, token.length - 1)];
    return undefined;
  });
  const metadata = { issuer: as.origin, token_endpoint: `${as.origin}/token`, device_authorization_endpoint: `${as.origin}/device` } as ServerMetadata;
  const config = oauthConfiguration(metadata, { issuer: as.origin, clientId: 'c', method: 'dynamic', tokenEndpointAuthMethod: 'none', registeredAt: 0 }, { fetch, allowHttp: true });
  return deviceGrantFlow({ config, scopes: ['mcp:read'], resourceIndicator: 'https://mcp.example/mcp', onDeviceCode: (i) => shown.push(i), timeoutMs: 5000, allowHttp: true, log: createLogger('silent') });
}

describe('deviceGrantFlow (RFC 8628)', () => {
  it('shows the code, polls through authorization_pending, and sends resource in both requests', async () => {
    const shown: DeviceCodeInfo[] = [];
    const pending: Reply = { status: 400, json: { error: 'authorization_pending' } };
    const tokens = await flow([pending, pending, { json: { access_token: 'at', token_type: 'Bearer' } }], (o) => ({ verification_uri: `${o}/activate`, verification_uri_complete: `${o}/activate?c=1` }), shown);
    expect(tokens.access_token).toBe('at');
    const origin = as!.origin;
    expect(shown).toEqual([{ verificationUri: `${origin}/activate`, verificationUriComplete: `${origin}/activate?c=1`, userCode: 'ABCD-EFGH', expiresIn: 30 }]);
    expect(Object.fromEntries(new URLSearchParams(as!.requests[0]!.body))).toEqual({ client_id: 'c', scope: 'mcp:read', resource: 'https://mcp.example/mcp' });
    const polls = as!.requests.filter((r) => r.path === '/token');
    expect(polls).toHaveLength(3);
    expect(Object.fromEntries(new URLSearchParams(polls[0]!.body))).toMatchObject({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: 'dc', resource: 'https://mcp.example/mcp' });
  });

  it('reports a denial as AIRLOCK_AUTH_DENIED and an expired code as AIRLOCK_AUTH_TIMEOUT', async () => {
    await expect(flow([{ status: 400, json: { error: 'access_denied' } }])).rejects.toMatchObject({ code: 'AIRLOCK_AUTH_DENIED' });
    await as!.close();
    await expect(flow([{ status: 400, json: { error: 'expired_token' } }])).rejects.toMatchObject({ code: 'AIRLOCK_AUTH_TIMEOUT' });
  });

  it('refuses a verification URI that is not https or loopback http, before showing it', async () => {
    const shown: DeviceCodeInfo[] = [];
    await expect(flow([], () => ({ verification_uri: 'http://phish.example/activate' }), shown)).rejects.toMatchObject({ code: 'AIRLOCK_INSECURE_URL' });
    expect(shown).toHaveLength(0);
  });

  it('refuses a server without a device authorization endpoint', async () => {
    const metadata = { issuer: 'https://as.example', token_endpoint: 'https://as.example/token' } as ServerMetadata;
    const config = oauthConfiguration(metadata, { issuer: metadata.issuer, clientId: 'c', method: 'dynamic', tokenEndpointAuthMethod: 'none', registeredAt: 0 }, { fetch, allowHttp: false });
    await expect(deviceGrantFlow({ config, scopes: [], resourceIndicator: 'https://m', timeoutMs: 1000, allowHttp: false, log: createLogger('silent') })).rejects.toMatchObject({
      code: 'AIRLOCK_AUTH_UNSUPPORTED',
    });
  });
});
