/**
 * What a new user meets when the URL, the port, the scheme or the credentials are wrong: connect,
 * login and serve/run against real loopback servers (a plain-HTTP server reached with https://,
 * an HTML 404, a 502, a self-signed certificate, a closed port, an API-key server that 401s without
 * OAuth metadata, a server that needs no login). One error line and one hint line on stderr, the
 * same words in the client's JSON-RPC error, no HTML and no secret anywhere, and the "connected"
 * line once it works.
 */
import { mkdtemp, readFile, writeFile, chmod } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain JS fixture
import { startFixtureHttpServer } from '../../fixtures/lib/http-fixture.mjs';
import { repoRoot, startAirlock, type AirlockProcess } from '../helpers/airlock-process.js';
import { initializeRequest, LineClient, type RpcMessage } from '../helpers/line-client.js';
import { closedPort } from '../helpers/loopback.js';

/** Text that appears only in the servers' HTML bodies: it must never reach airlock's output. */
const PAGE_MARKER = 'page-body-marker-7f3a';
const API_KEY = 'k3y-v4lue-never-printed';
const PATH_HINT = 'Check the path of the MCP endpoint: often /mcp (streamable HTTP) or /sse (the legacy HTTP+SSE transport); see --transport.';

const servers: Server[] = [];
let dir: string;
let env: NodeJS.ProcessEnv;
let htmlUrl: string;
let badGatewayUrl: string;
let apiKeyUrl: string;
/** The paths the API-key server was asked for. */
const apiKeyRequests: string[] = [];
let selfSignedUrl: string;
let open: { url: string; close(): Promise<void> };
let notAcceptableUrl: string;

function page(title: string): string {
  return `<!DOCTYPE html>\n<html>\n<head><title>${title}</title></head>\n<body><h1>${title}</h1>\n<p>${PAGE_MARKER}</p></body>\n</html>\n`;
}

async function listen(server: Server): Promise<string> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}


beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airlock-conn-errors-'));
  env = { ...process.env, MCP_AIRLOCK_CONFIG_DIR: dir, API_KEY };
  // A web server with no MCP endpoint: every path is an HTML 404 page.
  htmlUrl = `http://${await listen(createServer((_req, res) => res.writeHead(404, { 'content-type': 'text/html; charset=utf-8' }).end(page('Page &amp; Not Found'))))}`;
  badGatewayUrl = `http://${await listen(createServer((_req, res) => res.writeHead(502, { 'content-type': 'text/html' }).end(page('502 Bad Gateway'))))}`;
  // An API-key server: 401 everywhere (well-known URLs too), naming its header in the challenge.
  apiKeyUrl = `http://${await listen(createServer((req: IncomingMessage, res: ServerResponse) => {
    apiKeyRequests.push(req.url ?? '');
    req.resume();
    // Echoes the key it refused, as some servers do: airlock must not pass it on.
    res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'ApiKey header="X-Api-Key"' }).end(JSON.stringify({ error: `invalid key ${String(req.headers['x-api-key'] ?? req.headers['x-other'] ?? '')}` }));
  }))}`;
  const tls = { cert: await readFile(join(repoRoot, 'fixtures/tls/loopback-cert.pem')), key: await readFile(join(repoRoot, 'fixtures/tls/loopback-key.pem')) };
  selfSignedUrl = `https://${await listen(createHttpsServer(tls, (_req, res) => res.end('{}')))}`;
  open = await startFixtureHttpServer({ port: 0 });
  // Neither MCP nor OAuth, and no credentials asked for: 406 to everything.
  notAcceptableUrl = `http://${await listen(createServer((req, res) => {
    req.resume();
    res.writeHead(406, { 'content-type': 'text/plain' }).end('not acceptable');
  }))}`;
});

afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  await open?.close();
});

/** connect, send initialize, and return the answer. */
async function initializeThrough(url: string, extra: string[] = []): Promise<{ proc: AirlockProcess; client: LineClient; reply: RpcMessage }> {
  const proc = startAirlock(['connect', url, '--storage', 'file', ...extra], { env });
  const client = new LineClient(proc);
  client.send(initializeRequest(0));
  const reply = await client.response(0);
  return { proc, client, reply };
}

/** The "[mcp-airlock] error:" and "[mcp-airlock] hint:" lines of stderr. */
function failureLines(proc: AirlockProcess): string[] {
  return proc.stderr().split('\n').filter((line) => /^\[mcp-airlock\] (error|hint|warn):/.test(line));
}

