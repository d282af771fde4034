/**
 * A loopback HTTP server that records every request and answers from a handler: for tests that
 * must prove which URLs a client asked for, in which order, and with which body.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Recorded {
  method: string;
  /** Path and query, as requested. */
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface Reply {
  status?: number;
  json?: unknown;
  text?: string;
  headers?: Record<string, string>;
}

export interface RecordingServer {
  origin: string;
  requests: Recorded[];
  /** Paths requested, in order. */
  paths(): string[];
  close(): Promise<void>;
}

/** Start on 127.0.0.1:0. `handler` returns the reply, or undefined for a 404. */
export async function startRecordingServer(handler: (request: Recorded, origin: string) => Reply | undefined): Promise<RecordingServer> {
  const requests: Recorded[] = [];
  let origin = '';
  const server = createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    const recorded: Recorded = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body };
    requests.push(recorded);
    const reply = handler(recorded, origin) ?? { status: 404, json: { error: 'not_found' } };
    const headers: Record<string, string> = { ...reply.headers };
    let text = reply.text ?? '';
    if (reply.json !== undefined) {
      headers['content-type'] ??= 'application/json';
      text = JSON.stringify(reply.json);
    }
    res.writeHead(reply.status ?? 200, headers).end(text);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    requests,
    paths: () => requests.map((r) => r.path),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
