import { Command, CommanderError, Option } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram, optionDescription } from '../../../src/cli/program.js';
import { closest, commanderUsageError, editDistance, firstWordError, schemelessUrlError } from '../../../src/cli/usage-errors.js';
import { AirlockError } from '../../../src/errors.js';

const commands = ['connect', 'serve', 'run', 'login', 'logout', 'status', 'audit', 'doctor', 'auth', 'policy', 'help'];

/** Parse `argv` with the real program and return the AirlockError its first parse error becomes. */
function parseError(argv: string[]): AirlockError {
  const program = buildProgram({ exitCode: 0 });
  let caught: AirlockError | undefined;
  const visit = (command: Command): void => {
    command.exitOverride((error: CommanderError) => {
      caught = commanderUsageError(error, command);
      throw error;
    });
    // A command group without its subcommand prints its help; keep it out of the test output.
    command.configureOutput({ writeErr: () => undefined, writeOut: () => undefined, outputError: () => undefined });
    command.commands.forEach(visit);
  };
  visit(program);
  // Actions never run: every argv here fails while parsing.
  expect(() => program.parse(argv, { from: 'user' })).toThrow(CommanderError);
  expect(caught).toBeInstanceOf(AirlockError);
  expect(caught!.code).toBe('AIRLOCK_USAGE');
  expect(caught!.exitCode).toBe(2);
  return caught!;
}

describe('editDistance and closest', () => {
  it('counts an adjacent transposition as one edit', () => {
    expect(editDistance('stauts', 'status')).toBe(1);
    expect(editDistance('conect', 'connect')).toBe(1);
    expect(editDistance('serve', 'serve')).toBe(0);
    expect(editDistance('', 'run')).toBe(3);
    expect(editDistance('kitten', 'sitting')).toBe(3);
  });

  it('finds a command within two edits, fewer for short names', () => {
    expect(closest('conect', commands)).toBe('connect');
    expect(closest('stauts', commands)).toBe('status');
    expect(closest('serv', commands)).toBe('serve');
    expect(closest('loggin', commands)).toBe('login');
    expect(closest('rnu', commands)).toBe('run');
    expect(closest('xyz', commands)).toBeUndefined();
    expect(closest('deploy', commands)).toBeUndefined();
  });

  it('compares flags without their dashes', () => {
    expect(closest('--prot', ['--port', '--host'])).toBe('--port');
    expect(closest('--log-levl', ['--log-level', '--allow-http'])).toBe('--log-level');
    expect(closest('--frobnicate', ['--port', '--host'])).toBeUndefined();
  });
});

describe('firstWordError', () => {
  it('leaves commands, URLs, options and nothing alone', () => {
    for (const word of [...commands, 'https://mcp.example.com/mcp', 'http://127.0.0.1:1/mcp', '--header', '-V', undefined]) {
      expect(firstWordError(word, commands)).toBeUndefined();
    }
  });

  it.each([
    ['conect', 'connect'],
    ['stauts', 'status'],
    ['sevre', 'serve'],
    ['doctr', 'doctor'],
  ])('asks whether %j meant %j', (word, command) => {
    const error = firstWordError(word, commands)!;
    expect(error.code).toBe('AIRLOCK_USAGE');
    expect(error.exitCode).toBe(2);
    expect(error.message).toBe(`unknown command "${word}"`);
    expect(error.hint).toBe(`Did you mean \`mcp-airlock ${command}\`? (\`mcp-airlock --help\` lists the commands)`);
  });

  it('finds the command of a group typed without its group', () => {
    const subcommands = ['audit path', 'audit verify', 'audit seal', 'audit tail', 'audit show', 'auth debug', 'policy check', 'policy explain'];
    expect(firstWordError('verify', commands, subcommands)!.hint).toBe('Did you mean `mcp-airlock audit verify`? (`mcp-airlock --help` lists the commands)');
    expect(firstWordError('explian', commands, subcommands)!.hint).toBe('Did you mean `mcp-airlock policy explain`? (`mcp-airlock --help` lists the commands)');
    expect(firstWordError('debug', commands, subcommands)!.hint).toBe('Did you mean `mcp-airlock auth debug`? (`mcp-airlock --help` lists the commands)');
    // A top-level command wins over a nested one.
    expect(firstWordError('stauts', commands, subcommands)!.hint).toBe('Did you mean `mcp-airlock status`? (`mcp-airlock --help` lists the commands)');
  });

  it('names the URL meant for an address without its scheme', () => {
    const error = firstWordError('mcp.example.com/mcp', commands)!;
    expect(error.code).toBe('AIRLOCK_BAD_URL');
    expect(error.exitCode).toBe(2);
    expect(error.message).toBe('not a URL: "mcp.example.com/mcp" has no scheme');
    expect(error.hint).toBe('Write it with its scheme: https://mcp.example.com/mcp (https:// for a remote server; http:// only for this machine, or with --allow-http).');
    expect(firstWordError('localhost:3000', commands)!.hint).toContain('http://localhost:3000 ');
  });

  it('says a word that is neither is neither, with both usages', () => {
    const error = firstWordError('frobnicate', commands)!;
    expect(error.code).toBe('AIRLOCK_USAGE');
    expect(error.message).toBe('"frobnicate" is neither a server URL nor a command');
    expect(error.hint).toBe(`Usage: mcp-airlock <url> [options]  or  mcp-airlock <command> [options], where <command> is one of ${commands.join(', ')}.`);
  });

  it('quotes a hostile word so that it cannot forge a line', () => {
    expect(firstWordError('x\nmcp-airlock: error: forged', commands)!.message).toBe('"x\\nmcp-airlock: error: forged" is neither a server URL nor a command');
  });
});

