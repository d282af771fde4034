/**
 * OpenTelemetry export from serve, received by a real OTLP/HTTP endpoint in the test (node:http on
 * 127.0.0.1, port 0) that decodes the JSON bodies: calls through serve become spans and metrics
 * with the MCP semantic-convention attributes and airlock's policy verdicts, and no body holds a
 * call's argument or the bearer token. With the collector down, calls still work and a warning
 * says what was dropped.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, startAirlock, startServe, waitFor, type AirlockProcess } from '../helpers/airlock-process.js';
import { initialize, post } from '../helpers/http-peer.js';
import { LineClient } from '../helpers/line-client.js';

const workspace = join(repoRoot, 'fixtures', 'workspace-server.mjs');
const TOKEN = 'serve-token-that-must-not-leave-0123456789';
const SECRET_ARGUMENT = 'argument-value-that-must-not-leave-42';

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  text: string;
  body: any;
}

let collector: Server;
let collectorUrl: string;
const received: Received[] = [];
let dir: string;
const running: AirlockProcess[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'airlock-otel-'));
  collector = createServer((req, res) => {
    let text = '';
    req.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers, text, body: JSON.parse(text) });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
  collectorUrl = `http://127.0.0.1:${(collector.address() as { port: number }).port}`;
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
});
afterAll(async () => {
  await new Promise((resolve) => collector.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

const policy = {
  denyTools: ['delete_note'],
  rateLimits: [{ id: 'fetch-once', tools: 'fetch_page', limit: 1, window: '1h' }],
};

function otelEnv(endpoint: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    AIRLOCK_TEST_TOKEN: TOKEN,
    OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
    OTEL_EXPORTER_OTLP_HEADERS: 'x-collector-key=team%20key',
    OTEL_SERVICE_NAME: 'airlock-team-test',
    OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=test',
    OTEL_BSP_SCHEDULE_DELAY: '200',
    OTEL_METRIC_EXPORT_INTERVAL: '300',
  };
}

async function serveWithOtel(endpoint: string): Promise<AirlockProcess & { url: string }> {
  const file = join(dir, 'policy.json');
  writeFileSync(file, JSON.stringify(policy));
  const audit = join(dir, `audit-${running.length}.jsonl`);
  // --audit-args full: the audit record holds the arguments; the spans made from it must not.
  const server = await startServe(['--auth-token-env', 'AIRLOCK_TEST_TOKEN', '--audit-file', audit, '--audit-args', 'full', '--policy-file', file, '--log-level', 'debug', '--', process.execPath, workspace], otelEnv(endpoint));
  running.push(server);
  return server;
}

/** initialize, then each call in turn on the session; the answers. */
async function session(base: string, calls: Array<[string, Record<string, unknown>]>): Promise<Array<Record<string, any>>> {
  const auth = { authorization: `Bearer ${TOKEN}` };
  const init = await post(`${base}/mcp`, initialize(), auth);
  const headers = { ...auth, 'mcp-session-id': init.headers.get('mcp-session-id')!, 'mcp-protocol-version': '2025-11-25' };
  await post(`${base}/mcp`, { jsonrpc: '2.0', method: 'notifications/initialized' }, headers);
  const answers: Array<Record<string, any>> = [];
  for (const [i, [name, args]] of calls.entries()) {
    const method = name === 'tools/list' ? 'tools/list' : 'tools/call';
    const params = method === 'tools/list' ? {} : { name, arguments: args };
    answers.push((await post(`${base}/mcp`, { jsonrpc: '2.0', id: 10 + i, method, params }, headers)).messages.at(-1)!);
  }
  return answers;
}

function attributesOf(item: { attributes: Array<{ key: string; value: Record<string, unknown> }> }): Record<string, unknown> {
  return Object.fromEntries(item.attributes.map(({ key, value }) => [key, Object.values(value)[0]]));
}

function spans(): Array<Record<string, any>> {
  return received.filter((r) => r.path === '/v1/traces').flatMap((r) => r.body.resourceSpans.flatMap((rs: any) => rs.scopeSpans.flatMap((ss: any) => ss.spans)));
}

function metricNames(): Set<string> {
  return new Set(received.filter((r) => r.path === '/v1/metrics').flatMap((r) => r.body.resourceMetrics.flatMap((rm: any) => rm.scopeMetrics.flatMap((sm: any) => sm.metrics.map((m: any) => m.name)))));
}

