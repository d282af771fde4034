/**
 * `serve` as an HTTP server under hostile or broken conditions: DNS rebinding, foreign Origins,
 * oversized and malformed bodies, unknown sessions, children that die, clients that leave.
 */
import { mkdtemp, unlink, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isAlive, readPid, startAirlock, startServe, stdioFixture, waitFor, type AirlockProcess } from '../helpers/airlock-process.js';
import { initialize, openSession, post, rawRequest, sessionHeaders } from '../helpers/http-peer.js';
import { connectClient, textOf } from '../helpers/mcp-client.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airlock-serve-'));
});

const running: AirlockProcess[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
});

async function serveFixture(flags: string[] = [], fixtureArgs: string[] = []) {
  const serve = await startServe([...flags, '--', process.execPath, stdioFixture, ...fixtureArgs]);
  running.push(serve);
  return serve;
}

async function health(url: string): Promise<{ status: string; sessions: number }> {
  return (await fetch(`${url}/healthz`)).json() as Promise<{ status: string; sessions: number }>;
}

describe('serve: requests it must refuse', () => {
  it('answers /healthz and refuses a foreign Origin or Host with 403, starting nothing', async () => {
    const serve = await serveFixture();
    expect(await health(serve.url)).toMatchObject({ status: 'ok', sessions: 0 });

    const evilOrigin = await post(`${serve.url}/mcp`, initialize(), { origin: 'https://evil.example' });
    expect(evilOrigin.status).toBe(403);
    expect(evilOrigin.messages[0]!.error.message).toBe('Forbidden: Origin "https://evil.example" is not allowed; add it with --allow-origin');

    const port = new URL(serve.url).port;
    const rebound = await rawRequest(`${serve.url}/mcp`, { method: 'POST', headers: { host: `attacker.example:${port}`, 'content-type': 'application/json' }, body: JSON.stringify(initialize()) });
    expect(rebound.status).toBe(403);
    expect(rebound.body).toContain('is not allowed (DNS rebinding protection)');

    const localOrigin = await post(`${serve.url}/mcp`, initialize(), { origin: 'http://localhost:6274' });
    expect(localOrigin.status).toBe(200);
    expect(localOrigin.headers.get('access-control-allow-origin')).toBe('http://localhost:6274');
    expect(await health(serve.url)).toMatchObject({ sessions: 1 });
    expect(serve.stderr()).toContain('refused POST "/mcp": Origin "https://evil.example" is not allowed');

    // A refused request's body is not read: after the 403 the server hangs up instead of draining
    // the 500 MB it was promised (it used to take all of it before the socket closed).
    const socket = connect(Number(port), '127.0.0.1');
    socket.write(`POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nOrigin: https://evil.example\r\nContent-Type: application/json\r\nContent-Length: ${500 * 1024 * 1024}\r\n\r\n`);
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('utf8')));
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    let sent = 0;
    const hungUp = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => undefined);
    while (!socket.destroyed && sent < 64 * 1024 * 1024) {
      if (!socket.write(chunk)) await Promise.race([new Promise((resolve) => socket.once('drain', resolve)), hungUp]);
      sent += chunk.length;
    }
    await hungUp;
    expect(answer).toMatch(/^HTTP\/1\.1 403 /);
    expect(sent).toBeLessThan(64 * 1024 * 1024);
  });

  it('answers 413 past --max-body, 415 for a wrong content type, 400/404 for missing or unknown sessions', async () => {
    const serve = await serveFixture(['--max-body', '2kb']);
    const mcp = `${serve.url}/mcp`;
    const huge = { ...initialize(), params: { ...initialize().params, padding: 'x'.repeat(4096) } };
    const tooBig = await post(mcp, huge);
    expect(tooBig.status).toBe(413);
    expect(tooBig.messages[0]!.error.message).toMatch(/exceeds the limit of 2048 bytes \(--max-body\)$/);

    const wrongType = await post(mcp, initialize(), { 'content-type': 'text/plain' });
    expect(wrongType.status).toBe(415);

    const noSession = await post(mcp, { jsonrpc: '2.0', id: 2, method: 'tools/list' });
    expect(noSession.status).toBe(400);
    expect(noSession.messages[0]!.error.message).toBe(
      'Bad Request: Mcp-Session-Id header is required (only initialize may come without one; a 2026-07-28 request carries its version in params._meta)',
    );
    expect(noSession.messages[0]!.id).toBe(2); // the request's own id, not null

    const unknown = await post(mcp, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, sessionHeaders('no-such-session'));
    expect(unknown.status).toBe(404);
    expect(await health(serve.url)).toMatchObject({ sessions: 0 });
  });

  it('answers a malformed body in a live session with 400 and the session goes on', async () => {
    const serve = await serveFixture();
    const mcp = `${serve.url}/mcp`;
    const session = await openSession(mcp);
    const bad = await post(mcp, '{"jsonrpc": "2.0", "id": 3, "method": ', sessionHeaders(session));
    expect(bad.status).toBe(400);
    expect(bad.messages[0]!.error.code).toBe(-32700);
    const invalid = await post(mcp, { jsonrpc: '2.0', id: 4 }, sessionHeaders(session));
    expect(invalid.status).toBe(400);
    expect(invalid.messages[0]!.error).toMatchObject({ code: -32600 });
    const ok = await post(mcp, { jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'add', arguments: { a: 1, b: 2 } } }, sessionHeaders(session));
    expect(ok.status).toBe(200);
    expect(ok.messages[0]).toMatchObject({ id: 5, result: { content: [{ type: 'text', text: '3' }] } });
  });

  it('at --max-sessions ends the least recently active idle session for a new one, and refuses only when every session is busy', async () => {
    const serve = await serveFixture(['--max-sessions', '1']);
    const mcp = `${serve.url}/mcp`;
    const first = await openSession(mcp);
    const second = await openSession(mcp); // the idle first one makes room
    await serve.waitForStderr(/session [0-9a-f]{8} ends to make room for a new one \(idle for \d+ s; --max-sessions 1\)/);
    expect((await post(mcp, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, sessionHeaders(first))).status).toBe(404);
    // A call in flight keeps its session: the next one is refused.
    const busy = post(mcp, { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'slow', arguments: { steps: 4, delayMs: 250 } } }, sessionHeaders(second));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const third = await post(mcp, initialize(9));
    expect(third.status).toBe(503);
    expect(third.messages[0]).toMatchObject({ id: 9, error: { message: 'too many sessions (1, --max-sessions), all with calls in flight; close one or raise the limit' } });
    expect((await busy).status).toBe(200);
  });

  it('answers 502 with a JSON-RPC error when the server command cannot start (it was removed after serve checked it)', async () => {
    const script = join(dir, 'vanishing-server.sh');
    await writeFile(script, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    const serve = await startServe(['--', script]);
    running.push(serve);
    await unlink(script);
    const init = await post(`${serve.url}/mcp`, initialize(1));
    expect(init.status).toBe(502);
    expect(init.messages[0]).toMatchObject({ id: 1, error: { code: -32000 } });
    expect(init.messages[0]!.error.message).toContain(`cannot start server command ${JSON.stringify(script)}: ENOENT`);
    expect((await health(serve.url)).status).toBe('ok');
  });
});

