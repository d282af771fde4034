import { afterEach, describe, expect, it } from 'vitest';
import { announceTarget, discoverAuthorization } from '../../../src/auth/auth-discovery.js';
import type { LoginProgress } from '../../../src/auth/login-progress.js';
import { createLogger } from '../../../src/log.js';
import { startRecordingServer, type RecordingServer } from '../../helpers/recording-server.js';

let server: RecordingServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function serve(resource: (origin: string) => string): Promise<RecordingServer> {
  server = await startRecordingServer((req, origin) => {
    if (req.path === '/.well-known/oauth-protected-resource/mcp') {
      return { json: { resource: resource(origin), authorization_servers: [`${origin}/as1`, `${origin}/as2`], scopes_supported: ['s'] } };
    }
    if (req.path === '/.well-known/oauth-authorization-server/as1') return { json: { issuer: `${origin}/as1`, token_endpoint: `${origin}/as1/token` } };
    return undefined;
  });
  return server;
}

describe('discoverAuthorization', () => {
  it('uses the first authorization server and the metadata\'s resource as the resource indicator', async () => {
    const s = await serve((o) => o);
    const target = await discoverAuthorization({ serverUrl: `${s.origin}/mcp`, fetch, allowHttp: true, log: createLogger('silent') });
    expect(target.issuer).toBe(`${s.origin}/as1`);
    expect(target.resourceIndicator).toBe(s.origin);
    expect(target.resourceMetadata.scopesSupported).toEqual(['s']);
    expect(target.serverMetadata.token_endpoint).toBe(`${s.origin}/as1/token`);
    expect(s.paths()).toEqual(['/.well-known/oauth-protected-resource/mcp', '/.well-known/oauth-authorization-server/as1']);
  });

  it('sends --resource, canonicalised, instead', async () => {
    const s = await serve((o) => `${o}/mcp`);
    const target = await discoverAuthorization({ serverUrl: `${s.origin}/mcp`, resourceOverride: 'HTTPS://API.Example/', fetch, allowHttp: true, log: createLogger('silent') });
    expect(target.resourceIndicator).toBe('https://api.example');
  });
});

describe('announceTarget', () => {
  it('tells a cached target\'s steps as discovery told them, the MCP 2025-03-26 fallback as such', async () => {
    server = await startRecordingServer((req, origin) => {
      if (req.path === '/.well-known/oauth-authorization-server') return { json: { issuer: origin, token_endpoint: `${origin}/token` } };
      return undefined;
    });
    const live: LoginProgress[] = [];
    const target = await discoverAuthorization({ serverUrl: `${server.origin}/mcp`, fetch, allowHttp: true, log: createLogger('silent'), onProgress: (e) => live.push(e) });
    expect(target.legacy?.via).toBe('origin-metadata');
    const lastTried = target.legacy!.resourceTried.at(-1)!.url;
    expect(live).toEqual([
      { step: 'resource-metadata', url: lastTried, resource: `${server.origin}/mcp`, authorizationServer: server.origin, legacy: true },
      { step: 'server-metadata', issuer: server.origin },
    ]);
    const replayed: LoginProgress[] = [];
    announceTarget(target, (e) => replayed.push(e));
    expect(replayed).toEqual(live);
  });

  it('names the resource metadata document of a target found through it', async () => {
    const s = await serve((o) => `${o}/mcp`);
    const live: LoginProgress[] = [];
    const target = await discoverAuthorization({ serverUrl: `${s.origin}/mcp`, fetch, allowHttp: true, log: createLogger('silent'), onProgress: (e) => live.push(e) });
    const replayed: LoginProgress[] = [];
    announceTarget(target, (e) => replayed.push(e));
    expect(replayed).toEqual(live);
    expect(replayed[0]).toEqual({ step: 'resource-metadata', url: `${s.origin}/.well-known/oauth-protected-resource/mcp`, resource: `${s.origin}/mcp`, authorizationServer: `${s.origin}/as1` });
  });
});
