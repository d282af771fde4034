/**
 * `mcp-airlock status [url]` and `mcp-airlock logout <url> | --all`: what is stored per server
 * (issuer, client, scopes, expiry, where), never a token; and revoking (RFC 7009) and forgetting it.
 */
import type { Command } from 'commander';
import { canonicalResourceUri } from '../auth/resource-uri.js';
import { AirlockError, describeError, ExitCode, quote, toAirlockError } from '../errors.js';
import type { Logger, LogLevel } from '../log.js';
import { authLockName, authLockWaitMs, type GrantStore, type TokenRecord } from '../store/grant-store.js';
import { isLoopbackHost } from '../transports/http-guard.js';
import { openStore, parseAccount, parseStorage, type AuthFlags } from './auth-options.js';
import { accountStore, DEFAULT_ACCOUNT, listAccountTokens } from '../store/account-store.js';
import { createContext } from './context.js';
import { endOptions } from './help-groups.js';
import { addTlsOptions, tlsSource, type TlsFlags } from './tls-options.js';
import { outboundFetch } from '../transports/http-request.js';
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
  command
    .option('--account <name>', 'only this account (default: every account)', parseAccount)
    .option('--storage <where>', 'auto | keychain | file', parseStorage, 'auto')
    .option('--log-level <level>', 'silent | error | warn | info | debug', parseLogLevel, 'warn');

function resourceOf(url: string): string {
  return canonicalResourceUri(url, 'the server URL');
}

function summary(record: TokenRecord, account: string, backend: string): Record<string, unknown> {
  return {
    server: record.resource,
    account,
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
  ).action(async (url: string | undefined, options: Pick<AuthFlags, 'storage' | 'account'> & { json?: boolean; logLevel: LogLevel }) => {
    const { log } = createContext(options.logLevel);
    const store = await openStore(options, log);
    const wanted = url === undefined ? undefined : resourceOf(url);
    const listed = (await listAccountTokens(store)).filter(({ record, account }) => (wanted === undefined || record.resource === wanted) && (options.account === undefined || account === options.account));
    const rows = listed.map(({ record, account }) => summary(record, account, store.backend));
    if (options.json) {
      process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    } else if (rows.length === 0) {
      process.stdout.write(wanted ? `not logged in to ${wanted} (storage: ${store.backend})\n` : `no stored logins (storage: ${store.backend})\n`);
    } else {
      for (const { record: r, account } of listed) {
        process.stdout.write(`${r.resource}${account === DEFAULT_ACCOUNT ? '' : ` (account ${account})`}\n  issuer ${r.issuer}, client ${r.clientId}${r.subject ? `, subject ${r.subject}` : ''}\n  scopes ${r.scope || '(none)'}; ${describeExpiry(r.expiresAt)}${r.refreshToken ? ', refreshable' : ''}; stored in ${store.backend}\n`);
      }
    }
    result.exitCode = wanted !== undefined && rows.length === 0 ? 1 : 0;
  });
}

interface LogoutOptions extends Pick<AuthFlags, 'storage' | 'account'>, TlsFlags {
  all: boolean;
  /** false with --no-revoke. */
  revoke: boolean;
  allowHttp: boolean;
  logLevel: LogLevel;
}

/**
 * Revoke one stored grant at its authorization server (RFC 7009), then forget it. A failed
 * revocation is said on stderr, and the local record is deleted anyway: keeping a token the user
 * asked to forget would be worse than a token that stays valid at the server until it expires.
 */
async function logOut(resource: string, store: GrantStore, options: LogoutOptions, log: Logger): Promise<boolean> {
  // The lock of logins and refreshes (AuthSession), waited for as long as a login may take: a
  // refresh running now must not store a rotated token after it is revoked, nor a revocation hit
  // a token that was just replaced.
  return store.withLock(authLockName(resource), async () => {
    const record = await store.loadTokens(resource);
    if (!record) return false;
    if (options.revoke) await revoke(record, store, options, log);
    return store.deleteTokens(record.resource);
  }, authLockWaitMs());
}

