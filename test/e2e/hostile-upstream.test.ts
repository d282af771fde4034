/**
 * An upstream that is broken or hostile must not exhaust airlock's memory or its log, and must not
 * leave a call hanging: an SSE event that never ends, a JSON body past --max-message, a flood of
 * events that are not JSON-RPC. A server of the test's own on loopback plays the upstream; the
 * client is a raw stdio peer of `mcp-airlock connect`.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAirlock, type AirlockProcess } from '../helpers/airlock-process.js';
import { LineClient } from '../helpers/line-client.js';

const LIMIT = 1024 * 1024;
const envelope = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };
let url: string;
let endlessClosed: Promise<void>;
/** Tool names whose endless event airlock stopped reading (the server saw the connection close). */
const hungUp = new Set<string>();
let server: ReturnType<typeof createServer>;
let airlock: AirlockProcess;
let line: LineClient;

function sse(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
}

beforeAll(async () => {
  let closed!: () => void;
  endlessClosed = new Promise((resolve) => (closed = resolve));
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      const message = JSON.parse(body) as { id: number; params: { name: string } };
      const answer = (result: unknown): string => JSON.stringify({ jsonrpc: '2.0', id: message.id, result: { resultType: 'complete', ...(result as object) } });
      switch (message.params.name) {
        case 'endless': {
          // One event whose data never ends: 64 KiB more every millisecond until airlock hangs up.
          sse(res);
          res.write(`data: {"jsonrpc":"2.0","id":${message.id},"result":{"content":[{"type":"text","text":"`);
          const chunk = 'x'.repeat(64 * 1024);
          const timer = setInterval(() => res.write(chunk), 1);
          res.on('close', () => {
            clearInterval(timer);
            closed();
          });
          return;
        }
        case 'endless-result-first':
        case 'endless-notification': {
          // An event whose start names no id (a result written before its id, a notification): it
          // cannot be told from its start what it answers, and it never ends.
          sse(res);
          res.write(message.params.name === 'endless-notification' ? 'data: {"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"' : 'data: {"result":{"content":[{"type":"text","text":"');
          const chunk = 'z'.repeat(64 * 1024);
          const timer = setInterval(() => res.write(chunk), 1);
          res.on('close', () => {
            clearInterval(timer);
            hungUp.add(message.params.name);
          });
          return;
        }
        case 'huge-json':
          res.writeHead(200, { 'content-type': 'application/json' }).end(answer({ content: [{ type: 'text', text: 'y'.repeat(3 * LIMIT) }] }));
          return;
        case 'junk':
          sse(res);
          for (let i = 0; i < 2000; i++) res.write(`data: this is not json ${i}\n\n`);
          res.end(`data: ${answer({ content: [{ type: 'text', text: 'after the junk' }] })}\n\n`);
          return;
        default:
          res.writeHead(200, { 'content-type': 'application/json' }).end(answer({ content: [{ type: 'text', text: 'fine' }] }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
  airlock = startAirlock(['connect', url, '--max-message', '1mb', '--no-audit']);
  line = new LineClient(airlock);
});

afterAll(async () => {
  await airlock?.stop();
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
});

const call = (id: number, name: string) => line.send({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: {}, _meta: envelope } });

describe('connect against a hostile upstream', () => {
  it('answers a call whose event never ends with an error naming --max-message, and hangs up on that stream', async () => {
    call(1, 'endless');
    const reply = await line.response(1, 20_000);
    expect(reply.error).toMatchObject({ code: -32000, data: { airlock: 'AIRLOCK_MESSAGE_TOO_LARGE', limit: LIMIT } });
    expect(reply.error!.message).toMatch(/larger than --max-message \(1048576 bytes\) and was dropped$/);
    await endlessClosed; // airlock stopped reading: the server saw the connection close
  });

  it.each(['endless-result-first', 'endless-notification'])('fails a call at once when an endless event on its own stream passes the limit, though its start names no id (%s), and hangs up', async (name) => {
    const id = name === 'endless-notification' ? 12 : 11;
    call(id, name);
    const reply = await line.response(id, 10_000);
    expect(reply.error).toMatchObject({ code: -32000, data: { airlock: 'AIRLOCK_MESSAGE_TOO_LARGE', limit: LIMIT } });
    expect(reply.error!.message).toMatch(/^mcp-airlock: the server sent a message \(at least \d+ bytes\) larger than --max-message \(1048576 bytes\) on this call's stream; the stream was closed$/);
    await expect.poll(() => hungUp.has(name), { timeout: 5000 }).toBe(true);
  });

  it('answers a call whose JSON body is past the limit the same way, without reading it all', async () => {
    call(2, 'huge-json');
    expect((await line.response(2)).error).toMatchObject({ data: { airlock: 'AIRLOCK_MESSAGE_TOO_LARGE', limit: LIMIT } });
  });

  it('drops a flood of events that are not JSON-RPC with one warning line, and delivers the answer after them', async () => {
    call(3, 'junk');
    expect((await line.response(3)).result).toMatchObject({ content: [{ text: 'after the junk' }] });
    expect(airlock.stderr().split('\n').filter((l) => l.includes('not JSON-RPC')).length).toBe(1);
  });

  it('goes on serving calls after all of that', async () => {
    call(4, 'echo');
    expect((await line.response(4)).result).toMatchObject({ content: [{ text: 'fine' }] });
    expect(airlock.child.exitCode).toBeNull();
  });
});

describe('connect against a server that abuses retry:', () => {
  it('keeps at least 250 ms between reconnects of the GET stream when the server says retry: 0', async () => {
    let gets = 0;
    const abuser = createServer((req, res) => {
      if (req.method === 'GET') {
        gets += 1;
        res.writeHead(200, { 'content-type': 'text/event-stream' }).end('retry: 0\n\n');
        return;
      }
      if (req.method !== 'POST') return void res.writeHead(405).end(); // airlock's DELETE when it stops
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      req.on('end', () => {
        const message = JSON.parse(body) as { id?: number; method: string };
        if (message.id === undefined) return void res.writeHead(202).end();
        res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 's1' });
        res.end(JSON.stringify({ jsonrpc: '2.0', id: message.id, result: { protocolVersion: '2025-11-25', capabilities: {}, serverInfo: { name: 'abuser', version: '1' } } }));
      });
    });
    await new Promise<void>((resolve) => abuser.listen(0, '127.0.0.1', resolve));
    const proc = startAirlock(['connect', `http://127.0.0.1:${(abuser.address() as AddressInfo).port}/mcp`, '--transport', 'http', '--no-audit']);
    try {
      await new LineClient(proc).handshake();
      await new Promise((resolve) => setTimeout(resolve, 2000));
      // An unclamped retry of 0 reconnected thousands of times a second; 250 ms apart, about 8 in 2 s.
      expect(gets).toBeGreaterThan(1);
      expect(gets).toBeLessThan(20);
    } finally {
      await proc.stop();
      abuser.closeAllConnections();
      abuser.close();
    }
  });
});

