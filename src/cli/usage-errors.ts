/**
 * Usage mistakes in one language: commander's parse errors and a first word that is neither a
 * server URL nor a command become AirlockErrors (one message, one hint naming the next step, exit 2),
 * printed by main like every other failure. Pure functions, tested without spawning anything.
 */
import type { Command, CommanderError } from 'commander';
import { closest } from '../closest-word.js';
import { AirlockError, quote } from '../errors.js';

/** Where the CLI's tests and callers have always found them. */
export { closest, editDistance } from '../closest-word.js';

const loopbackNames = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/i;

/**
 * A server address typed without its scheme (`mcp.example.com/mcp`, `localhost:3000/mcp`): the
 * error names the URL the user most likely meant. Undefined when `value` does not look like one.
 */
export function schemelessUrlError(value: string): AirlockError | undefined {
  if (value.includes('://')) return undefined;
  const match = /^([a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(:\d{1,5})?([/?#].*)?$/i.exec(value);
  if (!match) return undefined;
  const [, host, port, rest] = match;
  if (!host!.includes('.') && !host!.startsWith('[') && !loopbackNames.test(host!) && port === undefined) return undefined;
  const scheme = loopbackNames.test(host!) ? 'http' : 'https';
  return new AirlockError('AIRLOCK_BAD_URL', `not a URL: ${quote(value)} has no scheme`, {
    hint: `Write it with its scheme: ${scheme}://${host}${port ?? ''}${rest ?? ''} (https:// for a remote server; http:// only for this machine, or with --allow-http).`,
  });
}

/**
 * The first word of the command line, when it is neither a command nor a URL: a typo of a command
 * (`conect`), an address without its scheme, or a word that is neither. Undefined when it is fine
 * or an option; what is left for the default command (`connect <url>`) to check. `subcommands`
 * are the commands of groups, as typed (`audit verify`): `mcp-airlock verify` is one of them.
 */
export function firstWordError(word: string | undefined, commands: readonly string[], subcommands: readonly string[] = []): AirlockError | undefined {
  if (word === undefined || word.startsWith('-') || commands.includes(word) || word.includes('://')) return undefined;
  const lastWord = (path: string): string => path.slice(path.lastIndexOf(' ') + 1);
  const near = closest(word, commands);
  const nested = near === undefined ? closest(word, subcommands.map(lastWord)) : undefined;
  const command = near ?? subcommands.find((path) => nested !== undefined && lastWord(path) === nested);
  if (command !== undefined) {
    return new AirlockError('AIRLOCK_USAGE', `unknown command ${quote(word)}`, { hint: `Did you mean \`mcp-airlock ${command}\`? (\`mcp-airlock --help\` lists the commands)` });
  }
  const address = schemelessUrlError(word);
  if (address) return address;
  return new AirlockError('AIRLOCK_USAGE', `${quote(word)} is neither a server URL nor a command`, {
    hint: `Usage: mcp-airlock <url> [options]  or  mcp-airlock <command> [options], where <command> is one of ${commands.join(', ')}.`,
  });
}

/** Every command name and alias the first word may be, `help` included (of `command`'s program). */
export function commandNames(command: Command): string[] {
  let program = command;
  while (program.parent) program = program.parent;
  return [...program.commands.flatMap((c) => [c.name(), ...c.aliases()]), 'help'];
}

/** `mcp-airlock audit show`: how a command is typed, for hints. */
function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/**
 * Turn one of commander's parse errors, raised by `command`, into an AirlockError in our format.
 * Returns undefined for what is not an error (help, version).
 */
export function commanderUsageError(error: CommanderError, command: Command): AirlockError | undefined {
  const path = commandPath(command);
  // In messages the command without the program name ("serve", "audit show"): the line already starts with mcp-airlock.
  const name = path.replace(/^mcp-airlock /, '');
  const help = `\`${path} --help\``;
  const usage = `${path} ${command.usage()}`;
  const text = error.message.replace(/^error: /, '');
  const usageError = (message: string, hint: string): AirlockError => new AirlockError('AIRLOCK_USAGE', message, { hint });
  switch (error.code) {
    case 'commander.helpDisplayed':
    case 'commander.version':
      return undefined;
    case 'commander.help':
      // A command group without its subcommand (`mcp-airlock audit`): commander has shown its help.
      return error.exitCode === 0 ? undefined : usageError(`${name} needs a command`, `Use one of: ${command.commands.map((c) => c.name()).join(', ')} (${help} says what each does).`);
    case 'commander.unknownOption': {
      // `--name=value`: the value may be a secret (`--client-secret=...`); name the flag alone.
      const flag = (/^unknown option '(.*?)'(?:\n|$)/.exec(text)?.[1] ?? text).split('=')[0]!;
      const known = optionFlags(command);
      const near = flag.startsWith('--') ? closest(flag, known) : undefined;
      return usageError(`unknown option ${quote(flag)} for ${name}`, near ? `Did you mean ${near}? (${help} lists every option)` : `${help} lists every option.`);
    }
    case 'commander.unknownCommand': {
      const word = /^unknown command '(.*?)'(?:\n|$)/.exec(text)?.[1] ?? text;
      const names = command.commands.map((c) => c.name());
      const near = closest(word, names);
      return usageError(`unknown command ${quote(word)} for ${name}`, near ? `Did you mean \`${path} ${near}\`?` : `Use one of: ${names.join(', ')}.`);
    }
    case 'commander.optionMissingArgument': {
      const flags = /^option '(.*?)' argument missing/.exec(text)?.[1] ?? text;
      return usageError(`${flags.split(/[ ,]/).filter((f) => f.startsWith('--')).pop() ?? flags} needs a value`, `Give it as ${flags.replace(/^-\w, /, '')}; ${help} lists every option.`);
    }
    case 'commander.missingMandatoryOptionValue': {
      const flags = /^required option '(.*?)' not specified/.exec(text)?.[1] ?? text;
      return usageError(`${name} needs ${flags}`, `Usage: ${usage}`);
    }
    case 'commander.missingArgument': {
      const argName = /^missing required argument '(.*?)'/.exec(text)?.[1] ?? text;
      return usageError(`${name} needs the <${argName}> argument`, `Usage: ${usage}`);
    }
    case 'commander.excessArguments': {
      const expected = command.registeredArguments.length;
      const extra = command.args.slice(expected);
      return usageError(
        `too many arguments for ${name}: ${extra.map((a) => quote(a, 60)).join(' ')} ${extra.length === 1 ? 'is' : 'are'} not expected`,
        `Usage: ${usage}`,
      );
    }
    case 'commander.invalidArgument': {
      // "option '--port <n>' argument 'x' is invalid. use ..." or "command-argument value 'x' is invalid for argument 'y'. use ..."
      const option = /^option '(.*?)' argument '([\s\S]*)' is invalid\. ([\s\S]*)$/.exec(text);
      const argument = /^command-argument value '([\s\S]*)' is invalid for argument '(.*?)'\. ([\s\S]*)$/.exec(text);
      if (option) {
        const flag = option[1]!.split(/[ ,]/).filter((f) => f.startsWith('-')).pop()!;
        // A flag that carries secrets by nature never has its value echoed, not even a mistyped one (`--env $TOKEN`).
        if (SECRET_VALUE_FLAGS.has(flag) && !option[2]!.includes('=')) return usageError(`invalid value for ${flag} (not shown: it may be a secret)`, sentence(option[3]!));
        return usageError(`invalid value ${shownValue(option[2]!)} for ${flag}`, sentence(option[3]!));
      }
      if (argument) return usageError(`invalid value ${shownValue(argument[1]!)} for the <${argument[2]}> argument of ${name}`, sentence(argument[3]!));
      return usageError(text, `${help} lists every option.`);
    }
    default:
      return usageError(text.split('\n')[0]!, `${help} lists every option.`);
  }
}

/** Long flags a command accepts, for did-you-mean. */
function optionFlags(command: Command): string[] {
  return command.options.map((o) => o.long).filter((f): f is string => f !== undefined);
}

/** Flags whose values are often secrets: a value without `NAME=` is not repeated in a message. */
const SECRET_VALUE_FLAGS: ReadonlySet<string> = new Set(['--env', '--header', '--authorize-param', '--static-oauth-client-info']);

/** A value for a message: quoted, and only its name part when it is `name=value` (`--env KEY=secret`). */
function shownValue(value: string): string {
  const equals = value.indexOf('=');
  return equals === -1 ? quote(value, 80) : quote(`${value.slice(0, Math.min(equals, 80))}=…`);
}

/** Commander's "use a port ..." as a hint: capitalised, one full stop. */
function sentence(text: string): string {
  const trimmed = text.trim();
  const capital = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return capital.endsWith('.') ? capital : `${capital}.`;
}
