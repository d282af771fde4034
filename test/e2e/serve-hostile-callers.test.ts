/**
 * Callers of `serve` that hold resources without giving them back: answers nobody reads (2026
 * lanes cannot stop their upstream for one caller), sessions whose client left while the server
 * waits on a question, and a body sent whole past --max-body by a client that does not wait for
 * `100-continue`. Real `serve` processes in front of the stdio fixture; raw sockets as callers.
 */
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startServe, stdioFixture, waitFor, type AirlockProcess } from '../helpers/airlock-process.js';
import { initialize } from '../helpers/http-peer.js';

const V = '2026-07-28';
const running: AirlockProcess[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(running.splice(0).map((p) => p.stop()));
});

async function serve(args: string[]): Promise<AirlockProcess & { mcp: string; port: number }> {
  const proc = await startServe(args);
  running.push(proc);
  return Object.assign(proc, { mcp: `${proc.url}/mcp`, port: Number(new URL(proc.url).port) });
}

const envelope = { 'io.modelcontextprotocol/protocolVersion': V, 'io.modelcontextprotocol/clientCapabilities': {}, 'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' } };

/** Send one POST on a raw socket and never read the answer (the socket is paused). */
function postAndNeverRead(port: number, body: unknown, headers: Record<string, string>): Socket {
  const text = JSON.stringify(body);
  const socket = connect(port, '127.0.0.1');
  sockets.push(socket);
  socket.on('error', () => undefined);
  const lines = [`POST /mcp HTTP/1.1`, `Host: 127.0.0.1:${port}`, 'Content-Type: application/json', 'Accept: application/json, text/event-stream', `Content-Length: ${Buffer.byteLength(text)}`];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  socket.write(`${lines.join('\r\n')}\r\n\r\n${text}`);
  socket.pause();
  return socket;
}

describe('serve: callers that never read', () => {
  it("closes the unread answers past the server's budget instead of holding them all, and keeps serving callers that read", async () => {
    const airlock = await serve(['--', 'node', stdioFixture]);
    const headers = { 'MCP-Protocol-Version': V, 'Mcp-Method': 'tools/call', 'Mcp-Name': 'big' };
    // 12 answers of 8 MiB nobody reads: 96 MiB, half again the 64 MiB budget (the kernel buffers under 1 MiB of each).
    for (let i = 0; i < 12; i++) postAndNeverRead(airlock.port, { jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: 'big', arguments: { bytes: 8 * 1024 * 1024 }, _meta: envelope } }, headers);
    await airlock.waitForStderr(/a 2026-07-28 caller left \d+ bytes of answers unread past the server's budget \(67108864 bytes\): its response is closed/, 60_000);
    // A caller that reads still gets its whole answer.
    const response = await fetch(airlock.mcp, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': V, 'mcp-method': 'tools/call', 'mcp-name': 'echo' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 'reader', method: 'tools/call', params: { name: 'echo', arguments: { text: 'still here' }, _meta: envelope } }),
    });
    expect(await response.json()).toMatchObject({ id: 'reader', result: { content: [{ text: 'still here' }] } });
  }, 90_000);
});

describe('serve: sessions whose client is gone', () => {
  it('gives the slot of a session waiting on a question nobody can hear to a new client, instead of 503 for good', async () => {
    const airlock = await serve(['--max-sessions', '2', '--', 'node', stdioFixture]);
    for (let i = 0; i < 2; i++) {
      const opened = await fetch(airlock.mcp, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify(initialize(1)) });
      const session = opened.headers.get('mcp-session-id')!;
      await opened.text();
      const sessionHeaders = { 'Mcp-Session-Id': session, 'MCP-Protocol-Version': '2025-11-25' };
      await fetch(airlock.mcp, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...sessionHeaders }, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) });
      // The call asks the client to sample; this client reads the question, then leaves without answering.
      const socket = postAndNeverRead(airlock.port, { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'sample', arguments: { prompt: 'never answered' } } }, sessionHeaders);
      await new Promise((r) => setTimeout(r, 300));
      socket.destroy();
    }
    await new Promise((r) => setTimeout(r, 300));
    const third = await fetch(airlock.mcp, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify(initialize(1)) });
    expect(third.status).toBe(200);
    expect(third.headers.get('mcp-session-id')).toBeTruthy();
    await third.text();
    expect(airlock.stderr()).toMatch(/session [0-9a-f]{8} ends to make room for a new one/);
  }, 30_000);
});

describe('serve: a body past --max-body from a client that does not wait for 100-continue', () => {
  it('reads and drops the rest, so the client gets the 413 and its message instead of a broken pipe', async () => {
    const airlock = await serve(['--max-body', '64KiB', '--', 'node', stdioFixture]);
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x'.repeat(8 * 1024 * 1024) } } });
    // Like the Python SDK's HTTP client: send the whole body, in pieces as it streams it, and only
    // then read the answer. A server that closes the connection once it has answered breaks the pipe.
    // A plain TCP client (as Python's is): a FIN from the server does not end its own sending side.
    const socket = connect({ port: airlock.port, host: '127.0.0.1', allowHalfOpen: true });
    sockets.push(socket);
    let received = '';
    socket.setEncoding('latin1').on('data', (chunk: string) => (received += chunk));
    const broken = new Promise<never>((_, reject) => socket.on('error', (error) => reject(new Error(`the client's upload failed: ${error.message}`))));
    const write = (data: string) => new Promise<void>((resolve, reject) => socket.write(data, (error) => (error ? reject(error) : resolve())));
    const upload = (async () => {
      await write(`POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${airlock.port}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`);
      for (let offset = 0; offset < body.length; offset += 256 * 1024) {
        await write(body.slice(offset, offset + 256 * 1024));
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    await Promise.race([upload, broken]);
    await Promise.race([waitFor(() => /\r\n\r\n\{.*\}$/s.test(received), 'the whole answer'), broken]);
    expect(received).toMatch(/^HTTP\/1\.1 413 /);
    const answer = JSON.parse(received.slice(received.indexOf('\r\n\r\n') + 4));
    expect(answer).toMatchObject({ error: { message: `request body of ${Buffer.byteLength(body)} bytes exceeds the limit of 65536 bytes (--max-body)` } });
  });
});
