/**
 * Raw streamable HTTP requests, for the cases a well-behaved SDK client never produces.
 */
import { request } from 'node:http';

export const mcpHeaders = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

export interface PostResult {
  status: number;
  headers: Headers;
  /** JSON-RPC messages from a JSON body or from the data lines of an SSE body. */
  messages: Array<Record<string, any>>;
  text: string;
}

export async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<PostResult> {
  const response = await fetch(url, { method: 'POST', headers: { ...mcpHeaders, ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await response.text();
  const type = response.headers.get('content-type') ?? '';
  const messages = type.includes('text/event-stream')
    ? text.split('\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6)))
    : type.includes('json') && text
      ? [JSON.parse(text)]
      : [];
  return { status: response.status, headers: response.headers, messages, text };
}

export const initialize = (id: number | string = 1) => ({
  jsonrpc: '2.0',
  id,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw-http', version: '1' } },
});

/** initialize + initialized; returns the session id. */
export async function openSession(mcpUrl: string): Promise<string> {
  const init = await post(mcpUrl, initialize());
  if (init.status !== 200) throw new Error(`initialize failed: ${init.status} ${init.text}`);
  const session = init.headers.get('mcp-session-id')!;
  await post(mcpUrl, { jsonrpc: '2.0', method: 'notifications/initialized' }, { 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' });
  return session;
}

export function sessionHeaders(session: string): Record<string, string> {
  return { 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' };
}

/** A request with headers fetch will not let us set (Host), via node:http. */
export function rawRequest(url: string, options: { method?: string; headers?: Record<string, string>; body?: string }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers: options.headers }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}
