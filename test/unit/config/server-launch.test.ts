import { describe, expect, it } from 'vitest';
import { serverLaunch } from '../../../src/config/server-launch.js';
import type { LocatedServer } from '../../../src/config/servers-location.js';
import type { ServerEntry } from '../../../src/config/servers-file.js';

const SECRET = 'the-secret-value';
const sources = { env: { TOKEN: SECRET, USER_NAME: 'ann' }, keychain: async (name: string) => (name === 'gh' ? SECRET : undefined) };
const located = (entry: ServerEntry): LocatedServer => ({ name: 'x', entry, file: { path: '/project/mcp-airlock.json', source: 'project' } });

describe('serverLaunch', () => {
  it('a spawned server: run with its flags, the extra flags, then -- and the command; env resolved, never in argv', async () => {
    const launch = await serverLaunch(located({ type: 'stdio', command: 'node', args: ['s.js', '--user', '${env:USER_NAME}'], env: { API_KEY: '${keychain:gh}', PLAIN: 'v' }, policyFile: 'p.json', maxMessage: '4mb', cwd: 'sub' }), ['--log-level', 'debug'], sources);
    expect(launch).toEqual({
      argv: ['run', '--policy-file', '/project/p.json', '--max-message', '4mb', '--log-level', 'debug', '--', 'node', 's.js', '--user', 'ann'],
      env: { API_KEY: SECRET, PLAIN: 'v' },
      cwd: '/project/sub',
    });
  });

  it('share and idleTimeout become the hub\'s --share and --idle-stop on the run line', async () => {
    const launch = await serverLaunch(located({ command: 'node', args: ['s.js'], share: true, idleTimeout: 300 }), [], sources);
    expect(launch.argv).toEqual(['run', '--share', '--idle-stop', '300', '--', 'node', 's.js']);
  });

  it('a remote server: the URL and its flags; a header with a reference goes through a variable', async () => {
    const launch = await serverLaunch(
      located({ type: 'sse', url: 'https://x.example/sse', headers: { Authorization: 'Bearer ${keychain:gh}', Accept: 'text/event-stream' }, auth: { account: 'work', clientId: 'c', clientSecret: '${env:TOKEN}', scopes: ['a', 'b'], grant: 'device' }, storage: 'file', protocol: '2025-11-25' }),
      [],
      sources,
    );
    expect(launch.argv).toEqual([
      'https://x.example/sse', '--protocol', '2025-11-25', '--transport', 'sse',
      '--header', 'Authorization: ${MCP_AIRLOCK_HEADER_1}', '--header', 'Accept: text/event-stream',
      '--account', 'work', '--client-id', 'c', '--client-secret-env', 'MCP_AIRLOCK_CLIENT_SECRET', '--scope', 'a b', '--device', '--storage', 'file',
    ]);
    expect(launch.env).toEqual({ MCP_AIRLOCK_HEADER_1: `Bearer ${SECRET}`, MCP_AIRLOCK_CLIENT_SECRET: SECRET });
    expect(launch.argv.join(' ')).not.toContain(SECRET);
  });

  it('a reference with nothing behind it names the member and the fix, never a value', async () => {
    await expect(serverLaunch(located({ type: 'stdio', command: 'x', env: { A: '${env:NOPE}' } }), [], sources)).rejects.toMatchObject({
      code: 'AIRLOCK_MISSING_ENV',
      message: 'server "x" (/project/mcp-airlock.json): env.A refers to ${env:NOPE}, which is not set',
    });
    await expect(serverLaunch(located({ type: 'http', url: 'https://x', headers: { A: '${keychain:none}' } }), [], sources)).rejects.toMatchObject({ code: 'AIRLOCK_MISSING_SECRET' });
  });
});
