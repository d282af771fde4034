import { describe, expect, it } from 'vitest';
import { AirlockError, HttpStatusError } from '../../../src/errors.js';
import {
  credentialHeaderExample,
  credentialsWithoutOAuth,
  diagnoseNetwork,
  diagnoseStatus,
  diagnoseUpstream,
  httpAnswerError,
  pageTitle,
  PATH_HINT,
  summariseBody,
} from '../../../src/transports/upstream-diagnosis.js';

const url = new URL('https://user:pw@mcp.example.com:8443/v1/mcp?key=abc');
const WHERE = 'https://mcp.example.com:8443/v1/mcp';

function errno(code: string, message = `${code} happened`, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(message), { code, ...extra });
}

describe('summariseBody and pageTitle', () => {
  it('keeps only the title of an HTML page, entities decoded and whitespace collapsed', () => {
    const html = '<!DOCTYPE html>\n<html><head><title>\n  Not &amp; Found\n</title></head><body>secret stack trace</body></html>';
    expect(pageTitle(html)).toBe('Not & Found');
    expect(summariseBody(html, 'text/html; charset=utf-8')).toEqual({ text: 'page title: "Not & Found"', html: true });
  });

  it('recognises HTML without a content type, and says "an HTML page" without a title', () => {
    expect(summariseBody('<html><body>x</body></html>')).toEqual({ text: 'an HTML page', html: true });
  });

  it('quotes a title so that it cannot forge a log line', () => {
    expect(summariseBody('<title>a\n[mcp-airlock] error: forged</title>', 'text/html').text).toBe('page title: "a [mcp-airlock] error: forged"');
    expect(summariseBody('<title>"quoted"</title>', 'text/html').text).toBe('page title: "\\"quoted\\""');
  });

  it('gives a JSON error body as its words, and leaves other bodies as they are (the diagnosis quotes them)', () => {
    expect(summariseBody('{"error":"x"}', 'application/json')).toEqual({ text: 'x', html: false });
    expect(summariseBody('{"jsonrpc":"2.0","error":{"code":-32000,"message":"Bad Request: No valid session ID provided"},"id":null}')).toEqual({ text: 'Bad Request: No valid session ID provided', html: false });
    expect(summariseBody('{"error":"invalid_request","error_description":"the  resource\\nis unknown"}')).toEqual({ text: 'the resource is unknown', html: false });
    expect(summariseBody('{"status":"down"}')).toEqual({ text: '{"status":"down"}', html: false });
    expect(summariseBody('{not json')).toEqual({ text: '{not json', html: false });
    expect(summariseBody('plain words')).toEqual({ text: 'plain words', html: false });
  });

  it('httpAnswerError keeps the status, the challenge and whether the body was a page', () => {
    const error = httpAnswerError(404, '<html><title>Nope</title><p>body</p></html>', { contentType: 'text/html', wwwAuthenticate: 'Basic' });
    expect(error).toBeInstanceOf(HttpStatusError);
    expect(error.code).toBe(404);
    expect(error.message).toBe('page title: "Nope"');
    expect(error.details).toEqual({ html: true, wwwAuthenticate: 'Basic' });
    expect(httpAnswerError(500, '', {}).message).toBe('HTTP 500');
  });
});

describe('credentialsWithoutOAuth', () => {
  it('names the schemes a challenge asks for as the server wrote them, else the missing metadata', () => {
    const url = new URL('https://mcp.example.com/mcp');
    expect(credentialsWithoutOAuth(url, 401, 'ApiKey header="X-Api-Key", Basic realm="x"').message).toBe(
      'HTTP 401 Unauthorized from https://mcp.example.com/mcp, and it offers no OAuth login (it asks for "ApiKey" or "Basic" credentials, not an OAuth token)',
    );
    expect(credentialsWithoutOAuth(url, 401, 'Bearer realm="x"').message).toBe('HTTP 401 Unauthorized from https://mcp.example.com/mcp, and it offers no OAuth login (no protected resource metadata)');
    expect(credentialsWithoutOAuth(url, 401, undefined).message).toBe('HTTP 401 Unauthorized from https://mcp.example.com/mcp, and it offers no OAuth login (no protected resource metadata)');
  });
});

