/**
 * Client ID Metadata Documents end to end: the authorization server (oidc-provider with its CIMD
 * feature) advertises `client_id_metadata_document_supported`, the test serves airlock's client
 * metadata document over https on loopback, and `login --client-metadata-url` makes that URL the
 * client_id: the server fetches the document, no dynamic registration happens, and `connect`
 * then works with the stored token. Without the flag, the same server gets a DCR request
 * (MCP 2025-11-25 "Client Registration Approaches": CIMD only with a document to point to).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthFixture } from '../../fixtures/auth/protected-server.mjs';
import { startAirlock } from '../helpers/airlock-process.js';
import { cliLogin } from '../helpers/cli-login.js';
import { LineClient } from '../helpers/line-client.js';
import { leaks, storedTokens } from '../helpers/stored-secrets.js';

type Fixture = Awaited<ReturnType<typeof startAuthFixture>>;

const tls = (name: string): string => readFileSync(new URL(`../../fixtures/tls/${name}`, import.meta.url), 'utf8');
const cert = tls('loopback-cert.pem');

let fixture: Fixture;
let documentServer: Server;
let documentUrl: string;
/** Requests that reached the document server: method and path. */
const documentRequests: Array<{ method: string; path: string }> = [];
let dir: string;
let n = 0;

beforeAll(async () => {
  documentServer = createServer({ cert, key: tls('loopback-key.pem') }, (req, res) => {
    documentRequests.push({ method: req.method ?? '', path: req.url ?? '' });
    if (req.url !== '/mcp-airlock/client.json') return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=60' }).end(JSON.stringify({
      client_id: documentUrl,
      client_name: 'mcp-airlock (test)',
      application_type: 'native',
      // Loopback redirect: the port is the callback's own each time (RFC 8252 §7.3, native clients).
      redirect_uris: ['http://127.0.0.1/callback'],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    }));
  });
  await new Promise<void>((resolve) => documentServer.listen(0, '127.0.0.1', resolve));
  documentUrl = `https://127.0.0.1:${(documentServer.address() as AddressInfo).port}/mcp-airlock/client.json`;
  fixture = await startAuthFixture({ clientIdMetadataDocument: { ca: cert } });
  dir = mkdtempSync(join(tmpdir(), 'airlock-cimd-'));
});
afterAll(async () => {
  await fixture?.close();
  await new Promise<void>((resolve) => (documentServer ? documentServer.close(() => resolve()) : resolve()));
  rmSync(dir, { recursive: true, force: true });
});

function freshEnv(): { env: NodeJS.ProcessEnv; configDir: string } {
  const configDir = join(dir, `config-${++n}`);
  return { configDir, env: { ...process.env, MCP_AIRLOCK_CONFIG_DIR: configDir } };
}

type AsRequest = { route?: string; clientId?: string; grantType?: string; status?: number };
const asRequests = (): AsRequest[] => fixture.asRequests as AsRequest[];

describe('Client ID Metadata Documents (oidc-provider clientIdMetadataDocument, draft-02)', () => {
  it('login --client-metadata-url: the document URL is the client_id, the server fetched it, no DCR; connect then uses the stored token', async () => {
    const { env, configDir } = freshEnv();
    const before = asRequests().length;
    const login = await cliLogin(fixture.url, env, ['--client-metadata-url', documentUrl], 'frank');
    // The scope of the server's 401 challenge (login probes first), as connect would ask.
    expect(login.stdout()).toMatch(new RegExp(`^logged in to ${fixture.url}: issuer ${fixture.issuer}, client ${documentUrl.replace(/[.?]/g, '\\$&')}, scopes mcp:read, expires in \\d+ min\\n$`));
    expect(login.stderr()).not.toContain('registered mcp-airlock');

    expect(documentRequests).toContainEqual({ method: 'GET', path: '/mcp-airlock/client.json' });
    const during = asRequests().slice(before);
    expect(during.filter((r) => r.route === 'registration')).toEqual([]);
    expect(during.filter((r) => r.route === 'authorization' || r.route === 'token').map((r) => [r.route, r.clientId, r.status])).toEqual([
      ['authorization', documentUrl, 303],
      ['token', documentUrl, 200],
    ]);

    const status = startAirlock(['status', '--storage', 'file', '--json'], { env, stdin: 'ignore' });
    expect(await status.exited).toBe(0);
    expect(JSON.parse(status.stdout())).toEqual([expect.objectContaining({ server: fixture.url, clientId: documentUrl, subject: 'frank', refreshable: true })]);

    const connect = startAirlock(['connect', fixture.url, '--storage', 'file', '--allow-http', '--no-browser'], { env });
    const client = new LineClient(connect);
    await client.handshake();
    expect((await client.call(1, 'echo', { text: 'as a CIMD client' })).result).toEqual({ content: [{ type: 'text', text: 'as a CIMD client' }] });
    client.endInput();
    expect(await connect.exited).toBe(0);
    expect(asRequests().slice(before).filter((r) => r.route === 'authorization')).toHaveLength(1);

    const secrets = storedTokens(configDir);
    expect(secrets).toHaveLength(2);
    expect(leaks(secrets, { login: login.stdout() + login.stderr(), status: status.stdout() + status.stderr(), connect: connect.stdout() + connect.stderr() })).toEqual([]);
  });

  it('without --client-metadata-url the same server gets a dynamic registration (RFC 7591), and its client_id is not a URL', async () => {
    const { env } = freshEnv();
    const before = asRequests().length;
    const login = await cliLogin(fixture.url, env);
    const during = asRequests().slice(before);
    expect(during.filter((r) => r.route === 'registration').map((r) => r.status)).toEqual([201]);
    const authorization = during.find((r) => r.route === 'authorization')!;
    expect(authorization.clientId).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(login.stderr()).toContain(`registered mcp-airlock at "${fixture.issuer}" as client "${authorization.clientId}"`);
  });
});
