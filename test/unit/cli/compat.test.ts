import { describe, expect, it } from 'vitest';
import { rewriteCompatArgs, splitCommandLine } from '../../../src/cli/compat.js';
import { AirlockError } from '../../../src/errors.js';
import { thrownAirlockError } from '../../helpers/thrown.js';

const URL_ = 'https://mcp.example.com/mcp';

function usageError(fn: () => unknown): AirlockError {
  const error = thrownAirlockError(fn);
  expect(error.code).toBe('AIRLOCK_USAGE');
  expect(error.exitCode).toBe(2);
  return error;
}

const argvOf = (argv: string[]): string[] => rewriteCompatArgs(argv).argv;

describe('rewriteCompatArgs: native arguments', () => {
  it('leaves airlock argv untouched', () => {
    const argv = ['serve', '--port', '8000', '--sse-path', '/sse', '--', 'node', 'server.js'];
    expect(rewriteCompatArgs(argv)).toEqual({ argv, notes: [] });
  });

  it('does not change the array it is given', () => {
    const argv = ['--stdio', 'node s.js', '--debug'];
    rewriteCompatArgs(argv);
    expect(argv).toEqual(['--stdio', 'node s.js', '--debug']);
  });

  it('never rewrites arguments after --', () => {
    const argv = ['run', '--', 'node', 'server.js', '--debug', '--silent', '--enable-proxy', '--stdio', 'x', '--sse', URL_, '--oauth2Bearer', 't'];
    expect(rewriteCompatArgs(argv)).toEqual({ argv, notes: [] });
  });
});

