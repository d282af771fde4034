/**
 * `mcp-airlock secret set NAME`, `secret delete NAME`, `secret list`: the values behind
 * `${keychain:NAME}` in the servers file, in the OS keychain (else 0600 files, as --storage
 * chooses). A value is read from stdin, never from the command line (where other local users can
 * read it): typed without echo on a terminal, else piped (`pass show github | mcp-airlock secret set github`).
 */
import type { Command } from 'commander';
import { AirlockError, ExitCode, quote } from '../errors.js';
import { createLogger } from '../log.js';
import { checkSecretName, secretStore, type SecretStore } from '../config/secret-store.js';
import { isStorageMode, storageModes, type StorageMode } from '../store/storage-mode.js';
import type { CommandResult } from './program.js';

const MAX_SECRET = 64 * 1024;

export function parseStorage(value: string): StorageMode {
  if (!isStorageMode(value)) throw new AirlockError('AIRLOCK_USAGE', `--storage is ${quote(value)}`, { hint: `Use ${storageModes.join(', ')}.` });
  return value;
}

export async function openSecrets(storage: StorageMode): Promise<SecretStore> {
  const { openGrantStore } = await import('../store/open-store.js');
  return secretStore(await openGrantStore({ storage, log: createLogger('warn') }));
}

/** One line typed on the terminal, not echoed; Ctrl-C gives up. */
function promptHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(question);
  return new Promise((resolve, reject) => {
    let value = '';
    const done = (error?: Error): void => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(value);
    };
    const onData = (chunk: Buffer): void => {
      for (const char of chunk.toString('utf8')) {
        if (char === '\r' || char === '\n') return done();
        if (char === '\u0003') return done(new AirlockError('AIRLOCK_USAGE', 'stopped: nothing stored', { hint: 'Run it again and type the value, or pipe it in.' }));
        if (char === '\u007f' || char === '\b') value = value.slice(0, -1);
        else value += char;
      }
    };
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on('data', onData);
  });
}

/** All of stdin, one final newline dropped (what `echo` and `pass show` add). */
async function readPiped(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    size += (chunk as Buffer).length;
    if (size > MAX_SECRET) throw new AirlockError('AIRLOCK_USAGE', `the value on stdin is larger than ${MAX_SECRET} bytes`, { hint: 'A secret is a token or a key: pipe in only the value.' });
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

export async function readSecretValue(name: string): Promise<string> {
  const value = process.stdin.isTTY ? await promptHidden(`Value of ${name} (not shown): `) : await readPiped();
  if (value === '') throw new AirlockError('AIRLOCK_USAGE', `no value given for ${quote(name)}: nothing stored`, { hint: `Type the value when asked, or pipe it in: printf %s "$TOKEN" | mcp-airlock secret set ${name}` });
  return value;
}

export function registerSecret(program: Command, result: CommandResult): void {
  const secret = program
    .command('secret')
    .summary('store the values behind ${keychain:NAME} in the servers file')
    .description('Store, delete or list the secrets the servers file refers to as ${keychain:NAME}: in the OS keychain (else 0600 files).');
  const storageOption = (command: Command): Command => command.option('--storage <where>', 'auto (OS keychain, else a 0600 file) | keychain | file', parseStorage, 'auto').exitOverride();

  storageOption(secret.command('set').description('store a secret, read from stdin (typed without echo on a terminal); never from the command line').argument('<name>', 'the NAME of ${keychain:NAME}'))
    .addHelpText('after', `
Examples:
  $ mcp-airlock secret set github          # type it, not shown
  $ pass show github | mcp-airlock secret set github`)
    .action(async (name: string, flags: { storage: StorageMode }) => {
      checkSecretName(name);
      const value = await readSecretValue(name);
      await (await openSecrets(flags.storage)).set(name, value);
      process.stderr.write(`mcp-airlock: stored secret ${quote(name)}; refer to it as \${keychain:${name}}\n`);
    });

  storageOption(secret.command('delete').description('delete a stored secret').argument('<name>', 'the NAME of ${keychain:NAME}')).action(async (name: string, flags: { storage: StorageMode }) => {
    checkSecretName(name);
    if (await (await openSecrets(flags.storage)).delete(name)) {
      process.stderr.write(`mcp-airlock: deleted secret ${quote(name)}\n`);
      return;
    }
    process.stderr.write(`mcp-airlock: error: no secret ${quote(name)} is stored\nmcp-airlock: hint: \`mcp-airlock secret list\` shows the names stored.\n`);
    result.exitCode = ExitCode.config;
  });

  storageOption(secret.command('list').description('the names of the stored secrets (never their values)')).action(async (flags: { storage: StorageMode }) => {
    for (const name of await (await openSecrets(flags.storage)).list()) process.stdout.write(`${name}\n`);
  });
}
