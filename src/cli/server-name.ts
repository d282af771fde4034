/**
 * `mcp-airlock NAME [flags]`: when the first word is neither a command nor a URL and names a
 * server of the servers file, the command line that runs it (config/server-launch.ts) and the
 * invocation it runs in: airlock's environment plus the resolved variables, the entry's working
 * directory. main runs that command line as if it had been typed.
 */
import { closest } from '../closest-word.js';
import { AirlockError, describeError, quote } from '../errors.js';
import { createLogger } from '../log.js';
import { serverLaunch } from '../config/server-launch.js';
import { loadServers, untrustedError } from '../config/servers-location.js';
import { secretStore } from '../config/secret-store.js';
import type { StorageMode } from '../store/storage-mode.js';
import type { Invocation } from './invocation.js';

/** The values behind `${keychain:NAME}`, from the store `storage` chooses (opened on first use). */
export function keychainReader(storage: StorageMode, env: NodeJS.ProcessEnv): (name: string) => Promise<string | undefined> {
  return async (name) => {
    const { openGrantStore } = await import('../store/open-store.js');
    const store = await openGrantStore({ storage, log: createLogger('warn'), env });
    return secretStore(store).get(name);
  };
}

/**
 * The command line and invocation for `argv` when its first word names a server; undefined when
 * it is not for us (a command, a URL, an option, a likely typo of a command with no such server).
 * A word that is none of these, with servers files present, is an error listing their servers.
 */
export async function namedServer(argv: readonly string[], commands: readonly string[], io: Invocation): Promise<{ argv: string[]; io: Invocation } | undefined> {
  const word = argv[0];
  if (word === undefined || word.startsWith('-') || commands.includes(word) || word.includes('://')) return undefined;
  const { files, servers, untrusted } = await loadServers(io.cwd, io.env, { reserved: commands });
  // Not the user's entry either: once trusted, the project's would win.
  if (untrusted?.names.includes(word)) throw untrustedError(word, untrusted);
  const server = servers.get(word);
  if (!server) {
    if (servers.size === 0 || closest(word, commands) !== undefined || word.includes('.') || word.includes(':')) return undefined;
    const near = closest(word, [...servers.keys()]);
    throw new AirlockError('AIRLOCK_USAGE', `${quote(word)} is neither a server URL, a command, nor a server of ${files.map((f) => f.path).join(' or ')}`, {
      hint: `${near ? `Did you mean \`mcp-airlock ${near}\`? ` : ''}Servers: ${[...servers.keys()].join(', ')} (\`mcp-airlock config show\` lists them; \`mcp-airlock --help\` the commands).`,
    });
  }
  const launch = await serverLaunch(server, argv.slice(1), { env: io.env, keychain: keychainReader((server.entry.storage as StorageMode | undefined) ?? 'auto', io.env) });
  if (launch.cwd !== undefined && !io.hosted) {
    try {
      process.chdir(launch.cwd);
    } catch (error) {
      throw new AirlockError('AIRLOCK_SERVERS_FILE', `server ${quote(word)} (${server.file.path}): cannot use its cwd ${quote(launch.cwd)}: ${describeError(error)}`, { hint: 'Fix "cwd" in the servers file (a relative one is relative to the file\'s folder).', cause: error });
    }
  }
  return { argv: launch.argv, io: { ...io, env: { ...io.env, ...launch.env }, cwd: launch.cwd ?? io.cwd } };
}
