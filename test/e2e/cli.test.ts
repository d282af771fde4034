/**
 * The command line itself: help with examples on every command, version, usage errors with exit 2.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { startAirlock } from '../helpers/airlock-process.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

describe('cli', () => {
  it.each([[[]], [['connect']], [['serve']], [['run']]])('prints complete help with examples for %j', async (command) => {
    const proc = startAirlock([...command, '--help'], { stdin: 'ignore' });
    expect(await proc.exited).toBe(0);
    expect(proc.stdout()).toContain('Usage: mcp-airlock');
    expect(proc.stdout()).toContain('Examples:');
  });

  it('lists every serve option in its help', async () => {
    const proc = startAirlock(['serve', '--help'], { stdin: 'ignore' });
    await proc.exited;
    for (const flag of ['--port', '--host', '--upstream', '--transport', '--header', '--header-file', '--allow-http', '--max-body', '--allow-origin', '--allowed-host', '--session-timeout', '--max-sessions', '--mcp-path', '--sse-path', '--messages-path', '--health-path', '--log-level', '--allow-tool', '--deny-tool', '--read-only']) {
      expect(proc.stdout()).toContain(flag);
    }
  });

  it('prints its version', async () => {
    const proc = startAirlock(['--version'], { stdin: 'ignore' });
    expect(await proc.exited).toBe(0);
    expect(proc.stdout().trim()).toBe(pkg.version);
  });

  it('exits 2 with a hint when serve has nothing to serve', async () => {
    const proc = startAirlock(['serve', '--port', '0'], { stdin: 'ignore' });
    expect(await proc.exited).toBe(2);
    expect(proc.stderr()).toBe(
      'mcp-airlock: error: nothing to serve: give a command after -- or --upstream <url>\n' +
        'mcp-airlock: hint: mcp-airlock serve -- <command> [args...]   or   mcp-airlock serve --upstream https://host/mcp\n',
    );
  });

  it('exits 2 on an unknown option and 6 when the port is taken', async () => {
    const unknown = startAirlock(['serve', '--no-such-flag', '--', 'x'], { stdin: 'ignore' });
    expect(await unknown.exited).toBe(2);
    expect(unknown.stderr()).toContain("error: unknown option '--no-such-flag'");

    const { createServer } = await import('node:net');
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    const taken = startAirlock(['serve', '--port', String(port), '--', process.execPath], { stdin: 'ignore' });
    expect(await taken.exited).toBe(6);
    expect(taken.stderr()).toContain(`mcp-airlock: error: cannot listen on 127.0.0.1:${port}: EADDRINUSE`);
    blocker.close();
  });

  it('refuses supergateway --oauth2Bearer, which would put a token in argv', async () => {
    const proc = startAirlock(['--stdio', 'node x.js', '--oauth2Bearer', 'tok'], { stdin: 'ignore' });
    expect(await proc.exited).toBe(2);
    expect(proc.stderr()).toContain('--oauth2Bearer puts a token in the process list');
    expect(proc.stderr()).not.toContain('tok\n');
  });
});
