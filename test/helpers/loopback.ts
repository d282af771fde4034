/**
 * Loopback plumbing several end-to-end tests need: a port nothing listens on, and an HTTP proxy
 * that tunnels CONNECT requests (what undici's ProxyAgent sends for every target).
 */
import { createServer as createHttpServer, type Server } from 'node:http';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

/** A loopback port that nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Tunnel a CONNECT request to its target, both ways, until either side ends. */
export function tunnel(target: string, socket: Socket, head: Buffer): void {
  const [host, port] = target.split(':');
  const upstream = connect(Number(port), host, () => {
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    upstream.write(head);
    upstream.pipe(socket).pipe(upstream);
  });
  upstream.on('error', () => socket.destroy());
  socket.on('error', () => upstream.destroy());
}

/** A proxy on 127.0.0.1 that tunnels CONNECT and refuses plain requests (405); `seen` lists the targets. */
export async function startConnectProxy(): Promise<{ server: Server; url: string; seen: string[] }> {
  const seen: string[] = [];
  const server = createHttpServer((_req, res) => res.writeHead(405).end());
  server.on('connect', (req, socket, head) => {
    seen.push(req.url!);
    tunnel(req.url!, socket as Socket, head);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}