describe('serve: session lifecycle', () => {
  it('gives each session its own child, and DELETE ends the session and its child', async () => {
    const pidA = join(dir, 'a.pid');
    const serve = await serveFixture([], ['--print-pid-file', pidA]);
    const mcp = `${serve.url}/mcp`;
    const first = await openSession(mcp);
    const firstPid = await readPid(pidA);
    const second = await openSession(mcp);
    await waitFor(async () => (await readPid(pidA)) !== firstPid, 'a second child');
    const secondPid = await readPid(pidA);
    expect(secondPid).not.toBe(firstPid);
    expect(await health(serve.url)).toMatchObject({ sessions: 2 });

    const del = await fetch(mcp, { method: 'DELETE', headers: sessionHeaders(first) });
    expect(del.status).toBe(200);
    await waitFor(() => !isAlive(firstPid), 'the first child to exit');
    expect(isAlive(secondPid)).toBe(true);
    expect((await post(mcp, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, sessionHeaders(first))).status).toBe(404);
    expect((await post(mcp, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, sessionHeaders(second))).status).toBe(200);
  });

  it('answers 404 at once for a session that is closing while its child still exits', async () => {
    // The server command lingers a second after its stdin closes, so the session is caught closing.
    const lingering = `${JSON.stringify(process.execPath)} ${JSON.stringify(stdioFixture)}; sleep 1`;
    const serve = await startServe(['--', 'sh', '-c', lingering]);
    running.push(serve);
    const mcp = `${serve.url}/mcp`;
    const session = await openSession(mcp);
    expect((await fetch(mcp, { method: 'DELETE', headers: sessionHeaders(session) })).status).toBe(200);
    const late = await post(mcp, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, sessionHeaders(session));
    expect(late.status).toBe(404);
    expect(await health(serve.url)).toMatchObject({ status: 'ok' });
  });

  it('ends an idle session after --session-timeout and kills its child', async () => {
    const pidFile = join(dir, 'idle.pid');
    const serve = await serveFixture(['--session-timeout', '0.3'], ['--print-pid-file', pidFile]);
    const session = await openSession(`${serve.url}/mcp`);
    const pid = await readPid(pidFile);
    await serve.waitForStderr(/session [0-9a-f]{8} ended \(idle for \d+ s \(--session-timeout\)\)/);
    await waitFor(() => !isAlive(pid), 'the idle session child to exit');
    expect((await post(`${serve.url}/mcp`, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, sessionHeaders(session))).status).toBe(404);
  });

  it('ends an SSE session and its child when the client disconnects', async () => {
    const pidFile = join(dir, 'sse.pid');
    const serve = await serveFixture([], ['--print-pid-file', pidFile]);
    const { client } = await connectClient(new SSEClientTransport(new URL(`${serve.url}/sse`)));
    expect(textOf(await client.callTool({ name: 'add', arguments: { a: 1, b: 1 } }))).toBe('2');
    const pid = await readPid(pidFile);
    await client.close();
    await waitFor(() => !isAlive(pid), 'the SSE session child to exit');
    await waitFor(async () => (await health(serve.url)).sessions === 0, 'the session to be gone');
  });

  it('fails the call in flight when a session child dies, and the next request gets 404', async () => {
    const serve = await serveFixture();
    const { client } = await connectClient(new StreamableHTTPClientTransport(new URL(`${serve.url}/mcp`)));
    const error = await client.callTool({ name: 'crash', arguments: { code: 9 } }).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/the upstream server closed before answering: server process \d+ exited with code 9/);
    await expect(client.listTools()).rejects.toThrow(/404|Session not found/);
    await client.close();
    expect(serve.stderr()).toMatch(/server process \d+ exited with code 9/);
    expect((await health(serve.url)).status).toBe('ok');
  });

  it('kills every session child on SIGTERM and exits 143', async () => {
    const pidFile = join(dir, 'term.pid');
    const grandFile = join(dir, 'term-grand.pid');
    const serve = await serveFixture([], ['--print-pid-file', pidFile, '--spawn-grandchild', grandFile]);
    await openSession(`${serve.url}/mcp`);
    const [pid, grandchild] = [await readPid(pidFile), await readPid(grandFile)];
    expect(await serve.stop('SIGTERM')).toBe(143);
    await waitFor(() => !isAlive(pid) && !isAlive(grandchild), 'child and grandchild to be gone');
  });
});

