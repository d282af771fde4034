/**
 * `serve --upstream-token-exchange` through the real CLI: callers log in at their own issuer (a
 * JWKS on loopback), and airlock exchanges each caller's token (RFC 8693) at the upstream's
 * authorization server (oidc-provider with a token-exchange grant) for a token meant for the
 * upstream. The upstream sees the caller as the subject and airlock as the client; the caller's
 * own token never reaches it.
 */
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startAuthorizationServer } from '../../fixtures/auth/authorization-server.mjs';
import { startAuthFixture } from '../../fixtures/auth/protected-server.mjs';
// @ts-expect-error plain JS fixture
import { startFixtureHttpServer } from '../../fixtures/lib/http-fixture.mjs';
import { enableTokenExchange, TOKEN_EXCHANGE_GRANT } from '../../fixtures/auth/token-exchange-grant.mjs';
import type { AuditRecord } from '../../src/audit/audit-record.js';
import { repoRoot, startAirlock, startServe, type AirlockProcess } from '../helpers/airlock-process.js';
import { KeyServer } from '../helpers/key-server.js';
import { connectClient, textOf } from '../helpers/mcp-client.js';
import { startRecordingServer, type RecordingServer } from '../helpers/recording-server.js';

type Fixture = Awaited<ReturnType<typeof startAuthFixture>>;

const running: AirlockProcess[] = [];
const idp = new KeyServer();
let upstream: Fixture;
let exchanges: Array<Record<string, unknown>>;
let gateway: { clientId: string; clientSecret: string };
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'airlock-token-exchange-'));
  await idp.start();
  await idp.addKey('k1');
  upstream = await startAuthFixture();
  ({ exchanges } = enableTokenExchange(upstream.provider, { trustedIssuer: idp.url, trustedJwksUri: `${idp.url}/jwks`, resources: [upstream.url] }));
  // airlock's own confidential client at the upstream's authorization server, allowed to exchange.
  const registration = await fetch(`${upstream.issuer}/reg`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    // client_credentials too: with --token-exchange-actor airlock gets its own token to act with.
    body: JSON.stringify({ client_name: 'airlock gateway', grant_types: [TOKEN_EXCHANGE_GRANT, 'client_credentials'], response_types: [], redirect_uris: [], token_endpoint_auth_method: 'client_secret_basic' }),
  });
  const body = (await registration.json()) as { client_id: string; client_secret: string };
  gateway = { clientId: body.client_id, clientSecret: body.client_secret };
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
});
afterAll(async () => {
  await upstream?.close();
  await idp.close();
  rmSync(dir, { recursive: true, force: true });
});

let n = 0;
async function gatewayServe(secret = gateway.clientSecret, extra: string[] = []): Promise<AirlockProcess & { url: string; auditFile: string }> {
  const auditFile = join(dir, `audit-${++n}.jsonl`);
  const serve = await startServe(
    ['--oauth-issuer', idp.url, '--upstream', upstream.url, '--upstream-token-exchange', '--token-exchange-issuer', upstream.issuer, '--client-id', gateway.clientId, '--client-secret-env', 'GATEWAY_SECRET', '--audit-file', auditFile, ...extra],
    { ...process.env, GATEWAY_SECRET: secret },
  );
  running.push(serve);
  return Object.assign(serve, { auditFile });
}

