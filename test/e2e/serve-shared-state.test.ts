/**
 * serve --state: two serve processes share one real redis-server (started here on a free port,
 * without persistence). A burst over a rate limit spread over both lets through exactly the limit;
 * a flow rule holds when its calls land on different processes; with Redis stopped, rate-limited
 * tools are refused with an error naming the store while others still work, and once Redis is
 * back the service comes back by itself.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, startServe, waitFor, type AirlockProcess } from '../helpers/airlock-process.js';
import { initialize, post, sessionHeaders } from '../helpers/http-peer.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';

const workspace = join(repoRoot, 'fixtures', 'workspace-server.mjs');
const V = '2026-07-28';
const envelope = { 'io.modelcontextprotocol/protocolVersion': V, 'io.modelcontextprotocol/clientCapabilities': {}, 'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' } };

let redis: RedisServer;
let dir: string;
const running: AirlockProcess[] = [];

beforeAll(async () => {
  redis = await startRedis();
  dir = mkdtempSync(join(tmpdir(), 'airlock-shared-state-'));
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
});
afterAll(async () => {
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function policyFile(name: string, policy: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(policy));
  return path;
}

/** Two serve replicas of the workspace server sharing the Redis under `prefix` (each test its own keys). */
async function replicas(policy: string, prefix: string, extra: string[] = []): Promise<Array<AirlockProcess & { url: string }>> {
  const args = ['--no-audit', '--state', redis.url, '--state-prefix', prefix, '--policy-file', policy, ...extra, '--', process.execPath, workspace];
  const servers = await Promise.all([startServe(args), startServe(args)]);
  running.push(...servers);
  return servers;
}

const ARGUMENTS: Record<string, Record<string, string>> = { fetch_page: { url: 'https://example.com' }, send_message: { to: 'a@example.com', body: 'hi' }, search_docs: { query: 'x' } };

/** A 2026-07-28 tools/call (no session: any replica may take it); the JSON-RPC answer. */
async function modernCall(base: string, tool: string, id = 1): Promise<{ status: number; answer: Record<string, any> }> {
  const body = { jsonrpc: '2.0', id, method: 'tools/call', params: { name: tool, arguments: ARGUMENTS[tool] ?? {}, _meta: envelope } };
  const result = await post(`${base}/mcp`, body, { 'mcp-protocol-version': V, 'mcp-method': 'tools/call', 'mcp-name': tool });
  return { status: result.status, answer: result.messages.at(-1) ?? {} };
}