/** Nothing airlock wrote carries the page body or the key. */
function expectClean(proc: AirlockProcess, client: LineClient): void {
  client.messages(); // every stdout line is JSON-RPC
  for (const text of [proc.stdout(), proc.stderr()]) {
    expect(text).not.toContain(PAGE_MARKER);
    expect(text).not.toContain('<html');
    expect(text).not.toContain('<body');
    expect(text).not.toContain(API_KEY);
    expect(text).not.toContain('SSL routines');
  }
}

/**
 * The client closes stdin; airlock exits 0 when the server answered, else with the exit code of the
 * failure that kept it from answering (the README's table: 4 upstream, 5 credentials), so that a
 * wrapper script can tell.
 */
async function finish(proc: AirlockProcess, client: LineClient, exitCode = 0): Promise<void> {
  client.endInput();
  expect(await proc.exited).toBe(exitCode);
  expectClean(proc, client);
}

describe('connect: one diagnosis per failure, the same on stderr and in the JSON-RPC error', () => {
  it('an HTML 404: the status and the page title, with the path hint, never the page (not in the audit log either)', async () => {
    const auditFile = join(dir, 'html-404-audit.jsonl');
    const { proc, client, reply } = await initializeThrough(`${htmlUrl}/wrong/path`, ['--audit-file', auditFile]);
    const message = `HTTP 404 Not Found from ${htmlUrl}/wrong/path (page title: "Page & Not Found")`;
    expect(reply.error?.message).toBe(`mcp-airlock could not open the MCP conversation: ${message}`);
    expect(reply.error?.data).toEqual({ airlock: 'AIRLOCK_UPSTREAM_HTTP', hint: PATH_HINT });
    expect(failureLines(proc)).toEqual([`[mcp-airlock] error: ${message}`, `[mcp-airlock] hint: ${PATH_HINT}`]);
    await finish(proc, client, 4);
    const audit = await readFile(auditFile, 'utf8');
    expect(audit).toContain('"method":"initialize"');
    expect(audit).not.toContain(PAGE_MARKER);
    expect(audit).not.toContain('<');
  });

  it('https:// to a plain-HTTP server: "answered in plain HTTP", with the http:// URL as the hint', async () => {
    const httpsUrl = htmlUrl.replace('http://', 'https://');
    const { proc, client, reply } = await initializeThrough(`${httpsUrl}/mcp`);
    const message = `${httpsUrl}/mcp answered in plain HTTP, not HTTPS`;
    const hint = `The server does not speak TLS on that port: use ${htmlUrl}/mcp.`;
    expect(reply.error?.message).toBe(`mcp-airlock: the upstream server did not accept the request: ${message}`);
    expect(reply.error?.data).toEqual({ airlock: 'AIRLOCK_UPSTREAM_TLS', hint });
    expect(failureLines(proc)).toEqual([`[mcp-airlock] error: ${message}`, `[mcp-airlock] hint: ${hint}`]);
    await finish(proc, client, 4);
  });

  it('a self-signed certificate: one line naming the host and the problem, no OpenSSL text', async () => {
    const host = new URL(selfSignedUrl).host;
    const { proc, client, reply } = await initializeThrough(`${selfSignedUrl}/mcp`);
    const message = `cannot trust the TLS certificate of ${host}: it is self-signed (DEPTH_ZERO_SELF_SIGNED_CERT)`;
    const hint = "If the server uses a private certificate authority, trust it with --ca-file PATH (a PEM file of the CA); the OS trust store is already used unless --no-system-ca. Otherwise fix the server's certificate.";
    expect(reply.error?.data).toEqual({ airlock: 'AIRLOCK_UPSTREAM_TLS', hint });
    expect(failureLines(proc)).toEqual([`[mcp-airlock] error: ${message}`, `[mcp-airlock] hint: ${hint}`]);
    await finish(proc, client, 4);
  });

  it('a closed port: connection refused, with the hint to check that the server runs', async () => {
    const port = await closedPort();
    const { proc, client, reply } = await initializeThrough(`http://127.0.0.1:${port}/mcp`);
    const message = `cannot reach http://127.0.0.1:${port}/mcp: connection refused (nothing listens on 127.0.0.1:${port})`;
    const hint = 'Check that the server is running and the host and port in the URL; behind a proxy, check HTTPS_PROXY/NO_PROXY.';
    expect(reply.error?.message).toBe(`mcp-airlock: the upstream server did not accept the request: ${message}`);
    expect(reply.error?.data).toEqual({ airlock: 'AIRLOCK_UPSTREAM_UNREACHABLE', hint });
    expect(failureLines(proc)).toEqual([`[mcp-airlock] error: ${message}`, `[mcp-airlock] hint: ${hint}`]);
    await finish(proc, client, 4);
  });

  it('a port where something else than HTTP answers (an SSH banner): said so, the same on every Node version', async () => {
    const banner = createNetServer((socket) => {
      socket.on('error', () => undefined);
      socket.once('data', () => socket.end('SSH-2.0-OpenSSH_9.2\r\n'));
    });
    const host = await listen(banner as unknown as Server);
    const { proc, client, reply } = await initializeThrough(`http://${host}/mcp`);
    const message = `cannot talk to http://${host}/mcp: what answers on ${host} does not speak HTTP/1.1 (HPE_INVALID_CONSTANT)`;
    const hint = 'Check the port in the URL: another kind of service (SSH, a database, a mail server) may listen there.';
    expect(reply.error?.data).toEqual({ airlock: 'AIRLOCK_UPSTREAM_HTTP', hint });
    expect(failureLines(proc)).toEqual([`[mcp-airlock] error: ${message}`, `[mcp-airlock] hint: ${hint}`]);
    await finish(proc, client, 4);
    const login = startAirlock(['login', `http://${host}/mcp`, '--plain'], { env, stdin: 'ignore' });
    expect(await login.exited).toBe(4);
    expect(login.stderr()).toContain(message);
    expect(login.stderr()).not.toContain('fetch failed');
  });

  it('a 502 HTML page: the status and the title, with the server-failure hint', async () => {
    const { proc, client, reply } = await initializeThrough(`${badGatewayUrl}/mcp`, ['--transport', 'http']);
    const message = `HTTP 502 Bad Gateway from ${badGatewayUrl}/mcp (page title: "502 Bad Gateway")`;
    expect(reply.error?.message).toContain(message);
    expect(failureLines(proc)).toEqual([`[mcp-airlock] error: ${message}`, "[mcp-airlock] hint: The server, or a proxy in front of it, failed: try again later, or check the server's logs."]);
    await finish(proc, client, 4);
  });

  it('an API-key server that 401s without OAuth metadata: said once, with the header its challenge names', async () => {
    // A wrong key in a header that is not Authorization: the ApiKey challenge says at once that no
    // OAuth login exists, so airlock looks for no metadata (the server's requests show it).
    const before = apiKeyRequests.length;
    const { proc, client, reply } = await initializeThrough(`${apiKeyUrl}/mcp`, ['--transport', 'http', '--header', 'X-Other: ${API_KEY}']);
    const message = `HTTP 401 Unauthorized from ${apiKeyUrl}/mcp, and it offers no OAuth login (it asks for "ApiKey" credentials, not an OAuth token)`;
    expect(apiKeyRequests.slice(before).filter((path) => path.includes('.well-known'))).toEqual([]);
    const hint = 'It takes an API key or a static token: pass it with --header "X-Api-Key: ${API_KEY}" and set the variable in the environment (then no login is tried).';
    expect(reply.error?.message).toBe(`mcp-airlock: the upstream server did not accept the request: ${message}`);
    expect(reply.error?.data).toEqual({ airlock: 'AIRLOCK_UPSTREAM_CREDENTIALS', hint });
    expect(failureLines(proc)).toEqual([`[mcp-airlock] error: ${message}`, `[mcp-airlock] hint: ${hint}`]);
    expect(proc.stderr().split(message)).toHaveLength(2);
    await finish(proc, client, 5);
  });
});