describe('serve exports OpenTelemetry over OTLP/HTTP JSON', () => {
  it('a span per request with the MCP attributes and the policy verdict, metrics, and no secret in any body', async () => {
    const server = await serveWithOtel(collectorUrl);
    const answers = await session(server.url, [
      ['tools/list', {}],
      ['search_docs', { query: SECRET_ARGUMENT }],
      ['delete_note', { id: SECRET_ARGUMENT }],
      ['fetch_page', { url: `https://example.com/${SECRET_ARGUMENT}` }],
      ['fetch_page', { url: `https://example.com/${SECRET_ARGUMENT}` }],
    ]);
    expect(answers[1]!.result).toBeDefined();
    expect(answers[2]!.error.data.airlock).toBe('AIRLOCK_POLICY_DENIED');
    expect(answers[4]!.error.data.airlock).toBe('AIRLOCK_RATE_LIMITED');
    await waitFor(() => spans().filter((s) => s.name.startsWith('tools/call')).length >= 4, 'the tools/call spans', 10_000);
    await waitFor(() => ['airlock.rate_limit.refusals', 'airlock.policy.denials', 'airlock.sessions'].every((n) => metricNames().has(n)), 'the metrics', 10_000);

    const byName = (name: string) => spans().filter((s) => s.name === name).map((s) => ({ span: s, attrs: attributesOf(s) }));
    const search = byName('tools/call search_docs')[0]!;
    expect(search.span).toMatchObject({ kind: 2, status: { code: 0 } });
    expect(search.span.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(search.span.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(BigInt(search.span.endTimeUnixNano)).toBeGreaterThanOrEqual(BigInt(search.span.startTimeUnixNano));
    expect(search.attrs).toMatchObject({
      'mcp.method.name': 'tools/call',
      'gen_ai.tool.name': 'search_docs',
      'gen_ai.operation.name': 'execute_tool',
      'mcp.protocol.version': '2025-11-25',
      'jsonrpc.request.id': '11',
      'airlock.outcome': 'ok',
      'airlock.policy.verdict': 'allowed',
      'airlock.era': '2025',
      'airlock.transport': 'streamable-http->stdio',
    });
    expect(search.attrs['mcp.session.id']).toMatch(/^[0-9a-f]{8}$/);
    expect(search.attrs['airlock.server']).toContain('workspace-server.mjs');
    expect(Number(search.attrs['airlock.bytes_in'])).toBeGreaterThan(0);
    expect(Number(search.attrs['airlock.bytes_out'])).toBeGreaterThan(0);

    const denied = byName('tools/call delete_note')[0]!;
    expect(denied.span.status).toEqual({ code: 2, message: 'AIRLOCK_POLICY_DENIED' });
    expect(denied.attrs).toMatchObject({ 'airlock.policy.verdict': 'denied', 'error.type': 'AIRLOCK_POLICY_DENIED', 'rpc.response.status_code': '-32602', 'airlock.outcome': 'denied' });

    const fetches = byName('tools/call fetch_page');
    expect(fetches.map((f) => f.attrs['airlock.rate_limited'])).toEqual([undefined, true]);
    expect(fetches[1]!.attrs).toMatchObject({ 'airlock.policy.rule': 'fetch-once', 'airlock.code': 'AIRLOCK_RATE_LIMITED' });
    expect(byName('tools/list')).toHaveLength(1);

    const traces = received.find((r) => r.path === '/v1/traces')!;
    expect(traces.headers['content-type']).toBe('application/json');
    expect(traces.headers['x-collector-key']).toBe('team key');
    expect(attributesOf(traces.body.resourceSpans[0].resource)).toMatchObject({ 'service.name': 'airlock-team-test', 'deployment.environment': 'test' });
    expect(metricNames()).toEqual(new Set(['mcp.server.operation.duration', 'airlock.calls', 'airlock.policy.denials', 'airlock.rate_limit.refusals', 'airlock.sessions']));

    for (const body of received) {
      expect(body.text).not.toContain(SECRET_ARGUMENT);
      expect(body.text).not.toContain(TOKEN);
    }
  });

  it('with the collector down, calls still work and a warning says what was dropped', async () => {
    // A port that refuses connections: a listener opened and closed again.
    const gone = createServer();
    await new Promise<void>((resolve) => gone.listen(0, '127.0.0.1', resolve));
    const port = (gone.address() as { port: number }).port;
    await new Promise((resolve) => gone.close(resolve));
    const server = await serveWithOtel(`http://127.0.0.1:${port}`);
    const answers = await session(server.url, [['search_docs', { query: 'x' }], ['read_notes', {}]]);
    expect(answers.map((a) => a.result !== undefined)).toEqual([true, true]);
    await server.waitForStderr(new RegExp(`warn: OpenTelemetry: cannot export to http://127\\.0\\.0\\.1:${port}/v1/traces \\(.+\\): dropped \\d+ spans?`), 10_000);
  });

  it('run exports too (stdio on both sides), and --no-otel keeps it from doing so', async () => {
    const spansBefore = spans().length;
    const env = { ...otelEnv(collectorUrl), OTEL_SERVICE_NAME: 'airlock-run-test' };
    const run = startAirlock(['run', '--no-audit', '--', process.execPath, workspace], { env });
    running.push(run);
    const client = new LineClient(run);
    await client.handshake();
    expect((await client.call(2, 'search_docs', { query: SECRET_ARGUMENT })).result).toBeDefined();
    await waitFor(() => spans().some((s) => s.name === 'tools/call search_docs' && attributesOf(s)['airlock.transport'] === 'stdio->stdio'), 'the span of run', 10_000);
    const runTraces = received.filter((r) => r.path === '/v1/traces' && attributesOf(r.body.resourceSpans[0].resource)['service.name'] === 'airlock-run-test');
    expect(runTraces.every((r) => !r.text.includes(SECRET_ARGUMENT))).toBe(true);

    const quiet = startAirlock(['run', '--no-audit', '--no-otel', '--', process.execPath, workspace], { env: { ...env, OTEL_SERVICE_NAME: 'airlock-quiet-test' } });
    running.push(quiet);
    const quietClient = new LineClient(quiet);
    await quietClient.handshake();
    await quietClient.call(2, 'search_docs', { query: 'x' });
    await new Promise((r) => setTimeout(r, 600));
    expect(received.filter((r) => JSON.stringify(r.body).includes('airlock-quiet-test'))).toEqual([]);
    expect(spans().length).toBeGreaterThan(spansBefore);
  });
});
