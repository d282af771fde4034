/**
 * serve behind a load balancer (docs/team.md): SIGTERM drains (the readiness path says 503, new
 * sessions and 2026 requests get 503 with Retry-After, calls in flight finish, then the process
 * exits); SIGINT closes at once. Real processes: serve, the 2026 fixture behind it, fetch.
 */
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { startServe, stdioFixture, waitFor, type AirlockProcess } from '../helpers/airlock-process.js';

const modernFixture = fileURLToPath(new URL('../../fixtures/modern-server.mjs', import.meta.url));
const V = '2026-07-28';
const envelope = { 'io.modelcontextprotocol/protocolVersion': V, 'io.modelcontextprotocol/clientCapabilities': {}, 'io.modelcontextprotocol/clientInfo': { name: 'drain-test', version: '1' } };

const running: AirlockProcess[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop('SIGKILL')));
});

async function serve(args: string[]): Promise<AirlockProcess & { url: string }> {
  const proc = await startServe(['--no-audit', ...args]);
  running.push(proc);
  return proc;
}

/** A 2026 tools/call as a conforming client POSTs it; the answer's status, headers and JSON body. */
async function call(url: string, id: number, name: string, args: Record<string, unknown>): Promise<{ status: number; headers: Headers; body: { result?: { content?: Array<{ text?: string }> }; error?: { message: string } } }> {
  const response = await fetch(`${url}/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': V, 'mcp-method': 'tools/call', 'mcp-name': name },
    body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args, _meta: envelope } }),
  });
  const text = await response.text();
  const last = response.headers.get('content-type')?.includes('text/event-stream') ? text.split('\n').filter((l) => l.startsWith('data: ')).at(-1)!.slice(6) : text;
  return { status: response.status, headers: response.headers, body: JSON.parse(last) };
}

/** The call has reached serve: its caller's lane exists (health counts it), so the drain has a call to wait for. */
async function inFlight(url: string): Promise<void> {
  await waitFor(async () => ((await (await fetch(`${url}/healthz`)).json()) as { sessions: number }).sessions === 1, 'the call to reach serve');
  // The lane exists as the request reaches it; give the fixture a moment to start on the call.
  await new Promise((resolve) => setTimeout(resolve, 200));
}

describe('serve: draining on SIGTERM', () => {
  it('says 503 on the readiness path, refuses new work with Retry-After, finishes the call in flight, then exits', async () => {
    const proc = await serve(['--drain-timeout', '20', '--', process.execPath, modernFixture, '--legacy', 'reject']);
    const ready = await fetch(`${proc.url}/readyz`);
    expect([ready.status, await ready.json()]).toEqual([200, { status: 'ready' }]);
    const slow = call(proc.url, 1, 'slow', { ms: 1500 });
    await inFlight(proc.url);
    proc.child.kill('SIGTERM');
    await proc.waitForStderr(/draining: no new sessions or requests/);
    const draining = await fetch(`${proc.url}/readyz`);
    expect([draining.status, await draining.json()]).toEqual([503, { status: 'draining' }]);
    expect((await fetch(`${proc.url}/healthz`)).status).toBe(200);
    const refused = await call(proc.url, 2, 'echo', { text: 'too late' });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.body.error?.message).toMatch(/shutting down and takes no new sessions or requests/);
    const finished = await slow;
    expect(finished.body.result?.content?.[0]?.text).toBe('waited 1500 ms');
    expect(await proc.exited).toBe(143);
    expect(proc.stderr()).toMatch(/drained: no call in flight/);
  });

  it('gives up on a call that outlives --drain-timeout, and SIGINT does not wait at all', async () => {
    const proc = await serve(['--drain-timeout', '1', '--', process.execPath, modernFixture, '--legacy', 'reject']);
    const slow = call(proc.url, 1, 'slow', { ms: 20_000 }).catch((error: unknown) => error);
    await inFlight(proc.url);
    const started = Date.now();
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(143);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(proc.stderr()).toMatch(/drain: 1 session still had calls after 1 s \(--drain-timeout\); closing them/);
    await slow;

    const other = await serve(['--', process.execPath, stdioFixture]);
    other.child.kill('SIGINT');
    expect(await other.exited).toBe(130);
    expect(other.stderr()).not.toMatch(/draining/);
  });
});