describe('schemelessUrlError', () => {
  it('passes words that are not addresses', () => {
    for (const value of ['garbage', 'a b', '', 'https://x.example', 'ftp://x.example', 'C:\\path']) expect(schemelessUrlError(value)).toBeUndefined();
  });
});

describe('commanderUsageError, from real parses of the program', () => {
  it('an unknown option, with a did-you-mean when one is close', () => {
    let error = parseError(['serve', '--prot', '9000']);
    expect(error.message).toBe('unknown option "--prot" for serve');
    expect(error.hint).toBe('Did you mean --port? (`mcp-airlock serve --help` lists every option)');
    error = parseError(['serve', '--frobnicate']);
    expect(error.message).toBe('unknown option "--frobnicate" for serve');
    expect(error.hint).toBe('`mcp-airlock serve --help` lists every option.');
    error = parseError(['https://mcp.example.com/mcp', '--log-levl', 'debug']);
    expect(error.message).toBe('unknown option "--log-levl" for connect');
    expect(error.hint).toBe('Did you mean --log-level? (`mcp-airlock connect --help` lists every option)');
  });

  it('never repeats a value that may be a secret', () => {
    let error = parseError(['https://mcp.example.com/mcp', '--client-secret=sk-live-abc123']);
    expect(error.message).toBe('unknown option "--client-secret" for connect');
    error = parseError(['serve', '--env', '1BAD=sk-live-abc123', '--', 'x']);
    expect(error.message).toBe('invalid value "1BAD=…" for --env');
    expect(error.hint).toBe('Use NAME=VALUE, NAME made of letters, digits and _ (not starting with a digit); to pass a variable as it is, use --env-allow NAME.');
    error = parseError(['serve', '--env', 'sk-live-abc123', '--', 'x']);
    // A word without NAME= may be the secret itself (`--env $TOKEN`): not shown at all.
    expect(error.message).toBe('invalid value for --env (not shown: it may be a secret)');
    error = parseError(['policy', 'explain', 'p.json', '--tool', 't', '--annotation', 'readOnlyHint=maybe-sk-live']);
    expect(`${error.message} ${error.hint}`).not.toContain('maybe-sk-live');
  });

  it('a missing argument', () => {
    const error = parseError(['login']);
    expect(error.message).toBe('login needs the <url> argument');
    expect(error.hint).toBe('Usage: mcp-airlock login [options] <url>');
  });

  it('an option without its value', () => {
    const error = parseError(['serve', '--port']);
    expect(error.message).toBe('--port needs a value');
    expect(error.hint).toBe('Give it as --port <n>; `mcp-airlock serve --help` lists every option.');
    expect(parseError(['audit', 'tail', '-n']).message).toBe('--lines needs a value');
  });

  it('a bad option value, with the parser\'s advice as the hint', () => {
    const error = parseError(['serve', '--port', 'eighty']);
    expect(error.message).toBe('invalid value "eighty" for --port');
    expect(error.hint).toBe('Use a port number from 0 to 65535 (0 picks a free one).');
    expect(parseError(['serve', '--max-body', 'huge']).hint).toBe('Use a size such as 4mb, 512kb or 1048576.');
  });

  it('a bad argument value', () => {
    const error = parseError(['https://mcp.example.com/mcp', 'not-a-port']);
    expect(error.message).toBe('invalid value "not-a-port" for the <callback-port> argument of connect');
    expect(error.hint).toBe('Use a port number from 0 to 65535 (0 picks a free one).');
  });

  it('too many arguments', () => {
    const error = parseError(['status', 'https://a.example', 'b', 'c']);
    expect(error.message).toBe('too many arguments for status: "b" "c" are not expected');
    expect(error.hint).toBe('Usage: mcp-airlock status [options] [url]');
  });

  it('an unknown subcommand, with a did-you-mean', () => {
    let error = parseError(['audit', 'shw']);
    expect(error.message).toBe('unknown command "shw" for audit');
    expect(error.hint).toBe('Did you mean `mcp-airlock audit show`?');
    error = parseError(['audit', 'frobnicate']);
    expect(error.hint).toBe('Use one of: path, verify, seal, tail, show.');
  });

  it('a command group without its subcommand', () => {
    const error = parseError(['policy']);
    expect(error.message).toBe('policy needs a command');
    expect(error.hint).toBe('Use one of: check, explain (`mcp-airlock policy --help` says what each does).');
  });

  it('a required option left out', () => {
    const error = parseError(['policy', 'explain', 'policy.json']);
    expect(error.message).toBe('policy explain needs --tool <name>');
    expect(error.hint).toBe('Usage: mcp-airlock policy explain [options] <file>');
  });

  it('help and version are no errors', () => {
    const command = new Command('x');
    expect(commanderUsageError(new CommanderError(0, 'commander.helpDisplayed', '(outputHelp)'), command)).toBeUndefined();
    expect(commanderUsageError(new CommanderError(0, 'commander.version', '1.0.0'), command)).toBeUndefined();
  });
});