describe('credentialHeaderExample', () => {
  it.each([
    [undefined, 'Authorization: Bearer ${TOKEN}'],
    ['Bearer realm="api"', 'Authorization: Bearer ${TOKEN}'],
    ['Basic realm="x"', 'Authorization: Basic ${CREDENTIALS}'],
    ['ApiKey header="X-Api-Key"', 'X-Api-Key: ${API_KEY}'],
    ['ApiKey', 'Authorization: ApiKey ${TOKEN}'],
    ['Token realm="x"', 'Authorization: Token ${TOKEN}'],
    ['ApiKey header="bad header\\r\\nX: y"', 'Authorization: ApiKey ${TOKEN}'],
  ])('%s -> %s', (challenge, example) => {
    expect(credentialHeaderExample(challenge)).toBe(example);
  });
});

describe('diagnoseStatus', () => {
  it('an HTML 404: status line, URL without credentials or query, page title, path hint', () => {
    const error = diagnoseStatus(url, 404, 'page title: "Not Found"', { html: true });
    expect(error.message).toBe(`HTTP 404 Not Found from ${WHERE} (page title: "Not Found")`);
    expect(error.code).toBe('AIRLOCK_UPSTREAM_HTTP');
    expect(error.hint).toBe(PATH_HINT);
  });

  it('an HTML page with 200 or 400 is a wrong path too', () => {
    expect(diagnoseStatus(url, 400, 'an HTML page', { html: true }).hint).toBe(PATH_HINT);
  });

  it('a 401 whose challenge names resource metadata: the login hint', () => {
    const error = diagnoseStatus(url, 401, '', { wwwAuthenticate: 'Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource"' });
    expect(error.message).toBe(`HTTP 401 Unauthorized from ${WHERE}`);
    expect(error.hint).toBe(`The server wants an OAuth login: run mcp-airlock login ${WHERE} (and connect without --no-auth), or pass a token with --header "Authorization: Bearer \${TOKEN}".`);
  });

  it('a 403 without a challenge: credentials refused or a firewall', () => {
    const error = diagnoseStatus(url, 403, 'denied');
    expect(error.code).toBe('AIRLOCK_UPSTREAM_CREDENTIALS');
    expect(error.exitCode).toBe(5);
    expect(error.hint).toContain('firewall');
  });

  it('a redirect to another origin (not followed): names only the target origin, never its query', () => {
    const error = diagnoseStatus(url, 302, 'page title: "Redirecting"', { html: true, location: 'https://sso.example.com/login?return=abc&token=t' });
    expect(error.message).toBe(`HTTP 302 Found from ${WHERE}, redirecting to "https://sso.example.com"`);
    expect(error.hint).toMatch(/^airlock follows redirects only within the same origin/);
    expect(error.message).not.toContain('token=t');
  });

  it('a 503: the server-failure hint', () => {
    expect(diagnoseStatus(url, 503, 'down').hint).toBe("The server, or a proxy in front of it, failed: try again later, or check the server's logs.");
  });
});

