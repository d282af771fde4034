/**
 * MCP 2026-07-28 through airlock, with real peers of both eras: the SDK v2 client (pinned to
 * 2026-07-28) and server (fixtures/modern-server.mjs, modern-only with --legacy reject), the SDK v1
 * client and the 2025-era fixtures. Both ends modern: traffic passes, headers are derived from the
 * body, errors keep their code, data, status and id. Eras that differ: airlock translates.
 */
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client as ModernClient, StreamableHTTPClientTransport as ModernHttpTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport as ModernStdioTransport } from '@modelcontextprotocol/client/stdio';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ElicitRequestSchema, ResourceUpdatedNotificationSchema, ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, describe, expect, it } from 'vitest';
import { airlockBin, repoRoot, startAirlock, startServe, stdioFixture, type AirlockProcess } from '../helpers/airlock-process.js';
import { clientRoots, connectClient, textOf } from '../helpers/mcp-client.js';
import { LineClient } from '../helpers/line-client.js';
import { startHttpServer as startHttpServerProcess } from '../helpers/http-fixture-process.js';

const modernFixture = fileURLToPath(new URL('../../fixtures/modern-server.mjs', import.meta.url));
const legacyHttpFixture = fileURLToPath(new URL('../../fixtures/http-server.mjs', import.meta.url));
const V = '2026-07-28';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

const startHttpServer = (args: string[]) => startHttpServerProcess(args, cleanups);

const modernHttp = (legacy: 'reject' | 'serve' = 'reject') => startHttpServer([modernFixture, '--http', '0', '--legacy', legacy]);

async function serve(args: string[]): Promise<AirlockProcess & { url: string }> {
  const proc = await startServe(['--no-audit', ...args]);
  cleanups.push(() => proc.stop());
  return proc;
}

/** The SDK v2 client pinned to 2026-07-28 (or negotiating, `auto`), able to answer every kind of input request. */
function modernClient(mode: 'pin' | 'auto' = 'pin'): ModernClient {
  const client = new ModernClient({ name: 'era-test', version: '1.0.0' }, { capabilities: { elicitation: {}, sampling: {}, roots: {} }, versionNegotiation: { mode: mode === 'auto' ? 'auto' : { pin: V } } });
  client.setRequestHandler('elicitation/create', async () => ({ action: 'accept', content: { name: 'Ada' } }));
  client.setRequestHandler('sampling/createMessage', async () => ({ role: 'assistant', model: 'test-model', content: { type: 'text', text: 'hi from the client' } }));
  client.setRequestHandler('roots/list', async () => ({ roots: clientRoots }));
  cleanups.push(() => client.close());
  return client;
}

/** The v2 client on stdio through `mcp-airlock <args>`; airlock's stderr collected. */
async function modernThroughStdio(args: string[], mode: 'pin' | 'auto' = 'pin'): Promise<{ client: ModernClient; stderr: () => string }> {
  const transport = new ModernStdioTransport({ command: process.execPath, args: [airlockBin, ...args, '--no-audit'], cwd: repoRoot, stderr: 'pipe' });
  let stderr = '';
  transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const client = modernClient(mode);
  await client.connect(transport);
  return { client, stderr: () => stderr };
}

async function modernThroughHttp(url: string, mode: 'pin' | 'auto' = 'pin'): Promise<ModernClient> {
  const client = modernClient(mode);
  await client.connect(new ModernHttpTransport(new URL(url)));
  return client;
}

/** A 2025 client (SDK v1) on stdio through `mcp-airlock <args>`, answering sampling, roots and elicitation. */
async function legacyThroughStdio(args: string[]) {
  const transport = new StdioClientTransport({ command: process.execPath, args: [airlockBin, ...args, '--no-audit'], cwd: repoRoot, stderr: 'pipe' });
  let stderr = '';
  transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const connected = await connectClient(transport, { elicitation: {} });
  connected.client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept', content: { name: 'Grace' } }));
  cleanups.push(() => connected.client.close());
  return { ...connected, stderr: () => stderr };
}