describe('optionDescription: defaults as people write them', () => {
  const program = buildProgram({ exitCode: 0 });
  const line = (command: string, flag: string): string => {
    const option = program.commands.find((c) => c.name() === command)!.options.find((o) => o.long === flag)!;
    return optionDescription(option);
  };

  it('shows sizes in binary units and seconds with minutes', () => {
    expect(line('serve', '--max-message')).toMatch(/ \(default: 32 MiB\)$/);
    expect(line('serve', '--max-body')).toMatch(/ \(default: 4 MiB\)$/);
    expect(line('serve', '--audit-max-size')).toMatch(/ \(default: 10 MiB\)$/);
    expect(line('serve', '--session-timeout')).toMatch(/ \(default: 1800 s = 30 min\)$/);
    expect(line('login', '--auth-timeout')).toMatch(/ \(default: 300 s = 5 min\)$/);
  });

  it('shows plain defaults without quotes', () => {
    expect(line('serve', '--port')).toMatch(/ \(default: 8808\)$/);
    expect(line('serve', '--host')).toMatch(/ \(default: 127\.0\.0\.1\)$/);
    expect(line('connect', '--transport')).toMatch(/ \(default: auto\)$/);
  });

  it('leaves out empty lists, false and empty objects', () => {
    for (const [command, flag] of [['serve', '--header'], ['serve', '--allow-http'], ['serve', '--env'], ['connect', '--device'], ['run', '--allow-tool']] as const) {
      expect(line(command, flag)).not.toContain('(default:');
    }
  });

  it('keeps choices, and an explicit default description', () => {
    expect(optionDescription(new Option('--mode <m>', 'how').choices(['a', 'b']).default('a'))).toBe('how (choices: a, b; default: a)');
    expect(optionDescription(new Option('--limit <size>', 'cap').default(1024, 'one KiB'))).toBe('cap (default: one KiB)');
    expect(optionDescription(new Option('--limit <size>', 'cap').default(1024))).toBe('cap (default: 1 KiB)');
    expect(optionDescription(new Option('--n <n>', 'count').default(1048576))).toBe('count (default: 1048576)');
  });

  it('no option of any command shows noise', () => {
    const all: string[] = [];
    const visit = (command: Command): void => {
      for (const option of command.options) all.push(optionDescription(option));
      command.commands.forEach(visit);
    };
    visit(program);
    expect(all.length).toBeGreaterThan(100);
    for (const text of all) expect(text).not.toMatch(/\(default: (\[\]|\{\}|false|true|"|\d{5,})/);
  });
});