describe('connect --transport sse at a streamable HTTP endpoint', () => {
  it('keeps the diagnosis and hints to drop --transport (or use --transport http)', async () => {
    // The SDK v1's streamable HTTP transport only: the legacy GET gets 400 "No valid session ID provided".
    const httpOnly = await startFixtureHttpServer({ port: 0, only: 'http' });
    try {
      const { proc, client, reply } = await initializeThrough(`${httpOnly.url}/mcp`, ['--transport', 'sse']);
      const message = `HTTP 400 Bad Request from ${httpOnly.url}/mcp: "Bad Request: No valid session ID provided"`;
      const hint = 'This looks like a streamable HTTP endpoint, which --transport sse cannot use: drop --transport (auto finds the transport), or use --transport http.';
      expect(reply.error?.message).toBe(`mcp-airlock: the upstream server did not accept the request: ${message}`);
      expect(reply.error?.data).toEqual({ airlock: 'AIRLOCK_UPSTREAM_HTTP', hint });
      expect(failureLines(proc)).toEqual([`[mcp-airlock] error: ${message}`, `[mcp-airlock] hint: ${hint}`]);
      await finish(proc, client, 4);
    } finally {
      await httpOnly.close();
    }
  });
});

describe('connect --no-auth: a refused key', () => {
  it('a 401 whose body echoes the refused key: status and hint only, the key nowhere', async () => {
    const { proc, client, reply } = await initializeThrough(`${apiKeyUrl}/mcp`, ['--transport', 'http', '--no-auth', '--header', 'X-Api-Key: ${API_KEY}']);
    const message = `HTTP 401 Unauthorized from ${apiKeyUrl}/mcp`;
    const hint = `The server wants credentials: log in with mcp-airlock login ${apiKeyUrl}/mcp if it offers OAuth; if it takes an API key or a static token, pass it with --header "X-Api-Key: \${API_KEY}".`;
    expect(reply.error?.message).toBe(`mcp-airlock: the upstream server did not accept the request: ${message}`);
    expect(reply.error?.data).toEqual({ airlock: 'AIRLOCK_UPSTREAM_CREDENTIALS', hint });
    expect(failureLines(proc)).toEqual([`[mcp-airlock] error: ${message}`, `[mcp-airlock] hint: ${hint}`]);
    await finish(proc, client, 5);
  });
});