/** Open a listen stream for tool list changes and the fixture's counter, with promises of the first of each. */
async function listenForChanges(client: ModernClient) {
  const toolsChanged = new Promise<boolean>((resolve) => client.setNotificationHandler('notifications/tools/list_changed', () => resolve(true)));
  const resourceUpdated = new Promise<string>((resolve) => client.setNotificationHandler('notifications/resources/updated', (n) => resolve(n.params.uri)));
  const subscription = await client.listen({ toolsListChanged: true, resourceSubscriptions: ['fixture://counter'] });
  cleanups.push(() => subscription.close());
  expect(subscription.honoredFilter).toMatchObject({ toolsListChanged: true, resourceSubscriptions: ['fixture://counter'] });
  return { toolsChanged, resourceUpdated };
}

/** The `_meta` envelope of a 2026 request. */
const envelope = (version = V) => ({ 'io.modelcontextprotocol/protocolVersion': version, 'io.modelcontextprotocol/clientCapabilities': {}, 'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' } });

/** POST one 2026 request with the headers a conforming client sends (or `headers` instead). */
async function modernPost(url: string, body: Record<string, unknown>, headers?: Record<string, string>, signal?: AbortSignal): Promise<{ status: number; headers: Headers; body: unknown; frames: unknown[] }> {
  const params = body.params as { name?: string; _meta?: Record<string, unknown> } | undefined;
  const derived: Record<string, string> = { 'mcp-protocol-version': String(params?._meta?.['io.modelcontextprotocol/protocolVersion'] ?? V), 'mcp-method': String(body.method) };
  if (params?.name !== undefined) derived['mcp-name'] = params.name;
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...(headers ?? derived) },
    body: JSON.stringify({ jsonrpc: '2.0', ...body }),
    signal,
  });
  const text = await response.text();
  const type = response.headers.get('content-type') ?? '';
  // An SSE answer: the last data line is the response, the ones before it belong to the request.
  const frames = type.includes('text/event-stream') ? text.split('\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6)) as unknown) : [];
  const answer = type.includes('text/event-stream') ? frames.at(-1) : text ? JSON.parse(text) : undefined;
  return { status: response.status, headers: response.headers, body: answer, frames };
}

