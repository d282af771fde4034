/**
 * The command line itself: help with examples on every command, version, usage errors with exit 2
 * in one format (an error line and a hint line on stderr, nothing on stdout), drop-in spellings.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startFixtureHttpServer } from '../../fixtures/lib/http-fixture.mjs';
import { airlockBin, repoRoot, startAirlock, stdioFixture } from '../helpers/airlock-process.js';
import { openSession, post, sessionHeaders } from '../helpers/http-peer.js';
import { LineClient } from '../helpers/line-client.js';

/** Run the CLI to its end with stdin closed; exit code, stdout and stderr. */
async function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = startAirlock(args, { stdin: 'ignore' });
  const code = await proc.exited;
  return { code, stdout: proc.stdout(), stderr: proc.stderr() };
}

/** Expect a usage error: exit 2, exactly these two lines on stderr, nothing on stdout. */
async function expectUsage(args: string[], error: string, hint: string): Promise<void> {
  const result = await runCli(args);
  expect(result).toEqual({ code: 2, stdout: '', stderr: `mcp-airlock: error: ${error}\nmcp-airlock: hint: ${hint}\n` });
}

const hasScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

describe('cli', () => {
  it.each([[[]], [['connect']], [['serve']], [['run']]])('prints complete help with examples for %j', async (command) => {
    const proc = startAirlock([...command, '--help'], { stdin: 'ignore' });
    expect(await proc.exited).toBe(0);
    expect(proc.stdout()).toContain('Usage: mcp-airlock');
    expect(proc.stdout()).toContain('Examples:');
  });

  it.each([
    ['connect', ['Transport:', 'Auth (OAuth login to the server):', 'Enterprise auth:', 'mcp-remote spellings:', 'Network (TLS):', 'Tool policy:', 'Audit log:', 'Telemetry:', 'Limits:', 'Output:']],
    ['serve', ['Listening:', 'Server command:', 'Transport:', 'Who may call serve:', 'Auth (OAuth login to the server):', 'Network (TLS):', 'Tool policy:', 'Audit log:', 'Telemetry:', 'Limits:', 'Shared state (serve replicas):', 'Output:']],
    ['run', ['Server command:', 'Tool policy:', 'Audit log:', 'Telemetry:', 'Limits:', 'Output:']],
    ['login', ['Auth (OAuth login to the server):', 'Enterprise auth:', 'mcp-remote spellings:', 'Network (TLS):', 'Output:']],
    ['doctor', ['What doctor does:', 'Auth (OAuth login to the server):', 'Network (TLS):', 'Output:']],
  ])('%s --help groups its options under headings, in this order, -h under Output (not one flat list)', async (command, headings) => {
    const { stdout } = await runCli([command, '--help']);
    const lines = stdout.split('\n');
    expect(lines.filter((line) => /^\S.*:$/.test(line) && !['Arguments:', 'Examples:'].includes(line) && !line.startsWith('Usage:')).slice(0, headings.length)).toEqual(headings);
    expect(lines).not.toContain('Options:');
    expect(stdout.indexOf('  -h, --help')).toBeGreaterThan(stdout.indexOf('\nOutput:\n'));
  });

  it('lists every serve option in its help', async () => {
    const proc = startAirlock(['serve', '--help'], { stdin: 'ignore' });
    await proc.exited;
    for (const flag of ['--port', '--host', '--upstream', '--transport', '--header', '--header-file', '--allow-http', '--max-body', '--allow-origin', '--allowed-host', '--session-timeout', '--max-sessions', '--mcp-path', '--sse-path', '--messages-path', '--health-path', '--log-level', '--allow-tool', '--deny-tool', '--read-only', '--state', '--state-url-env', '--state-url-file', '--state-failure', '--state-prefix', '--otel', '--no-otel']) {
      expect(proc.stdout()).toContain(flag);
    }
  });

  it('prints its version', async () => {
    const proc = startAirlock(['--version'], { stdin: 'ignore' });
    expect(await proc.exited).toBe(0);
    expect(proc.stdout().trim()).toBe(pkg.version);
  });

  it('prints its version for -v and `version` too, as most CLIs do (and -V, as before)', async () => {
    for (const args of [['-v'], ['version'], ['-V']]) {
      expect(await runCli(args), args.join(' ')).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: '' });
    }
  });

  it('serve --help says what --allow-origin does to loopback origins: allowed without it, only if listed with it', async () => {
    const { stdout } = await runCli(['serve', '--help']);
    const text = stdout.replace(/\s+/g, ' ');
    expect(text).not.toContain('loopback origins are always allowed');
    expect(text).toContain('Without it, loopback origins (http://localhost:*, 127.0.0.1, [::1]) are allowed; given, only the listed ones are, loopback included only if listed');
  });

  it('connect --help shows the config line that works before the package is published, beside the npx one', async () => {
    const { stdout } = await runCli(['connect', '--help']);
    expect(stdout).toContain(`"args": ["-y", "file:/abs/path/mcp-airlock-${pkg.version}.tgz",`);
    expect(stdout).toContain('mcp-airlock is not on the npm registry');
    expect(stdout).toContain('Once published: "args": ["-y", "mcp-airlock", "https://mcp.example.com/mcp"]');
  });

  it.skipIf(!hasScript)('connect on a terminal says once, on stderr, that it waits for an MCP client on stdin', () => {
    // script(1) gives the CLI a pseudo-terminal as stdin; its stdin ends at once, so airlock sees EOF and exits.
    const errFile = join(mkdtempSync(join(tmpdir(), 'airlock-tty-')), 'stderr');
    const command = `'${process.execPath}' '${airlockBin}' http://127.0.0.1:9/mcp --no-audit 2>'${errFile}'`;
    const run = spawnSync('script', ['-qec', command, '/dev/null'], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
    expect(run.signal).toBeNull(); // ended by itself, not by the timeout
    expect(run.stdout).toBe('');
    const lines = readFileSync(errFile, 'utf8').split('\n').filter((line) => line.includes('waiting for an MCP client'));
    expect(lines).toEqual([
      '[mcp-airlock] info: waiting for an MCP client on stdin: an MCP host (Claude Desktop, Cursor, VS Code) starts this command and speaks JSON-RPC to it (`mcp-airlock connect --help` shows a config line); Ctrl-C stops it',
    ]);
  });

  it('connect with stdin from a pipe (an MCP host) prints no waiting line', async () => {
    const { stderr } = await runCli(['http://127.0.0.1:9/mcp', '--no-audit']);
    expect(stderr).not.toContain('waiting for an MCP client');
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
    expect(unknown.stderr()).toBe('mcp-airlock: error: unknown option "--no-such-flag" for serve\nmcp-airlock: hint: `mcp-airlock serve --help` lists every option.\n');

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

  it("refuses mcp-remote's --static-oauth-client-info with an inline client secret at once, before any exchange", async () => {
    // stdin stays open and no server listens: only the start-up check can end this run.
    const proc = startAirlock(['http://127.0.0.1:9/mcp', '--static-oauth-client-info', '{"client_id":"a","client_secret":"inline-s3cret"}']);
    expect(await proc.exited).toBe(2);
    expect(proc.stderr()).toBe(
      'mcp-airlock: error: --static-oauth-client-info puts a client secret in the process list, where any local user can read it\n' +
        'mcp-airlock: hint: Put the JSON in a file and pass @path, or use --client-id with --client-secret-env.\n',
    );
    expect(proc.stdout()).toBe('');
  });
});

describe('cli: usage errors speak one language', () => {
  it('a typo of a command is not taken for a URL', async () => {
    await expectUsage(['conect', 'https://mcp.example.com/mcp'], 'unknown command "conect"', 'Did you mean `mcp-airlock connect`? (`mcp-airlock --help` lists the commands)');
    await expectUsage(['stauts'], 'unknown command "stauts"', 'Did you mean `mcp-airlock status`? (`mcp-airlock --help` lists the commands)');
    await expectUsage(['verify'], 'unknown command "verify"', 'Did you mean `mcp-airlock audit verify`? (`mcp-airlock --help` lists the commands)');
  });

  it('a word that is neither a URL nor a command shows both usages', async () => {
    await expectUsage(
      ['frobnicate'],
      '"frobnicate" is neither a server URL nor a command',
      'Usage: mcp-airlock <url> [options]  or  mcp-airlock <command> [options], where <command> is one of connect, serve, run, login, logout, status, audit, doctor, auth, policy, hub, config, secret, import, install, uninstall, version, help.',
    );
  });

  it('an address without a scheme gets the URL it meant, as the first word and for other commands', async () => {
    const hint = 'Write it with its scheme: https://mcp.example.com/mcp (https:// for a remote server; http:// only for this machine, or with --allow-http).';
    await expectUsage(['mcp.example.com/mcp'], 'not a URL: "mcp.example.com/mcp" has no scheme', hint);
    await expectUsage(['connect', 'mcp.example.com/mcp', '--no-audit'], 'not a URL: "mcp.example.com/mcp" has no scheme', hint);
    await expectUsage(
      ['serve', '--upstream', 'localhost:3000/mcp', '--port', '0'],
      'not a URL: "localhost:3000/mcp" has no scheme',
      'Write it with its scheme: http://localhost:3000/mcp (https:// for a remote server; http:// only for this machine, or with --allow-http).',
    );
  });

  it("commander's errors: unknown option, missing argument, bad value, too many arguments", async () => {
    await expectUsage(['serve', '--prot', '9000', '--', 'x'], 'unknown option "--prot" for serve', 'Did you mean --port? (`mcp-airlock serve --help` lists every option)');
    await expectUsage(['login'], 'login needs the <url> argument', 'Usage: mcp-airlock login [options] <url>');
    await expectUsage(['serve', '--max-body', 'lots', '--', 'x'], 'invalid value "lots" for --max-body', 'Use a size such as 4mb, 512kb or 1048576.');
    // Regression: a second URL was reported as a bad <callback-port>.
    await expectUsage(
      ['https://a.example.com/mcp', 'https://b.example.com/mcp'],
      'connect takes one server URL; "https://b.example.com/mcp" is a second one',
      "Run one mcp-airlock per server (one entry each in the MCP host's config). The optional second argument is the OAuth callback port, as in mcp-remote.",
    );
    await expectUsage(['login', 'https://a.example.com/mcp', 'https://b.example.com/mcp'], 'too many arguments for login: "https://b.example.com/mcp" is not expected', 'Usage: mcp-airlock login [options] <url>');
    await expectUsage(['https://mcp.example.com/mcp', 'not-a-port'], 'invalid value "not-a-port" for the <callback-port> argument of connect', 'Use a port number from 0 to 65535 (0 picks a free one).');
    await expectUsage(['status', 'https://a.example/mcp', 'extra'], 'too many arguments for status: "extra" is not expected', 'Usage: mcp-airlock status [options] [url]');
    await expectUsage(['audit', 'shw'], 'unknown command "shw" for audit', 'Did you mean `mcp-airlock audit show`?');
    await expectUsage(['audit'], 'audit needs a command', 'Use one of: path, verify, seal, tail, show (`mcp-airlock audit --help` says what each does).');
  });

  it('bare mcp-airlock, not on a terminal: the error, a hint and the help on stderr, nothing on stdout, exit 2', async () => {
    const result = await runCli([]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(
      /^mcp-airlock: error: no server URL and no command given\nmcp-airlock: hint: Give the server URL, e\.g\. mcp-airlock https:\/\/mcp\.example\.com\/mcp; the full help follows\.\n\nUsage: mcp-airlock \[options\] \[command\]\n/,
    );
    expect(result.stderr).toContain('Examples:');
  });

  it.skipIf(!hasScript)('bare mcp-airlock on a terminal: the help on stdout, exit 2', () => {
    // util-linux script(1) gives the CLI a pseudo-terminal; stderr goes to a file, so the terminal shows stdout alone.
    const errFile = join(mkdtempSync(join(tmpdir(), 'airlock-tty-')), 'stderr');
    const command = `'${process.execPath}' '${airlockBin}' 2>'${errFile}'`;
    const run = spawnSync('script', ['-qec', command, '/dev/null'], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(run.status).toBe(2);
    expect(run.stdout).toContain('Usage: mcp-airlock [options] [command]');
    expect(run.stdout).toContain('Examples:');
    expect(run.stdout).not.toContain('mcp-airlock: error:');
    expect(readFileSync(errFile, 'utf8')).toBe('');
  });

  it('--help is a success on stdout, with nothing on stderr', async () => {
    const result = await runCli(['--help']);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain('Usage: mcp-airlock [options] [command]');
  });

  it('help shows sizes and durations as people write them, and no noise', async () => {
    for (const command of [[], ['connect'], ['serve'], ['run'], ['login'], ['logout'], ['status'], ['doctor'], ['audit', 'show'], ['audit', 'verify'], ['policy', 'explain'], ['auth', 'debug'], ['config', 'check'], ['config', 'show'], ['config', 'trust'], ['secret', 'set'], ['import'], ['install'], ['uninstall']]) {
      const { stdout } = await runCli([...command, '--help']);
      expect(stdout).toContain('Usage: mcp-airlock');
      expect(stdout).not.toMatch(/\(default: (\[\]|\{\}|false|true)\)/);
      expect(stdout).not.toMatch(/\(default: \d{5,}/);
      // Piped, help is laid out for 80 columns: descriptions wrap, examples are broken with \.
      expect(stdout.split('\n').filter((line) => line.length > 80)).toEqual([]);
    }
    const serve = (await runCli(['serve', '--help'])).stdout.replace(/\s+/g, ' ');
    for (const shown of ['(default: 32 MiB)', '(default: 4 MiB)', '(default: 10 MiB)', '(default: 1800 s = 30 min)', '(default: 300 s = 5 min)', '(default: 8808)', '(default: auto)']) {
      expect(serve).toContain(shown);
    }
  });
});

describe('cli: drop-in spellings mixed with ours', () => {
  it('serve --stdio "cmd" --port 0: our command word with supergateway\'s --stdio serves the command on the given port', async () => {
    const proc = startAirlock(['serve', '--stdio', `'${process.execPath}' '${stdioFixture}'`, '--port', '0', '--no-audit'], { stdin: 'ignore' });
    const [, base] = await proc.waitForStderr(/listening on (http:\/\/127\.0\.0\.1:(\d+))\/mcp/);
    expect(base).not.toMatch(/:8808$|:8000$/);
    const session = await openSession(`${base}/mcp`);
    const tools = await post(`${base}/mcp`, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, sessionHeaders(session));
    expect(tools.messages[0]?.result?.tools?.length).toBeGreaterThan(0);
    expect(await proc.stop()).toBe(143);
    expect(proc.stdout()).toBe('');
  });

  it('--stdio "cmd" --port 0 --log-level debug without our command word', async () => {
    const proc = startAirlock(['--stdio', `'${process.execPath}' '${stdioFixture}'`, '--port', '0', '--log-level', 'debug', '--no-audit'], { stdin: 'ignore' });
    const [, base] = await proc.waitForStderr(/listening on (http:\/\/127\.0\.0\.1:\d+)\/mcp/);
    expect(base).not.toMatch(/:8000$/);
    // A session spawns the command, and --log-level debug (ours, among supergateway's flags) shows it.
    await openSession(`${base}/mcp`);
    await proc.waitForStderr(/\[mcp-airlock\] debug: started server process \d+/);
    await proc.stop();
  });

  it("connect URL --debug and supergateway's --streamableHttp URL bridge a stdio client, with mcp-remote's --debug as our --log-level debug", async () => {
    const server = await startFixtureHttpServer({ port: 0 });
    try {
      for (const args of [['connect', `${server.url}/mcp`, '--debug', '--no-audit'], ['--streamableHttp', `${server.url}/mcp`, '--debug', '--no-audit']]) {
        const proc = startAirlock(args);
        const client = new LineClient(proc);
        await client.handshake();
        expect((await client.call(1, 'echo', { text: 'hi' })).result).toMatchObject({ content: [{ type: 'text', text: 'hi' }] });
        client.endInput();
        expect(await proc.exited).toBe(0);
        expect(proc.stderr()).toMatch(/\[mcp-airlock\] debug: connected to http:\/\/127\.0\.0\.1:\d+\/mcp over streamable HTTP/);
      }
    } finally {
      await server.close();
    }
  });

  it('refuses --oauth2Bearer after our command word too, and a flag airlock lacks with its replacement', async () => {
    const bearer = await runCli(['serve', '--oauth2Bearer', 'sk-live-secret', '--', 'x']);
    expect(bearer).toEqual({
      code: 2,
      stdout: '',
      stderr:
        'mcp-airlock: error: --oauth2Bearer puts a token in the process list, where any local user can read it\n' +
        'mcp-airlock: hint: Use --header "Authorization: Bearer ${TOKEN}" and set TOKEN in the environment.\n',
    });
    await expectUsage(['connect', 'https://mcp.example.com/mcp', '--headers', 'X-Key', 'v'], "--headers is mcp-proxy's; airlock has no such option", 'Use --header "Name: value" (repeatable), with ${ENV} references for secrets.');
    await expectUsage(['connect', '--stdio', 'node x.js'], "connect does not take supergateway's --stdio", 'A command to spawn goes with serve (HTTP clients) or run (a stdio client): mcp-airlock serve -- <command>.');
  });
});
