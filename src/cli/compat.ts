/**
 * Drop-in spellings of the tools airlock replaces, rewritten to our own argv before parsing, so
 * an existing config line keeps working after swapping the package name. The migration table in
 * docs/migration.md lists each one. Pure function: tested without spawning anything.
 *
 * - supergateway: `--stdio "cmd"`, `--sse URL`, `--streamableHttp URL`, `--outputTransport`,
 *   `--port`, `--ssePath`, `--messagePath`, `--streamableHttpPath`, `--healthEndpoint`,
 *   `--logLevel`, `--cors`, `--header`, `--sessionTimeout` (ms), `--baseUrl`, `--stateful`.
 *   Mixed with our own flags, and with or without our command word (`serve --stdio "cmd" --port 9000`).
 * - mcp-remote: `--debug`, `--silent`, `--enable-proxy` (the proxy variables are always honoured),
 *   `--ignore-tool` (our `--deny-tool`).
 * - Flags of those tools (and mcp-proxy) that airlock lacks are refused, wherever they stand, with
 *   the flag to use instead or why none is needed; `--oauth2Bearer` because it puts a token in argv.
 */
import { AirlockError, quote } from '../errors.js';

export interface CompatResult {
  argv: string[];
  /** What was rewritten, for a debug line. */
  notes: string[];
}

const gatewayModes = ['--stdio', '--sse', '--streamableHttp'];

/** Flags of the tools airlock replaces that it has no equivalent for: the hint says what to do. */
const foreignFlags: Record<string, { tool: string; hint: string }> = {
  '--clean': { tool: 'mcp-remote', hint: 'Use mcp-airlock logout <url> (or login <url> --force) to drop the stored tokens; the next connect logs in afresh.' },
  '--protocolVersion': { tool: 'supergateway', hint: "Not needed: airlock forwards the version client and server agree on; --protocol names the upstream's era when it must be fixed." },
  '--headers': { tool: 'mcp-proxy', hint: 'Use --header "Name: value" (repeatable), with ${ENV} references for secrets.' },
  '--sse-port': { tool: 'mcp-proxy', hint: 'Use mcp-airlock serve --port N.' },
  '--sse-host': { tool: 'mcp-proxy', hint: 'Use mcp-airlock serve --host ADDR.' },
  '--pass-environment': { tool: 'mcp-proxy', hint: "Not needed: serve and run pass airlock's environment to the command (narrow it with --env-allow NAME)." },
};

/** Which of our commands a supergateway mode may be written with, and the output it implies. */
const wordModes: Record<string, { stdio?: string; remote?: string }> = {
  serve: { stdio: 'sse', remote: 'streamableHttp' },
  run: { stdio: 'stdio' },
  connect: { remote: 'stdio' },
};

/**
 * `valueFlags`: our flags of run and serve that take a value (`--port`), so that the server command
 * written without `--` (`run node server.js --debug`) is found and left as it is, like anything after `--`.
 */
export function rewriteCompatArgs(argv: string[], valueFlags: ReadonlySet<string> = new Set()): CompatResult {
  const notes: string[] = [];
  const end = commandStart(argv, valueFlags);
  const head = end === -1 ? argv : argv.slice(0, end);
  const tail = end === -1 ? [] : argv.slice(end);
  refuseForeignFlags(head);
  let args = rewriteMcpRemote(head, notes);
  if (args.some((a) => gatewayModes.includes(splitInline(a)[0]))) args = rewriteSupergateway(args, tail, notes);
  return { argv: [...args, ...tail], notes };
}

/**
 * Where the words of a server command begin: after `--`, or for run and serve at the first word
 * that is no option's value; -1 when there is none. With supergateway's modes the command is the
 * value of --stdio, so only `--` counts.
 */