describe('2026-07-28 on both ends: passed through', () => {
  it('connect: a 2026 client reaches a 2026-only HTTP server with the headers the body calls for', async () => {
    const url = await modernHttp();
    const { client, stderr } = await modernThroughStdio(['connect', url]);
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['echo', 'lookup', 'ask_name']));
    // An HTTP client must leave out a tool whose x-mcp-header annotation is invalid, and say so.
    expect(names).not.toContain('bad_header_tool');
    expect(stderr()).toMatch(/tool "bad_header_tool" left out of tools\/list: /);

    const lookup = JSON.parse(textOf(await client.callTool({ name: 'lookup', arguments: { region: 'Zürich', id: 7, verbose: true } })));
    expect(lookup.transport).toBe('http');
    expect(lookup.mcpParamHeaders).toEqual({ 'mcp-param-region': `=?base64?${Buffer.from('Zürich').toString('base64')}?=`, 'mcp-param-item-id': '7', 'mcp-param-verbose': 'true' });

    expect(textOf(await client.callTool({ name: 'ask_name', arguments: {} }))).toBe('Hello, Ada'); // input_required, then the retry
    const progress: number[] = [];
    expect(textOf(await client.callTool({ name: 'slow', arguments: { ms: 400 } }, { onprogress: (p) => progress.push(p.progress) }))).toBe('waited 400 ms');
    // Progress travels on the call's stream, in order. The SDK v2 stdio client drops a notification
    // that comes right before the result (seen without airlock too), so the last one is not asserted.
    expect(progress.slice(0, 4)).toEqual([1, 2, 3, 4]);
  });

  it("connect: a 2026 server's refusal reaches the client with its code, data and the request's id, with no fallback to SSE", async () => {
    const url = await modernHttp();
    const proc = startAirlock(['connect', url, '--no-audit']);
    cleanups.push(() => proc.stop());
    const line = new LineClient(proc);
    line.send({ jsonrpc: '2.0', id: 'v', method: 'tools/list', params: { _meta: envelope('2099-01-01') } });
    expect(await line.response('v')).toMatchObject({ error: { code: -32022, data: { supported: [V], requested: '2099-01-01' } } });
    line.send({ jsonrpc: '2.0', id: 9, method: 'no/such', params: { _meta: envelope() } });
    expect(await line.response(9)).toMatchObject({ error: { code: -32601 } });
    // A call to a tool never listed: the server asks for its Mcp-Param-* headers (-32020); airlock
    // reads tools/list itself and retries once with them.
    line.send({ jsonrpc: '2.0', id: 10, method: 'tools/call', params: { name: 'lookup', arguments: { region: 'ap', id: 3 }, _meta: envelope() } });
    const lookup = await line.response(10);
    expect(JSON.parse((lookup.result as { content: Array<{ text: string }> }).content[0]!.text).mcpParamHeaders).toEqual({ 'mcp-param-region': 'ap', 'mcp-param-item-id': '3' });
    expect(proc.stderr()).not.toMatch(/SSE|legacy/);
  });

  it("connect: a stdio client's notifications/cancelled closes the request's HTTP stream instead of being posted", async () => {
    // A 2026 HTTP server of our own that records what reaches it and whether a call's stream was closed.
    const seen: string[] = [];
    let closed!: () => void;
    const streamClosed = new Promise<void>((resolve) => (closed = resolve));
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      req.on('end', () => {
        const message = JSON.parse(body) as { id?: number; method: string };
        seen.push(message.method);
        if (message.method !== 'tools/call') return void res.writeHead(202).end();
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(`data: ${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 'p', progress: 1 } })}\n\n`);
        res.on('close', () => closed()); // never answered: only the client can end it
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }));
    const proc = startAirlock(['connect', `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`, '--no-audit']);
    cleanups.push(() => proc.stop());
    const line = new LineClient(proc);
    line.send({ jsonrpc: '2.0', id: 'c', method: 'tools/call', params: { name: 'wait', arguments: {}, _meta: { ...envelope(), progressToken: 'p' } } });
    await line.waitFor((m) => m.method === 'notifications/progress', 'the progress notification');
    line.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'c', reason: 'user' } });
    await streamClosed;
    expect(seen).toEqual(['tools/call']); // the cancellation itself was not posted
    expect(line.messages().some((m) => m.id === 'c')).toBe(false); // and nobody answers a cancelled call
  });

  it('serve -- cmd: 2026 callers get session-less answers from one child, each with its own ids', async () => {
    const proc = await serve(['--', process.execPath, modernFixture, '--stdio', '--legacy', 'reject']);
    const mcp = `${proc.url}/mcp`;
    const client = await modernThroughHttp(mcp);
    expect((await client.listTools()).tools.map((t) => t.name)).toContain('echo');
    expect(textOf(await client.callTool({ name: 'ask_name', arguments: {} }))).toBe('Hello, Ada');

    // Two callers that both use id 1 at once: each gets its own answer.
    const call = (text: string) => ({ id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text }, _meta: envelope() } });
    const slow = { id: 1, method: 'tools/call', params: { name: 'slow', arguments: { ms: 200 }, _meta: envelope() } };
    const [first, second] = await Promise.all([modernPost(mcp, slow), modernPost(mcp, call('second'))]);
    expect(first.body).toMatchObject({ id: 1, result: { content: [{ text: 'waited 200 ms' }] } });
    expect(second.body).toMatchObject({ id: 1, result: { content: [{ text: 'second' }] } });
    expect(second.status).toBe(200);
    expect(second.headers.get('mcp-session-id')).toBeNull();
    // A caller's progress token: renumbered on the way up, its own again on the call's stream.
    const withProgress = await modernPost(mcp, { id: 'p', method: 'tools/call', params: { name: 'slow', arguments: { ms: 200 }, _meta: { ...envelope(), progressToken: 'mine' } } });
    expect(withProgress.body).toMatchObject({ id: 'p', result: { content: [{ text: 'waited 200 ms' }] } });
    const progress = withProgress.frames.filter((f) => (f as { method?: string }).method === 'notifications/progress');
    expect(progress.length).toBeGreaterThan(0);
    for (const frame of progress) expect(frame).toMatchObject({ params: { progressToken: 'mine' } });

    // subscriptions/listen: held open on the lane, its frames back under the caller's own listen id.
    const changes = await listenForChanges(client);
    await client.callTool({ name: 'notify_change', arguments: {} });
    expect(await changes.toolsChanged).toBe(true);
    expect(await changes.resourceUpdated).toBe('fixture://counter');

    for (const method of ['GET', 'DELETE']) expect((await fetch(mcp, { method })).status).toBe(405);
    const mismatch = await modernPost(mcp, { id: 5, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' }, _meta: envelope() } }, { 'mcp-protocol-version': V, 'mcp-method': 'tools/call', 'mcp-name': 'add' });
    expect(mismatch.status).toBe(400);
    expect(mismatch.body).toMatchObject({ id: 5, error: { code: -32020 } });
    const noCapabilities = await modernPost(mcp, { id: 6, method: 'tools/list', params: { _meta: { 'io.modelcontextprotocol/protocolVersion': V } } });
    expect(noCapabilities.status).toBe(400);
    expect(noCapabilities.body).toMatchObject({ id: 6, error: { code: -32602 } });
    // A stdio server checks only its connection's first version; serve refuses the others for it,
    // with the versions the child's server/discover named (the v2 client asked for it above).
    const future = await modernPost(mcp, { id: 8, method: 'tools/list', params: { _meta: envelope('2099-01-01') } });
    expect(future.status).toBe(400);
    expect(future.body).toMatchObject({ id: 8, error: { code: -32022, data: { supported: [V], requested: '2099-01-01' } } });
    const unknown = await modernPost(mcp, { id: 7, method: 'no/such', params: { _meta: envelope() } });
    expect(unknown.status).toBe(404); // the child's -32601, with the status a 2026 server gives it
    expect(unknown.body).toMatchObject({ id: 7, error: { code: -32601 } });
    // One upstream connection for every anonymous caller.
    expect(await (await fetch(`${proc.url}/healthz`)).json()).toMatchObject({ sessions: 1 });
    expect(proc.stderr()).toMatch(/2026-07-28 lane for anonymous callers opened; 1 open/);
  });

  it('serve: a caller closing its stream cancels the call upstream, and the lane goes on', async () => {
    const auditFile = join(mkdtempSync(join(tmpdir(), 'airlock-eras-')), 'audit.jsonl');
    const proc = await startServe(['--audit-file', auditFile, '--audit-sync', '--', process.execPath, modernFixture, '--stdio', '--legacy', 'reject']);
    cleanups.push(() => proc.stop());
    const mcp = `${proc.url}/mcp`;
    const abort = new AbortController();
    const pending = modernPost(mcp, { id: 'long', method: 'tools/call', params: { name: 'slow', arguments: { ms: 20_000 }, _meta: envelope() } }, undefined, abort.signal);
    await new Promise((resolve) => setTimeout(resolve, 400));
    abort.abort();
    await expect(pending).rejects.toThrow();
    // The closed stream became notifications/cancelled to the child: the call is recorded as cancelled.
    const records = async () => (await readFile(auditFile, 'utf8').catch(() => '')).split('\n').filter(Boolean).map((line) => JSON.parse(line) as { name?: string; outcome?: string });
    await expect.poll(async () => (await records()).find((r) => r.name === 'slow')?.outcome, { timeout: 5000 }).toBe('cancelled');
    const next = await modernPost(mcp, { id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: 'still here' }, _meta: envelope() } });
    expect(next.body).toMatchObject({ id: 2, result: { content: [{ text: 'still here' }] } });
    // The records show the ids the caller gave, not the lane's own numbering.
    await expect.poll(async () => (await records()).filter((r) => r.name === 'slow' || r.name === 'echo').map((r) => [r.name, (r as { id?: unknown }).id]), { timeout: 5000 }).toEqual([
      ['slow', 'long'],
      ['echo', 2],
    ]);
  });

  it('tool policy: 2026 callers see and call only what the policy allows, as 2025 callers do', async () => {
    const proc = await serve(['--deny-tool', 'notify_*', '--', process.execPath, modernFixture, '--stdio', '--legacy', 'reject']);
    const client = await modernThroughHttp(`${proc.url}/mcp`);
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toContain('echo');
    expect(names).not.toContain('notify_change');
    const denied = await modernPost(`${proc.url}/mcp`, { id: 'd', method: 'tools/call', params: { name: 'notify_change', arguments: {}, _meta: envelope() } });
    expect(denied.body).toMatchObject({ id: 'd', error: { data: { airlock: 'AIRLOCK_POLICY_DENIED', tool: 'notify_change' } } });
  });

  it('serve --upstream: 2026 requests reach a 2026-only HTTP server, refusals keep status and id', async () => {
    const url = await modernHttp();
    const proc = await serve(['--upstream', url]);
    const mcp = `${proc.url}/mcp`;
    const client = await modernThroughHttp(mcp);
    const lookup = JSON.parse(textOf(await client.callTool({ name: 'lookup', arguments: { region: 'eu', id: 42 } })));
    expect(lookup.mcpParamHeaders).toEqual({ 'mcp-param-region': 'eu', 'mcp-param-item-id': '42' });
    expect(textOf(await client.callTool({ name: 'sample', arguments: { prompt: 'p' } }))).toBe('sampled: hi from the client');
    // Mcp-Param-* headers airlock does not derive itself are passed on (an intermediary MUST forward them).
    const raw = await modernPost(mcp, { id: 4, method: 'tools/call', params: { name: 'lookup', arguments: { region: 'us' }, _meta: envelope() } }, {
      'mcp-protocol-version': V,
      'mcp-method': 'tools/call',
      'mcp-name': 'lookup',
      'mcp-param-region': 'us',
      'mcp-param-trace': 'abc',
    });
    const rawResult = (raw.body as { result: { content: Array<{ text: string }> } }).result;
    expect(JSON.parse(rawResult.content[0]!.text).mcpParamHeaders).toEqual({ 'mcp-param-region': 'us', 'mcp-param-trace': 'abc' });
    const refused = await modernPost(mcp, { id: 3, method: 'tools/list', params: { _meta: envelope('2099-01-01') } });
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ id: 3, error: { code: -32022, data: { supported: [V] } } });
  });
});

