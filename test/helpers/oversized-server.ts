/**
 * A loopback HTTP server whose chosen paths answer 200 with a JSON document that never ends (or
 * ends only after `safetyBytes`, so that a client without a limit finishes instead of filling the
 * machine): for tests that an auth document is read only up to its limit. It counts what each such
 * answer managed to send before the client stopped reading.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface OversizedServer {
  origin: string;
  /** Bytes written per endless answer, by path, once the answer ended (client gone or safety cap). */
  sent: Array<{ path: string; bytes: number }>;
  /** Every request's method and path, in order. */
  requests: string[];
  close(): Promise<void>;
}

export type Route = (req: IncomingMessage, res: ServerResponse, origin: string) => 'endless' | void;

const CHUNK = Buffer.alloc(64 * 1024, 'a');

/**
 * `route` answers a request itself, or returns 'endless' for the never-ending document: a JSON
 * object whose one string member goes on for ever (`{"pad":"aaaa…`), without Content-Length.
 */
export async function startOversizedServer(route: Route, safetyBytes = 64 * 1024 * 1024): Promise<OversizedServer> {
  const sent: OversizedServer['sent'] = [];
  const requests: string[] = [];
  let origin = '';
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    req.resume();
    if (route(req, res, origin) !== 'endless') return;
    res.writeHead(200, { 'content-type': 'application/json' });
    let bytes = 0;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      sent.push({ path: req.url ?? '', bytes });
    };
    res.on('close', finish);
    const pump = (): void => {
      while (!done && !res.destroyed) {
        if (bytes >= safetyBytes) {
          res.end('"}');
          return;
        }
        const chunk = bytes === 0 ? Buffer.concat([Buffer.from('{"pad":"'), CHUNK]) : CHUNK;
        bytes += chunk.length;
        if (!res.write(chunk)) {
          res.once('drain', pump);
          return;
        }
      }
    };
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    sent,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Answer `body` as JSON. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}
