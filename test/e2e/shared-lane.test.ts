/**
 * Callers that share one lane of `serve` (2026-07-28 callers of one identity: here anonymous, so
 * every caller is on the same upstream connection) never see or steer each other's calls: a
 * server's question reaches the caller whose call asked it or nobody, a log reaches only the
 * request that asked for logs, and a `notifications/cancelled` POST cannot cancel anyone's call.
 * Real processes: `serve` in front of the 2025 stdio fixture (translated, 4B) and of the 2026
 * stdio fixture (passed through), driven by raw HTTP as two callers.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startServe, stdioFixture, type AirlockProcess } from '../helpers/airlock-process.js';
import { KeyServer } from '../helpers/key-server.js';

const modernFixture = fileURLToPath(new URL('../../fixtures/modern-server.mjs', import.meta.url));
const V = '2026-07-28';
const running: AirlockProcess[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
});

async function serve(args: string[]): Promise<AirlockProcess & { mcp: string }> {
  const proc = await startServe(['--log-level', 'debug', ...args]);
  running.push(proc);
  return Object.assign(proc, { mcp: `${proc.url}/mcp` });
}

type Frame = Record<string, any>;

/** The `_meta` of a 2026 request from `who`, with the capabilities it declares. */
function envelope(who: string, capabilities: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return { 'io.modelcontextprotocol/protocolVersion': V, 'io.modelcontextprotocol/clientCapabilities': capabilities, 'io.modelcontextprotocol/clientInfo': { name: who, version: '1' }, ...extra };
}

/** POST one 2026 request; resolves with every frame of its answer (notifications first, the answer last). */
async function call(url: string, id: string | number, method: string, params: Record<string, any>, token?: string): Promise<Frame[]> {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': V, 'mcp-method': method };
  if (token) headers.authorization = `Bearer ${token}`;
  if (typeof params.name === 'string') headers['mcp-name'] = params.name;
  const response = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', id, method, params }) });
  const text = await response.text();
  if ((response.headers.get('content-type') ?? '').includes('text/event-stream')) {
    return text.split('\n').filter((line) => line.startsWith('data: ')).map((line) => JSON.parse(line.slice(6)) as Frame);
  }
  return text ? [JSON.parse(text) as Frame] : [];
}

const all = { sampling: {}, elicitation: {}, roots: {} };

describe('one lane, several callers, in front of a 2025 stdio server (translated)', () => {
  it("puts the server's question to the only caller whose request can answer it; the other caller's call is untouched", async () => {
    const airlock = await serve(['--', 'node', stdioFixture]);
    // Warm the lane (and its handshake) so both calls below are in flight at once.
    await call(airlock.mcp, 0, 'tools/list', { _meta: envelope('warm', {}) });
    // Alice's call asks its question only after bob's call started: bob's is the newest call then.
    const aliceAsking = call(airlock.mcp, 1, 'tools/call', { name: 'sample', arguments: { prompt: 'alice asks', delayMs: 300 }, _meta: envelope('alice', { sampling: {} }) });
    await new Promise((r) => setTimeout(r, 100));
    const bob = call(airlock.mcp, 1, 'tools/call', { name: 'slow', arguments: { steps: 4, delayMs: 150 }, _meta: envelope('bob-agent', {}) });
    const alice = await aliceAsking;
    const asked = alice.at(-1)!;
    expect(asked).toMatchObject({ id: 1, result: { resultType: 'input_required' } });
    const [key, question] = Object.entries(asked.result.inputRequests as Record<string, any>)[0]!;
    expect(question).toMatchObject({ method: 'sampling/createMessage', params: { messages: [{ content: { text: 'alice asks' } }] } });
    const retried = await call(airlock.mcp, 2, 'tools/call', {
      name: 'sample',
      arguments: { prompt: 'alice asks' },
      inputResponses: { [key]: { role: 'assistant', content: { type: 'text', text: 'for alice' }, model: 'm' } },
      requestState: asked.result.requestState,
      _meta: envelope('alice', { sampling: {} }),
    });
    expect(retried.at(-1)).toMatchObject({ id: 2, result: { resultType: 'complete', content: [{ text: 'sampled: for alice' }] } });
    const bobFrames = await bob;
    expect(bobFrames).toEqual([expect.objectContaining({ id: 1, result: expect.objectContaining({ resultType: 'complete', content: [{ type: 'text', text: 'done 4' }] }) })]);
  });

  it('refuses a question it cannot place between two callers that could both answer it, and says why', async () => {
    const airlock = await serve(['--', 'node', stdioFixture]);
    await call(airlock.mcp, 0, 'tools/list', { _meta: envelope('warm', {}) });
    const bob = call(airlock.mcp, 1, 'tools/call', { name: 'slow', arguments: { steps: 3, delayMs: 150 }, _meta: envelope('bob-agent', all) });
    await new Promise((r) => setTimeout(r, 100));
    const alice = await call(airlock.mcp, 1, 'tools/call', { name: 'sample', arguments: { prompt: 'enter your PIN' }, _meta: envelope('alice', all) });
    // Neither caller is asked: alice's call fails with the server's own error about the refused request.
    expect(alice.at(-1)!.result?.resultType).not.toBe('input_required');
    expect(JSON.stringify(alice.at(-1))).toContain('2 calls are in flight');
    const bobFrames = await bob;
    expect(bobFrames.some((f) => f.result?.resultType === 'input_required')).toBe(false);
    expect(bobFrames.at(-1)).toMatchObject({ id: 1, result: { content: [{ text: 'done 3' }] } });
    expect(airlock.stderr()).toMatch(/while 2 calls that could answer it are in flight/);
  });

  it("a caller's notifications/cancelled POST (lane ids 1..50) cancels nobody's call", async () => {
    const airlock = await serve(['--', 'node', stdioFixture]);
    const victim = call(airlock.mcp, 'v', 'tools/call', { name: 'slow', arguments: { steps: 3, delayMs: 150 }, _meta: envelope('victim', {}) });
    await new Promise((r) => setTimeout(r, 150));
    for (let id = 1; id <= 50; id++) {
      const response = await fetch(airlock.mcp, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': V, 'mcp-method': 'notifications/cancelled' },
        body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason: 'attack', _meta: envelope('attacker', {}) } }),
      });
      expect(response.status).toBe(202);
    }
    expect((await victim).at(-1)).toMatchObject({ id: 'v', result: { content: [{ text: 'done 3' }] } });
    const state = await call(airlock.mcp, 's', 'tools/call', { name: 'state', arguments: {}, _meta: envelope('check', {}) });
    expect(JSON.parse(state.at(-1)!.result.content[0].text).cancelled).toEqual([]);
  });
});