describe('serve: a command that exits at start', () => {
  it("answers the session's initialize with the child's last stderr lines, redacted, and labels the lines it passes on with the session", async () => {
    const exitsAtStart = fileURLToPath(new URL('../../fixtures/exits-at-start.mjs', import.meta.url));
    const serve = await startServe(['--', process.execPath, exitsAtStart]);
    running.push(serve);
    const answer = await post(`${serve.url}/mcp`, initialize(1));
    expect(answer.text).toContain('exited with code 1; its last stderr lines: ');
    expect(answer.text).toContain('npm error registry auth: [REDACTED]');
    expect(answer.text).not.toContain('npm_0123456789');
    await serve.waitForStderr(/\[session [0-9a-f]{8}\] npm error code E404\n/);
    expect(serve.stderr()).toMatch(/\[session [0-9a-f]{8}\] npm error registry auth: \[REDACTED\]\n/);
    expect(serve.stderr()).not.toContain('npm_0123456789');
  });
});

describe('serve: streamable HTTP details', () => {
  it('answers a client that accepts only JSON with a JSON body, and refuses a second GET stream with 409', async () => {
    const serve = await serveFixture();
    const mcp = `${serve.url}/mcp`;
    const session = await openSession(mcp);
    const json = await post(mcp, { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'add', arguments: { a: 5, b: 5 } } }, { ...sessionHeaders(session), accept: 'application/json' });
    expect(json.status).toBe(200);
    expect(json.headers.get('content-type')).toBe('application/json');
    expect(JSON.parse(json.text)).toMatchObject({ id: 3, result: { content: [{ text: '10' }] } });

    const first = new AbortController();
    const stream = await fetch(mcp, { headers: { ...sessionHeaders(session), accept: 'text/event-stream' }, signal: first.signal });
    expect(stream.status).toBe(200);
    const second = await fetch(mcp, { headers: { ...sessionHeaders(session), accept: 'text/event-stream' } });
    expect(second.status).toBe(409);
    first.abort();
  });

  it('passes a protocol version it does not know to the upstream instead of refusing it', async () => {
    const serve = await serveFixture();
    const mcp = `${serve.url}/mcp`;
    const session = await openSession(mcp);
    const reply = await post(mcp, { jsonrpc: '2.0', id: 4, method: 'tools/list' }, { 'mcp-session-id': session, 'mcp-protocol-version': '2099-01-01' });
    expect(reply.status).toBe(200);
    expect(reply.messages[0]!.result.tools.length).toBeGreaterThan(0);
  });

  it('answers the server itself when a server->client request cannot reach the client', async () => {
    const serve = await serveFixture();
    const mcp = `${serve.url}/mcp`;
    // A client that accepts only JSON has no stream for the sampling request the tool makes.
    const session = await openSession(mcp);
    const reply = await post(mcp, { jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'sample', arguments: { prompt: 'x' } } }, { ...sessionHeaders(session), accept: 'application/json' });
    expect(reply.status).toBe(200);
    const body = JSON.parse(reply.text);
    expect(body.id).toBe(5);
    expect(JSON.stringify(body)).toContain('mcp-airlock could not deliver sampling/createMessage to the client');
  });
});