describe('eras that differ: translated', () => {
  it('connect: a 2025 client works with a 2026-only server (initialize, ping, input requests, logs, subscriptions)', async () => {
    const url = await modernHttp();
    const { client, logs, samplingPrompts, stderr } = await legacyThroughStdio(['connect', url]);
    expect(client.getServerVersion()?.name).toBe('airlock-modern-fixture');
    expect(stderr()).toMatch(/the server speaks MCP 2026-07-28 only; translating for a 2025-11-25 client/);
    await client.ping();
    expect((await client.listTools()).tools.map((t) => t.name)).toContain('ask_name');
    expect(textOf(await client.callTool({ name: 'ask_name', arguments: {} }))).toBe('Hello, Grace');
    expect(textOf(await client.callTool({ name: 'sample', arguments: { prompt: 'tell me' } }))).toBe('sampled: hi from the client');
    expect(samplingPrompts).toEqual(['tell me']);
    expect(JSON.parse(textOf(await client.callTool({ name: 'list_roots', arguments: {} })))).toEqual(clientRoots.map((r) => r.uri));

    await client.setLoggingLevel('info');
    await client.callTool({ name: 'echo', arguments: { text: 'logged' } });
    await expect.poll(() => logs.map((l) => l.data)).toContain('echo: logged');

    const updated = new Promise((resolve) => client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => resolve(n.params.uri)));
    const listChanged = new Promise((resolve) => client.setNotificationHandler(ToolListChangedNotificationSchema, () => resolve(true)));
    await client.subscribeResource({ uri: 'fixture://counter' });
    await new Promise((resolve) => setTimeout(resolve, 300)); // the listen stream opens
    await client.callTool({ name: 'notify_change', arguments: {} });
    expect(await updated).toBe('fixture://counter');
    expect(await listChanged).toBe(true);
  });

  it('run: a 2025 client works with a 2026-only stdio server', async () => {
    const { client } = await legacyThroughStdio(['run', '--', process.execPath, modernFixture, '--stdio', '--legacy', 'reject']);
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'hi' } }))).toBe('hi');
    expect(textOf(await client.callTool({ name: 'ask_name', arguments: {} }))).toBe('Hello, Grace');
  });

  it('connect: a 2026 client works with a 2025-only HTTP server, server requests becoming input requests', async () => {
    const url = await startHttpServer([legacyHttpFixture, '--port', '0']);
    const { client, stderr } = await modernThroughStdio(['connect', url, '--protocol', '2025-11-25']);
    expect((await client.listTools()).tools.map((t) => t.name)).toContain('sample');
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'hi' } }))).toBe('hi');
    expect(textOf(await client.callTool({ name: 'sample', arguments: { prompt: 'p' } }))).toBe('sampled: hi from the client');
    expect(JSON.parse(textOf(await client.callTool({ name: 'roots', arguments: {} })))).toEqual(clientRoots);
    expect(stderr()).toMatch(/translating for a 2026-07-28 client/);
  });

  it("run: progress after a round of input reaches a 2026 client under its retry's token (it closed the first one)", async () => {
    // The 2025 stdio fixture samples, then reports three steps under the call's first progress token.
    // The pinned client needs --protocol 2025-11-25 (its server/discover probe is refused otherwise,
    // as a negotiating client's is: see the last block); a call that reaches a 2025 server before
    // any initialize is covered in test/unit/eras/modern-client-translator.test.ts.
    const { client } = await modernThroughStdio(['run', '--protocol', '2025-11-25', '--', process.execPath, stdioFixture]);
    const progress: number[] = [];
    // The SDK reports its own input rounds as progress too (no total): only the server's count here.
    const answer = await client.callTool({ name: 'sample', arguments: { prompt: 'p', progressAfter: 3 } }, { onprogress: (p) => p.total === 3 && progress.push(p.progress) });
    expect(textOf(answer)).toBe('sampled: hi from the client');
    // The SDK v2 stdio client may drop a notification that arrives right before the result (see above).
    expect(progress.slice(0, 2)).toEqual([1, 2]);
  });

  it('run --protocol 2025-11-25: a 2026 client gets input requests and a listen stream from a 2025 session', async () => {
    // The dual-era fixture, spoken to in the 2025 era: its elicitation is a real server request.
    const { client, stderr } = await modernThroughStdio(['run', '--protocol', '2025-11-25', '--', process.execPath, modernFixture, '--stdio', '--legacy', 'serve']);
    expect(textOf(await client.callTool({ name: 'ask_name', arguments: {} }))).toBe('Hello, Ada');
    expect(JSON.parse(textOf(await client.callTool({ name: 'list_roots', arguments: {} })))).toEqual(clientRoots.map((r) => r.uri));
    const changes = await listenForChanges(client);
    await client.callTool({ name: 'notify_change', arguments: {} });
    expect(await changes.toolsChanged).toBe(true);
    expect(await changes.resourceUpdated).toBe('fixture://counter');
    expect(stderr()).toMatch(/translating for a 2026-07-28 client/);
  });

  it('serve: a 2025 client over HTTP+SSE works with a 2026-only upstream', async () => {
    const url = await modernHttp();
    const proc = await serve(['--upstream', url]);
    const { client } = await connectClient(new SSEClientTransport(new URL(`${proc.url}/sse`)), { elicitation: {} }).then((c) => {
      c.client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept', content: { name: 'Lin' } }));
      cleanups.push(() => c.client.close());
      return c;
    });
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'over sse' } }))).toBe('over sse');
    expect(textOf(await client.callTool({ name: 'ask_name', arguments: {} }))).toBe('Hello, Lin');
  });

  it('connect: a 2026 client works with a 2025 server that offers only HTTP+SSE', async () => {
    const base = (await startHttpServer([legacyHttpFixture, '--port', '0', '--only', 'sse'])).replace(/\/mcp$/, '');
    const { client } = await modernThroughStdio(['connect', `${base}/sse`, '--protocol', '2025-11-25']);
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'old transport' } }))).toBe('old transport');
    expect(textOf(await client.callTool({ name: 'sample', arguments: { prompt: 'p' } }))).toBe('sampled: hi from the client');
  });

  it('serve: a 2026 client over HTTP works with a 2025-only stdio server', async () => {
    const proc = await serve(['--protocol', '2025-11-25', '--', process.execPath, stdioFixture]);
    const client = await modernThroughHttp(`${proc.url}/mcp`);
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'via serve' } }))).toBe('via serve');
    expect(textOf(await client.callTool({ name: 'sample', arguments: { prompt: 'p' } }))).toBe('sampled: hi from the client');
  });
});

