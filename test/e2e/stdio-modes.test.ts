/**
 * `run` and `connect` under bad input and failure: malformed lines, a server that writes junk or
 * dies, a client that goes away, signals, unreachable upstreams. Nothing but JSON-RPC on stdout.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain JS fixture
import { startFixtureHttpServer } from '../../fixtures/lib/http-fixture.mjs';
import { isAlive, readPid, repoRoot, startAirlock, stdioFixture, waitFor } from '../helpers/airlock-process.js';
import { initializeRequest, LineClient } from '../helpers/line-client.js';
import { closedPort } from '../helpers/loopback.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airlock-stdio-'));
});


function runFixture(extra: string[] = []) {
  const proc = startAirlock(['run', '--', process.execPath, stdioFixture, ...extra]);
  return { proc, client: new LineClient(proc) };
}

describe('run (stdio -> stdio)', () => {
  it('answers a non-JSON line with -32700 and invalid JSON-RPC with -32600, and the session goes on', async () => {
    const { proc, client } = runFixture();
    await client.handshake();
    client.writeLine('this is not json');
    client.writeLine('{"jsonrpc":"1.0","id":7,"method":"tools/list"}');
    client.writeLine('[{"jsonrpc":"2.0","id":8,"method":"tools/list"}]');
    const parseError = await client.waitFor((m) => m.error?.code === -32700, 'the parse error');
    expect(parseError.id).toBeNull();
    expect(parseError.error!.message).toMatch(/^Parse error: /);
    const invalid = await client.response(7);
    expect(invalid.error).toEqual({ code: -32600, message: 'the "jsonrpc" member must be exactly "2.0"' });
    await client.waitFor((m) => m.error?.message.includes('batches are not supported') ?? false, 'the batch refusal');
    expect((await client.call(9, 'add', { a: 1, b: 2 })).result).toEqual({ content: [{ type: 'text', text: '3' }] });
    expect(proc.stderr()).toContain('client sent an invalid message (Parse error');
    client.endInput();
    expect(await proc.exited).toBe(0);
    client.messages(); // throws if stdout carried anything but JSON
  });

  it('keeps stdout clean when the server writes junk to its stdout, and says so on stderr', async () => {
    const { proc, client } = runFixture();
    await client.handshake();
    expect((await client.call(1, 'garbage')).result).toBeDefined();
    expect((await client.call(2, 'echo', { text: 'after junk' })).result).toEqual({ content: [{ type: 'text', text: 'after junk' }] });
    expect(proc.stderr()).toContain('wrote a line that is not JSON-RPC to stdout (ignored)');
    expect(proc.stderr()).toContain('"this is not json"');
    expect(proc.stdout()).not.toContain('this is not json');
    client.endInput();
    expect(await proc.exited).toBe(0);
  });

  it('fails pending requests with a clear error when the server dies, names its exit code, and exits 4', async () => {
    const { proc, client } = runFixture();
    await client.handshake();
    client.send({ jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'slow', arguments: { steps: 100, delayMs: 50 } } });
    const crash = client.call(6, 'crash', { code: 7 });
    const [slow, crashed] = await Promise.all([client.response(5), crash]);
    for (const reply of [slow, crashed]) {
      expect(reply.error?.code).toBe(-32000);
      expect(reply.error?.message).toMatch(/^mcp-airlock: the upstream server closed before answering: server process \d+ exited with code 7$/);
      expect(reply.error?.data).toEqual({ airlock: 'AIRLOCK_UPSTREAM_CLOSED' });
    }
    expect(await proc.exited).toBe(4);
    expect(proc.stderr()).toMatch(/error: upstream ended: server process \d+ exited with code 7/);
  });

  it('a server that exits at start (a mistyped npx package): its last stderr lines, redacted, in the error and the log line; its lines passed on behind its label', async () => {
    const exitsAtStart = join(repoRoot, 'fixtures/exits-at-start.mjs');
    const proc = startAirlock(['run', '--', process.execPath, exitsAtStart]);
    const client = new LineClient(proc);
    client.send(initializeRequest(0));
    const reply = await client.response(0);
    const last = [
      'npm error 404 Note that you can also install from a',
      'npm error 404 tarball, folder, http url, or git url.',
      'npm error registry auth: [REDACTED]',
      'npm error A complete log of this run can be found in: /home/user/.npm/_logs/2026-12-07T19_00_00_000Z-debug-0.log',
    ];
    // The last 5 lines, blank-free: the line before these is "npm error 404".
    const tail = JSON.stringify(['npm error 404', ...last].join('\n'));
    expect(reply.error?.message).toMatch(/^mcp-airlock: the upstream server closed before answering: server process \d+ exited with code 1; its last stderr lines: /);
    expect(reply.error?.message.endsWith(`its last stderr lines: ${tail}`)).toBe(true);
    expect(await proc.exited).toBe(4);
    const pid = /server process (\d+) exited/.exec(reply.error!.message)![1];
    expect(proc.stderr()).toContain(`[server ${pid}] npm error code E404\n`);
    expect(proc.stderr()).toContain(`[server ${pid}] npm error registry auth: [REDACTED]\n`);
    expect(proc.stderr()).toContain(`error: upstream ended: server process ${pid} exited with code 1; its last stderr lines: ${tail}`);
    expect(proc.stderr() + proc.stdout()).not.toContain('npm_0123456789');
  });

  it('kills the server and its children when the client closes stdin', async () => {
    const pidFile = join(dir, 'eof.pid');
    const grandFile = join(dir, 'eof-grand.pid');
    const { proc, client } = runFixture(['--print-pid-file', pidFile, '--spawn-grandchild', grandFile]);
    await client.handshake();
    const [pid, grandchild] = [await readPid(pidFile), await readPid(grandFile)];
    expect(isAlive(pid) && isAlive(grandchild)).toBe(true);
    client.endInput();
    expect(await proc.exited).toBe(0);
    await waitFor(() => !isAlive(pid) && !isAlive(grandchild), 'server and grandchild to be gone');
  });

  it('still writes the answers already asked for when the client closes stdin, then exits 0', async () => {
    // `(initialize; slow call) | mcp-airlock run -- server` used to print nothing.
    const { proc, client } = runFixture();
    await client.handshake();
    client.send({ jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'slow', arguments: { steps: 3, delayMs: 150 } } });
    client.endInput();
    expect(await proc.exited).toBe(0);
    expect(client.messages().find((m) => m.id === 5)).toMatchObject({ result: { content: [{ text: 'done 3' }] } });
  });

  it.each([
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const)('kills the server process group on %s and exits %i', async (signal, code) => {
    const pidFile = join(dir, `${signal}.pid`);
    const grandFile = join(dir, `${signal}-grand.pid`);
    const { proc, client } = runFixture(['--print-pid-file', pidFile, '--spawn-grandchild', grandFile]);
    await client.handshake();
    const [pid, grandchild] = [await readPid(pidFile), await readPid(grandFile)];
    expect(await proc.stop(signal)).toBe(code);
    await waitFor(() => !isAlive(pid) && !isAlive(grandchild), 'server and grandchild to be gone');
  });

  it('forwards bytes unchanged both ways: unknown methods, extra members, key order, escapes', async () => {
    const rawServer = join(repoRoot, 'fixtures', 'raw-echo-server.mjs');
    const proc = startAirlock(['run', '--', process.execPath, rawServer]);
    const client = new LineClient(proc);
    const sent = '{"params":{"b":1,"a":"\\u00fc","_meta":{"vendor/key":[1.50]}},"id":"r-1","jsonrpc":"2.0","method":"vendor/future-method","x-extra":null}';
    client.writeLine(sent);
    const reply = await client.response('r-1');
    expect(reply.result).toEqual({ received: sent });
    // The server writes its notice after the answer: wait for it rather than race it.
    await client.waitFor((m) => m.method === 'x-vendor/notice', 'the notice');
    const lines = proc.stdout().split('\n');
    expect(lines).toContain('{"method":"x-vendor/notice","jsonrpc":"2.0","params":{"z":"\\u00e9","a":[1,2.50]},"x-extra":true}');
    client.endInput();
    expect(await proc.exited).toBe(0);
  });

  it('reports a command that cannot start before reading stdin, with a hint, and exit code 3 (configuration)', async () => {
    const proc = startAirlock(['run', '--', 'no-such-mcp-server-xyz', '--flag']);
    expect(await proc.exited).toBe(3);
    expect(proc.stderr()).toContain('mcp-airlock: error: the server command "no-such-mcp-server-xyz" was not found on PATH');
    expect(proc.stderr()).toContain('mcp-airlock: hint: Install it, or give its full path');
    expect(proc.stdout()).toBe('');
  });
});

describe('run: the server\'s environment', () => {
  it('--env sets a variable; --env-allow passes only the named ones (and PATH, HOME and the like)', async () => {
    const env = { ...process.env, AIRLOCK_TEST_PRIVATE: 'private-value', AIRLOCK_TEST_SHARED: 'shared-value' };
    const read = async (flags: string[], names: string[]): Promise<string[]> => {
      const proc = startAirlock(['run', ...flags, '--', process.execPath, stdioFixture], { env });
      const client = new LineClient(proc);
      await client.handshake();
      const values: string[] = [];
      for (const [index, name] of names.entries()) values.push(((await client.call(10 + index, 'env', { name })).result as { content: Array<{ text: string }> }).content[0]!.text);
      client.endInput();
      await proc.exited;
      return values;
    };
    const names = ['AIRLOCK_TEST_PRIVATE', 'AIRLOCK_TEST_SHARED', 'AIRLOCK_TEST_SET', 'PATH'];
    expect(await read(['--env', 'AIRLOCK_TEST_SET=given'], names)).toEqual(['private-value', 'shared-value', 'given', process.env.PATH]);
    expect(await read(['--env-allow', 'AIRLOCK_TEST_SHARED', '--env', 'AIRLOCK_TEST_SET=given'], names)).toEqual(['', 'shared-value', 'given', process.env.PATH]);
  });
});

describe('connect (stdio -> remote)', () => {
  let fixture: { url: string; close(): Promise<void> };
  let locked: { url: string; close(): Promise<void> };
  const secret = 'sk-test-4f9a1c0de5ecret';
  beforeAll(async () => {
    fixture = await startFixtureHttpServer({ port: 0 });
    locked = await startFixtureHttpServer({ port: 0, requireHeader: { name: 'x-api-key', value: secret } });
  });
  afterAll(async () => {
    await Promise.all([fixture?.close(), locked?.close()]);
  });

  it('answers initialize with an error naming the failure when the server is unreachable, and stays up', async () => {
    const port = await closedPort();
    const proc = startAirlock(['connect', `http://127.0.0.1:${port}/mcp`, '--transport', 'http']);
    const client = new LineClient(proc);
    client.send({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '1' } } });
    const reply = await client.response(0);
    expect(reply.error?.code).toBe(-32000);
    expect(reply.error?.message).toContain(`cannot reach http://127.0.0.1:${port}/mcp: connection refused`);
    expect(reply.error?.data).toEqual({ airlock: 'AIRLOCK_UPSTREAM_UNREACHABLE', hint: 'Check that the server is running and the host and port in the URL; behind a proxy, check HTTPS_PROXY/NO_PROXY.' });
    expect(proc.child.exitCode).toBeNull();
    // The server never answered: the exit code says so (4), not 0.
    client.endInput();
    expect(await proc.exited).toBe(4);
  });

  it('rejects a bad --transport and plain http to a remote host without --allow-http, exit 2', async () => {
    const proc = startAirlock(['https://ok.example/mcp', '--transport', 'bogus'], { stdin: 'ignore' });
    expect(await proc.exited).toBe(2);
    expect(proc.stderr()).toBe(
      'mcp-airlock: error: invalid value "bogus" for --transport\n' +
        "mcp-airlock: hint: Use auto, http or sse (or mcp-remote's http-first, sse-first, http-only, sse-only).\n",
    );
    const insecure = startAirlock(['http://mcp.example.com/mcp'], { stdin: 'ignore' });
    expect(await insecure.exited).toBe(2);
    expect(insecure.stderr()).toContain('refusing plain http to "mcp.example.com": headers and tokens would cross the network unencrypted');
    expect(insecure.stderr()).toContain('hint: Use https, or pass --allow-http');
    // A --resource that cannot be an RFC 8707 resource is refused when parsed, by every command.
    for (const command of [['connect', 'https://ok.example/mcp'], ['doctor', 'https://ok.example/mcp'], ['login', 'https://ok.example/mcp']]) {
      const bad = startAirlock([...command, '--resource', 'ftp://x'], { stdin: 'ignore' });
      expect(await bad.exited).toBe(2);
      expect(bad.stderr()).toBe('mcp-airlock: error: invalid value "ftp://x" for --resource\nmcp-airlock: hint: --resource has unsupported scheme "ftp:"; only http and https.\n');
    }
  });

  it('injects headers from --header with ${ENV} expansion and never prints the value', async () => {
    const env = { ...process.env, MY_KEY: secret };
    const proc = startAirlock([`${locked.url}/mcp`, '--header', 'X-Api-Key: ${MY_KEY}', '--header', 'X-Extra:plain', '--log-level', 'debug'], { env });
    const client = new LineClient(proc);
    await client.handshake();
    const reply = await client.call(1, 'headers');
    const headers = JSON.parse((reply.result!.content as Array<{ text: string }>)[0]!.text) as Record<string, string>;
    expect(headers['x-api-key']).toBe(secret);
    expect(headers['x-extra']).toBe('plain');
    client.endInput();
    expect(await proc.exited).toBe(0);
    expect(proc.stderr()).not.toContain(secret);
  });

  it('reads headers from --header-file', async () => {
    const file = join(dir, 'headers.txt');
    await import('node:fs/promises').then((fs) => fs.writeFile(file, `# upstream credentials\n\nX-Api-Key: \${MY_KEY}\n`, { mode: 0o600 }));
    const proc = startAirlock([`${locked.url}/sse`, '--transport', 'sse', '--header-file', file], { env: { ...process.env, MY_KEY: secret } });
    const client = new LineClient(proc);
    await client.handshake();
    expect((await client.call(1, 'add', { a: 1, b: 1 })).result).toEqual({ content: [{ type: 'text', text: '2' }] });
    client.endInput();
    expect(await proc.exited).toBe(0);
  });

  it('stops with exit code 3 naming a missing environment variable, not its would-be value', async () => {
    const env = { ...process.env };
    delete env.MY_KEY;
    const proc = startAirlock([`${locked.url}/mcp`, '--header', 'X-Api-Key: ${MY_KEY}'], { env, stdin: 'ignore' });
    expect(await proc.exited).toBe(3);
    expect(proc.stderr()).toContain('mcp-airlock: error: environment variable MY_KEY used in header X-Api-Key is not set');
  });

  it('turns a 401 from a server without OAuth metadata into one error naming the status and the API-key hint', async () => {
    const proc = startAirlock([`${locked.url}/mcp`, '--transport', 'http']);
    const client = new LineClient(proc);
    client.send({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '1' } } });
    const reply = await client.response(0);
    // No OAuth metadata behind the 401: airlock says so instead of opening a browser.
    expect(reply.error?.message).toContain(`HTTP 401 Unauthorized from ${locked.url}/mcp, and it offers no OAuth login (no protected resource metadata)`);
    expect(reply.error?.data).toEqual({ airlock: 'AIRLOCK_UPSTREAM_CREDENTIALS', hint: 'It takes an API key or a static token: pass it with --header "Authorization: Bearer ${TOKEN}" and set the variable in the environment (then no login is tried).' });
    expect(proc.stderr()).toContain('[mcp-airlock] hint: It takes an API key or a static token');
    client.endInput();
    expect(await proc.exited).toBe(5);
  });

  it('falls back from streamable HTTP to legacy SSE on 405 (auto)', async () => {
    const proc = startAirlock([`${fixture.url}/sse`, '--log-level', 'info']);
    const client = new LineClient(proc);
    await client.handshake();
    expect((await client.call(1, 'add', { a: 20, b: 22 })).result).toEqual({ content: [{ type: 'text', text: '42' }] });
    expect(proc.stderr()).toContain(`streamable HTTP answered HTTP 405 at ${fixture.url}/sse; trying the legacy HTTP+SSE transport`);
    client.endInput();
    expect(await proc.exited).toBe(0);
  });
});
