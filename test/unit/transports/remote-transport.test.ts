import { SseError } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { describe, expect, it } from 'vitest';
import { AirlockError, HttpStatusError } from '../../../src/errors.js';
import { diagnoseUpstream } from '../../../src/transports/upstream-diagnosis.js';

const QUERY_SECRET = 'q-s3cr3t-key';
const url = new URL(`https://mcp.example.com/v1/mcp?key=${QUERY_SECRET}#frag`);
const WHERE = 'https://mcp.example.com/v1/mcp';

const AUTH_HINT = 'The server wants credentials: log in with mcp-airlock login https://mcp.example.com/v1/mcp if it offers OAuth; if it takes an API key or a static token, pass it with --header "Authorization: Bearer ${TOKEN}".';
const PATH_HINT = 'Check the path of the MCP endpoint: often /mcp (streamable HTTP) or /sse (the legacy HTTP+SSE transport); see --transport.';
const REJECTED_HINT = 'The server refused the request; rerun with --log-level debug for details.';
const SERVER_FAILED_HINT = "The server, or a proxy in front of it, failed: try again later, or check the server's logs.";
const UNREACHABLE_HINT = 'Check that the server is running and the host and port in the URL; behind a proxy, check HTTPS_PROXY/NO_PROXY.';

function expectNoQuery(error: AirlockError): void {
  for (const text of [error.message, error.hint ?? '']) {
    expect(text).not.toContain(QUERY_SECRET);
    expect(text).not.toContain('?key=');
    expect(text).not.toContain('#frag');
  }
}

function econnrefused(): TypeError {
  const cause = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED', errno: -111, syscall: 'connect' });
  return new TypeError('fetch failed', { cause });
}

describe('diagnoseUpstream (what RemoteTransport throws)', () => {
  it('returns an AirlockError as it is', () => {
    const error = new AirlockError('AIRLOCK_UPSTREAM_CLOSED', 'closed');
    expect(diagnoseUpstream(url, error)).toBe(error);
  });

  it('turns an HTTP 404 into AIRLOCK_UPSTREAM_HTTP naming the status, the URL without its query, and the path hint', () => {
    const cause = new StreamableHTTPError(404, 'Error POSTing to endpoint: Not Found');
    const error = diagnoseUpstream(url, cause);
    expect(error.code).toBe('AIRLOCK_UPSTREAM_HTTP');
    expect(error.exitCode).toBe(4);
    expect(error.message).toBe(`HTTP 404 Not Found from ${WHERE}: "Error POSTing to endpoint: Not Found"`);
    expect(error.hint).toBe(PATH_HINT);
    expect(error.cause).toBe(cause);
    expectNoQuery(error);
  });

  it('accepts any object with a numeric code, and strips the SSE prefix', () => {
    const plain = diagnoseUpstream(url, { code: 405 });
    expect(plain.code).toBe('AIRLOCK_UPSTREAM_HTTP');
    expect(plain.message).toBe(`HTTP 405 Method Not Allowed from ${WHERE}`);
    expect(plain.hint).toBe(PATH_HINT);
    const error = diagnoseUpstream(url, new SseError(405, 'Non-200 status code (405)', undefined as never));
    expect(error.message).toBe(`HTTP 405 Method Not Allowed from ${WHERE}: "Non-200 status code (405)"`);
    expect(error.hint).toBe(PATH_HINT);
  });

  it.each([[401, 'Unauthorized'], [403, 'Forbidden']])('points to login and --header for HTTP %i with a challenge', (status, reason) => {
    const cause = new HttpStatusError(status, 'denied', { wwwAuthenticate: 'Bearer realm="x"' });
    const error = diagnoseUpstream(url, cause);
    expect(error.code).toBe('AIRLOCK_UPSTREAM_CREDENTIALS');
    expect(error.exitCode).toBe(5);
    // Without the body: a server may echo the credentials it refused.
    expect(error.message).toBe(`HTTP ${status} ${reason} from ${WHERE}`);
    expect(error.hint).toBe(AUTH_HINT);
    expectNoQuery(error);
  });

  it('gives the server-failure hint for a 5xx and the generic one for other statuses', () => {
    const error = diagnoseUpstream(url, new StreamableHTTPError(500, 'Error POSTing to endpoint: boom'));
    expect(error.message).toBe(`HTTP 500 Internal Server Error from ${WHERE}: "Error POSTing to endpoint: boom"`);
    expect(error.hint).toBe(SERVER_FAILED_HINT);
    expect(diagnoseUpstream(url, new HttpStatusError(422, 'no')).hint).toBe(REJECTED_HINT);
  });

  it('quotes the server text so that it cannot forge a log line', () => {
    const error = diagnoseUpstream(url, new StreamableHTTPError(500, 'bad\n[mcp-airlock] error: forged'));
    expect(error.message).toBe(`HTTP 500 Internal Server Error from ${WHERE}: "bad\\n[mcp-airlock] error: forged"`);
    expect(error.message).not.toContain('\n');
  });

  it('turns fetch failed with ECONNREFUSED into AIRLOCK_UPSTREAM_UNREACHABLE with the proxy hint', () => {
    const cause = econnrefused();
    const error = diagnoseUpstream(url, cause);
    expect(error.code).toBe('AIRLOCK_UPSTREAM_UNREACHABLE');
    expect(error.exitCode).toBe(4);
    expect(error.message).toBe(`cannot reach ${WHERE}: connection refused (nothing listens on mcp.example.com)`);
    expect(error.hint).toBe(UNREACHABLE_HINT);
    expect(error.hint).toContain('HTTPS_PROXY');
    expect(error.cause).toBe(cause);
    expectNoQuery(error);
  });

  it('treats a string errno code as a network failure, not an HTTP status', () => {
    const error = diagnoseUpstream(url, Object.assign(new Error('getaddrinfo ENOTFOUND mcp.example.com'), { code: 'ENOTFOUND' }));
    expect(error.code).toBe('AIRLOCK_UPSTREAM_UNREACHABLE');
    expect(error.message).toBe(`cannot reach ${WHERE}: the host name "mcp.example.com" does not resolve (ENOTFOUND)`);
  });

  it('reports other failures as AIRLOCK_UPSTREAM_HTTP without a hint', () => {
    const cause = new StreamableHTTPError(-1, 'Unexpected content type: text/plain');
    const error = diagnoseUpstream(url, cause);
    expect(error.code).toBe('AIRLOCK_UPSTREAM_HTTP');
    expect(error.message).toBe(`request to ${WHERE} failed: Streamable HTTP error: Unexpected content type: text/plain`);
    expect(error.hint).toBeUndefined();
    expect(error.cause).toBe(cause);
    expectNoQuery(error);
  });

  it('never shows credentials from the URL', () => {
    const withCredentials = new URL('https://alice:pa55word@mcp.example.com/mcp?token=abc');
    for (const cause of [new StreamableHTTPError(404, 'Not Found'), econnrefused(), new Error('odd')]) {
      const error = diagnoseUpstream(withCredentials, cause);
      expect(error.message).toContain('https://mcp.example.com/mcp');
      expect(error.message).not.toContain('pa55word');
      expect(error.message).not.toContain('alice');
      expect(error.message).not.toContain('token=abc');
    }
  });

  it('keeps the port in the URL it names', () => {
    expect(diagnoseUpstream(new URL('http://127.0.0.1:8931/sse?x=1'), econnrefused()).message).toBe('cannot reach http://127.0.0.1:8931/sse: connection refused (nothing listens on 127.0.0.1:8931)');
  });
});