describe('connect: the "connected" line', () => {
  it('names the transport, the negotiated version and "auth: none" once the first exchange worked, on stderr only', async () => {
    const { proc, client, reply } = await initializeThrough(`${open.url}/mcp`);
    expect(reply.result).toBeDefined();
    await proc.waitForStderr(/connected to /);
    expect(proc.stderr().split('\n').filter((l) => l.includes('connected to'))).toEqual([`[mcp-airlock] info: connected to ${open.url}/mcp (streamable HTTP, MCP 2025-11-25, auth: none)`]);
    expect(proc.stdout()).not.toContain('connected to');
    await finish(proc, client);
  });

  it('names header names, never their values, and the legacy transport when auto-detection fell back', async () => {
    const { proc, client } = await initializeThrough(`${open.url}/sse`, ['--header', 'X-Api-Key: ${API_KEY}']);
    await proc.waitForStderr(/connected to /);
    expect(proc.stderr()).toContain(`[mcp-airlock] info: connected to ${open.url}/sse (HTTP+SSE, MCP 2025-11-25, auth: --header x-api-key)`);
    await finish(proc, client);
  });

  it('is hidden by --log-level warn and by --silent', async () => {
    for (const quiet of [['--log-level', 'warn'], ['--silent']]) {
      const { proc, client, reply } = await initializeThrough(`${open.url}/mcp`, quiet);
      expect(reply.result).toBeDefined();
      client.send({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} });
      await client.response(1);
      expect(proc.stderr()).not.toContain('connected to');
      await finish(proc, client);
    }
  });
});

describe('login: the same diagnosis before any discovery', () => {
  function login(url: string): AirlockProcess {
    return startAirlock(['login', url, '--storage', 'file', '--plain', '--no-browser'], { env, stdin: 'ignore' });
  }

  it('a server that answers without credentials needs no login: exit 0, one line on stdout', async () => {
    for (const path of ['/mcp', '/sse']) {
      const proc = login(`${open.url}${path}`);
      expect(await proc.exited).toBe(0);
      expect(proc.stdout()).toBe(`${open.url}${path} needs no login: it answered without credentials\n`);
      // Said once: the result line on stdout, not again on stderr (regression: printed twice on a terminal).
      expect(proc.stderr()).toBe('');
    }
  });

  it.each([
    ['a closed port', async () => `http://127.0.0.1:${await closedPort()}/mcp`, 4, /^FAIL {2}Login: cannot reach http:\/\/127\.0\.0\.1:\d+\/mcp: connection refused \(nothing listens on 127\.0\.0\.1:\d+\)$/m],
    ['an HTML 404', async () => `${htmlUrl}/mcp`, 4, /^FAIL {2}Login: HTTP 404 Not Found from http:\/\/127\.0\.0\.1:\d+\/mcp \(page title: "Page & Not Found"\)$/m],
    ['https:// to plain HTTP', async () => `${htmlUrl.replace('http:', 'https:')}/mcp`, 4, /^FAIL {2}Login: https:\/\/127\.0\.0\.1:\d+\/mcp answered in plain HTTP, not HTTPS\n {6}hint: The server does not speak TLS on that port: use http:\/\/127\.0\.0\.1:\d+\/mcp\.$/m],
  ])('%s: connect\'s message and hint, exit 4, no word about metadata', async (_name, target, exitCode, pattern) => {
    const proc = login(await target());
    expect(await proc.exited).toBe(exitCode);
    expect(proc.stderr()).toMatch(pattern);
    expect(proc.stderr()).not.toContain('must publish');
    expect(proc.stderr()).not.toContain(PAGE_MARKER);
    expect(proc.stdout()).toBe('');
  });

  it('a server that asks for no credentials and has no OAuth metadata: "nothing to log in to", not "must publish its metadata"', async () => {
    const proc = login(`${notAcceptableUrl}/mcp`);
    expect(await proc.exited).toBe(5);
    expect(proc.stderr()).toContain(`HTTP 406 Not Acceptable from ${notAcceptableUrl}/mcp without a credentials challenge, and it publishes no OAuth metadata: there is nothing to log in to`);
    expect(proc.stderr()).toContain(`hint: Check the URL (mcp-airlock doctor ${notAcceptableUrl}/mcp shows each step); a server that needs no credentials needs no login.`);
    expect(proc.stderr()).not.toContain('must publish');
  });

  it('an API-key server (401 without OAuth metadata): the API-key hint instead of "must publish its metadata", exit 5', async () => {
    const proc = login(`${apiKeyUrl}/mcp`);
    expect(await proc.exited).toBe(5);
    expect(proc.stderr()).toContain(`HTTP 401 Unauthorized from ${apiKeyUrl}/mcp, and it offers no OAuth login (it asks for "ApiKey" credentials, not an OAuth token)`);
    expect(proc.stderr()).toContain('hint: It takes an API key or a static token: pass it with --header "X-Api-Key: ${API_KEY}"');
    expect(proc.stderr()).not.toContain('must publish');
  });
});

