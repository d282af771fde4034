/**
 * `serve` as a resource server for DPoP-bound tokens (RFC 9449 §7), through the real CLI, with
 * tokens from a real authorization server (oidc-provider, features.dPoP) obtained by airlock's own
 * login: a good proof passes; a bound token sent as Bearer (downgrade), a replayed proof, a proof
 * for another URL or method, a missing proof and a proof of another key are refused with the right
 * `WWW-Authenticate: DPoP` error, and nothing reaches the child. Then `connect` through to serve
 * with DPoP end to end, and --oauth-require-dpop.
 */
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startAuthorizationServer } from '../../fixtures/auth/authorization-server.mjs';
import { AuthSession } from '../../src/auth/auth-session.js';
import { DpopProver, installationDpopKey } from '../../src/auth/dpop.js';
import { createLogger } from '../../src/log.js';
import { airlockBin, startServe, stdioFixture, type AirlockProcess } from '../helpers/airlock-process.js';
import { completeLogin } from '../helpers/cli-login.js';
import { HeadlessBrowser } from '../helpers/headless-browser.js';
import { MemoryGrantStore } from '../helpers/memory-grant-store.js';
import { connectClient, textOf } from '../helpers/mcp-client.js';

const log = createLogger('silent');
const running: AirlockProcess[] = [];
let dir: string;
let n = 0;
let as: Awaited<ReturnType<typeof startAuthorizationServer>>;
/** The resources oidc-provider issues tokens for: each serve adds its own URL once it listens. */
const resources: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'airlock-serve-dpop-'));
  as = await startAuthorizationServer({ resources, dpop: {} });
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
});
afterAll(async () => {
  await as?.close();
  rmSync(dir, { recursive: true, force: true });
});

const initialize = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } };

async function serveDpop(extra: string[] = []): Promise<AirlockProcess & { url: string; mcp: string; pidFile: string }> {
  const pidFile = join(dir, `child-${++n}.pid`);
  const serve = await startServe(['--oauth-issuer', as.issuer, '--oauth-scopes', 'mcp:read', ...extra, '--no-audit', '--', process.execPath, stdioFixture, '--print-pid-file', pidFile]);
  running.push(serve);
  const mcp = `${serve.url}/mcp`;
  resources.push(mcp);
  return Object.assign(serve, { mcp, pidFile });
}

/** A login by airlock's own AuthSession: its token (DPoP-bound unless `dpop: 'never'`) and its installation key. */
async function login(mcp: string, dpop: 'auto' | 'never' = 'auto'): Promise<{ token: string; prover: DpopProver; tokenType: string }> {
  const store = new MemoryGrantStore();
  const record = await new AuthSession({ serverUrl: mcp, store, log, openUrl: new HeadlessBrowser().open, allowHttp: true, authTimeoutMs: 10_000, dpop }).login();
  return { token: record.accessToken, tokenType: record.tokenType, prover: new DpopProver(await installationDpopKey(store, log)) };
}

function post(url: string, headers: Record<string, string>): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers }, body: JSON.stringify(initialize) });
}

async function refusal(response: Response): Promise<{ status: number; challenge: string | null; message: string }> {
  const body = (await response.json()) as { error?: { message?: string } };
  return { status: response.status, challenge: response.headers.get('www-authenticate'), message: body.error?.message ?? '' };
}

