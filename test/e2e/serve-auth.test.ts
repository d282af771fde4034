/**
 * `serve` as a protected MCP resource, through the real CLI: a static token, and an OAuth resource
 * server whose keys come from a real JWKS endpoint on loopback. Each rejection gets its status and
 * WWW-Authenticate, and nothing reaches the child (no stdio server is even started).
 */
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../src/audit/audit-record.js';
import { startAirlock, startServe, stdioFixture, waitFor, type AirlockProcess } from '../helpers/airlock-process.js';
import { KeyServer } from '../helpers/key-server.js';
// @ts-expect-error plain JS fixture
import { startFixtureHttpServer } from '../../fixtures/lib/http-fixture.mjs';
import { connectClient, textOf } from '../helpers/mcp-client.js';

const running: AirlockProcess[] = [];
let dir: string;
let n = 0;
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
});

const initialize = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } };

async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers }, body: JSON.stringify(body) });
}

/** serve with a pid file for its child, so a test can tell whether any child was started. */
async function serveWith(args: string[], env?: NodeJS.ProcessEnv): Promise<AirlockProcess & { url: string; pidFile: string; auditFile: string }> {
  const pidFile = join(dir, `child-${++n}.pid`);
  const auditFile = join(dir, `audit-${n}.jsonl`);
  const serve = await startServe([...args, '--audit-file', auditFile, '--', process.execPath, stdioFixture, '--print-pid-file', pidFile], env);
  running.push(serve);
  return Object.assign(serve, { pidFile, auditFile });
}

