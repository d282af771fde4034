import { afterEach, describe, expect, it } from 'vitest';
import { authorizationServerMetadataUrls, checkServerMetadata, discoverAuthorizationServer } from '../../../src/auth/server-metadata.js';
import { AirlockError } from '../../../src/errors.js';
import { createLogger } from '../../../src/log.js';
import { startRecordingServer, type RecordingServer } from '../../helpers/recording-server.js';

const log = createLogger('silent');
let server: RecordingServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('authorizationServerMetadataUrls (MCP 2025-11-25 order)', () => {
  it('for an issuer with a path: RFC 8414 insertion, OIDC insertion, OIDC appended', () => {
    expect(authorizationServerMetadataUrls('https://as.example/tenant1').map(String)).toEqual([
      'https://as.example/.well-known/oauth-authorization-server/tenant1',
      'https://as.example/.well-known/openid-configuration/tenant1',
      'https://as.example/tenant1/.well-known/openid-configuration',
    ]);
  });

  it('for an issuer without a path: oauth-authorization-server, then openid-configuration', () => {
    const expected = ['https://as.example/.well-known/oauth-authorization-server', 'https://as.example/.well-known/openid-configuration'];
    expect(authorizationServerMetadataUrls('https://as.example').map(String)).toEqual(expected);
    expect(authorizationServerMetadataUrls('https://as.example/').map(String)).toEqual(expected);
  });

  it('drops a terminating slash of the path before inserting (RFC 8414 §3.1)', () => {
    expect(authorizationServerMetadataUrls('https://as.example/t1/')[0]!.href).toBe('https://as.example/.well-known/oauth-authorization-server/t1');
  });
});

describe('checkServerMetadata', () => {
  const doc = { issuer: 'https://as.example', token_endpoint: 'https://as.example/token', authorization_endpoint: 'https://as.example/auth' };

  it('takes a document whose issuer is identical', () => {
    expect(checkServerMetadata(doc, 'https://as.example', 'u', false)).toBe(doc);
  });

  it('refuses an issuer that differs, even only by a trailing slash (simple string comparison)', () => {
    for (const issuer of ['https://as.example/', 'https://evil.example', undefined]) {
      const error = checkServerMetadata({ ...doc, issuer }, 'https://as.example', 'https://as.example/.well-known/x', false) as AirlockError;
      expect(error.code).toBe('AIRLOCK_AUTH_ISSUER_MISMATCH');
      expect(error.message).toBe(`the authorization server metadata at "https://as.example/.well-known/x" names issuer ${JSON.stringify(String(issuer))}, expected "https://as.example"`);
    }
  });

  it('refuses a document without a token endpoint, or with an endpoint that is not https', () => {
    const { token_endpoint: _t, ...noToken } = doc;
    expect((checkServerMetadata(noToken, 'https://as.example', 'u', false) as AirlockError).code).toBe('AIRLOCK_AUTH_DISCOVERY');
    const insecure = checkServerMetadata({ ...doc, registration_endpoint: 'http://as.example/reg' }, 'https://as.example', 'u', true) as AirlockError;
    expect(insecure.code).toBe('AIRLOCK_INSECURE_URL');
    expect(insecure.message).toContain('the registration_endpoint');
    expect((checkServerMetadata({ ...doc, device_authorization_endpoint: 7 }, 'https://as.example', 'u', false) as AirlockError).code).toBe('AIRLOCK_AUTH_DISCOVERY');
  });
});

describe('discoverAuthorizationServer against a real server', () => {
  function metadata(issuer: string): Record<string, unknown> {
    return { issuer, token_endpoint: `${issuer}/token`, authorization_endpoint: `${issuer}/auth` };
  }

  it('walks the three URLs for an issuer with a path, in order', async () => {
    server = await startRecordingServer((req, origin) => (req.path === '/t1/.well-known/openid-configuration' ? { json: metadata(`${origin}/t1`) } : undefined));
    const found = await discoverAuthorizationServer(`${server.origin}/t1`, { fetch, allowHttp: true, log });
    expect(found.issuer).toBe(`${server.origin}/t1`);
    expect(server.paths()).toEqual([
      '/.well-known/oauth-authorization-server/t1',
      '/.well-known/openid-configuration/t1',
      '/t1/.well-known/openid-configuration',
    ]);
  });

  it('falls back to openid-configuration for an issuer without a path', async () => {
    server = await startRecordingServer((req, origin) => (req.path === '/.well-known/openid-configuration' ? { json: metadata(origin) } : undefined));
    await discoverAuthorizationServer(server.origin, { fetch, allowHttp: true, log });
    expect(server.paths()).toEqual(['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']);
  });

  it('refuses the first document found when its issuer differs, without trying further', async () => {
    server = await startRecordingServer(() => ({ json: metadata('https://impostor.example') }));
    await expect(discoverAuthorizationServer(server.origin, { fetch, allowHttp: true, log })).rejects.toMatchObject({ code: 'AIRLOCK_AUTH_ISSUER_MISMATCH' });
    expect(server.paths()).toEqual(['/.well-known/oauth-authorization-server']);
  });

  it('reports every URL tried when none answers', async () => {
    server = await startRecordingServer(() => ({ status: 500, text: 'boom' }));
    const error = await discoverAuthorizationServer(server.origin, { fetch, allowHttp: true, log }).catch((e: unknown) => e as AirlockError);
    expect(error.code).toBe('AIRLOCK_AUTH_DISCOVERY');
    expect(error.message).toBe(
      `no authorization server metadata found; tried "${server.origin}/.well-known/oauth-authorization-server" (500); "${server.origin}/.well-known/openid-configuration" (500)`,
    );
  });
});