describe('serve --upstream-token-exchange', () => {
  it("exchanges each caller's token for one meant for the upstream, once per caller; the caller's token never goes upstream", async () => {
    const serve = await gatewayServe();
    const resource = `${serve.url}/mcp`;
    const before = upstream.mcpRequests.length;
    const callers = { frank: await idp.token({ sub: 'frank', scope: 'mcp:use', aud: resource }), gina: await idp.token({ sub: 'gina', scope: 'mcp:use', aud: resource }) };
    for (const [who, token] of Object.entries(callers)) {
      const { client } = await connectClient(new StreamableHTTPClientTransport(new URL(resource), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
      for (const text of ['one', 'two']) expect(textOf(await client.callTool({ name: 'echo', arguments: { text: `${who} ${text}` } }))).toBe(`${who} ${text}`);
      await client.close();
    }
    await serve.stop();

    // One exchange per caller, asked for the upstream as the resource, with the caller's token as an access token.
    expect(exchanges.map((e) => ({ subject: e.subject, resource: e.resource, type: e.subjectTokenType, client: e.client, outcome: e.outcome }))).toEqual(
      ['frank', 'gina'].map((subject) => ({ subject, resource: upstream.url, type: 'urn:ietf:params:oauth:token-type:access_token', client: gateway.clientId, outcome: 'issued' })),
    );
    // Every upstream request carried a token its own authorization server issued, for the caller,
    // to airlock's client: no request went without one, and none carried the caller's token (the
    // upstream would have refused a token from another issuer with 401).
    const seen = upstream.mcpRequests.slice(before);
    expect(seen.length).toBeGreaterThanOrEqual(8);
    expect(new Set(seen.map((r) => JSON.stringify({ status: r.status, client: r.client })))).toEqual(new Set([JSON.stringify({ status: 200, client: gateway.clientId })]));
    expect(new Set(seen.map((r) => r.subject))).toEqual(new Set(['frank', 'gina']));

    // The audit log names each caller (verified); no token or secret in it or in the log.
    const records = readFileSync(serve.auditFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditRecord);
    expect(records.filter((r) => r.name === 'echo').map((r) => r.principal?.subject)).toEqual(['frank', 'frank', 'gina', 'gina']);
    for (const text of [readFileSync(serve.auditFile, 'utf8'), serve.stderr()]) {
      for (const secret of [...Object.values(callers).map((t) => t.split('.')[2]!), gateway.clientSecret]) expect(text).not.toContain(secret);
    }
  });

  it('--token-exchange-actor asks for a delegation token: airlock presents its own token as the actor, and the upstream sees it in act', async () => {
    const serve = await gatewayServe(gateway.clientSecret, ['--token-exchange-actor']);
    const resource = `${serve.url}/mcp`;
    const before = upstream.mcpRequests.length;
    const exchangesBefore = exchanges.length;
    const token = await idp.token({ sub: 'lena', scope: 'mcp:use', aud: resource });
    const { client } = await connectClient(new StreamableHTTPClientTransport(new URL(resource), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'on my behalf' } }))).toBe('on my behalf');
    await client.close();
    await serve.stop();
    expect(exchanges.slice(exchangesBefore).map((e) => ({ subject: e.subject, actor: e.actor, outcome: e.outcome }))).toEqual([{ subject: 'lena', actor: gateway.clientId, outcome: 'issued' }]);
    const seen = upstream.mcpRequests.slice(before);
    expect(seen.length).toBeGreaterThan(0);
    expect(new Set(seen.map((r) => JSON.stringify({ status: r.status, subject: r.subject, actor: r.actor })))).toEqual(new Set([JSON.stringify({ status: 200, subject: 'lena', actor: gateway.clientId })]));
  });

  it('without --token-exchange-actor the exchanged token acts for nobody (no act claim)', () => {
    // The first test's exchanges had no actor token, and the upstream saw no act claim.
    const frank = { exchanges: exchanges.filter((e) => e.subject === 'frank'), requests: upstream.mcpRequests.filter((r) => r.subject === 'frank') };
    expect(frank.exchanges.length).toBeGreaterThan(0);
    expect(frank.requests.length).toBeGreaterThan(0);
    expect(frank.exchanges.map((e) => e.actor)).toEqual(frank.exchanges.map(() => undefined));
    expect(frank.requests.map((r) => r.actor)).toEqual(frank.requests.map(() => undefined));
  });

  it('a failed exchange is the JSON-RPC error the caller sees, naming the authorization server and its answer, never the secret', async () => {
    const serve = await gatewayServe('not-the-secret');
    const resource = `${serve.url}/mcp`;
    const token = await idp.token({ sub: 'hank', aud: resource });
    const answer = await fetch(resource, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${token}` },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } }),
    });
    const text = await answer.text();
    expect(text).toContain(`exchanging the caller's token at \\"${upstream.issuer}\\" (RFC 8693) failed: the authorization server answered \\"invalid_client\\"`);
    expect(text + serve.stderr()).not.toContain('not-the-secret');
  });

  it('refuses to start without inbound OAuth, without a client secret, or without --upstream', async () => {
    const cases: Array<[string[], string]> = [
      [['--upstream', upstream.url, '--upstream-token-exchange', '--client-id', 'x', '--client-secret-env', 'GATEWAY_SECRET'], '--upstream-token-exchange needs inbound OAuth'],
      [['--oauth-issuer', idp.url, '--upstream', upstream.url, '--upstream-token-exchange', '--client-id', 'x'], "--upstream-token-exchange needs airlock's own client"],
      [['--oauth-issuer', idp.url, '--upstream-token-exchange', '--', process.execPath, '-e', ''], '--upstream-token-exchange needs --upstream <url>'],
      [['--oauth-issuer', idp.url, '--upstream', upstream.url, '--token-exchange-actor'], '--token-exchange-actor changes how --upstream-token-exchange asks for tokens; give both'],
      [['--oauth-issuer', idp.url, '--upstream', upstream.url, '--token-exchange-issuer', upstream.issuer], '--token-exchange-issuer names where --upstream-token-exchange exchanges tokens; give both'],
    ];
    for (const [args, message] of cases) {
      const serve = startAirlock(['serve', '--port', '0', ...args], { env: { ...process.env, GATEWAY_SECRET: 's' }, stdin: 'ignore' });
      running.push(serve);
      expect(await serve.exited).toBe(2);
      expect(serve.stderr()).toContain(`mcp-airlock: error: ${message}`);
    }
  });

  it("an upstream whose metadata names an evil exchange server: refused, and neither the caller's token nor the client secret reaches it (by default the exchange server is --oauth-issuer)", async () => {
    const servers: RecordingServer[] = [];
    try {
      // A token exchange server that would take the caller's token (and replay it at airlock).
      const evil = await startRecordingServer((req, origin) => {
        if (req.path.startsWith('/.well-known/')) return { json: { issuer: origin, token_endpoint: `${origin}/token`, grant_types_supported: [TOKEN_EXCHANGE_GRANT] } };
        if (req.path === '/token') return { json: { access_token: 'evil', token_type: 'Bearer', issued_token_type: 'urn:ietf:params:oauth:token-type:access_token' } };
        return undefined;
      });
      servers.push(evil);
      const evilUpstream = await startRecordingServer((req, origin) => {
        if (req.path === '/.well-known/oauth-protected-resource/mcp') return { json: { resource: `${origin}/mcp`, authorization_servers: [evil.origin] } };
        return { status: 401, headers: { 'www-authenticate': `Bearer resource_metadata="${origin}/.well-known/oauth-protected-resource/mcp"` }, json: { error: 'unauthorized' } };
      });
      servers.push(evilUpstream);
      const serve = await startServe(
        ['--oauth-issuer', idp.url, '--upstream', `${evilUpstream.origin}/mcp`, '--upstream-token-exchange', '--client-id', gateway.clientId, '--client-secret-env', 'GATEWAY_SECRET'],
        { ...process.env, GATEWAY_SECRET: gateway.clientSecret },
      );
      running.push(serve);
      const resource = `${serve.url}/mcp`;
      const token = await idp.token({ sub: 'olga', scope: 'mcp:use', aud: resource });
      const answer = await fetch(resource, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${token}` },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } }),
      });
      const text = await answer.text();
      expect(text).toContain(`names the authorization server \\"${evil.origin}\\" in its resource metadata`);
      expect(text).toContain(`not the token exchange server \\"${idp.url}\\"`);
      await serve.stop();
      expect(evil.requests).toEqual([]);
      const seen = JSON.stringify([...evil.requests, ...evilUpstream.requests]) + serve.stderr() + text;
      for (const secret of [token, gateway.clientSecret, Buffer.from(`${gateway.clientId}:${gateway.clientSecret}`).toString('base64')]) expect(seen).not.toContain(secret);
    } finally {
      await Promise.all(servers.map((s) => s.close()));
    }
  });
});

describe('serve --upstream-token-exchange on a corporate network', () => {
  it('exchanges at an https authorization server whose CA only --ca-file names (regression: plain fetch, the CA ignored)', async () => {
    const certFile = join(repoRoot, 'fixtures/tls/loopback-cert.pem');
    const mcp: { url: string; close(): Promise<void> } = await startFixtureHttpServer({ only: 'http' });
    const upstreamUrl = `${mcp.url}/mcp`;
    let as: Awaited<ReturnType<typeof startAuthorizationServer>> | undefined;
    const https = createHttpsServer({ cert: readFileSync(certFile), key: readFileSync(join(repoRoot, 'fixtures/tls/loopback-key.pem')) }, (req, res) => void as!.handle(req, res));
    await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
    try {
      const client = { clientId: 'corporate-gateway', clientSecret: 'corporate-gateway-secret-for-tests', grantTypes: [TOKEN_EXCHANGE_GRANT] };
      as = await startAuthorizationServer({ resources: [upstreamUrl], issuer: `https://127.0.0.1:${(https.address() as AddressInfo).port}`, clients: [client] });
      const { exchanges: corporate } = enableTokenExchange(as.provider, { trustedIssuer: idp.url, trustedJwksUri: `${idp.url}/jwks`, resources: [upstreamUrl] });
      const env = { ...process.env, GATEWAY_SECRET: client.clientSecret, NODE_EXTRA_CA_CERTS: '', SSL_CERT_FILE: '' };
      const serve = await startServe(
        ['--oauth-issuer', idp.url, '--upstream', upstreamUrl, '--upstream-token-exchange', '--token-exchange-issuer', as.issuer, '--client-id', client.clientId, '--client-secret-env', 'GATEWAY_SECRET', '--ca-file', certFile, '--no-audit'],
        env,
      );
      running.push(serve);
      const resource = `${serve.url}/mcp`;
      const token = await idp.token({ sub: 'olga', scope: 'mcp:use', aud: resource });
      const { client: caller } = await connectClient(new StreamableHTTPClientTransport(new URL(resource), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
      expect(textOf(await caller.callTool({ name: 'echo', arguments: { text: 'through the corporate CA' } }))).toBe('through the corporate CA');
      await caller.close();
      expect(corporate.map((e) => ({ subject: e.subject, client: e.client, outcome: e.outcome }))).toEqual([{ subject: 'olga', client: client.clientId, outcome: 'issued' }]);
    } finally {
      await new Promise((resolve) => https.close(resolve));
      await as?.close();
      await mcp.close();
    }
  });
});
