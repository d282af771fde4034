import { afterEach, describe, expect, it } from 'vitest';
import { checkResourceMetadata, discoverResourceMetadata, resourceMetadataUrls } from '../../../src/auth/resource-metadata.js';
import { AirlockError } from '../../../src/errors.js';
import { createLogger } from '../../../src/log.js';
import { startRecordingServer, type RecordingServer, type Reply } from '../../helpers/recording-server.js';

const log = createLogger('silent');
let server: RecordingServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('resourceMetadataUrls (RFC 9728 §3.1, MCP 2025-11-25 order)', () => {
  it('puts the challenge URL first, then the path-aware URL, then the root URL', () => {
    expect(resourceMetadataUrls('https://h/api/mcp', 'https://meta.example/prm').map(String)).toEqual([
      'https://meta.example/prm',
      'https://h/.well-known/oauth-protected-resource/api/mcp',
      'https://h/.well-known/oauth-protected-resource',
    ]);
  });

  it('has only the root URL for a server without a path, and drops a terminating slash', () => {
    expect(resourceMetadataUrls('https://h').map(String)).toEqual(['https://h/.well-known/oauth-protected-resource']);
    expect(resourceMetadataUrls('https://h/mcp/').map(String)).toEqual([
      'https://h/.well-known/oauth-protected-resource/mcp',
      'https://h/.well-known/oauth-protected-resource',
    ]);
  });

  it('drops a challenge URL equal to a well-known one', () => {
    expect(resourceMetadataUrls('https://h/mcp', 'https://h/.well-known/oauth-protected-resource').map(String)).toEqual([
      'https://h/.well-known/oauth-protected-resource',
      'https://h/.well-known/oauth-protected-resource/mcp',
    ]);
  });
});

describe('checkResourceMetadata', () => {
  const ok = { resource: 'https://h/mcp', authorization_servers: ['https://as.example'], scopes_supported: ['a', 'b'] };

  it('takes a document for this server, canonicalising its resource', () => {
    expect(checkResourceMetadata({ ...ok, resource: 'HTTPS://H/mcp/' }, 'https://h/mcp', 'u')).toEqual({
      resource: 'https://h/mcp',
      authorizationServers: ['https://as.example'],
      scopesSupported: ['a', 'b'],
    });
  });

  it('refuses a document without authorization_servers', () => {
    for (const authorization_servers of [undefined, [], [42, '']]) {
      const result = checkResourceMetadata({ ...ok, authorization_servers }, 'https://h/mcp', 'https://h/prm');
      expect(result).toBeInstanceOf(AirlockError);
      expect((result as AirlockError).message).toBe('the resource metadata at "https://h/prm" lists no authorization_servers');
    }
  });

  it('refuses a document for another resource with AIRLOCK_AUTH_RESOURCE_MISMATCH', () => {
    const result = checkResourceMetadata({ ...ok, resource: 'https://other.example/mcp' }, 'https://h/mcp', 'https://h/prm') as AirlockError;
    expect(result.code).toBe('AIRLOCK_AUTH_RESOURCE_MISMATCH');
    expect(result.message).toBe('the resource metadata at "https://h/prm" is for "https://other.example/mcp", not for "https://h/mcp"');
  });

  it('refuses a document without a resource', () => {
    expect((checkResourceMetadata({ authorization_servers: ['x'] }, 'https://h/mcp', 'u') as AirlockError).code).toBe('AIRLOCK_AUTH_DISCOVERY');
  });
});

describe('discoverResourceMetadata against a real server', () => {
  async function serve(found: Record<string, (origin: string) => Reply>): Promise<RecordingServer> {
    server = await startRecordingServer((req, origin) => found[req.path]?.(origin));
    return server;
  }
  const doc = (resource: string): Reply => ({ json: { resource, authorization_servers: ['https://as.example'] } });

  it('asks the challenge URL first and stops there when it answers', async () => {
    const s = await serve({ '/meta': (o) => doc(`${o}/mcp`) });
    const found = await discoverResourceMetadata({ serverUrl: `${s.origin}/mcp`, resourceMetadataUrl: `${s.origin}/meta`, fetch, allowHttp: true, log });
    expect(found.url).toBe(`${s.origin}/meta`);
    expect(s.paths()).toEqual(['/meta']);
  });

  it('falls back from a failing challenge URL to the path-aware, then the root URL', async () => {
    const s = await serve({ '/.well-known/oauth-protected-resource': (o) => doc(o) });
    const found = await discoverResourceMetadata({ serverUrl: `${s.origin}/mcp`, resourceMetadataUrl: `${s.origin}/gone`, fetch, allowHttp: true, log });
    expect(s.paths()).toEqual(['/gone', '/.well-known/oauth-protected-resource/mcp', '/.well-known/oauth-protected-resource']);
    expect(found.metadata.resource).toBe(s.origin);
  });

  it('without a challenge tries the path-aware URL before the root one', async () => {
    const s = await serve({ '/.well-known/oauth-protected-resource/mcp': (o) => doc(`${o}/mcp`) });
    await discoverResourceMetadata({ serverUrl: `${s.origin}/mcp`, fetch, allowHttp: true, log });
    expect(s.paths()).toEqual(['/.well-known/oauth-protected-resource/mcp']);
  });

  it('stops at a document for another resource instead of trying the next URL', async () => {
    const s = await serve({
      '/.well-known/oauth-protected-resource/mcp': () => doc('https://elsewhere.example/mcp'),
      '/.well-known/oauth-protected-resource': (o) => doc(o),
    });
    await expect(discoverResourceMetadata({ serverUrl: `${s.origin}/mcp`, fetch, allowHttp: true, log })).rejects.toMatchObject({
      code: 'AIRLOCK_AUTH_RESOURCE_MISMATCH',
    });
    expect(s.paths()).toEqual(['/.well-known/oauth-protected-resource/mcp']);
  });

  it('refuses a plain-http challenge URL without allowHttp before any request', async () => {
    const s = await serve({});
    await expect(discoverResourceMetadata({ serverUrl: 'https://h/mcp', resourceMetadataUrl: `${s.origin}/meta`, fetch, allowHttp: false, log })).rejects.toMatchObject({
      code: 'AIRLOCK_INSECURE_URL',
    });
    expect(s.requests).toHaveLength(0);
  });
});