async function revoke(record: TokenRecord, store: GrantStore, options: LogoutOptions, log: Logger): Promise<void> {
  const { describeRevoked, revokeGrant } = await import('../auth/token-revocation.js');
  try {
    const outcome = await revokeGrant({
      record,
      client: await store.loadClient(record.issuer),
      // The same CAs (the OS store by default, --ca-file), client certificate and proxy as the login had.
      fetch: outboundFetch(process.env, tlsSource(options)),
      // As for login: plain http only to a loopback authorization server.
      allowHttp: options.allowHttp || isLoopbackHost(new URL(record.resource).hostname),
      log,
    });
    if (outcome.status === 'revoked') {
      if (outcome.revoked.length) process.stderr.write(`revoked ${describeRevoked(outcome.revoked)} of ${record.resource} at ${quote(outcome.endpoint)}\n`);
      if (outcome.notRevocable.length) {
        const expiry = outcome.notRevocable.includes('access_token') ? ` (access token: ${describeExpiry(record.expiresAt)})` : '';
        process.stderr.write(`${quote(outcome.endpoint)} cannot revoke ${describeRevoked(outcome.notRevocable)} of ${record.resource} (unsupported_token_type); valid until it expires${expiry}\n`);
      }
    } else {
      process.stderr.write(`${quote(record.issuer)} offers no token revocation; the tokens of ${record.resource} stay valid there until they expire\n`);
    }
  } catch (error) {
    log.warn(
      `could not revoke the tokens of ${record.resource} at ${quote(record.issuer)}: ${describeError(error)}. ` +
        'They are deleted here anyway, but the authorization server may accept them until they expire; revoke the access in your account there if that matters.',
    );
  }
}

export function registerLogout(program: Command, result: CommandResult): void {
  const logout = storageOption(
    program
      .command('logout')
      .summary('revoke and forget the stored tokens of a server (or all)')
      .description('Revoke the stored refresh and access tokens at the authorization server (RFC 7009, when it offers a revocation_endpoint), then delete them here. A failed revocation is reported; the tokens are deleted here anyway.')
      .argument('[url]', 'the server to log out of')
      .option('--all', 'forget every stored login', false)
      .option('--no-revoke', 'only delete the tokens here; do not ask the authorization server to revoke them')
      .option('--allow-http', 'allow plain http to a loopback authorization server', false),
  );
  // The revocation reaches the authorization server as the login did: same trust store, --ca-file, client certificate.
  endOptions(addTlsOptions(logout)).action(async (url: string | undefined, options: LogoutOptions) => {
    if ((url === undefined) === !options.all) {
      throw new AirlockError('AIRLOCK_USAGE', url === undefined ? 'give a server URL, or --all' : 'give a server URL or --all, not both', { hint: 'mcp-airlock logout https://mcp.example.com/mcp' });
    }
    const { log } = createContext(options.logLevel);
    const store = await openStore(options, log);
    const wanted = options.all ? undefined : resourceOf(url!);
    // --all: every account's logins, unless --account names one; a URL: the named account's (default: the default one).
    const grants = wanted === undefined
      ? (await listAccountTokens(store)).filter(({ account }) => options.account === undefined || account === options.account).map(({ record, account }) => ({ resource: record.resource, account }))
      : [{ resource: wanted, account: options.account ?? DEFAULT_ACCOUNT }];
    let removed = 0;
    let failed = 0;
    for (const { resource, account } of grants) {
      try {
        if (await logOut(resource, accountStore(store, account), options, log)) removed++;
      } catch (error) {
        // One server that cannot be logged out of (its lock held, its record damaged) must not keep
        // --all from the others.
        if (wanted !== undefined) throw error;
        failed++;
        const failure = toAirlockError(error);
        log.error(`could not log out of ${resource}: ${failure.message}${failure.hint ? ` (${failure.hint})` : ''}`);
      }
    }
    if (wanted !== undefined && removed === 0) process.stdout.write(`not logged in to ${quote(wanted)}; nothing to forget\n`);
    else process.stdout.write(`logged out of ${removed} server${removed === 1 ? '' : 's'}${failed ? `; ${failed} failed (see above)` : ''}\n`);
    result.exitCode = failed ? ExitCode.auth : 0;
  });
}