function commandStart(argv: string[], valueFlags: ReadonlySet<string>): number {
  const dashes = argv.indexOf('--');
  const head = dashes === -1 ? argv : argv.slice(0, dashes);
  if ((argv[0] !== 'run' && argv[0] !== 'serve') || head.some((a) => gatewayModes.includes(splitInline(a)[0]))) return dashes;
  for (let i = 1; i < head.length; i++) {
    const arg = head[i]!;
    if (!arg.startsWith('-')) return i;
    if (!arg.includes('=') && valueFlags.has(arg)) i++;
  }
  return dashes;
}

function refuseForeignFlags(args: string[]): void {
  for (const arg of args) {
    const [flag] = splitInline(arg);
    if (flag === '--oauth2Bearer') {
      throw new AirlockError('AIRLOCK_USAGE', '--oauth2Bearer puts a token in the process list, where any local user can read it', {
        hint: 'Use --header "Authorization: Bearer ${TOKEN}" and set TOKEN in the environment.',
      });
    }
    const foreign = Object.hasOwn(foreignFlags, flag) ? foreignFlags[flag] : undefined;
    if (foreign) throw new AirlockError('AIRLOCK_USAGE', `${flag} is ${foreign.tool}'s; airlock has no such option`, { hint: foreign.hint });
  }
}

function rewriteMcpRemote(args: string[], notes: string[]): string[] {
  const out: string[] = [];
  for (const arg of args) {
    if (arg === '--debug') out.push('--log-level', 'debug');
    else if (arg === '--silent') out.push('--log-level', 'error');
    else if (arg === '--enable-proxy') notes.push('--enable-proxy: HTTPS_PROXY/NO_PROXY are always honoured');
    else if (arg === '--ignore-tool') out.push('--deny-tool');
    else if (arg.startsWith('--ignore-tool=')) out.push(`--deny-tool=${arg.slice('--ignore-tool='.length)}`);
    else out.push(arg);
  }
  return out;
}

function rewriteSupergateway(argv: string[], tail: string[], notes: string[]): string[] {
  // Our command word, when written too (`serve --stdio "cmd"`): it fixes the output, and our defaults apply.
  const word = Object.hasOwn(wordModes, argv[0]!) ? argv[0]! : undefined;
  const args = word === undefined ? argv : argv.slice(1);
  let stdio: string | undefined;
  let remote: { url: string; transport: 'sse' | 'http' } | undefined;
  let output: string | undefined;
  let modes = 0;
  const options: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = splitInline(args[i]!);
    const value = (): string => {
      if (inline !== undefined) return inline;
      const next = args[i + 1];
      if (next === undefined || next.startsWith('--')) {
        throw new AirlockError('AIRLOCK_USAGE', `${flag} needs a value`, { hint: 'See the migration table in docs/migration.md.' });
      }
      i++;
      return next;
    };
    switch (flag) {
      case '--stdio': stdio = value(); modes++; break;
      case '--sse': remote = { url: value(), transport: 'sse' }; modes++; break;
      case '--streamableHttp': remote = { url: value(), transport: 'http' }; modes++; break;
      case '--outputTransport': output = value(); break;
      case '--port': options.push('--port', value()); break;
      case '--ssePath': options.push('--sse-path', value()); break;
      case '--messagePath': options.push('--messages-path', value()); break;
      case '--streamableHttpPath': options.push('--mcp-path', value()); break;
      case '--healthEndpoint': options.push('--health-path', value()); break;
      case '--logLevel': options.push('--log-level', value()); break;
      case '--header': options.push('--header', value()); break;
      case '--sessionTimeout': options.push('--session-timeout', String(Number(value()) / 1000)); break;
      case '--baseUrl': value(); notes.push('--baseUrl: not needed, the endpoint event carries a relative URL'); break;
      case '--stateful': notes.push('--stateful: sessions are always stateful'); break;
      case '--cors': {
        const origins: string[] = inline !== undefined ? [inline] : [];
        while (inline === undefined && args[i + 1] !== undefined && !args[i + 1]!.startsWith('--')) origins.push(args[++i]!);
        for (const origin of origins.length ? origins : ['*']) options.push('--allow-origin', origin);
        break;
      }
      default:
        options.push(args[i]!);
    }
  }
  if (modes > 1) {
    throw new AirlockError('AIRLOCK_USAGE', 'give one of --stdio, --sse or --streamableHttp', { hint: 'See the migration table in docs/migration.md.' });
  }
  if (stdio !== undefined && tail.length > 0) {
    throw new AirlockError('AIRLOCK_USAGE', 'two server commands: one in --stdio and one after --', { hint: 'Give the command once: after -- (airlock\'s way) or with --stdio.' });
  }
  const given = stdio !== undefined ? '--stdio' : remote!.transport === 'sse' ? '--sse' : '--streamableHttp';
  if (word !== undefined) {
    const implied = stdio !== undefined ? wordModes[word]!.stdio : wordModes[word]!.remote;
    if (implied === undefined) throw wordMismatch(word, given);
    if (output !== undefined && (output === 'stdio') !== (implied === 'stdio')) {
      throw new AirlockError('AIRLOCK_USAGE', `${word} and --outputTransport ${quote(output)} contradict each other`, { hint: `Drop --outputTransport: ${word} already says where the client is.` });
    }
    output ??= implied;
  }
  // supergateway listens on 8000 unless told otherwise; existing client configs point there.
  // With our own command word written, our own default (8808) holds.
  const servePort = options.includes('--port') || word !== undefined ? [] : ['--port', '8000'];
  if (stdio !== undefined) {
    const command = splitCommandLine(stdio);
    const mode = output ?? 'sse';
    notes.push(`--stdio with --outputTransport ${mode}`);
    if (mode === 'stdio') return ['run', ...options, '--', ...command];
    if (mode === 'sse' || mode === 'streamableHttp') return ['serve', ...servePort, ...options, '--', ...command];
    throw unsupportedOutput(mode);
  }
  const { url, transport } = remote!;
  const mode = output ?? 'stdio';
  if (mode === 'stdio') return ['connect', url, '--transport', transport, ...options];
  if (mode === 'sse' || mode === 'streamableHttp') return ['serve', '--upstream', url, '--transport', transport, ...servePort, ...options];
  throw unsupportedOutput(mode);
}