describe('serve --state with two replicas on one Redis', () => {
  it('a burst over a limit of 5, spread over both (2025 sessions), gets exactly 5 calls through', async () => {
    const policy = policyFile('burst.json', { rateLimits: [{ id: 'fetch-burst', tools: 'fetch_page', limit: 5, window: '1h' }] });
    const servers = await replicas(policy, 'burst');
    const sessions = await Promise.all(
      servers.map(async (server) => {
        const init = await post(`${server.url}/mcp`, initialize());
        const id = init.headers.get('mcp-session-id')!;
        await post(`${server.url}/mcp`, { jsonrpc: '2.0', method: 'notifications/initialized' }, sessionHeaders(id));
        return { url: `${server.url}/mcp`, headers: sessionHeaders(id) };
      }),
    );
    const calls = Array.from({ length: 16 }, (_, i) => {
      const session = sessions[i % 2]!;
      return post(session.url, { jsonrpc: '2.0', id: 100 + i, method: 'tools/call', params: { name: 'fetch_page', arguments: { url: 'https://example.com' } } }, session.headers);
    });
    const answers = (await Promise.all(calls)).map((r) => r.messages.at(-1) as Record<string, any>);
    const ok = answers.filter((a) => a.result !== undefined);
    const refused = answers.filter((a) => a.error?.data?.airlock === 'AIRLOCK_RATE_LIMITED');
    expect(ok).toHaveLength(5);
    expect(refused).toHaveLength(11);
    // One count for both replicas, not 5 each (without --state: 10 through).
    expect(refused[0]!.error.data.rule).toBe('fetch-burst');
  });

  it('a flow rule holds when its calls land on different replicas (2026-07-28 callers)', async () => {
    const policy = policyFile('flow.json', {
      labels: { 'private-data': ['read_notes'], 'untrusted-content': ['fetch_page'], 'external-communication': ['send_message'] },
      flows: [{ id: 'no-exfiltration', deny: 'external-communication', after: ['private-data', 'untrusted-content'] }],
    });
    const [a, b] = await replicas(policy, 'flow');
    expect((await modernCall(a!.url, 'read_notes')).answer.result).toBeDefined();
    expect((await modernCall(b!.url, 'fetch_page')).answer.result).toBeDefined();
    const sent = await modernCall(a!.url, 'send_message');
    expect(sent.answer.error).toMatchObject({ code: -32000, data: { airlock: 'AIRLOCK_FLOW_DENIED', rule: 'no-exfiltration', tool: 'send_message' } });
    expect(sent.answer.error.message).toContain('this session already called "read_notes" (private-data) and "fetch_page" (untrusted-content)');
    expect((await modernCall(b!.url, 'send_message')).answer.error?.data?.airlock).toBe('AIRLOCK_FLOW_DENIED');
  });

  it('with Redis stopped, rate-limited tools are refused naming the store and others work; once it is back, calls pass again', async () => {
    const policy = policyFile('outage.json', { rateLimits: [{ id: 'fetch-hourly', tools: 'fetch_page', limit: 100, window: '1h' }] });
    const [a] = await replicas(policy, 'outage');
    expect((await modernCall(a!.url, 'fetch_page')).answer.result).toBeDefined();
    await redis.stop();
    try {
      const refused = await modernCall(a!.url, 'fetch_page', 2);
      expect(refused.answer.error).toMatchObject({ code: -32000, data: { airlock: 'AIRLOCK_STATE_UNAVAILABLE', tool: 'fetch_page', store: redis.url } });
      expect(refused.answer.error.message).toMatch(
        new RegExp(`^mcp-airlock policy: tool "fetch_page" is rate-limited, and the shared state store redis://127\\.0\\.0\\.1:${redis.port} cannot be used \\(.+\\); the call is refused until it is back \\(--state-failure closed\\)$`),
      );
      const other = await modernCall(a!.url, 'read_notes', 3);
      expect(other.answer.result.content[0].text).toContain('notes:');
      await a!.waitForStderr(new RegExp(`warn: shared state store redis://127\\.0\\.0\\.1:${redis.port} cannot be used \\(.+\\): calls to rate-limited or flow-ruled tools are refused until it is back \\(--state-failure closed\\)`));
      // One warning line per interval, however many calls fail.
      for (let i = 0; i < 5; i++) await modernCall(a!.url, 'fetch_page', 10 + i);
      expect(a!.stderr().match(/warn: shared state store/g)?.length).toBe(1);
    } finally {
      await redis.start();
    }
    let back: Record<string, any> = {};
    await waitFor(async () => {
      back = (await modernCall(a!.url, 'fetch_page', 20)).answer;
      return back.result !== undefined;
    }, 'a rate-limited call to pass once Redis is back', 15_000);
    await a!.waitForStderr(new RegExp(`info: shared state store redis://127\\.0\\.0\\.1:${redis.port} is back`));
  }, 40_000);

  it('a replica started while Redis is down refuses what needs it, then serves once Redis comes up', async () => {
    await redis.stop();
    let server: AirlockProcess & { url: string };
    try {
      const policy = policyFile('late.json', { rateLimits: [{ id: 'fetch-hourly', tools: 'fetch_page', limit: 100, window: '1h' }] });
      server = (await replicas(policy, 'late'))[0]!;
      await server.waitForStderr(/warn: shared state store .* cannot be used/);
      expect((await modernCall(server.url, 'fetch_page')).answer.error?.data?.airlock).toBe('AIRLOCK_STATE_UNAVAILABLE');
    } finally {
      await redis.start();
    }
    await waitFor(async () => (await modernCall(server.url, 'fetch_page', 2)).answer.result !== undefined, 'a call once Redis is up', 15_000);
  }, 40_000);

  it('--state-failure open lets rate-limited calls through while Redis is down', async () => {
    const policy = policyFile('open.json', { rateLimits: [{ id: 'fetch-hourly', tools: 'fetch_page', limit: 100, window: '1h' }] });
    const [a] = await replicas(policy, 'open', ['--state-failure', 'open']);
    await redis.stop();
    try {
      expect((await modernCall(a!.url, 'fetch_page')).answer.result).toBeDefined();
      await a!.waitForStderr(/calls to rate-limited or flow-ruled tools are let through uncounted until it is back \(--state-failure open\)/);
    } finally {
      await redis.start();
    }
  });
});

describe('serve --state, its URL and its mistakes', () => {
  it('reads the URL from --state-url-env, and never shows the password', async () => {
    const policy = policyFile('env.json', { rateLimits: [{ id: 'fetch-hourly', tools: 'fetch_page', limit: 100, window: '1h' }] });
    const server = await startServe(['--no-audit', '--state-url-env', 'AIRLOCK_TEST_STATE', '--policy-file', policy, '--', process.execPath, workspace], {
      ...process.env,
      // This redis-server has no password: the client is told so and carries on; nothing may show the one given.
      AIRLOCK_TEST_STATE: `redis://:not-the-password-42@127.0.0.1:${redis.port}`,
    });
    running.push(server);
    await server.waitForStderr(new RegExp(`info: shared state in redis://127\\.0\\.0\\.1:${redis.port}\n`));
    const answer = (await modernCall(server.url, 'fetch_page')).answer;
    expect(answer.result).toBeDefined();
    expect(JSON.stringify(answer)).not.toContain('not-the-password-42');
    expect(server.stderr()).not.toContain('not-the-password-42');
  });

  it('refuses a URL that is not redis:// or rediss://', async () => {
    const server = startServe(['--no-audit', '--state', 'http://127.0.0.1:1', '--', process.execPath, workspace]);
    await expect(server).rejects.toThrow(/the --state URL must start with redis:\/\/ or rediss:\/\/, not "http:"/);
  });
});
