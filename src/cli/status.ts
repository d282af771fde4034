/**
 * `mcp-airlock status [url]` and `mcp-airlock logout <url> | --all`: what is stored per server
 * (issuer, client, scopes, expiry, where), never a token; and forgetting it.
 */
import type { Command } from 'commander';
import { canonicalResourceUri } from '../auth/resource-uri.js';
import { AirlockError, quote } from '../errors.js';
import type { LogLevel } from '../log.js';
import type { TokenRecord } from '../store/grant-store.js';
import { openStore, parseStorage, type AuthFlags } from './auth-options.js';
import { createContext } from './context.js';
import { parseLogLevel } from './options.js';
import type { CommandResult } from './program.js';

/** "expires in 42 min", "expired 3 h ago", "no expiry given". */
export function describeExpiry(expiresAt: number | undefined, now = Date.now()): string {
  if (expiresAt === undefined) return 'no expiry given';
  const minutes = Math.round((expiresAt - now) / 60_000);
  const span = (m: number): string => (Math.abs(m) >= 120 ? `${Math.round(Math.abs(m) / 60)} h` : `${Math.abs(m)} min`);
  return minutes >= 0 ? `expires in ${span(minutes)}` : `expired ${span(minutes)} ago`;
}

const storageOption = (command: Command): Command =>
  command.option('--storage <where>', 'auto | keychain | file', parseStorage, 'auto').option('--log-level <level>', 'silent | error | warn | info | debug', parseLogLevel, 'warn');

function resourceOf(url: string): string {
  return canonicalResourceUri(url, 'the server URL');
}

function summary(record: TokenRecord, backend: string): Record<string, unknown> {
  return {
    server: record.resource,
    issuer: record.issuer,
    clientId: record.clientId,
    scopes: record.scope ? record.scope.split(' ') : [],
    subject: record.subject ?? null,
    expiresAt: record.expiresAt === undefined ? null : new Date(record.expiresAt).toISOString(),
    refreshable: record.refreshToken !== undefined,
    storage: backend,
  };
}

export function registerStatus(program: Command, result: CommandResult): void {
  storageOption(
    program
      .command('status')
      .summary('show stored logins (never the tokens)')
      .argument('[url]', 'only this server')
      .option('--json', 'print JSON'),
  ).action(async (url: string | undefined, options: Pick<AuthFlags, 'storage'> & { json?: boolean; logLevel: LogLevel }) => {
    const { log } = createContext(options.logLevel);
    const store = await openStore(options, log);
    const wanted = url === undefined ? undefined : resourceOf(url);
    const records = (await store.listTokens()).filter((r) => wanted === undefined || r.resource === wanted);
    const rows = records.map((r) => summary(r, store.backend));
    if (options.json) {
      process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    } else if (rows.length === 0) {
      process.stdout.write(wanted ? `not logged in to ${wanted} (storage: ${store.backend})\n` : `no stored logins (storage: ${store.backend})\n`);
    } else {
      for (const r of records) {
        process.stdout.write(`${r.resource}\n  issuer ${r.issuer}, client ${r.clientId}${r.subject ? `, subject ${r.subject}` : ''}\n  scopes ${r.scope || '(none)'}; ${describeExpiry(r.expiresAt)}${r.refreshToken ? ', refreshable' : ''}; stored in ${store.backend}\n`);
      }
    }
    result.exitCode = wanted !== undefined && rows.length === 0 ? 1 : 0;
  });
}

export function registerLogout(program: Command, result: CommandResult): void {
  storageOption(
    program
      .command('logout')
      .summary('forget the stored tokens of a server (or all)')
      .argument('[url]', 'the server to log out of')
      .option('--all', 'forget every stored login', false),
  ).action(async (url: string | undefined, options: Pick<AuthFlags, 'storage'> & { all: boolean; logLevel: LogLevel }) => {
    if ((url === undefined) === !options.all) {
      throw new AirlockError('AIRLOCK_USAGE', url === undefined ? 'give a server URL, or --all' : 'give a server URL or --all, not both', { hint: 'mcp-airlock logout https://mcp.example.com/mcp' });
    }
    const { log } = createContext(options.logLevel);
    const store = await openStore(options, log);
    const targets = options.all ? (await store.listTokens()).map((r) => r.resource) : [resourceOf(url!)];
    let removed = 0;
    for (const resource of targets) if (await store.deleteTokens(resource)) removed++;
    if (!options.all && removed === 0) process.stdout.write(`not logged in to ${quote(targets[0])}; nothing to forget\n`);
    else process.stdout.write(`logged out of ${removed} server${removed === 1 ? '' : 's'}\n`);
    result.exitCode = 0;
  });
}