describe('rewriteCompatArgs: supergateway', () => {
  it('turns --stdio with --port into serve with the command after --', () => {
    expect(rewriteCompatArgs(['--stdio', "node server.js --flag 'a b'", '--port', '8000'])).toEqual({
      argv: ['serve', '--port', '8000', '--', 'node', 'server.js', '--flag', 'a b'],
      notes: ['--stdio with --outputTransport sse'],
    });
  });

  it("keeps supergateway's default port 8000 when --port is not given", () => {
    // supergateway listens on 8000 by default; serve's own default is 8808, so an unchanged
    // config line ("accepted" in docs/migration.md's table) would move to another port.
    for (const argv of [['--stdio', 'node server.js'], ['--stdio', 'node server.js', '--outputTransport', 'streamableHttp']]) {
      const rewritten = argvOf(argv);
      const options = rewritten.slice(0, rewritten.indexOf('--'));
      expect(options[0]).toBe('serve');
      expect(options[options.indexOf('--port') + 1]).toBe('8000');
      expect(rewritten.slice(rewritten.indexOf('--'))).toEqual(['--', 'node', 'server.js']);
    }
  });

  it('turns --stdio with --outputTransport stdio into run', () => {
    expect(argvOf(['--stdio', 'node server.js', '--outputTransport', 'stdio'])).toEqual(['run', '--', 'node', 'server.js']);
  });

  it('turns --stdio with --outputTransport streamableHttp into serve', () => {
    expect(argvOf(['--stdio', 'node server.js', '--outputTransport', 'streamableHttp', '--port', '9'])).toEqual(['serve', '--port', '9', '--', 'node', 'server.js']);
  });

  it('turns --sse URL into connect URL --transport sse', () => {
    expect(argvOf(['--sse', URL_])).toEqual(['connect', URL_, '--transport', 'sse']);
  });

  it('turns --streamableHttp URL into connect URL --transport http', () => {
    expect(argvOf(['--streamableHttp', URL_, '--outputTransport', 'stdio'])).toEqual(['connect', URL_, '--transport', 'http']);
  });

  it('turns --streamableHttp URL --outputTransport sse into serve --upstream URL --transport http', () => {
    // No --port given: supergateway's default, 8000, so existing client configs keep working.
    expect(argvOf(['--streamableHttp', URL_, '--outputTransport', 'sse'])).toEqual(['serve', '--upstream', URL_, '--transport', 'http', '--port', '8000']);
  });

  it('turns --sse URL --outputTransport streamableHttp into serve --upstream URL --transport sse', () => {
    expect(argvOf(['--sse', URL_, '--outputTransport', 'streamableHttp', '--port', '8000'])).toEqual(['serve', '--upstream', URL_, '--transport', 'sse', '--port', '8000']);
  });

  it('renames the path, health, log level and header flags', () => {
    expect(
      argvOf([
        '--stdio', 'srv',
        '--port', '9000',
        '--ssePath', '/events',
        '--messagePath', '/msg',
        '--streamableHttpPath', '/rpc',
        '--healthEndpoint', '/healthz',
        '--logLevel', 'none',
        '--header', 'X-A: 1',
      ]),
    ).toEqual(['serve', '--port', '9000', '--sse-path', '/events', '--messages-path', '/msg', '--mcp-path', '/rpc', '--health-path', '/healthz', '--log-level', 'none', '--header', 'X-A: 1', '--', 'srv']);
  });

  it('converts --sessionTimeout from milliseconds to seconds', () => {
    expect(argvOf(['--stdio', 'srv', '--port', '1', '--sessionTimeout', '60000'])).toEqual(['serve', '--port', '1', '--session-timeout', '60', '--', 'srv']);
    expect(argvOf(['--stdio', 'srv', '--port', '1', '--sessionTimeout', '1500'])).toEqual(['serve', '--port', '1', '--session-timeout', '1.5', '--', 'srv']);
  });

  it('turns --cors without a value into --allow-origin *', () => {
    expect(argvOf(['--stdio', 'srv', '--port', '1', '--cors'])).toEqual(['serve', '--port', '1', '--allow-origin', '*', '--', 'srv']);
    expect(argvOf(['--stdio', 'srv', '--cors', '--port', '1'])).toEqual(['serve', '--allow-origin', '*', '--port', '1', '--', 'srv']);
  });

  it('turns --cors with values into one --allow-origin each', () => {
    expect(argvOf(['--stdio', 'srv', '--cors', 'http://a.test', 'http://b.test', '--port', '1'])).toEqual([
      'serve', '--allow-origin', 'http://a.test', '--allow-origin', 'http://b.test', '--port', '1', '--', 'srv',
    ]);
  });

  it('drops --baseUrl and its value, and --stateful, with notes', () => {
    expect(rewriteCompatArgs(['--stdio', 'srv', '--port', '8000', '--baseUrl', 'http://localhost:8000', '--stateful'])).toEqual({
      argv: ['serve', '--port', '8000', '--', 'srv'],
      notes: ['--baseUrl: not needed, the endpoint event carries a relative URL', '--stateful: sessions are always stateful', '--stdio with --outputTransport sse'],
    });
  });

  it('refuses --oauth2Bearer', () => {
    const error = usageError(() => rewriteCompatArgs(['--sse', URL_, '--oauth2Bearer', 'sk-live-abc123']));
    expect(error.message).toBe('--oauth2Bearer puts a token in the process list, where any local user can read it');
    expect(error.hint).toBe('Use --header "Authorization: Bearer ${TOKEN}" and set TOKEN in the environment.');
    expect(error.message).not.toContain('sk-live-abc123');
  });

  it('accepts --flag=value inline forms', () => {
    expect(
      argvOf(['--stdio=node server.js --x=1', '--port=8000', '--outputTransport=streamableHttp', '--sessionTimeout=30000', '--cors=http://a.test', '--ssePath=/s']),
    ).toEqual(['serve', '--port', '8000', '--session-timeout', '30', '--allow-origin', 'http://a.test', '--sse-path', '/s', '--', 'node', 'server.js', '--x=1']);
    expect(argvOf(['--sse=' + URL_ + '?a=b'])).toEqual(['connect', `${URL_}?a=b`, '--transport', 'sse']);
  });

  it('passes unknown flags through in place', () => {
    expect(argvOf(['--stdio', 'srv', '--port', '1', '--allow-http', '--some-new=1'])).toEqual(['serve', '--port', '1', '--allow-http', '--some-new=1', '--', 'srv']);
  });

  it('refuses a flag without its value', () => {
    let error = usageError(() => rewriteCompatArgs(['--stdio', 'srv', '--port']));
    expect(error.message).toBe('--port needs a value');
    expect(error.hint).toBe('See the migration table in docs/migration.md.');
    error = usageError(() => rewriteCompatArgs(['--stdio', 'srv', '--port', '--cors']));
    expect(error.message).toBe('--port needs a value');
    expect(usageError(() => rewriteCompatArgs(['--sse'])).message).toBe('--sse needs a value');
  });

  it('refuses two modes at once', () => {
    const error = usageError(() => rewriteCompatArgs(['--stdio', 'srv', '--sse', URL_]));
    expect(error.message).toBe('give one of --stdio, --sse or --streamableHttp');
    expect(error.hint).toBe('See the migration table in docs/migration.md.');
  });

  it('refuses an unsupported --outputTransport', () => {
    for (const argv of [['--stdio', 'srv', '--outputTransport', 'ws'], ['--sse', URL_, '--outputTransport', 'ws']]) {
      const error = usageError(() => rewriteCompatArgs(argv));
      expect(error.message).toBe('--outputTransport "ws" is not supported');
      expect(error.hint).toBe('Use stdio, sse or streamableHttp (serve exposes both HTTP transports at once).');
    }
  });

  it('keeps arguments after -- out of the supergateway rewrite', () => {
    expect(argvOf(['--sse', URL_, '--', '--port', 'x'])).toEqual(['connect', URL_, '--transport', 'sse', '--', '--port', 'x']);
  });
});