function wordMismatch(word: string, flag: string): AirlockError {
  const hint =
    flag === '--stdio'
      ? `A command to spawn goes with serve (HTTP clients) or run (a stdio client): mcp-airlock serve -- <command>.`
      : `A remote server goes with connect (a stdio client) or serve --upstream (HTTP clients): mcp-airlock connect <url>.`;
  return new AirlockError('AIRLOCK_USAGE', `${word} does not take supergateway's ${flag}`, { hint });
}

function unsupportedOutput(mode: string): AirlockError {
  return new AirlockError('AIRLOCK_USAGE', `--outputTransport ${quote(mode)} is not supported`, { hint: 'Use stdio, sse or streamableHttp (serve exposes both HTTP transports at once).' });
}

function splitInline(arg: string): [string, string | undefined] {
  const eq = arg.indexOf('=');
  return arg.startsWith('--') && eq > 2 ? [arg.slice(0, eq), arg.slice(eq + 1)] : [arg, undefined];
}

/**
 * Split a command string as a POSIX shell would split words (quotes and backslashes), without
 * running a shell: no expansion, no pipes, nothing to inject into.
 */
export function splitCommandLine(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quoteChar: '"' | "'" | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoteChar === "'") {
      if (c === "'") quoteChar = undefined;
      else word += c;
    } else if (quoteChar === '"') {
      if (c === '"') quoteChar = undefined;
      else if (c === '\\' && i + 1 < line.length && '"\\$`'.includes(line[i + 1]!)) word += line[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quoteChar = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < line.length) {
      word += line[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quoteChar) throw new AirlockError('AIRLOCK_USAGE', `unterminated ${quoteChar} quote in --stdio ${quote(line)}`, { hint: 'Close the quote, or give the command after -- instead.' });
  if (inWord) words.push(word);
  if (words.length === 0) throw new AirlockError('AIRLOCK_USAGE', '--stdio needs a command', { hint: 'For example: --stdio "npx -y @modelcontextprotocol/server-everything"' });
  return words;
}
