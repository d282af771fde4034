/**
 * `mcp-airlock NAME` through the real CLI, as an MCP host's config line runs it: a spawned and a
 * remote server of the servers file reached by the SDK's client, with `${env:}` and `${keychain:}`
 * references that reach the server (its environment, its request headers) and never the command
 * line; a secret set from stdin; an unknown name listing the file's servers.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { airlockBin, stdioFixture } from '../helpers/airlock-process.js';
import { startHttpServer } from '../helpers/http-fixture-process.js';
import { connectClient, textOf } from '../helpers/mcp-client.js';

const httpFixture = fileURLToPath(new URL('../../fixtures/http-server.mjs', import.meta.url));
const SECRET = 'kc-secret-4711';
const cleanups: Array<() => Promise<unknown> | void> = [];
let home: string;
let project: string;
let env: NodeJS.ProcessEnv;
let url: string;

function airlock(args: string[], input?: string, cwd = project): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [airlockBin, ...args], { cwd, env, input: input ?? '', encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

beforeAll(async () => {
  home = realpathSync(mkdtempSync(join(tmpdir(), 'airlock-servers-file-')));
  project = join(home, 'project');
  mkdirSync(join(project, 'sub'), { recursive: true });
  env = { ...process.env, MCP_AIRLOCK_CONFIG_DIR: join(home, 'config'), FIXTURE_VALUE: 'from-the-environment' };
  url = await startHttpServer([httpFixture, '--require-header', `Authorization: Bearer ${SECRET}`], cleanups);
  const servers = {
    $schema: '../schemas/servers.schema.json',
    servers: {
      local: { command: process.execPath, args: [stdioFixture], env: { FROM_ENV: '${env:FIXTURE_VALUE}', FROM_KEYCHAIN: '${keychain:fixture-token}' }, storage: 'file' },
      remote: { type: 'streamable-http', url, headers: { Authorization: 'Bearer ${keychain:fixture-token}', 'X-From-Env': '${env:FIXTURE_VALUE}' }, storage: 'file' },
    },
  };
  writeFileSync(join(project, 'mcp-airlock.json'), JSON.stringify(servers, null, 2));
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  rmSync(home, { recursive: true, force: true });
});

async function client(name: string, extra: string[] = [], withEnv: NodeJS.ProcessEnv = env) {
  const transport = new StdioClientTransport({ command: process.execPath, args: [airlockBin, name, ...extra], cwd: join(project, 'sub'), env: withEnv as Record<string, string>, stderr: 'pipe' });
  let stderr = '';
  transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const { client: c } = await connectClient(transport);
  cleanups.push(() => c.close());
  return { client: c, stderr: () => stderr };
}

describe('mcp-airlock NAME', () => {
  it("a project's file is used only once trusted, and again after it changed", () => {
    const file = join(project, 'mcp-airlock.json');
    const refused = airlock(['local'], '', join(project, 'sub'));
    expect(refused).toEqual({
      status: 3,
      stdout: '',
      stderr: `mcp-airlock: error: server "local" is in the project's servers file ${JSON.stringify(file)}, which you have not trusted yet\nmcp-airlock: hint: It chooses the commands airlock starts: read it, then run \`mcp-airlock config trust ${file}\`.\n`,
    });
    expect(airlock(['config', 'trust'], '', join(project, 'sub'))).toEqual({ status: 0, stdout: `trusted ${file} (2 servers: local, remote)\n`, stderr: '' });
    writeFileSync(file, `${readFileSync(file, 'utf8')}\n`);
    expect(airlock(['config', 'show']).stderr).toBe(`mcp-airlock: note: ${file} changed since you trusted it: its servers (local, remote) are not used; read it, then \`mcp-airlock config trust\`\n`);
    expect(airlock(['config', 'trust', file]).status).toBe(0);
  });

  it('secret set reads the value from stdin, and secret list names it (never the value)', () => {
    expect(airlock(['secret', 'set', 'fixture-token', '--storage', 'file'], `${SECRET}\n`)).toEqual({ status: 0, stdout: '', stderr: 'mcp-airlock: stored secret "fixture-token"; refer to it as ${keychain:fixture-token}\n' });
    const list = airlock(['secret', 'list', '--storage', 'file']);
    expect(list).toEqual({ status: 0, stdout: 'fixture-token\n', stderr: '' });
  });

  it('a spawned server gets its env, ${env:} and ${keychain:} resolved, from a sub-folder of the project', async () => {
    const { client: c, stderr } = await client('local');
    expect(textOf(await c.callTool({ name: 'env', arguments: { name: 'FROM_ENV' } }))).toBe('from-the-environment');
    expect(textOf(await c.callTool({ name: 'env', arguments: { name: 'FROM_KEYCHAIN' } }))).toBe(SECRET);
    expect(stderr()).not.toContain(SECRET);
  });

  it('a remote server gets its headers with the references resolved', async () => {
    const { client: c, stderr } = await client('remote');
    const headers = JSON.parse(textOf(await c.callTool({ name: 'headers', arguments: {} }))) as Record<string, string>;
    expect(headers.authorization).toBe(`Bearer ${SECRET}`);
    expect(headers['x-from-env']).toBe('from-the-environment');
    expect(stderr()).not.toContain(SECRET);
  });

  it('an unknown name is an error that lists the servers of the file', () => {
    const result = airlock(['locl']);
    expect(result.status).toBe(2);
    expect(result.stderr).toBe(
      `mcp-airlock: error: "locl" is neither a server URL, a command, nor a server of ${join(project, 'mcp-airlock.json')}\n` +
        'mcp-airlock: hint: Did you mean `mcp-airlock local`? Servers: local, remote (`mcp-airlock config show` lists them; `mcp-airlock --help` the commands).\n',
    );
  });

  it('through the hub: the hub reads the host\'s servers file and secrets, and two hosts with --share share one server', async () => {
    const hubDir = join(home, 'hub');
    mkdirSync(hubDir, { mode: 0o700 });
    const hubEnv = { ...env, MCP_AIRLOCK_HUB_DIR: hubDir };
    cleanups.push(() => void spawnSync(process.execPath, [airlockBin, 'hub', 'stop'], { env: hubEnv, stdio: 'ignore' }));
    const hosts = [await client('local', ['--hub', 'require', '--share'], hubEnv), await client('local', ['--hub', 'require', '--share'], hubEnv)];
    for (const { client: c, stderr } of hosts) {
      expect(textOf(await c.callTool({ name: 'env', arguments: { name: 'FROM_KEYCHAIN' } }))).toBe(SECRET);
      expect(stderr()).not.toContain(SECRET);
    }
    const status = JSON.parse(spawnSync(process.execPath, [airlockBin, 'hub', 'status', '--json'], { env: hubEnv, encoding: 'utf8' }).stdout) as {
      clients: Array<{ command: string; target: string }>;
      upstreams: Array<{ clients: string[] }>;
    };
    expect(status.clients).toEqual([expect.objectContaining({ command: 'server', target: 'local' }), expect.objectContaining({ command: 'server', target: 'local' })]);
    expect(status.upstreams).toHaveLength(1);
    expect(status.upstreams[0]!.clients).toHaveLength(2);
    expect(JSON.stringify(status)).not.toContain(SECRET);
  });

  it('a missing secret names the reference and how to store it, and config show prints references only', () => {
    writeFileSync(join(home, 'config', 'servers.json'), JSON.stringify({ mcpServers: { other: { command: 'node', env: { TOKEN: '${keychain:not-there}' }, storage: 'file' } } }));
    const result = airlock(['other']);
    expect(result.status).toBe(3);
    expect(result.stderr).toContain('refers to ${keychain:not-there}, and no secret "not-there" is stored');
    expect(result.stderr).toContain('mcp-airlock: hint: Store it with `mcp-airlock secret set not-there`');
    const show = airlock(['config', 'show', '--json']);
    expect(show.status).toBe(0);
    expect(show.stdout).not.toContain(SECRET);
    const shown = JSON.parse(show.stdout) as { servers: Record<string, { source: string; file: string }> };
    expect(Object.keys(shown.servers)).toEqual(['local', 'remote', 'other']);
    expect(shown.servers.other).toMatchObject({ source: 'user', file: join(home, 'config', 'servers.json') });
  });
});