describe('rewriteCompatArgs: supergateway spellings mixed with ours', () => {
  it('takes our command word with --stdio: serve keeps our default port', () => {
    expect(argvOf(['serve', '--stdio', 'node server.js', '--port', '9000'])).toEqual(['serve', '--port', '9000', '--', 'node', 'server.js']);
    expect(argvOf(['serve', '--stdio', 'node server.js'])).toEqual(['serve', '--', 'node', 'server.js']);
    expect(argvOf(['serve', '--port', '9000', '--stdio', 'node server.js', '--outputTransport', 'streamableHttp'])).toEqual(['serve', '--port', '9000', '--', 'node', 'server.js']);
  });

  it('takes run with --stdio, and connect or serve with --sse / --streamableHttp', () => {
    expect(argvOf(['run', '--stdio', 'node server.js', '--log-level', 'debug'])).toEqual(['run', '--log-level', 'debug', '--', 'node', 'server.js']);
    expect(argvOf(['connect', '--streamableHttp', URL_, '--debug'])).toEqual(['connect', URL_, '--transport', 'http', '--log-level', 'debug']);
    expect(argvOf(['serve', '--sse', URL_, '--port', '9000'])).toEqual(['serve', '--upstream', URL_, '--transport', 'sse', '--port', '9000']);
  });

  it('keeps our own flags in place among supergateway ones, in any order', () => {
    expect(argvOf(['--log-level', 'debug', '--stdio', 'node server.js', '--deny-tool', 'rm_*', '--port', '9000', '--logLevel', 'info'])).toEqual([
      'serve', '--log-level', 'debug', '--deny-tool', 'rm_*', '--port', '9000', '--log-level', 'info', '--', 'node', 'server.js',
    ]);
    expect(argvOf(['--stdio', 'node server.js', '--port', '9000', '--log-level', 'debug'])).toEqual(['serve', '--port', '9000', '--log-level', 'debug', '--', 'node', 'server.js']);
  });

  it('refuses a command word that cannot take the mode', () => {
    let error = usageError(() => rewriteCompatArgs(['connect', '--stdio', 'node server.js']));
    expect(error.message).toBe("connect does not take supergateway's --stdio");
    expect(error.hint).toBe('A command to spawn goes with serve (HTTP clients) or run (a stdio client): mcp-airlock serve -- <command>.');
    error = usageError(() => rewriteCompatArgs(['run', '--sse', URL_]));
    expect(error.message).toBe("run does not take supergateway's --sse");
    expect(error.hint).toBe('A remote server goes with connect (a stdio client) or serve --upstream (HTTP clients): mcp-airlock connect <url>.');
  });

  it('refuses a command word that contradicts --outputTransport', () => {
    const error = usageError(() => rewriteCompatArgs(['serve', '--stdio', 'srv', '--outputTransport', 'stdio']));
    expect(error.message).toBe('serve and --outputTransport "stdio" contradict each other');
    expect(error.hint).toBe('Drop --outputTransport: serve already says where the client is.');
    expect(usageError(() => rewriteCompatArgs(['connect', '--sse', URL_, '--outputTransport', 'sse'])).message).toBe('connect and --outputTransport "sse" contradict each other');
  });

  it('refuses a command given both with --stdio and after --', () => {
    const error = usageError(() => rewriteCompatArgs(['serve', '--stdio', 'node a.js', '--', 'node', 'b.js']));
    expect(error.message).toBe('two server commands: one in --stdio and one after --');
    expect(error.hint).toBe("Give the command once: after -- (airlock's way) or with --stdio.");
  });

  it('refuses two remote modes', () => {
    expect(usageError(() => rewriteCompatArgs(['--sse', URL_, '--streamableHttp', URL_])).message).toBe('give one of --stdio, --sse or --streamableHttp');
  });

  it('refuses --oauth2Bearer wherever it stands, never echoing the token', () => {
    for (const argv of [
      ['--oauth2Bearer', 'sk-live-abc123', '--stdio', 'srv'],
      ['serve', '--oauth2Bearer', 'sk-live-abc123', '--', 'srv'],
      ['connect', URL_, '--oauth2Bearer=sk-live-abc123'],
      [URL_, '--oauth2Bearer', 'sk-live-abc123'],
    ]) {
      const error = usageError(() => rewriteCompatArgs(argv));
      expect(error.message).toBe('--oauth2Bearer puts a token in the process list, where any local user can read it');
      expect(error.hint).toBe('Use --header "Authorization: Bearer ${TOKEN}" and set TOKEN in the environment.');
      expect(`${error.message} ${error.hint}`).not.toContain('sk-live-abc123');
    }
  });

  it.each([
    [['https://mcp.example.com/mcp', '--clean'], '--clean', 'mcp-remote', 'Use mcp-airlock logout <url> (or login <url> --force) to drop the stored tokens; the next connect logs in afresh.'],
    [['--stdio', 'srv', '--protocolVersion', '2024-11-05'], '--protocolVersion', 'supergateway', "Not needed: airlock forwards the version client and server agree on; --protocol names the upstream's era when it must be fixed."],
    [['connect', URL_, '--headers', 'X-Key', 'v'], '--headers', 'mcp-proxy', 'Use --header "Name: value" (repeatable), with ${ENV} references for secrets.'],
    [['--sse-port=8080', URL_], '--sse-port', 'mcp-proxy', 'Use mcp-airlock serve --port N.'],
    [['serve', '--sse-host', '0.0.0.0', '--', 'srv'], '--sse-host', 'mcp-proxy', 'Use mcp-airlock serve --host ADDR.'],
    [['serve', '--pass-environment', '--', 'srv'], '--pass-environment', 'mcp-proxy', "Not needed: serve and run pass airlock's environment to the command (narrow it with --env-allow NAME)."],
  ])('refuses %j, naming what to use instead', (argv, flag, tool, hint) => {
    const error = usageError(() => rewriteCompatArgs(argv));
    expect(error.message).toBe(`${flag} is ${tool}'s; airlock has no such option`);
    expect(error.hint).toBe(hint);
  });

  it('leaves a server command written without -- as it is, its flags included', () => {
    const valueFlags = new Set(['--log-level', '--port', '--env']);
    for (const argv of [
      ['run', 'node', 'server.js', '--debug', '--clean', '--headers', 'x'],
      ['run', '--log-level', 'debug', 'node', 'server.js', '--silent'],
      ['serve', '--port', '9000', '--env', 'A=1', 'node', 'server.js', '--protocolVersion', '1', '--oauth2Bearer', 'not-ours'],
    ]) {
      expect(rewriteCompatArgs(argv, valueFlags)).toEqual({ argv, notes: [] });
    }
    // Before the command, our flags and mcp-remote's are read as always.
    expect(argvOf(['serve', '--debug', 'node', 'server.js', '--debug'])).toEqual(['serve', '--log-level', 'debug', 'node', 'server.js', '--debug']);
    expect(usageError(() => rewriteCompatArgs(['run', '--clean', 'node', 'server.js'], valueFlags)).message).toBe("--clean is mcp-remote's; airlock has no such option");
    // With supergateway's --stdio the command is its value, so the words after it are still flags.
    expect(rewriteCompatArgs(['serve', '--port', '9000', '--stdio', 'node s.js', '--debug'], valueFlags).argv).toEqual(['serve', '--port', '9000', '--log-level', 'debug', '--', 'node', 's.js']);
  });

  it('leaves foreign flags after -- to the server command', () => {
    const argv = ['serve', '--', 'node', 'server.js', '--headers', 'x', '--protocolVersion', '1'];
    expect(argvOf(argv)).toEqual(argv);
  });
});

