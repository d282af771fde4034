/**
 * The hub, slice 1 (docs/hub.md): hosts start `mcp-airlock ... --hub require|auto` as they start
 * airlock today; the process is a shim that attaches to one per-user hub over a private Unix socket,
 * and the hub runs the command line for it. Real processes throughout: the CLI, the shim, the hub
 * it starts in the background, the stdio and HTTP fixtures, the SDK client.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { airlockBin, isAlive, readPid, repoRoot, startAirlock, stdioFixture } from '../helpers/airlock-process.js';
import { gone, hostThrough as hostThroughIn, hubHome as hubHomeIn, rawThrough as rawThroughIn, reap, type HubHome } from '../helpers/hub-home.js';
import { clientRoots, textOf } from '../helpers/mcp-client.js';
import { initializeRequest } from '../helpers/line-client.js';
import { startHttpServer } from '../helpers/http-fixture-process.js';


const httpFixture = fileURLToPath(new URL('../../fixtures/http-server.mjs', import.meta.url));
const SECRET = 'hub-secret-value-5f1c2a';

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
});

const hubHome = (): HubHome => hubHomeIn(cleanups, { HUB_TEST_VALUE: SECRET });
const hostThrough = (args: string[], env: NodeJS.ProcessEnv, cwd = repoRoot) => hostThroughIn(cleanups, args, env, cwd);
const rawThrough = (args: string[], env: NodeJS.ProcessEnv) => rawThroughIn(cleanups, args, env);
const startHttpFixture = (): Promise<string> => startHttpServer([httpFixture, '--port', '0'], cleanups);

describe('the hub: hosts attach through the shim', () => {
  it('run and connect behave as in process, with the client environment and working directory', async () => {
    const home = hubHome();
    // A relative server path and policy file: both are the host's, resolved in its directory.
    const policy = join(mkdtempSync(join(tmpdir(), 'airlock-hub-policy-')), 'policy.json');
    writeFileSync(policy, JSON.stringify({ denyTools: ['crash'] }));
    const run = await hostThrough(['run', '--hub', 'require', '--no-audit', '--policy-file', relative(repoRoot, policy), '--', 'node', relative(repoRoot, stdioFixture)], home.env);
    const tools = (await run.client.listTools()).tools.map((t) => t.name);
    expect(tools).toContain('echo');
    expect(tools).not.toContain('crash');
    expect(textOf(await run.client.callTool({ name: 'echo', arguments: { text: 'through the hub' } }))).toBe('through the hub');
    expect(textOf(await run.client.callTool({ name: 'sample', arguments: { prompt: 'p' } }))).toBe('sampled: hi from the client');
    expect(JSON.parse(textOf(await run.client.callTool({ name: 'roots', arguments: {} })))).toEqual(clientRoots);
    // The spawned server's environment is the host's (the hub was started with the same one, so
    // a value only this host has proves it: HUB_TEST_VALUE is set here, and the hub is already running).
    const hostOnly = { ...home.env, ONLY_THIS_HOST: 'yes-this-host' };
    const second = await hostThrough(['run', '--hub', 'require', '--no-audit', '--', process.execPath, stdioFixture], hostOnly);
    expect(textOf(await second.client.callTool({ name: 'env', arguments: { name: 'ONLY_THIS_HOST' } }))).toBe('yes-this-host');

    const url = await startHttpFixture();
    const connect = await hostThrough(['connect', url, '--hub', 'require', '--no-audit', '--header', 'X-Hub-Test: ${HUB_TEST_VALUE}'], home.env);
    const headers = JSON.parse(textOf(await connect.client.callTool({ name: 'headers', arguments: {} }))) as Record<string, string>;
    expect(headers['x-hub-test']).toBe(SECRET);

    // One hub served all three; what it logged holds no value of the hosts' environments.
    expect(home.hubPids()).toHaveLength(1);
    expect(isAlive(home.hubPids()[0]!)).toBe(true);
    expect(home.log()).not.toContain(SECRET);
    expect(run.stderr() + connect.stderr()).not.toMatch(/not attaching/);
  });

  it('ten hosts starting at once start one hub', async () => {
    const home = hubHome();
    const hosts = Array.from({ length: 10 }, () => rawThrough(['run', '--hub', 'require', '--no-audit', '--', process.execPath, stdioFixture], home.env));
    for (const { client } of hosts) client.send(initializeRequest(1));
    for (const { client } of hosts) {
      const answer = await client.response(1, 20_000);
      expect(answer.result).toMatchObject({ serverInfo: { name: 'airlock-fixture' } });
    }
    expect(home.hubPids()).toHaveLength(1);
    expect(home.log()).not.toMatch(/a hub already answers/);
    for (const { proc } of hosts) proc.child.stdin!.end();
    for (const { proc } of hosts) expect(await proc.exited).toBe(0);
  });

  it('a stale socket left by a hub that died is replaced', async () => {
    const home = hubHome();
    // A process that listens on the hub's socket path and is killed: the socket file stays.
    const { hubPaths } = await import('../../dist/hub/hub-endpoint.js');
    const socketPath = hubPaths(home.env).socket;
    const squatter = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(socketPath)}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'ignore'] });
    await once(squatter.stdout!, 'data');
    squatter.kill('SIGKILL');
    await once(squatter, 'exit');
    expect(existsSync(socketPath)).toBe(true);
    const { client, proc } = rawThrough(['run', '--hub', 'require', '--no-audit', '--', process.execPath, stdioFixture], home.env);
    client.send(initializeRequest(1));
    const answer = await client.response(1, 15_000);
    expect(answer.result, `${JSON.stringify(answer)}\nstderr: ${proc.stderr()}\nhub log: ${home.log()}`).toBeDefined();
    expect(home.log()).toMatch(/replaced a stale hub socket/);
    proc.child.stdin!.end();
    expect(await proc.exited).toBe(0);
  });

  it('a host killed in the middle of a call leaves no server process behind', async () => {
    const home = hubHome();
    const pidFile = join(home.dir, '..', 'server.pid');
    const { client, proc } = rawThrough(['run', '--hub', 'require', '--no-audit', '--', process.execPath, stdioFixture, '--print-pid-file', pidFile], home.env);
    client.send(initializeRequest(1));
    await client.response(1);
    client.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    client.send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'slow', arguments: { steps: 100, delayMs: 100 } } });
    const serverPid = await readPid(pidFile);
    cleanups.push(() => reap(serverPid));
    expect(isAlive(serverPid)).toBe(true);
    proc.child.kill('SIGKILL');
    await proc.exited;
    expect(await gone(serverPid, 10_000)).toBe(true);
    // The hub itself stays for the next host.
    expect(isAlive(home.hubPids()[0]!)).toBe(true);
  });

  it("an internal error in one host's command ends that session only; the hub hands over to a new one", async () => {
    const home = hubHome();
    const line = ['run', '--hub', 'require', '--no-audit', '--', process.execPath, stdioFixture];
    const steady = await hostThrough(line, home.env);
    const faulty = rawThrough(line, { ...home.env, MCP_AIRLOCK_HUB_TEST_FAULT: '1' });
    faulty.client.send(initializeRequest(1));
    expect(await faulty.proc.exited).toBe(1);
    expect(faulty.proc.stderr()).toMatch(/an internal error in the hub ended this session: a fault injected for a test/);
    expect(faulty.proc.stderr()).toMatch(/Other hosts' sessions go on/);
    // The other host's session is untouched, on the hub that had the error.
    expect(textOf(await steady.client.callTool({ name: 'echo', arguments: { text: 'still here' } }))).toBe('still here');
    expect(home.log()).toMatch(/internal error \(uncaught exception\) in the command of client \S+ \(pid \d+\): Error: a fault injected/);
    expect(home.log()).toMatch(/draining after an internal error/);
    // The next host starts a new hub.
    const next = await hostThrough(line, home.env);
    expect(textOf(await next.client.callTool({ name: 'echo', arguments: { text: 'new hub' } }))).toBe('new hub');
    expect(home.hubPids()).toHaveLength(2);
  });

  it('a hub killed with kill -9: its host sees the server go, and the next hub ends what it left', async () => {
    const home = hubHome();
    const grandchildFile = join(home.dir, '..', 'grandchild.pid');
    const first = rawThrough(['run', '--hub', 'require', '--no-audit', '--', process.execPath, stdioFixture, '--spawn-grandchild', grandchildFile], home.env);
    first.client.send(initializeRequest(1));
    await first.client.response(1);
    const grandchild = Number(readFileSync(grandchildFile, 'utf8'));
    cleanups.push(() => reap(grandchild));
    const [hubPid] = home.hubPids();
    process.kill(hubPid!, 'SIGKILL');
    expect(await first.proc.exited).toBe(4);
    expect(first.proc.stderr()).toMatch(/the hub went away/);
    // Nobody ended the server's process group: its grandchild is still there.
    await new Promise((r) => setTimeout(r, 500));
    expect(isAlive(grandchild)).toBe(true);
    const second = rawThrough(['run', '--hub', 'require', '--no-audit', '--', process.execPath, stdioFixture], home.env);
    second.client.send(initializeRequest(1));
    await second.client.response(1, 15_000);
    expect(await gone(grandchild, 5_000)).toBe(true);
    expect(home.log()).toMatch(/ended server process group \d+, left running by a hub that was killed/);
  });

  it('exit codes and error lines are those of the command in process', async () => {
    const home = hubHome();
    const viaHub = rawThrough(['http://127.0.0.1:1/mcp', '--hub', 'require', '--no-audit'], home.env);
    viaHub.client.send(initializeRequest(1));
    await viaHub.client.response(1);
    viaHub.proc.child.stdin!.end();
    const inProcess = rawThrough(['http://127.0.0.1:1/mcp', '--no-audit'], home.env);
    inProcess.client.send(initializeRequest(1));
    await inProcess.client.response(1);
    inProcess.proc.child.stdin!.end();
    expect(await viaHub.proc.exited).toBe(4);
    expect(await inProcess.proc.exited).toBe(4);
    expect(viaHub.proc.stderr()).toMatch(/cannot reach http:\/\/127\.0\.0\.1:1\/mcp/);
    // stdout stays JSON-RPC only, byte for byte the same answer.
    expect(viaHub.client.messages()).toEqual(inProcess.client.messages());

    const missing = startAirlock(['run', '--hub', 'require', '--no-audit', '--', './no-such-server'], { env: home.env });
    const missingHere = startAirlock(['run', '--no-audit', '--', './no-such-server'], { env: home.env });
    expect(await missing.exited).toBe(await missingHere.exited);
    expect(missing.stderr()).toBe(missingHere.stderr());
  });
});

describe('the hub: seeing and replacing it', () => {
  it('hub status names each client, its host, what it reaches and its servers, and never a secret', async () => {
    const home = hubHome();
    const none = spawnSync(process.execPath, [airlockBin, 'hub', 'status'], { env: home.env, encoding: 'utf8' });
    expect(none.stdout).toMatch(/^no hub is running/);
    const { client } = rawThrough(['run', '--hub', 'require', '--no-audit', '--env', `TOKEN=${SECRET}`, '--', process.execPath, stdioFixture], home.env);
    client.send(initializeRequest(1));
    await client.response(1);
    const url = await startHttpFixture();
    const remote = rawThrough([`${url}?key=${SECRET}`, '--hub', 'require', '--no-audit'], home.env);
    remote.client.send(initializeRequest(1));
    await remote.client.response(1);
    const json = spawnSync(process.execPath, [airlockBin, 'hub', 'status', '--json'], { env: home.env, encoding: 'utf8' });
    expect(json.status).toBe(0);
    const status = JSON.parse(json.stdout) as { running: boolean; pid: number; clients: Array<{ command: string; target: string; host: { pid: number }; servers: Array<{ pid: number; rss: number }> }> };
    expect(status).toMatchObject({ running: true, pid: home.hubPids()[0] });
    const run = status.clients.find((c) => c.command === 'run')!;
    expect(run.target).toBe(process.execPath.split('/').pop());
    expect(run.host.pid).toBe(process.pid);
    expect(run.servers).toHaveLength(1);
    expect(run.servers[0]!.rss).toBeGreaterThan(10 * 1024 * 1024);
    expect(status.clients.find((c) => c.command === 'connect')!.target).toBe(url);
    const text = spawnSync(process.execPath, [airlockBin, 'hub', 'status'], { env: home.env, encoding: 'utf8' }).stdout;
    expect(text).toMatch(/2 clients attached/);
    expect(text).toMatch(/run node: host \S+ \(pid \d+\), shim pid \d+, attached \d+ s; server pid \d+ [\d.]+ MiB/);
    expect(text).toMatch(/2 servers \(spawned, or a remote connection\)\n/);
    expect(text).toMatch(/\n  server [0-9a-f]{16} node, pid \d+, [\d.]+ MiB, 2025 era, one client only; 1 client, idle \d+ s; up \d+ s\n/);
    expect(text).toMatch(/\n  server [0-9a-f]{16} http:\/\/127\.0\.0\.1:\d+\/mcp, 2025 era, one client only; 1 client, idle \d+ s; up \d+ s\n/);
    expect(json.stdout + text).not.toContain(SECRET);
  });

  it('a hub of an older version drains for a newer shim: its client goes on, the newer hub takes the next', async () => {
    const home = hubHome();
    const { Hub } = await import('../../dist/hub/hub-server.js');
    const { hubPaths } = await import('../../dist/hub/hub-endpoint.js');
    const { createLogger } = await import('../../dist/log.js');
    const { main } = await import('../../dist/cli/main.js');
    const lines: string[] = [];
    const old = new Hub({ paths: hubPaths(home.env), idleMs: 0, serverIdleMs: 0, version: '0.0.1', log: createLogger('info', (line) => void lines.push(line)), run: (argv, io) => main(argv, io) });
    expect(await old.listen()).toBe(true);
    cleanups.push(() => old.stop('test over'));
    // A client of the old hub, attached by hand as its own shim would (the header names its version).
    const { connect: connectSocket } = await import('node:net');
    const data = connectSocket({ path: hubPaths(home.env).socket, allowHalfOpen: true });
    await once(data, 'connect');
    data.write(`${JSON.stringify({ airlockHub: 1, version: '0.0.1', argv: ['run', '--no-audit', '--', process.execPath, stdioFixture], cwd: repoRoot, env: home.env, client: { pid: process.pid, ppid: process.ppid } })}\n`);
    const [reply] = (await once(data, 'data')) as [Buffer];
    const { id } = JSON.parse(reply.toString('utf8')) as { id: string };
    const control = connectSocket({ path: hubPaths(home.env).socket, allowHalfOpen: true });
    await once(control, 'connect');
    control.write(`${JSON.stringify({ airlockHub: 1, control: id })}\n`);
    let oldOut = '';
    data.setEncoding('utf8').on('data', (chunk: string) => (oldOut += chunk));
    data.write(`${JSON.stringify(initializeRequest(7))}\n`);
    await expect.poll(() => oldOut, { timeout: 10_000 }).toMatch(/"id":7/);

    const { client, proc } = rawThrough(['run', '--hub', 'require', '--no-audit', '--', process.execPath, stdioFixture], home.env);
    client.send(initializeRequest(1));
    const answer = await client.response(1, 15_000).catch((error: Error) => {
      throw new Error(`${error.message}\nnew hub's log: ${home.log()}\nold hub: ${lines.join('')}`);
    });
    expect(answer.result, `${JSON.stringify(answer)}\n${proc.stderr()}\nnew hub: ${home.log()}\nold hub: ${lines.join("")}`).toBeDefined();
    expect(proc.stderr()).toMatch(/the hub ran airlock 0\.0\.1; it finishes its clients/);
    expect(lines.join('')).toMatch(/draining for airlock/);
    expect(home.hubPids()).toHaveLength(1); // the new hub, started by the shim
    // The old hub's client still works, then ends; the old hub exits after it.
    data.write(`${JSON.stringify({ jsonrpc: '2.0', id: 8, method: 'tools/list' })}\n`);
    await expect.poll(() => oldOut, { timeout: 10_000 }).toMatch(/"id":8/).catch((error: Error) => {
      throw new Error(`${error.message}\nold hub: ${lines.join("")}\nout: ${oldOut}`);
    });
    data.end();
    await old.stopped;
  });
});

describe('the hub: what it refuses', () => {
  it('an unsafe directory: require fails with exit 6, auto runs in process and says so once', async () => {
    const home = hubHome();
    chmodSync(home.dir, 0o755);
    const required = startAirlock(['run', '--hub', 'require', '--no-audit', '--', process.execPath, stdioFixture], { env: home.env });
    expect(await required.exited).toBe(6);
    expect(required.stderr()).toMatch(/--hub require: the hub's directory is not safe: .* has mode 755/);
    const { client, proc } = rawThrough(['run', '--hub', 'auto', '--no-audit', '--', process.execPath, stdioFixture], home.env);
    client.send(initializeRequest(1));
    expect((await client.response(1)).result).toBeDefined();
    expect(proc.stderr().match(/not attaching to the hub/g)).toHaveLength(1);
    expect(home.hubPids()).toHaveLength(0);
  });

  it('a hub of a newer version is not used by an older shim: auto runs in process, require fails', async () => {
    const home = hubHome();
    const { Hub } = await import('../../dist/hub/hub-server.js');
    const { hubPaths } = await import('../../dist/hub/hub-endpoint.js');
    const { createLogger } = await import('../../dist/log.js');
    // A newer hub than this shim: an older shim never asks it to make way.
    const other = new Hub({ paths: hubPaths(home.env), idleMs: 0, serverIdleMs: 0, version: '99.0.0', log: createLogger('silent'), run: async () => 0 });
    expect(await other.listen()).toBe(true);
    cleanups.push(() => other.stop('test over'));
    const { client, proc } = rawThrough(['run', '--hub', 'auto', '--no-audit', '--', process.execPath, stdioFixture], home.env);
    client.send(initializeRequest(1));
    expect((await client.response(1)).result).toBeDefined();
    expect(proc.stderr()).toMatch(/not attaching to the hub \(the hub runs airlock 99\.0\.0, this is /);
    const required = startAirlock(['run', '--hub', 'require', '--no-audit', '--', process.execPath, stdioFixture], { env: home.env });
    expect(await required.exited).toBe(6);
  });

  it('HTTP on the socket and bad headers get an answer, not a hang', async () => {
    const home = hubHome();
    const first = rawThrough(['run', '--hub', 'require', '--no-audit', '--', process.execPath, stdioFixture], home.env);
    first.client.send(initializeRequest(1));
    await first.client.response(1);
    const socketPath = join(home.dir, readdirSync(home.dir).find((f) => f.endsWith('.sock'))!);
    const ask = (text: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect({ path: socketPath });
        let answer = '';
        socket.setEncoding('utf8').on('data', (chunk: string) => (answer += chunk));
        socket.on('end', () => resolve(answer));
        socket.on('error', reject);
        socket.write(text);
      });
    expect(await ask('GET /servers HTTP/1.1\r\nHost: hub\r\n\r\n')).toMatch(/^HTTP\/1\.1 501 /);
    expect(JSON.parse((await ask('{"airlockHub":1,"version":"x"}\n')).trim())).toMatchObject({ ok: false, error: expect.stringMatching(/bad attach header/) });
    expect(JSON.parse((await ask('{"airlockHub":1,"version":"x","argv":["login","https://x"],"cwd":"/","env":{},"client":{"pid":1,"ppid":0}}\n')).trim())).toMatchObject({ ok: false });
    // A control connection for an attach that does not exist: the reason, then the exit code, each on its own line.
    const lines = (await ask('{"airlockHub":1,"control":"no-such-attach"}\n')).trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toEqual([{ stderr: expect.stringMatching(/no such attach/) }, { exit: 2 }]);
  });

  // Only root can start a client of another uid; elsewhere the test is reported skipped (the directory checks above hold).
  it.skipIf(process.getuid?.() !== 0)('another user cannot reach the socket (as root: a client running as nobody)', async () => {
    const home = hubHome();
    const first = rawThrough(['run', '--hub', 'require', '--no-audit', '--', process.execPath, stdioFixture], home.env);
    first.client.send(initializeRequest(1));
    await first.client.response(1);
    const socketPath = join(home.dir, readdirSync(home.dir).find((f) => f.endsWith('.sock'))!);
    const probe = spawnSync(process.execPath, ['-e', `require('net').connect(${JSON.stringify(socketPath)}).on('connect', () => { console.log('connected'); process.exit(0) }).on('error', (e) => { console.log(e.code); process.exit(0) })`], { uid: 65534, gid: 65534, encoding: 'utf8' });
    expect(probe.stdout.trim()).toBe('EACCES');
  });
});
