/**
 * The hub, slice 2 (docs/hub.md, "Sharing"): hosts that run the same server command with the same
 * working directory and environment share one server process in the hub. A 2026 server is shared
 * by every client; a 2025 server only by clients that all give --share. Real processes: the
 * shims, the hub they start, the fixtures of both eras, SDK clients of both eras.
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client as ModernClient } from '@modelcontextprotocol/client';
import { StdioClientTransport as ModernStdioTransport } from '@modelcontextprotocol/client/stdio';
import { afterEach, describe, expect, it } from 'vitest';
import { airlockBin, isAlive, readPid, repoRoot, stdioFixture, waitFor } from '../helpers/airlock-process.js';
import { gone, hostThrough as hostThroughIn, hubHome as hubHomeIn, hubStatus, rawThrough as rawThroughIn, reap, type HubHome } from '../helpers/hub-home.js';
import { initializeRequest } from '../helpers/line-client.js';
import { startHttpServer } from '../helpers/http-fixture-process.js';
import { clientRoots, textOf } from '../helpers/mcp-client.js';

const modernFixture = fileURLToPath(new URL('../../fixtures/modern-server.mjs', import.meta.url));
const httpFixture = fileURLToPath(new URL('../../fixtures/http-server.mjs', import.meta.url));

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
});

const hubHome = (): HubHome => hubHomeIn(cleanups);
const hostThrough = (args: string[], env: NodeJS.ProcessEnv) => hostThroughIn(cleanups, args, env);
const rawThrough = (args: string[], env: NodeJS.ProcessEnv) => rawThroughIn(cleanups, args, env);

/** The SDK v2 client pinned to 2026-07-28 through `mcp-airlock <args>`, answering elicitation. */
async function modernHost(args: string[], env: NodeJS.ProcessEnv): Promise<ModernClient> {
  const transport = new ModernStdioTransport({ command: process.execPath, args: [airlockBin, ...args], cwd: repoRoot, env: env as Record<string, string>, stderr: 'pipe' });
  const client = new ModernClient({ name: 'hub-share-test', version: '1.0.0' }, { capabilities: { elicitation: {} }, versionNegotiation: { mode: { pin: '2026-07-28' } } });
  client.setRequestHandler('elicitation/create', async () => ({ action: 'accept', content: { name: 'Ada' } }));
  cleanups.push(() => client.close());
  await client.connect(transport);
  return client;
}

/** Progress values a call reported, and its result text. */
async function slowCall(call: (onprogress: (p: { progress: number }) => void) => Promise<unknown>): Promise<{ text: string; progress: number[] }> {
  const progress: number[] = [];
  const result = await call((p) => progress.push(p.progress));
  return { text: textOf(result), progress };
}