describe('rewriteCompatArgs: mcp-remote', () => {
  it('turns --debug into --log-level debug', () => {
    expect(rewriteCompatArgs(['connect', URL_, '--debug'])).toEqual({ argv: ['connect', URL_, '--log-level', 'debug'], notes: [] });
  });

  it('turns --silent into --log-level error', () => {
    expect(argvOf(['connect', URL_, '--silent'])).toEqual(['connect', URL_, '--log-level', 'error']);
  });

  it('removes --enable-proxy with a note', () => {
    expect(rewriteCompatArgs(['connect', URL_, '--enable-proxy', '--header', 'X-A: 1'])).toEqual({
      argv: ['connect', URL_, '--header', 'X-A: 1'],
      notes: ['--enable-proxy: HTTPS_PROXY/NO_PROXY are always honoured'],
    });
  });

  it('rewrites mcp-remote flags mixed with supergateway ones', () => {
    expect(argvOf(['--sse', URL_, '--debug'])).toEqual(['connect', URL_, '--transport', 'sse', '--log-level', 'debug']);
  });
});

describe('splitCommandLine', () => {
  it('splits on runs of whitespace', () => {
    expect(splitCommandLine('  node   server.js\t--port  3 ')).toEqual(['node', 'server.js', '--port', '3']);
  });

  it('keeps single-quoted text literally', () => {
    expect(splitCommandLine("node 'a b' '$HOME \\n \"x\"'")).toEqual(['node', 'a b', '$HOME \\n "x"']);
  });

  it('handles double quotes and their escapes', () => {
    expect(splitCommandLine('say "hello \\"world\\" \\\\ \\$HOME \\`x\\` \\n"')).toEqual(['say', 'hello "world" \\ $HOME `x` \\n']);
  });

  it('handles backslash escapes outside quotes', () => {
    expect(splitCommandLine('a\\ b c\\"d e\\\\f')).toEqual(['a b', 'c"d', 'e\\f']);
  });

  it('joins adjacent quoted and unquoted parts into one word', () => {
    expect(splitCommandLine(`--name='it'\\''s' x"y z"`)).toEqual(["--name=it's", 'xy z']);
  });

  it('keeps empty quoted words', () => {
    expect(splitCommandLine(`a '' "" b`)).toEqual(['a', '', '', 'b']);
  });

  it('does not interpret shell syntax', () => {
    expect(splitCommandLine('echo $HOME | cat; rm -rf / && x')).toEqual(['echo', '$HOME', '|', 'cat;', 'rm', '-rf', '/', '&&', 'x']);
  });

  it('refuses an unterminated single quote', () => {
    const error = usageError(() => splitCommandLine("node 'x"));
    expect(error.message).toBe(`unterminated ' quote in --stdio "node 'x"`);
    expect(error.hint).toBe('Close the quote, or give the command after -- instead.');
  });

  it('refuses an unterminated double quote', () => {
    expect(usageError(() => splitCommandLine('node "x')).message).toBe('unterminated " quote in --stdio "node \\"x"');
  });

  it.each([[''], ['   '], ['\t\n']])('refuses the empty command %j', (line) => {
    const error = usageError(() => splitCommandLine(line));
    expect(error.message).toBe('--stdio needs a command');
    expect(error.hint).toBe('For example: --stdio "npx -y @modelcontextprotocol/server-everything"');
  });

  it('refuses an empty --stdio through rewriteCompatArgs', () => {
    expect(usageError(() => rewriteCompatArgs(['--stdio', ''])).message).toBe('--stdio needs a command');
  });
});