describe('a client that negotiates gets the era it would get directly', () => {
  // The SDK v2 client in `auto` mode probes with server/discover and falls back to initialize.
  // Directly, a 2025 server refuses the probe and the client settles on 2025-11-25; through airlock
  // it must too (ping and resources/subscribe stay). A client pinned to 2026-07-28 sends the same
  // probe: it gets airlock's -32022 naming --protocol 2025-11-25, with which it is translated (above).
  it('connect: auto settles on 2025-11-25 with a 2025 HTTP server, as directly; pinned is told of --protocol', async () => {
    const url = await startHttpServer([legacyHttpFixture, '--port', '0']);
    const direct = modernClient('auto');
    await direct.connect(new ModernHttpTransport(new URL(url)));
    expect(direct.getProtocolEra()).toBe('legacy');
    const { client } = await modernThroughStdio(['connect', url], 'auto');
    expect(client.getProtocolEra()).toBe('legacy');
    expect(client.getNegotiatedProtocolVersion()).toBe(direct.getNegotiatedProtocolVersion());
    await client.ping();
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'negotiated' } }))).toBe('negotiated');
    expect(textOf(await client.callTool({ name: 'sample', arguments: { prompt: 'p' } }))).toBe('sampled: hi from the client');
    await expect(modernThroughStdio(['connect', url])).rejects.toThrow(/--protocol 2025-11-25/);
  });

  it('serve -- cmd: auto settles on 2025-11-25 over HTTP with a 2025 stdio server; a client that does not probe is still translated', async () => {
    const proc = await serve(['--', process.execPath, stdioFixture]);
    const client = await modernThroughHttp(`${proc.url}/mcp`, 'auto');
    expect(client.getProtocolEra()).toBe('legacy');
    await client.ping();
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'via serve' } }))).toBe('via serve');
    await expect(modernThroughHttp(`${proc.url}/mcp`)).rejects.toThrow(/--protocol 2025-11-25/);
    // A 2026 request with no probe first (a client that speaks only 2026) still reaches the 2025 server, translated.
    const call = await modernPost(`${proc.url}/mcp`, { id: 5, method: 'tools/call', params: { name: 'echo', arguments: { text: 'no probe' }, _meta: envelope() } });
    expect(call.status).toBe(200);
    const answer = (call.frames.at(-1) ?? call.body) as { result?: { resultType?: string; content?: Array<{ text: string }> } };
    expect(answer.result).toMatchObject({ resultType: 'complete', content: [{ text: 'no probe' }] });
  });
});