describe('one lane, several callers, in front of a 2026 stdio server (passed through)', () => {
  it('gives log messages only to the request that asked for them', async () => {
    const airlock = await serve(['--', 'node', modernFixture]);
    await call(airlock.mcp, 0, 'server/discover', { _meta: envelope('warm', {}) });
    // The loud request logs after the quiet one started: the quiet one is the newest call then.
    const loudAsking = call(airlock.mcp, 1, 'tools/call', { name: 'echo', arguments: { text: 'hi', delayMs: 300 }, _meta: envelope('loud', {}, { 'io.modelcontextprotocol/logLevel': 'info' }) });
    await new Promise((r) => setTimeout(r, 100));
    const quiet = call(airlock.mcp, 1, 'tools/call', { name: 'slow', arguments: { ms: 600 }, _meta: envelope('quiet', {}) });
    const loud = await loudAsking;
    expect(loud.filter((f) => f.method === 'notifications/message').map((f) => f.params.data)).toEqual(['echo: hi']);
    const quietFrames = await quiet;
    expect(quietFrames.filter((f) => f.method === 'notifications/message')).toEqual([]);
    expect(quietFrames.at(-1)).toMatchObject({ id: 1, result: { content: [{ text: 'waited 600 ms' }] } });
  });
});

describe('lanes of authenticated callers', () => {
  const idp = new KeyServer();
  beforeAll(async () => {
    await idp.start();
    await idp.addKey('k1');
  });
  afterAll(() => idp.close());

  it('gives each (subject, client, actor chain) its own lane: two clients or a delegated agent of one user never share one', async () => {
    const airlock = await serve(['--oauth-issuer', idp.url, '--no-audit', '--', 'node', stdioFixture]);
    const claims = { sub: 'alice', scope: 'mcp:use', aud: airlock.mcp };
    const tokens = [
      await idp.token({ ...claims, client_id: 'vscode' }),
      await idp.token({ ...claims, client_id: 'vscode' }), // the same caller again: the same lane
      await idp.token({ ...claims, client_id: 'cursor' }),
      await idp.token({ ...claims, client_id: 'vscode', act: { sub: 'agent-7' } }),
    ];
    for (const [i, token] of tokens.entries()) {
      const frames = await call(airlock.mcp, i, 'tools/call', { name: 'echo', arguments: { text: `call ${i}` }, _meta: envelope('c', {}) }, token);
      expect(frames.at(-1)).toMatchObject({ id: i, result: { content: [{ text: `call ${i}` }] } });
    }
    expect(airlock.stderr().match(/2026-07-28 lane for an authenticated caller opened/g)).toHaveLength(3);
  });
});
