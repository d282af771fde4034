/**
 * The unread budget against real HTTP responses on loopback: a caller that never reads loses its
 * response once the server holds more than the budget, a caller that reads (even slowly, even a
 * large answer) keeps its own.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { UnreadBudget } from '../../../src/transports/unread-budget.js';

const servers: Server[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** A server whose every response is handed to `onResponse`; resolves with its port. */
async function serverWith(onResponse: (res: ServerResponse, path: string) => void): Promise<number> {
  const server = createServer((req, res) => onResponse(res, req.url ?? ''));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** A GET on a raw socket; `read` says whether its bytes are consumed. Resolves with the bytes read once closed. */
function get(port: number, path: string, read: boolean): { socket: Socket; received: () => number; closed: Promise<void> } {
  const socket = connect(port, '127.0.0.1');
  sockets.push(socket);
  let received = 0;
  socket.on('error', () => undefined);
  socket.on('data', (chunk: Buffer) => (received += chunk.length));
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
  if (!read) socket.pause();
  return { socket, received: () => received, closed };
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('UnreadBudget', () => {
  it("closes the response of a caller that never reads once the server holds more than the budget, and keeps a reader's", async () => {
    const evicted: number[] = [];
    const budget = new UnreadBudget(4 * 1024 * 1024, (bytes) => evicted.push(bytes), 200);
    // Larger than what loopback's kernel buffers take for a socket that is not read (several MiB).
    const answer = 'x'.repeat(32 * 1024 * 1024);
    const port = await serverWith((res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': answer.length });
      res.end(answer);
      budget.note(res);
    });
    const hoarder = get(port, '/hoard', false);
    const reader = get(port, '/read', true);
    // Destroyed for the budget after the grace period (the paused client cannot see it close).
    for (let i = 0; i < 100 && evicted.length === 0; i++) await pause(20);
    expect(hoarder.received()).toBe(0);
    expect(evicted).toHaveLength(1);
    expect(evicted[0]).toBeGreaterThan(4 * 1024 * 1024);
    for (let i = 0; i < 250 && reader.received() <= answer.length; i++) await pause(20);
    expect(reader.received()).toBeGreaterThan(answer.length); // the whole answer and its headers
    expect(budget.held).toBe(0);
  });

  it('spares a slow reader: bytes going down count as reading, however long the whole answer takes', async () => {
    const evicted: number[] = [];
    const budget = new UnreadBudget(1024 * 1024, (bytes) => evicted.push(bytes), 500);
    let response: ServerResponse | undefined;
    const port = await serverWith((res) => {
      response = res;
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end('y'.repeat(32 * 1024 * 1024));
      budget.note(res);
    });
    const slow = get(port, '/slow', false);
    // Read a little at a time, with pauses shorter than the grace period, for longer than it in all.
    let looked = 0;
    for (let i = 0; i < 6 && response?.writableLength !== 0; i++) {
      // Read 2 MiB, then nothing for a while: a slow link.
      const target = slow.received() + 2 * 1024 * 1024;
      await new Promise<void>((resolve) => {
        const onData = (): void => {
          if (slow.received() < target) return;
          slow.socket.off('data', onData);
          slow.socket.pause();
          resolve();
        };
        slow.socket.on('data', onData);
        slow.socket.resume();
      });
      await pause(200);
      if (response && response.writableLength > 1024 * 1024) {
        budget.note(response);
        looked += 1;
      }
    }
    expect(looked).toBeGreaterThan(0); // the budget was over its limit while the reader was slow
    expect(evicted).toEqual([]);
    slow.socket.resume();
    for (let i = 0; i < 250 && slow.received() <= 32 * 1024 * 1024; i++) await pause(20);
    expect(slow.received()).toBeGreaterThan(32 * 1024 * 1024);
  });
});