describe('serve: its parent going away', () => {
  it('shuts down, children included, when stdin is a pipe and closes', async () => {
    const pidFile = join(dir, 'parent.pid');
    const proc = startAirlock(['serve', '--port', '0', '--', process.execPath, stdioFixture, '--print-pid-file', pidFile]);
    running.push(proc);
    const url = (await proc.waitForStderr(/listening on (http:\/\/[^/\s]+)/))[1]!;
    await openSession(`${url}/mcp`);
    const pid = await readPid(pidFile);
    proc.child.stdin!.end();
    expect(await proc.exited).toBe(0);
    expect(proc.stderr()).toContain('stdin closed (the parent process is gone), shutting down');
    await waitFor(() => !isAlive(pid), 'the session child to exit');
  });
});

describe('serve: supergateway spelling', () => {
  it('runs `--stdio "cmd" --outputTransport streamableHttp --port 0`', async () => {
    const proc = startAirlock(['--stdio', `${JSON.stringify(process.execPath)} ${JSON.stringify(stdioFixture)}`, '--outputTransport', 'streamableHttp', '--port', '0'], { stdin: 'ignore' });
    running.push(proc);
    const url = (await proc.waitForStderr(/listening on (http:\/\/[^/\s]+)/))[1]!;
    const { client } = await connectClient(new StreamableHTTPClientTransport(new URL(`${url}/mcp`)));
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'drop-in' } }))).toBe('drop-in');
    await client.close();
  });
});