describe('serve with a static token', () => {
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'airlock-serve-auth-'));
  });

  it('--auth-token-env: no token 401, a wrong one 401, a token in the query 400; the right one works', async () => {
    const token = 'static-token-0123456789';
    const serve = await serveWith(['--auth-token-env', 'SERVE_TOKEN'], { ...process.env, SERVE_TOKEN: token });
    const mcp = `${serve.url}/mcp`;

    const none = await post(mcp, initialize);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    const wrong = await post(mcp, initialize, { authorization: 'Bearer not-the-token' });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    expect((await wrong.json()).error.message).toBe('Unauthorized: the token is not valid');
    const query = await post(`${mcp}?access_token=${token}`, initialize);
    expect(query.status).toBe(400);
    expect(query.headers.get('www-authenticate')).toContain('error="invalid_request"');
    const sse = await fetch(`${serve.url}/sse`);
    expect(sse.status).toBe(401);
    expect(existsSync(serve.pidFile)).toBe(false); // no session, no child

    const { client } = await connectClient(new StreamableHTTPClientTransport(new URL(mcp), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'in' } }))).toBe('in');
    // The server's tools cannot read airlock's own secret from their environment (attack review finding 2).
    expect(textOf(await client.callTool({ name: 'env', arguments: { name: 'SERVE_TOKEN' } }))).toBe('');
    expect(textOf(await client.callTool({ name: 'env', arguments: { name: 'PATH' } }))).not.toBe('');
    await client.close();
    expect(serve.stderr()).not.toContain(token);
  });

  it('never passes the inbound token upstream (serve --upstream): the remote server sees only its own headers', async () => {
    const upstream = await startFixtureHttpServer({ port: 0 });
    try {
      const token = 'inbound-only-token-0123456789';
      const serve = await startServe(['--auth-token-env', 'SERVE_TOKEN', '--upstream', `${upstream.url}/mcp`, '--header', 'X-Upstream-Key: for-the-upstream', '--no-audit'], { ...process.env, SERVE_TOKEN: token });
      running.push(serve);
      const { client } = await connectClient(new StreamableHTTPClientTransport(new URL(`${serve.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
      const seen = JSON.parse(textOf(await client.callTool({ name: 'headers', arguments: {} }))) as Record<string, string>;
      await client.close();
      expect(seen['x-upstream-key']).toBe('for-the-upstream');
      expect(seen.authorization).toBeUndefined();
      expect(JSON.stringify(seen)).not.toContain(token);
    } finally {
      await upstream.close();
    }
  });

  it('--auth-token-generate: prints the token once, keeps it 0600, reuses it on the next start', async () => {
    const file = join(dir, 'generated', 'token');
    const first = await serveWith(['--auth-token-generate', '--auth-token-file', file]);
    const token = readFileSync(file, 'utf8').trim();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(first.stderr()).toContain(`stored in ${file} (0600):\n${token}\n`);
    expect((await post(`${first.url}/mcp`, initialize, { authorization: `Bearer ${token}` })).status).toBe(200);
    await first.stop();

    const second = await serveWith(['--auth-token-generate', '--auth-token-file', file]);
    expect(second.stderr()).not.toContain(token);
    expect(second.stderr()).toContain(`using the token already in ${file}`);
    expect((await post(`${second.url}/mcp`, initialize, { authorization: `Bearer ${token}` })).status).toBe(200);
  });

  it('refuses conflicting or orphaned auth flags before listening', async () => {
    const both = startAirlock(['serve', '--port', '0', '--auth-token-env', 'X', '--auth-token-generate', '--', process.execPath, stdioFixture]);
    running.push(both);
    expect(await both.exited).toBe(2);
    expect(both.stderr()).toContain('mcp-airlock: error: give one of --auth-token-file, --auth-token-env and --auth-token-generate');
    const orphan = startAirlock(['serve', '--port', '0', '--oauth-scopes', 'a', '--', process.execPath, stdioFixture]);
    running.push(orphan);
    expect(await orphan.exited).toBe(2);
    expect(orphan.stderr()).toContain('need --oauth-issuer');
  });
  // Issue 14 #8: a 0644 token file was accepted without a word.
  it('warns when the --auth-token-file is readable by others, and still uses it', async () => {
    const file = join(dir, `token-${++n}`);
    writeFileSync(file, 'file-token-0123456789\n', { mode: 0o644 });
    chmodSync(file, 0o644);
    const serve = await serveWith(['--auth-token-file', file]);
    await waitFor(() => serve.stderr().includes('is readable by everyone'), 'the warning');
    expect(serve.stderr()).toContain(`warn: the token file ${JSON.stringify(file)} is readable by everyone (mode 0644); run chmod 600 ${JSON.stringify(file)}`);
    expect((await post(`${serve.url}/mcp`, initialize, { authorization: 'Bearer file-token-0123456789' })).status).toBe(200);
  });
});

describe('serve as an OAuth resource server', () => {
  const idp = new KeyServer();
  beforeAll(async () => {
    dir ??= mkdtempSync(join(tmpdir(), 'airlock-serve-auth-'));
    await idp.start();
    await idp.addKey('k1');
  });
  afterAll(async () => {
    await idp.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const oauthArgs = (): string[] => ['--oauth-issuer', idp.url, '--oauth-scopes', 'mcp:use', '--tool-scope', 'add=mcp:math'];

  it('publishes RFC 9728 metadata and challenges with resource_metadata; a good token works and is audited with its principal', async () => {
    const serve = await serveWith(oauthArgs());
    const resource = `${serve.url}/mcp`;
    for (const path of ['/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/mcp']) {
      const meta = await fetch(`${serve.url}${path}`);
      expect(meta.status).toBe(200);
      expect(await meta.json()).toEqual({ resource, authorization_servers: [idp.url], scopes_supported: ['mcp:use', 'mcp:math'], bearer_methods_supported: ['header'], resource_name: 'mcp-airlock serve', dpop_signing_alg_values_supported: ['ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512', 'RS256', 'RS384', 'RS512', 'EdDSA', 'Ed25519'] });
    }
    const none = await post(resource, initialize);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe(`Bearer resource_metadata="${serve.url}/.well-known/oauth-protected-resource/mcp", scope="mcp:use"`);

    const token = await idp.token({ sub: 'alice', client_id: 'vscode', scope: 'mcp:use mcp:math', aud: resource });
    const { client } = await connectClient(new StreamableHTTPClientTransport(new URL(resource), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
    expect(textOf(await client.callTool({ name: 'add', arguments: { a: 1, b: 2 } }))).toBe('3');
    await client.close();
    await serve.stop();
    const call = readFileSync(serve.auditFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditRecord).find((r) => r.name === 'add')!;
    expect(call.principal).toEqual({ issuer: idp.url, subject: 'alice', clientId: 'vscode', scopes: ['mcp:use', 'mcp:math'], verified: true });
    expect(readFileSync(serve.auditFile, 'utf8')).not.toContain(token.split('.')[2]);
    expect(serve.stderr()).not.toContain(token.split('.')[2]);
  });

  it('rejects wrong audience, expiry, issuer, signature, not-before, missing scope; nothing reaches the child', async () => {
    const serve = await serveWith(oauthArgs());
    const resource = `${serve.url}/mcp`;
    await idp.addKey('rogue', false); // signs, but the issuer never published it
    const good = { sub: 'bob', scope: 'mcp:use', aud: resource };
    const cases: Array<[string, Promise<string>, number, string]> = [
      ['wrong audience', idp.token({ ...good, aud: 'https://other.example/mcp' }), 401, 'error="invalid_token", error_description="audience mismatch"'],
      ['expired', idp.token(good, { expiresIn: Math.floor(Date.now() / 1000) - 3600 }), 401, 'error_description="token expired"'],
      ['wrong issuer', idp.token(good, { issuer: 'https://evil.example' }), 401, 'error_description="issuer mismatch"'],
      ['unknown key', idp.token(good, { kid: 'rogue' }), 401, 'error_description="unknown signing key"'],
      ['not yet valid', idp.token(good, { notBefore: Math.floor(Date.now() / 1000) + 3600 }), 401, 'error_description="token not yet valid"'],
      ['missing scope', idp.token({ ...good, scope: 'other' }), 403, 'error="insufficient_scope", scope="mcp:use"'],
    ];
    for (const [what, tokenPromise, status, challenge] of cases) {
      const response = await post(resource, initialize, { authorization: `Bearer ${await tokenPromise}` });
      expect({ what, status: response.status }).toEqual({ what, status });
      expect(response.headers.get('www-authenticate'), what).toContain(challenge);
      expect(response.headers.get('www-authenticate'), what).toContain(`resource_metadata="${serve.url}/.well-known/oauth-protected-resource/mcp"`);
    }
    // A signature made by another key under the published kid.
    const forged = (await idp.token(good, { kid: 'rogue' })).split('.');
    const genuine = (await idp.token(good)).split('.');
    const spliced = [genuine[0], forged[1], forged[2]].join('.');
    const bad = await post(resource, initialize, { authorization: `Bearer ${spliced}` });
    expect(bad.status).toBe(401);
    expect(bad.headers.get('www-authenticate')).toContain('error_description="bad signature"');
    // Origin from another site: refused before any credential is looked at.
    const cross = await post(resource, initialize, { authorization: `Bearer ${await idp.token(good)}`, origin: 'https://evil.example' });
    expect(cross.status).toBe(403);
    expect(existsSync(serve.pidFile)).toBe(false);
  });

  it('403 insufficient_scope for a tool that needs more, naming every scope to ask for; sessions belong to their caller', async () => {
    const serve = await serveWith(oauthArgs());
    const resource = `${serve.url}/mcp`;
    const token = await idp.token({ sub: 'carol', scope: 'mcp:use', aud: resource });
    const opened = await post(resource, initialize, { authorization: `Bearer ${token}` });
    expect(opened.status).toBe(200);
    const session = opened.headers.get('mcp-session-id')!;
    const headers = { authorization: `Bearer ${token}`, 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' };
    await post(resource, { jsonrpc: '2.0', method: 'notifications/initialized' }, headers);
    const denied = await post(resource, { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'add', arguments: { a: 1, b: 1 } } }, headers);
    expect(denied.status).toBe(403);
    expect(denied.headers.get('www-authenticate')).toBe(`Bearer resource_metadata="${serve.url}/.well-known/oauth-protected-resource/mcp", error="insufficient_scope", scope="mcp:use mcp:math", error_description="tool requires mcp:math"`);
    expect((await denied.json()).error.message).toBe('Forbidden: calling tool "add" requires the scope mcp:math');
    const echo = await post(resource, { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'echo', arguments: { text: 'ok' } } }, headers);
    expect(echo.status).toBe(200);
    expect(await echo.text()).toContain('"text":"ok"');

    // Another user's valid token cannot use carol's session.
    const mallory = await idp.token({ sub: 'mallory', scope: 'mcp:use mcp:math', aud: resource });
    const hijack = await post(resource, { jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'add', arguments: { a: 1, b: 1 } } }, { ...headers, authorization: `Bearer ${mallory}` });
    expect(hijack.status).toBe(404);

    // The refusal never reached the bridge, yet it is in the audit log as a call airlock denied.
    await serve.stop();
    const records = readFileSync(serve.auditFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditRecord);
    const calls = records.filter((r) => r.method === 'tools/call').map((r) => ({ name: r.name, id: r.id, outcome: r.outcome, airlockCode: r.airlockCode, subject: r.principal?.subject }));
    expect(calls).toEqual([
      { name: 'add', id: 2, outcome: 'denied', airlockCode: 'AIRLOCK_INSUFFICIENT_SCOPE', subject: 'carol' },
      { name: 'echo', id: 3, outcome: 'ok', airlockCode: undefined, subject: 'carol' },
    ]);
  });

  it('one caller holds at most half of --max-sessions: its own idle session makes room, others keep theirs', async () => {
    const serve = await serveWith([...oauthArgs(), '--max-sessions', '2']);
    const resource = `${serve.url}/mcp`;
    const tokenOf = (sub: string) => idp.token({ sub, scope: 'mcp:use', aud: resource });
    const [dave, erin] = [await tokenOf('dave'), await tokenOf('erin')];
    const open = async (token: string) => {
      const opened = await post(resource, initialize, { authorization: `Bearer ${token}` });
      // Read the whole answer: until then the session has a call in flight and is not idle.
      expect(opened.status, await opened.text()).toBe(200);
      return opened.headers.get('mcp-session-id')!;
    };
    const erinSession = await open(erin);
    const daveFirst = await open(dave);
    await open(dave); // dave's second session: his own idle first one ends, erin's stays
    const alive = (token: string, session: string) => post(resource, { jsonrpc: '2.0', id: 9, method: 'tools/list' }, { authorization: `Bearer ${token}`, 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' });
    expect((await alive(dave, daveFirst)).status).toBe(404);
    expect((await alive(erin, erinSession)).status).toBe(200);
  });

  it('JWKS unreachable is 503, never an open door', async () => {
    const dead = await serveWith(['--oauth-issuer', idp.url, '--oauth-jwks', 'http://127.0.0.1:9/jwks']);
    const response = await post(`${dead.url}/mcp`, initialize, { authorization: `Bearer ${await idp.token({ sub: 'dan', aud: `${dead.url}/mcp` })}` });
    expect(response.status).toBe(503);
    expect((await response.json()).error.message).toBe("Service Unavailable: the authorization server's keys (http://127.0.0.1:9/jwks) cannot be fetched, so no token can be checked; try again later");
    await waitFor(() => dead.stderr().includes('cannot fetch the signing keys from http://127.0.0.1:9/jwks'), 'the log line');
    expect(existsSync(dead.pidFile)).toBe(false);
  });

  it('an --oauth-issuer whose metadata names another issuer stops serve with a hint', async () => {
    const bad = startAirlock(['serve', '--port', '0', '--oauth-issuer', `${idp.url}/`, '--', process.execPath, stdioFixture]);
    running.push(bad);
    expect(await bad.exited).toBe(5);
    expect(bad.stderr()).toContain(`mcp-airlock: error: --oauth-issuer: the authorization server metadata at "${idp.url}/.well-known/oauth-authorization-server" names issuer "${idp.url}", expected "${idp.url}/"`);
    expect(bad.stderr()).toContain('mcp-airlock: hint: Check --oauth-issuer (it must equal the issuer in its metadata)');
  });

  // Issue 14 #4: a plain-http jwks_uri was accepted while a plain-http issuer was refused.
  it('refuses a plain-http JWKS that is not loopback, unless --allow-http', async () => {
    const plain = startAirlock(['serve', '--port', '0', '--oauth-issuer', idp.url, '--oauth-jwks', 'http://idp.example/jwks', '--', process.execPath, stdioFixture]);
    running.push(plain);
    expect(await plain.exited).toBe(2);
    expect(plain.stderr()).toContain('mcp-airlock: error: --oauth-jwks: the JWKS "http://idp.example/jwks" is not https; keys fetched over plain http could be replaced on the way');
  });

  it('alg none is 401 invalid_token over HTTP, never a 503 outage', async () => {
    const serve = await serveWith(oauthArgs());
    const forged = idp.forged({ alg: 'none', typ: 'at+jwt' }, { sub: 'u', aud: `${serve.url}/mcp`, scope: 'mcp:use' });
    const response = await post(`${serve.url}/mcp`, initialize, { authorization: `Bearer ${forged}` });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toContain('error="invalid_token", error_description="unsupported algorithm"');
    expect(existsSync(serve.pidFile)).toBe(false);
  });

  // Issue 20: --oauth-jwks credentials appeared in the 503 body and the log.
  it('credentials in --oauth-jwks (userinfo, a query key) appear neither in the 503 body nor in the log', async () => {
    const jwks = 'http://gw-user:jwks-pass-0987@127.0.0.1:9/jwks?key=jwks-api-key-123';
    const serve = await serveWith(['--oauth-issuer', idp.url, '--oauth-jwks', jwks]);
    const resource = `${serve.url}/mcp`;
    const response = await post(resource, initialize, { authorization: `Bearer ${await idp.token({ sub: 'u', aud: resource })}` });
    expect(response.status).toBe(503);
    const body = await response.text();
    expect(body).toContain("the authorization server's keys (http://[REDACTED]@127.0.0.1:9/jwks?key=[REDACTED]) cannot be fetched");
    await waitFor(() => serve.stderr().includes('cannot fetch the signing keys from http://[REDACTED]@127.0.0.1:9/jwks?key=[REDACTED]'), 'the log line');
    for (const secret of ['gw-user', 'jwks-pass-0987', 'jwks-api-key-123']) expect(body + serve.stderr()).not.toContain(secret);
  });
});