describe('diagnoseNetwork', () => {
  it('a plain-HTTP server behind an https URL (node:http: EPROTO with OpenSSL text): the http URL, --allow-http off loopback', () => {
    const error = diagnoseNetwork(url, errno('EPROTO', 'write EPROTO 80:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../ssl3_record.c:350:\n'))!;
    expect(error.code).toBe('AIRLOCK_UPSTREAM_TLS');
    expect(error.message).toBe(`${WHERE} answered in plain HTTP, not HTTPS`);
    expect(error.hint).toBe('The server does not speak TLS on that port: use http://mcp.example.com:8443/v1/mcp with --allow-http (unencrypted: only on a network you trust).');
    expect(error.message + error.hint).not.toContain('SSL routines');
  });

  it('the same through fetch (a cause with ERR_SSL_WRONG_VERSION_NUMBER), on loopback: no --allow-http', () => {
    const error = diagnoseNetwork(new URL('https://127.0.0.1:3000/mcp'), new TypeError('fetch failed', { cause: errno('ERR_SSL_WRONG_VERSION_NUMBER', 'x', { reason: 'wrong version number' }) }))!;
    expect(error.hint).toBe('The server does not speak TLS on that port: use http://127.0.0.1:3000/mcp.');
  });

  /** The flag airlock has for a private CA, and that the OS store is read already (regression: the hint named NODE_EXTRA_CA_CERTS). */
  const PRIVATE_CA_HINT = "If the server uses a private certificate authority, trust it with --ca-file PATH (a PEM file of the CA); the OS trust store is already used unless --no-system-ca. Otherwise fix the server's certificate.";
  it.each([
    ['DEPTH_ZERO_SELF_SIGNED_CERT', 'it is self-signed', PRIVATE_CA_HINT],
    ['CERT_HAS_EXPIRED', 'it has expired', 'renewed'],
    ['ERR_TLS_CERT_ALTNAME_INVALID', 'it is for another host name', 'host name the certificate was issued for'],
    ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'its issuer is unknown here', PRIVATE_CA_HINT],
  ])('%s: one line, no OpenSSL dump', (code, what, hint) => {
    const error = diagnoseNetwork(url, errno(code))!;
    expect(error.code).toBe('AIRLOCK_UPSTREAM_TLS');
    expect(error.message).toBe(`cannot trust the TLS certificate of mcp.example.com:8443: ${what} (${code})`);
    if (hint === PRIVATE_CA_HINT) expect(error.hint).toBe(hint);
    else expect(error.hint).toContain(hint);
    expect(error.hint).not.toContain('NODE_EXTRA_CA_CERTS');
  });

  it('DNS failure, timeout, reset', () => {
    expect(diagnoseNetwork(url, errno('EAI_AGAIN'))!.message).toBe(`cannot reach ${WHERE}: the host name "mcp.example.com" does not resolve (EAI_AGAIN)`);
    expect(diagnoseNetwork(url, Object.assign(new Error('The operation was aborted due to timeout'), { name: 'TimeoutError' }))!.message).toBe(`cannot reach ${WHERE}: no answer in time (timed out)`);
    expect(diagnoseNetwork(url, errno('ECONNRESET', 'socket hang up'))!.message).toBe(`cannot reach ${WHERE}: ECONNRESET (socket hang up)`);
  });

  it('a request that AbortSignal.timeout() ended is a timeout, not an abort', async () => {
    const { request } = await import('node:http');
    const { createServer } = await import('node:net');
    // A server that accepts the connection and never answers.
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    try {
      const failure = await new Promise<unknown>((resolve) => {
        request(`http://127.0.0.1:${port}/mcp`, { signal: AbortSignal.timeout(50) }).on('error', resolve).end();
      });
      expect(diagnoseNetwork(new URL(`http://127.0.0.1:${port}/mcp`), failure)!.message).toBe(`cannot reach http://127.0.0.1:${port}/mcp: no answer in time (timed out)`);
    } finally {
      silent.close();
    }
  });

  it('another TLS failure: its reason, not the OpenSSL queue', () => {
    const error = diagnoseNetwork(url, errno('EPROTO', 'write EPROTO 80A0C2A9AB7F0000:error:0A000410:SSL routines:ssl3_read_bytes:sslv3 alert handshake failure:../ssl/record/rec_layer_s3.c:1586:SSL alert number 40\n'))!;
    expect(error.message).toBe(`cannot reach ${WHERE}: write EPROTO sslv3 alert handshake failure`);
  });

  it('a port fetch refuses to use (the Fetch standard\'s bad ports): says so, not "fetch failed"', async () => {
    const failure = await fetch('http://127.0.0.1:6000/mcp').catch((error: unknown) => error);
    const error = diagnoseNetwork(new URL('http://127.0.0.1:6000/mcp'), failure)!;
    expect(error.message).toBe('cannot reach http://127.0.0.1:6000/mcp: port 6000 is one that fetch clients never connect to (a "bad port" of the Fetch standard)');
    expect(error.hint).toBe('Run the server on another port: browsers and Node refuse this one whatever listens there.');
  });

  it('is undefined for what is not a network failure', () => {
    expect(diagnoseNetwork(url, new Error('odd'))).toBeUndefined();
    expect(diagnoseNetwork(url, 'text')).toBeUndefined();
  });
});

describe('diagnoseUpstream', () => {
  it('a web page answered with 200 where MCP should be: the title and the path hint', () => {
    const error = diagnoseUpstream(url, new HttpStatusError(-1, 'page title: "Welcome"', { html: true }));
    expect(error.message).toBe(`${WHERE} answered with a web page, not MCP (page title: "Welcome")`);
    expect(error.hint).toBe(PATH_HINT);
  });

  it('keeps the cause and returns an AirlockError as it is', () => {
    const cause = new HttpStatusError(404, 'x');
    expect(diagnoseUpstream(url, cause).cause).toBe(cause);
    const own = new AirlockError('AIRLOCK_UPSTREAM_CLOSED', 'closed');
    expect(diagnoseUpstream(url, own)).toBe(own);
  });
});