describe('serve with DPoP-bound tokens (oidc-provider features.dPoP)', () => {
  it('accepts a good proof; refuses a Bearer downgrade, a replay, another URL, another method, no proof, another key; nothing reaches the child', async () => {
    const serve = await serveDpop();
    const { token, tokenType, prover } = await login(serve.mcp);
    expect(tokenType).toBe('DPoP');
    const metadata = `resource_metadata="${serve.url}/.well-known/oauth-protected-resource/mcp"`;
    const dpopError = (error: string, description: string) => `DPoP algs="ES256 ES384 ES512 PS256 PS384 PS512 RS256 RS384 RS512 EdDSA Ed25519", ${metadata}, scope="mcp:read", error="${error}", error_description="${description}"`;
    const url = new URL(serve.mcp);

    const downgrade = await refusal(await post(serve.mcp, { authorization: `Bearer ${token}` }));
    expect(downgrade).toEqual({ status: 401, challenge: dpopError('invalid_token', 'DPoP-bound token presented as Bearer'), message: 'Unauthorized: a DPoP-bound token was presented as a Bearer token (a downgrade); send it with "Authorization: DPoP" and a proof' });
    const noProof = await refusal(await post(serve.mcp, { authorization: `DPoP ${token}` }));
    expect(noProof).toMatchObject({ status: 401, challenge: dpopError('invalid_dpop_proof', 'missing DPoP proof') });
    const otherUrl = await refusal(await post(serve.mcp, { authorization: `DPoP ${token}`, dpop: await prover.proof(new URL(`${serve.url}/messages`), 'POST', token) }));
    expect(otherUrl).toMatchObject({ status: 401, challenge: dpopError('invalid_dpop_proof', 'htu does not match the request URL') });
    const otherMethod = await refusal(await post(serve.mcp, { authorization: `DPoP ${token}`, dpop: await prover.proof(url, 'GET', token) }));
    expect(otherMethod).toEqual({ status: 401, challenge: dpopError('invalid_dpop_proof', 'htm does not match the request method'), message: 'Unauthorized: the DPoP proof is for the method "GET", not POST' });
    const otherToken = await refusal(await post(serve.mcp, { authorization: `DPoP ${token}`, dpop: await prover.proof(url, 'POST', 'another-token') }));
    expect(otherToken).toMatchObject({ status: 401, challenge: dpopError('invalid_dpop_proof', 'ath does not match the access token') });
    const stranger = new DpopProver(await installationDpopKey(new MemoryGrantStore(), log));
    const otherKey = await refusal(await post(serve.mcp, { authorization: `DPoP ${token}`, dpop: await stranger.proof(url, 'POST', token) }));
    expect(otherKey).toMatchObject({ status: 401, challenge: dpopError('invalid_token', 'proof key does not match the token binding') });
    expect(existsSync(serve.pidFile)).toBe(false); // no session, no child for any of them

    const proof = await prover.proof(url, 'POST', token);
    const good = await post(serve.mcp, { authorization: `DPoP ${token}`, dpop: proof });
    expect(good.status).toBe(200);
    await good.body?.cancel();
    const replay = await refusal(await post(serve.mcp, { authorization: `DPoP ${token}`, dpop: proof }));
    expect(replay).toEqual({ status: 401, challenge: dpopError('invalid_dpop_proof', 'DPoP proof replayed'), message: 'Unauthorized: the DPoP proof was used before (its jti was seen): a replay' });
    // A fresh proof for the same request passes again.
    const again = await post(serve.mcp, { authorization: `DPoP ${token}`, dpop: await prover.proof(url, 'POST', token) });
    expect(again.status).toBe(200);
    await again.body?.cancel();
    expect(serve.stderr()).not.toContain(token.split('.')[2]);
  });

  it('publishes dpop_signing_alg_values_supported; Bearer tokens that are not bound still pass unless --oauth-require-dpop', async () => {
    const open = await serveDpop();
    const meta = (await (await fetch(`${open.url}/.well-known/oauth-protected-resource/mcp`)).json()) as Record<string, unknown>;
    expect(meta.dpop_signing_alg_values_supported).toContain('ES256');
    expect(meta).not.toHaveProperty('dpop_bound_access_tokens_required');
    const bearer = await login(open.mcp, 'never');
    expect(bearer.tokenType).toBe('Bearer');
    const ok = await post(open.mcp, { authorization: `Bearer ${bearer.token}` });
    expect(ok.status).toBe(200);
    await ok.body?.cancel();

    const strict = await serveDpop(['--oauth-require-dpop']);
    const strictMeta = (await (await fetch(`${strict.url}/.well-known/oauth-protected-resource/mcp`)).json()) as Record<string, unknown>;
    expect(strictMeta.dpop_bound_access_tokens_required).toBe(true);
    const none = await refusal(await post(strict.mcp, {}));
    expect(none.status).toBe(401);
    expect(none.challenge).toMatch(/^DPoP algs="ES256 [^"]*", resource_metadata="/);
    const unbound = await login(strict.mcp, 'never');
    const refused = await refusal(await post(strict.mcp, { authorization: `Bearer ${unbound.token}` }));
    expect(refused).toMatchObject({ status: 401, message: 'Unauthorized: this server takes DPoP-bound tokens only (--oauth-require-dpop); the client must ask its authorization server for DPoP tokens' });
    expect(refused.challenge).toContain('error="invalid_token", error_description="DPoP required"');
    expect(existsSync(strict.pidFile)).toBe(false);
  });

  it('connect logs in with DPoP and calls through serve --oauth-require-dpop end to end', async () => {
    const serve = await serveDpop(['--oauth-require-dpop']);
    const configDir = mkdtempSync(join(dir, 'config-'));
    const env = { ...process.env, MCP_AIRLOCK_CONFIG_DIR: configDir } as Record<string, string>;
    const transport = new StdioClientTransport({ command: process.execPath, args: [airlockBin, 'connect', serve.mcp, '--storage', 'file', '--no-browser', '--log-level', 'debug'], env, stderr: 'pipe' });
    let stderr = '';
    transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const connecting = connectClient(transport);
    // The login URL appears on stderr; the test is the browser.
    const proc = { waitForStderr: async (re: RegExp) => { for (let i = 0; i < 200; i++) { const m = re.exec(stderr); if (m) return m; await new Promise((r) => setTimeout(r, 50)); } throw new Error(`no login URL on stderr: ${stderr}`); } };
    await completeLogin(proc as unknown as AirlockProcess);
    const { client } = await connecting;
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'bound' } }))).toBe('bound');
    await client.close();
    expect(stderr).toContain('DPoP key');
    expect(stderr).not.toMatch(/eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/); // no token or proof in the log
  });

  it('--oauth-dpop-nonce: a proof without the server\'s nonce gets 401 use_dpop_nonce with a DPoP-Nonce; a wrong nonce is refused; the given one passes', async () => {
    const serve = await serveDpop(['--oauth-dpop-nonce']);
    const { token, prover } = await login(serve.mcp);
    const url = new URL(serve.mcp);
    const first = await post(serve.mcp, { authorization: `DPoP ${token}`, dpop: await prover.proof(url, 'POST', token) });
    const nonce = first.headers.get('dpop-nonce');
    expect(await refusal(first)).toMatchObject({ status: 401, message: 'Unauthorized: the DPoP proof has no nonce; this server requires one (--oauth-dpop-nonce), given in DPoP-Nonce' });
    expect(first.headers.get('www-authenticate')).toMatch(/^DPoP algs="[^"]+", resource_metadata="[^"]+", scope="mcp:read", error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"$/);
    expect(nonce).toMatch(/^[A-Za-z0-9_-]{43}$/);

    prover.rememberNonce(url, `${nonce!.slice(0, 42)}${nonce!.endsWith('A') ? 'B' : 'A'}`);
    const wrong = await post(serve.mcp, { authorization: `DPoP ${token}`, dpop: await prover.proof(url, 'POST', token) });
    expect(wrong.headers.get('dpop-nonce')).toBe(nonce);
    expect(await refusal(wrong)).toMatchObject({ status: 401, message: 'Unauthorized: the DPoP proof carries a nonce this server did not issue, or an expired one; a new one is in DPoP-Nonce' });
    expect(existsSync(serve.pidFile)).toBe(false);

    prover.rememberNonce(url, nonce!);
    const good = await post(serve.mcp, { authorization: `DPoP ${token}`, dpop: await prover.proof(url, 'POST', token) });
    expect(good.status).toBe(200);
    await good.body?.cancel();
  });

  it('connect --dpop always through serve --oauth-require-dpop --oauth-dpop-nonce: the first request gets the nonce, the retry with it succeeds', async () => {
    const serve = await serveDpop(['--oauth-require-dpop', '--oauth-dpop-nonce', '--log-level', 'info']);
    const configDir = mkdtempSync(join(dir, 'config-'));
    const env = { ...process.env, MCP_AIRLOCK_CONFIG_DIR: configDir } as Record<string, string>;
    const transport = new StdioClientTransport({ command: process.execPath, args: [airlockBin, 'connect', serve.mcp, '--storage', 'file', '--no-browser', '--dpop', 'always'], env, stderr: 'pipe' });
    let stderr = '';
    transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const connecting = connectClient(transport);
    const proc = { waitForStderr: async (re: RegExp) => { for (let i = 0; i < 200; i++) { const m = re.exec(stderr); if (m) return m; await new Promise((r) => setTimeout(r, 50)); } throw new Error(`no login URL on stderr: ${stderr}`); } };
    await completeLogin(proc as unknown as AirlockProcess);
    const { client } = await connecting;
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'with a nonce' } }))).toBe('with a nonce');
    await client.close();
    // serve asked for its nonce once (the first proof had none), and took the proofs that carried it.
    expect(serve.stderr().match(/the DPoP proof has no nonce/g)).toHaveLength(1);
    expect(serve.stderr()).not.toContain('did not issue');
  });
});