describe('doctor: the same words for the same failures', () => {
  it('https:// to plain HTTP and an HTML 404: the diagnosis and hint connect gives, no OpenSSL text, no page', async () => {
    const httpsUrl = `${htmlUrl.replace('http:', 'https:')}/mcp`;
    const tls = startAirlock(['doctor', httpsUrl, '--plain'], { env, stdin: 'ignore' });
    await tls.exited;
    expect(tls.stdout() + tls.stderr()).toContain(`FAIL unauth.reachable: ${httpsUrl} answered in plain HTTP, not HTTPS`);
    expect(tls.stdout() + tls.stderr()).toContain(`hint: The server does not speak TLS on that port: use ${htmlUrl}/mcp.`);
    expect(tls.stdout() + tls.stderr()).not.toContain('SSL routines');
    const html = startAirlock(['doctor', `${htmlUrl}/mcp`, '--plain'], { env, stdin: 'ignore' });
    await html.exited;
    expect(html.stdout() + html.stderr()).toContain(`FAIL unauth.status: HTTP 404 Not Found from ${htmlUrl}/mcp (page title: "Page & Not Found")`);
    expect(html.stdout() + html.stderr()).toContain(`hint: ${PATH_HINT}`);
    expect(html.stdout() + html.stderr()).not.toContain(PAGE_MARKER);
  });
});

describe('serve and run: the command is checked before listening or reading stdin', () => {
  it.each([
    ['not on PATH', 'no-such-command-4e1b', 'the server command "no-such-command-4e1b" was not found on PATH', 'Install it, or give its full path (PATH is that of the environment mcp-airlock starts the server with).'],
    ['a missing relative path', './no/such/server.js', 'the server command "./no/such/server.js" does not exist', 'Check the path; a relative path is taken from the directory mcp-airlock runs in.'],
  ])('%s: one error line naming it, one hint, exit 3, nothing listening', async (_name, command, message, hint) => {
    for (const mode of [['serve', '--port', '0'], ['run']]) {
      const proc = startAirlock([...mode, '--', command, '--flag'], { env, stdin: 'ignore' });
      expect(await proc.exited).toBe(3);
      const lines = proc.stderr().trimEnd().split('\n');
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(new RegExp(`^mcp-airlock: error: ${message.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
      expect(lines[1]).toBe(`mcp-airlock: hint: ${hint}`);
      expect(proc.stderr()).not.toContain('listening');
      expect(proc.stdout()).toBe('');
    }
  });

  it('a file without the executable bit, by absolute path: says so and how to run it', async () => {
    const script = join(dir, 'server.js');
    await writeFile(script, 'console.log(1)\n');
    await chmod(script, 0o644);
    const proc = startAirlock(['serve', '--port', '0', '--', script], { env, stdin: 'ignore' });
    expect(await proc.exited).toBe(3);
    expect(proc.stderr()).toBe(`mcp-airlock: error: the server command ${JSON.stringify(script)} is not executable\nmcp-airlock: hint: Make it executable (chmod +x ${script}), or run it through its interpreter, e.g. -- node ${script}.\n`);
  });
});