describe('the hub shares spawned servers', () => {
  it('a 2026 server: hosts of both eras share one process, and each gets only its own answers and progress', async () => {
    const home = hubHome();
    const line = ['run', '--hub', 'require', '--no-audit', '--', process.execPath, modernFixture, '--legacy', 'reject'];
    const first = await modernHost(line, home.env);
    expect(textOf(await first.callTool({ name: 'echo', arguments: { text: 'one' } }))).toBe('one');
    // A 2025 client (SDK v1) on the same line: translated above its lease, on the same server.
    const legacy = await hostThrough(line, home.env);
    const third = await modernHost(line, home.env);
    expect((await legacy.client.listTools()).tools.map((t) => t.name)).toContain('slow');
    const status = hubStatus(home);
    expect(status.upstreams, JSON.stringify(status)).toHaveLength(1);
    expect(status.upstreams[0]).toMatchObject({ era: '2026', shareable: true });
    expect(status.upstreams[0]!.clients).toHaveLength(3);
    const pids = new Set(status.clients.flatMap((client) => client.servers.map((server) => server.pid)));
    expect([...pids]).toEqual([status.upstreams[0]!.pid]);

    // All three call at once: their request ids collide (each client counts from its own start),
    // and each answer and progress notification reaches the caller it belongs to.
    const [a, b, c] = await Promise.all([
      slowCall((onprogress) => first.callTool({ name: 'slow', arguments: { ms: 300 } }, { onprogress })),
      slowCall((onprogress) => legacy.client.callTool({ name: 'slow', arguments: { ms: 600 } }, undefined, { onprogress })),
      slowCall((onprogress) => third.callTool({ name: 'slow', arguments: { ms: 450 } }, { onprogress })),
    ]);
    expect([a.text, b.text, c.text]).toEqual(['waited 300 ms', 'waited 600 ms', 'waited 450 ms']);
    for (const { progress } of [a, b, c]) {
      expect(progress.length).toBeGreaterThan(0);
      expect(progress.every((value, i) => value >= 1 && value <= 5 && (i === 0 || value > progress[i - 1]!))).toBe(true);
    }
    // A multi-round-trip call (input_required, then the retry) on the shared server.
    expect(textOf(await third.callTool({ name: 'ask_name', arguments: {} }))).toBe('Hello, Ada');
  });

  it('a 2025 server: its own process per client without --share; one for all with it, a server request only to its caller', async () => {
    const home = hubHome();
    const own = ['run', '--hub', 'require', '--no-audit', '--', process.execPath, stdioFixture];
    const alone = [await hostThrough(own, home.env), await hostThrough(own, home.env)];
    for (const host of alone) expect(textOf(await host.client.callTool({ name: 'echo', arguments: { text: 'x' } }))).toBe('x');
    let status = hubStatus(home);
    expect(status.upstreams.map((u) => ({ clients: u.clients.length, shareable: u.shareable, era: u.era }))).toEqual([
      { clients: 1, shareable: false, era: '2025' },
      { clients: 1, shareable: false, era: '2025' },
    ]);

    const shared = ['run', '--hub', 'require', '--no-audit', '--share', '--', process.execPath, stdioFixture];
    const [a, b, c] = [await hostThrough(shared, home.env), await hostThrough(shared, home.env), await hostThrough(shared, home.env)];
    status = hubStatus(home);
    const sharedOne = status.upstreams.filter((u) => u.shareable);
    expect(sharedOne).toHaveLength(1);
    expect(sharedOne[0]!.clients).toHaveLength(3);
    // Each one's session works: later clients were answered from the first one's initialize.
    for (const host of [a, b, c]) expect((await host.client.listTools()).tools.map((t) => t.name)).toContain('sample');

    // Sampling during B's call goes to B, and to nobody else.
    expect(textOf(await b.client.callTool({ name: 'sample', arguments: { prompt: 'for b' } }))).toBe('sampled: hi from the client');
    expect(b.samplingPrompts).toEqual(['for b']);
    expect([...a.samplingPrompts, ...c.samplingPrompts]).toEqual([]);
    expect(JSON.parse(textOf(await c.client.callTool({ name: 'roots', arguments: {} })))).toEqual(clientRoots);

    // Two clients calling at once. 2025 stdio does not say which call a question belongs to: with
    // both calls in flight the first question goes to neither (refused to the server); that call
    // then ends, so the second question, a moment later, finds only its asker in flight and goes to
    // it. Never to the other client. (The refusal is pinned down in the unit tests.)
    const both = await Promise.all([
      a.client.callTool({ name: 'sample', arguments: { prompt: 'for a', delayMs: 2000 } }),
      c.client.callTool({ name: 'sample', arguments: { prompt: 'for c', delayMs: 2000 } }),
    ]);
    for (const result of both) expect(JSON.stringify(result)).toMatch(/cannot be put to one of them|sampled: hi from the client/);
    expect(a.samplingPrompts.filter((prompt) => prompt !== 'for a')).toEqual([]);
    expect(c.samplingPrompts.filter((prompt) => prompt !== 'for c')).toEqual([]);
    expect(b.samplingPrompts).toEqual(['for b']);
  });

  it('each host keeps its own audit chain on a shared server, and each record names the host process', async () => {
    const home = hubHome();
    const auditFile = join(mkdtempSync(join(tmpdir(), 'airlock-share-audit-')), 'audit.jsonl');
    const shared = ['run', '--hub', 'require', '--audit-file', auditFile, '--share', '--', process.execPath, stdioFixture];
    const hosts = [await hostThrough(shared, home.env), await hostThrough(shared, home.env)];
    await Promise.all(hosts.map((host, i) => host.client.callTool({ name: 'echo', arguments: { text: `host ${i}` } })));
    expect(hubStatus(home).upstreams).toHaveLength(1);
    for (const host of hosts) await host.client.close();
    await waitFor(() => hubStatus(home).clients.length === 0, 'the clients to detach');
    const records = readFileSync(auditFile, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { method: string; session: string; host?: { pid: number } });
    const calls = records.filter((r) => r.method === 'tools/call');
    expect(calls).toHaveLength(2);
    expect(new Set(calls.map((r) => r.session)).size).toBe(2);
    // The hosts here are this test process: the shims' parent.
    for (const record of calls) expect(record.host).toMatchObject({ pid: process.pid });
    const verify = spawnSync(process.execPath, [airlockBin, 'audit', 'verify', '--audit-file', auditFile], { env: home.env, encoding: 'utf8' });
    expect(verify.status, verify.stdout + verify.stderr).toBe(0);
  });

  it('remote servers: a 2026 one is one connection for every host; a 2025 one is a session per host unless --share', async () => {
    const home = hubHome();
    const modernUrl = await startHttpServer([modernFixture, '--http', '0', '--legacy', 'reject'], cleanups);
    const modern = [await modernHost(['connect', modernUrl, '--hub', 'require', '--no-audit'], home.env), await modernHost(['connect', modernUrl, '--hub', 'require', '--no-audit'], home.env)];
    const answers = await Promise.all(modern.map((client, i) => client.callTool({ name: 'echo', arguments: { text: `host ${i}` } })));
    expect(answers.map(textOf)).toEqual(['host 0', 'host 1']);
    let status = hubStatus(home);
    expect(status.upstreams).toHaveLength(1);
    expect(status.upstreams[0]).toMatchObject({ era: '2026', command: modernUrl });
    expect(status.upstreams[0]!.clients).toHaveLength(2);

    const legacyUrl = await startHttpServer([httpFixture, '--port', '0'], cleanups);
    const sessionOf = async (host: Awaited<ReturnType<typeof hostThrough>>) => (JSON.parse(textOf(await host.client.callTool({ name: 'headers', arguments: {} }))) as Record<string, string>)['mcp-session-id'];
    const own = [await hostThrough(['connect', legacyUrl, '--hub', 'require', '--no-audit'], home.env), await hostThrough(['connect', legacyUrl, '--hub', 'require', '--no-audit'], home.env)];
    const ownSessions = await Promise.all(own.map(sessionOf));
    expect(ownSessions[0]).toBeTruthy();
    expect(ownSessions[0]).not.toBe(ownSessions[1]);
    const shared = [await hostThrough(['connect', legacyUrl, '--hub', 'require', '--no-audit', '--share'], home.env), await hostThrough(['connect', legacyUrl, '--hub', 'require', '--no-audit', '--share'], home.env)];
    const sharedSessions = await Promise.all(shared.map(sessionOf));
    expect(sharedSessions[0]).toBeTruthy();
    expect(sharedSessions[0]).toBe(sharedSessions[1]);
    status = hubStatus(home);
    expect(status.upstreams.filter((u) => u.command === legacyUrl).map((u) => u.clients.length).sort()).toEqual([1, 1, 2]);
    // Sampling asked on the stream of B's call (2025 HTTP ties it to that request) goes to B only.
    expect(textOf(await shared[1]!.client.callTool({ name: 'sample', arguments: { prompt: 'remote b' } }))).toBe('sampled: hi from the client');
    expect(shared[1]!.samplingPrompts).toEqual(['remote b']);
    expect(shared[0]!.samplingPrompts).toEqual([]);
  });

  it('a client that goes away has its calls cancelled on the shared server; the others go on', async () => {
    const home = hubHome();
    const shared = ['run', '--hub', 'require', '--no-audit', '--share', '--', process.execPath, stdioFixture];
    const stays = await hostThrough(shared, home.env);
    const leaves = rawThrough(shared, home.env);
    leaves.client.send(initializeRequest(1));
    expect((await leaves.client.response(1)).result).toBeDefined();
    leaves.client.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    leaves.client.send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'slow', arguments: { steps: 100, delayMs: 100 } } });
    await waitFor(() => hubStatus(home).upstreams[0]?.calls === 1, 'the call in flight');
    leaves.proc.child.kill('SIGKILL');
    await leaves.proc.exited;
    await waitFor(async () => (JSON.parse(textOf(await stays.client.callTool({ name: 'state', arguments: {} }))) as { cancelled: unknown[] }).cancelled.length === 1, 'the cancellation upstream');
    expect(textOf(await stays.client.callTool({ name: 'echo', arguments: { text: 'still here' } }))).toBe('still here');
    expect(hubStatus(home).upstreams[0]!.clients).toHaveLength(1);
  });

  it('a shared server outlives its last client for --server-idle (a host that comes back finds it), then stops', async () => {
    const home = hubHome();
    // Long enough for a host to come back under a loaded CI machine (a shim and two `hub status` runs), short enough to wait for.
    const hub = spawn(process.execPath, [airlockBin, 'hub', 'start', '--server-idle', '6', '--log-level', 'debug'], { env: home.env, stdio: ['ignore', 'ignore', 'pipe'] });
    cleanups.push(() => void hub.kill('SIGKILL'));
    let hubLog = '';
    hub.stderr!.on('data', (chunk: Buffer) => (hubLog += chunk.toString('utf8')));
    await waitFor(() => /listening on/.test(hubLog), 'the hub to listen');
    const pidFile = join(mkdtempSync(join(tmpdir(), 'airlock-share-')), 'server.pid');
    const line = ['run', '--hub', 'require', '--no-audit', '--share', '--', process.execPath, stdioFixture, '--print-pid-file', pidFile];
    const first = await hostThrough(line, home.env);
    const pid = await readPid(pidFile);
    cleanups.push(() => reap(pid));
    await first.client.close();
    let lingering: ReturnType<typeof hubStatus>['upstreams'][number] | undefined;
    await waitFor(() => (lingering = hubStatus(home).upstreams[0])?.clients.length === 0, 'the client to detach');
    expect(lingering!.stopsAt).toBeDefined();
    const again = await hostThrough(line, home.env);
    expect(textOf(await again.client.callTool({ name: 'echo', arguments: { text: 'back' } }))).toBe('back');
    expect(hubStatus(home).upstreams[0]!.pid).toBe(pid);
    expect(isAlive(pid)).toBe(true);
    await again.client.close();
    expect(await gone(pid, 20_000)).toBe(true);
    await waitFor(() => hubStatus(home).upstreams.length === 0, 'the server to leave hub status');
    hub.kill('SIGTERM');
    await once(hub, 'exit');
  });

  it('--idle-stop: the server stops while its clients stay attached, and their next call starts it again on the same session', async () => {
    const home = hubHome();
    const pidFile = join(mkdtempSync(join(tmpdir(), 'airlock-idle-')), 'server.pid');
    const line = ['run', '--hub', 'require', '--no-audit', '--share', '--idle-stop', '1', '--', process.execPath, stdioFixture, '--print-pid-file', pidFile];
    const [a, b] = [await hostThrough(line, home.env), await hostThrough(line, home.env)];
    expect(textOf(await a.client.callTool({ name: 'echo', arguments: { text: 'before' } }))).toBe('before');
    const first = await readPid(pidFile);
    cleanups.push(() => reap(first));
    expect(await gone(first, 10_000)).toBe(true);
    expect(hubStatus(home).upstreams).toMatchObject([{ state: 'idle', clients: [expect.any(String), expect.any(String)] }]);
    // B's next call starts the server again; the session is opened with the same initialize, so
    // the server still knows its client can sample, and the question goes to B.
    expect(textOf(await b.client.callTool({ name: 'sample', arguments: { prompt: 'after' } }))).toBe('sampled: hi from the client');
    const second = await readPid(pidFile);
    cleanups.push(() => reap(second));
    expect(second).not.toBe(first);
    expect(b.samplingPrompts).toEqual(['after']);
  });

  it('hub stop SERVER stops one spawned server: its clients end as when it exits, the hub and other servers stay', async () => {
    const home = hubHome();
    const one = rawThrough(['run', '--hub', 'require', '--no-audit', '--share', '--', process.execPath, stdioFixture], home.env);
    const other = await hostThrough(['run', '--hub', 'require', '--no-audit', '--', process.execPath, modernFixture, '--legacy', 'reject'], home.env);
    one.client.send(initializeRequest(1));
    expect((await one.client.response(1)).result).toBeDefined();
    const unknown = spawnSync(process.execPath, [airlockBin, 'hub', 'stop', 'no-such-server'], { env: home.env, encoding: 'utf8' });
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/the hub runs no server named "no-such-server"/);
    const key = hubStatus(home).upstreams.find((u) => u.shareable && u.era === '2025')!.key;
    const stop = spawnSync(process.execPath, [airlockBin, 'hub', 'stop', key.slice(0, 6)], { env: home.env, encoding: 'utf8' });
    expect(stop.status, stop.stderr).toBe(0);
    expect(stop.stderr).toContain(`stopped server ${key}`);
    expect(await one.proc.exited).toBe(4);
    expect(textOf(await other.client.listTools().then(() => other.client.callTool({ name: 'echo', arguments: { text: 'on' } })))).toBe('on');
    expect(hubStatus(home).upstreams.map((u) => u.key)).not.toContain(key);
  });

  it('a shared server that dies ends every client as in process (exit 4); the next host gets a new one', async () => {
    const home = hubHome();
    const shared = ['run', '--hub', 'require', '--no-audit', '--share', '--', process.execPath, stdioFixture];
    const peers = [rawThrough(shared, home.env), rawThrough(shared, home.env)];
    for (const peer of peers) {
      peer.client.send(initializeRequest(1));
      expect((await peer.client.response(1)).result).toBeDefined();
      peer.client.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    }
    const before = hubStatus(home).upstreams[0]!.pid!;
    peers[0]!.client.send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'crash', arguments: { code: 3 } } });
    for (const peer of peers) {
      expect(await peer.proc.exited).toBe(4);
      expect(peer.proc.stderr()).toMatch(/upstream ended: server process \d+ exited with code 3/);
    }
    const next = await hostThrough(shared, home.env);
    expect(textOf(await next.client.callTool({ name: 'echo', arguments: { text: 'new' } }))).toBe('new');
    expect(hubStatus(home).upstreams[0]!.pid).not.toBe(before);
  });
});
