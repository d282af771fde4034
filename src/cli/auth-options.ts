/**
 * The OAuth flags shared by `login`, `connect` and `serve --upstream`, and the AuthSession they
 * build: tokens from the credential store, a login when the server answers 401. Secrets come from
 * a file or the environment, never from argv.
 */
import { HelpGroup } from './help-groups.js';
import { InvalidArgumentError, type Command } from 'commander';
import { readFileSync } from 'node:fs';
import type { AuthGrant, AuthSession } from '../auth/auth-session.js';
import type { DpopMode } from '../auth/dpop.js';
import type { ClientSigningKey } from '../auth/client-signing-key.js';
import type { IdentityProvider } from '../auth/identity-assertion.js';
import { checkAuthorizeParams } from '../auth/authorize-params.js';
import type { LoginProgressListener } from '../auth/login-progress.js';
import type { PastedRedirect } from '../auth/pasted-redirect.js';
import { authorizedRequester, type TokenSource } from '../auth/authorized-requester.js';
import type { AuditPrincipal } from '../audit/audit-record.js';
import { jwtClaims } from '../audit/principal.js';
import { AirlockError, describeError, quote } from '../errors.js';
import type { Logger } from '../log.js';
import type { FetchLike } from '../auth/metadata-fetch.js';
import type { GrantStore, StorageBackend } from '../store/grant-store.js';
import { lazyGrantStore } from '../store/lazy-store.js';
import { accountStore, checkAccountName } from '../store/account-store.js';
import { isStorageMode, type StorageMode } from '../store/storage-mode.js';
import { isLoopbackHost } from '../transports/http-guard.js';
import type { HttpRequester } from '../transports/http-request.js';
import { parsePort, parseSeconds } from './options.js';
import { tlsSource, type TlsFlags } from './tls-options.js';
import { outboundFetch } from '../transports/http-request.js';
import { canonicalResourceUri } from '../auth/resource-uri.js';
import { addProviderOptions, profileSettings, type ProviderFlags } from './provider-options.js';

export interface AuthFlags extends ProviderFlags, TlsFlags {
  /** Where `--*-env` secrets are read: the invocation's environment (the client's, in the hub); default airlock's own. */
  environment?: NodeJS.ProcessEnv;
  /** false with --no-auth. */
  auth: boolean;
  scope?: string;
  clientId?: string;
  clientSecretEnv?: string;
  clientSecretFile?: string;
  /** --client-private-key-file: private_key_jwt client authentication (PEM or JWK). */
  clientPrivateKeyFile?: string;
  /** --client-signing-alg: the JWS algorithm, when the key does not imply it. */
  clientSigningAlg?: string;
  clientMetadataUrl?: string;
  /** --device / --device-code (connect, login): the device authorization grant. */
  device?: boolean;
  deviceCode?: boolean;
  /** --client-credentials (connect, login): no user, the client's own credentials. */
  clientCredentials?: boolean;
  /** Cross-app access (connect, login): the enterprise IdP, airlock's client there, and the user's ID token. */
  idpIssuer?: string;
  idpClientId?: string;
  idpClientSecretEnv?: string;
  idpClientSecretFile?: string;
  idpIdTokenEnv?: string;
  idpIdTokenFile?: string;
  /** Workload identity federation (connect, login): the workload's JWT, presented as a JWT bearer grant. */
  workloadTokenFile?: string;
  workloadTokenEnv?: string;
  callbackPort?: number;
  callbackHost?: string;
  resource?: string;
  /** --omit-resource: no RFC 8707 resource parameter at all. */
  omitResource?: boolean;
  /** --authorize-param k=v (repeatable), parsed. */
  authorizeParam?: Record<string, string>;
  /** mcp-remote's spellings (connect, login): --host, --static-oauth-client-info, --static-oauth-client-metadata. */
  host?: string;
  staticOauthClientInfo?: string;
  staticOauthClientMetadata?: string;
  authTimeout: number;
  browser: boolean;
  storage: StorageMode;
  /** login --paste-from FILE|-: the redirect URL is pasted back (headless login). */
  pasteFrom?: string;
  /** --account: whose tokens and registrations (default: the default account). */
  account?: string;
  assumeS256: boolean;
  allowHttp: boolean;
  /** --dpop auto|always|never: DPoP-bound tokens (RFC 9449). */
  dpop?: DpopMode;
}

/** `--dpop`: auto | always | never. */
export function parseDpopMode(value: string): DpopMode {
  if ((['auto', 'always', 'never'] as const).includes(value as DpopMode)) return value as DpopMode;
  throw new InvalidArgumentError('use auto, always or never.');
}

/** `--storage`: auto | keychain | file. */
export function parseStorage(value: string): StorageMode {
  if (isStorageMode(value)) return value;
  throw new InvalidArgumentError('use auto, keychain or file.');
}

export function addAuthOptions(command: Command, options: { optional: boolean }): Command {
  command.optionsGroup(HelpGroup.auth);
  if (options.optional) command.option('--no-auth', 'never log in: a 401 from the server is an error');
  return addProviderOptions(command)
    .option('--scope <scopes>', 'OAuth scopes to ask for, space-separated (default: what the server asks for)')
    .option('--client-id <id>', 'a client registered in advance with the authorization server')
    .option('--client-secret-env <name>', "read that client's secret from this environment variable")
    .option('--client-secret-file <path>', "read that client's secret from this file")
    .option('--client-private-key-file <path>', "authenticate that client with a private key instead (private_key_jwt): PEM or JWK")
    .option('--client-signing-alg <alg>', 'the algorithm for --client-private-key-file (default: from the key: ES256 for P-256, RS256 for RSA, EdDSA)')
    .option('--client-metadata-url <url>', 'your Client ID Metadata Document (https), used when the server supports it')
    .option('--callback-port <n>', 'port of the loopback redirect (default: a free one)', parsePort)
    .option('--callback-host <host>', 'host of the loopback redirect: 127.0.0.1 (default) or localhost')
    .option('--resource <uri>', 'the RFC 8707 resource to ask tokens for (default: from the server metadata)', parseResource)
    .option('--omit-resource', 'send no RFC 8707 resource parameter (for providers that refuse it, e.g. Entra ID AADSTS9010010)')
    .option('--authorize-param <name=value>', "add a parameter to the authorization URL, e.g. access_type=offline for Google (repeatable)", parseAuthorizeParam)
    .option('--auth-timeout <seconds>', 'how long to wait for you to log in', parseSeconds, 300)
    .option('--no-browser', 'print the login URL instead of opening a browser')
    .option('--storage <where>', 'where credentials live: auto (OS keychain, else a 0600 file) | keychain | file', parseStorage, 'auto')
    .option('--account <name>', 'log in and keep tokens as this account (several per server: work, personal; default: the default account)', parseAccount)
    .option('--assume-s256', 'use PKCE S256 although the server does not advertise it (AWS Cognito, some Entra ID setups)', false)
    .option('--dpop <mode>', 'DPoP-bound tokens (RFC 9449): auto (when the authorization server offers them) | always | never', parseDpopMode, 'auto');
}

/** --authorize-param name=value, collected into one object; the protocol's own names are refused. */
function parseAuthorizeParam(value: string, previous: Record<string, string> | undefined): Record<string, string> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError('use name=value, e.g. access_type=offline.');
  const params = { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
  try {
    checkAuthorizeParams(params);
  } catch (error) {
    throw new InvalidArgumentError(error instanceof AirlockError ? `${error.message}. ${error.hint ?? ''}`.trim() : String(error));
  }
  return params;
}

/**
 * mcp-remote's OAuth spellings, for connect and login (serve and doctor have their own --host):
 * `--host` is our --callback-host; `--static-oauth-client-info` and
 * `--static-oauth-client-metadata` take JSON or @file, as in mcp-remote.
 */
export function addMcpRemoteAuthOptions(command: Command): Command {
  return command
    .optionsGroup(HelpGroup.mcpRemote)
    .option('--host <host>', "mcp-remote's name for --callback-host")
    .option('--static-oauth-client-info <json>', 'mcp-remote: a pre-registered client as {"client_id": ..., "client_secret": ...}, or @file; a secret only from @file')
    .option('--static-oauth-client-metadata <json>', 'mcp-remote: client metadata, or @file; mcp-airlock takes its "scope"');
}

/** JSON given inline or as @file (mcp-remote's convention); `flag` names it in messages. */
function jsonArgument(value: string, flag: string): { object: Record<string, unknown>; fromFile: boolean } {
  const fromFile = value.startsWith('@');
  let text = value;
  if (fromFile) {
    try {
      text = readFileSync(value.slice(1), 'utf8');
    } catch (error) {
      throw new AirlockError('AIRLOCK_USAGE', `${flag}: cannot read ${quote(value.slice(1))}: ${describeError(error)}`, { cause: error });
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // The parser's message would quote the text, which may hold a secret.
    throw new AirlockError('AIRLOCK_USAGE', `${flag} is not valid JSON${fromFile ? ` (in ${quote(value.slice(1))})` : ''}`, { hint: `Give a JSON object, or @path to a file holding one.` });
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new AirlockError('AIRLOCK_USAGE', `${flag} must be a JSON object`);
  return { object: parsed as Record<string, unknown>, fromFile };
}

/** What mcp-remote's flags mean in our terms: client id and secret, scope, callback host. */
export function mcpRemoteAuth(flags: AuthFlags): { clientId?: string; clientSecret?: string; scope?: string; callbackHost?: string } {
  const out: { clientId?: string; clientSecret?: string; scope?: string; callbackHost?: string } = {};
  if (flags.host !== undefined) {
    if (flags.callbackHost !== undefined && flags.callbackHost !== flags.host) throw new AirlockError('AIRLOCK_USAGE', 'give --host or --callback-host, not both');
    out.callbackHost = flags.host;
  }
  if (flags.staticOauthClientInfo !== undefined) {
    const { object, fromFile } = jsonArgument(flags.staticOauthClientInfo, '--static-oauth-client-info');
    const unknown = Object.keys(object).filter((k) => !['client_id', 'client_secret', 'client_id_issued_at', 'client_secret_expires_at', 'redirect_uris', 'client_name'].includes(k));
    if (typeof object['client_id'] !== 'string' || !object['client_id']) throw new AirlockError('AIRLOCK_USAGE', '--static-oauth-client-info has no "client_id"');
    if (unknown.length > 0) throw new AirlockError('AIRLOCK_USAGE', `--static-oauth-client-info: ${unknown.map((k) => quote(k)).join(', ')} not understood`, { hint: 'Give "client_id" and, in a file, "client_secret".' });
    if (typeof object['client_secret'] === 'string') {
      if (!fromFile) {
        throw new AirlockError('AIRLOCK_USAGE', '--static-oauth-client-info puts a client secret in the process list, where any local user can read it', {
          hint: 'Put the JSON in a file and pass @path, or use --client-id with --client-secret-env.',
        });
      }
      out.clientSecret = object['client_secret'];
    }
    if (flags.clientId !== undefined && flags.clientId !== object['client_id']) throw new AirlockError('AIRLOCK_USAGE', 'give --client-id or --static-oauth-client-info, not both');
    out.clientId = object['client_id'];
  }
  if (flags.staticOauthClientMetadata !== undefined) {
    const { object } = jsonArgument(flags.staticOauthClientMetadata, '--static-oauth-client-metadata');
    const ignored = Object.keys(object).filter((k) => k !== 'scope');
    if (ignored.length > 0) {
      throw new AirlockError('AIRLOCK_USAGE', `--static-oauth-client-metadata: mcp-airlock takes only "scope" from it, not ${ignored.map((k) => quote(k)).join(', ')}`, {
        hint: 'mcp-airlock registers itself with fixed metadata (a native client with a loopback redirect); for a client registered in advance use --client-id.',
      });
    }
    if (typeof object['scope'] === 'string' && flags.scope === undefined) out.scope = object['scope'];
  }
  return out;
}

/** --resource: checked when parsed, so every command refuses a bad one before any request. */
function parseResource(value: string): string {
  try {
    canonicalResourceUri(value, '--resource');
  } catch (error) {
    throw new InvalidArgumentError(error instanceof AirlockError ? `${error.message}.` : String(error));
  }
  return value;
}

/**
 * The grant the flags ask for: --client-credentials, --device (or mcp-remote's --device-code),
 * --idp-issuer (cross-app access: the jwt_bearer grant with an ID-JAG), else undefined (the
 * authorization code flow). More than one is a usage error.
 */
export function grantOf(flags: Pick<AuthFlags, 'device' | 'deviceCode' | 'clientCredentials' | 'idpIssuer' | 'workloadTokenFile' | 'workloadTokenEnv'>): AuthGrant | undefined {
  const device = flags.device === true || flags.deviceCode === true;
  const workload = flags.workloadTokenFile !== undefined || flags.workloadTokenEnv !== undefined;
  const chosen = [
    device && '--device',
    flags.clientCredentials === true && '--client-credentials',
    flags.idpIssuer !== undefined && '--idp-issuer',
    workload && '--workload-token-file/-env',
  ].filter((f): f is string => typeof f === 'string');
  if (chosen.length > 1) {
    throw new AirlockError('AIRLOCK_USAGE', `give only one of ${chosen.join(', ')}`, {
      hint: '--device logs a user in on another device; --client-credentials needs no user at all; --idp-issuer uses your single sign-on (cross-app access).',
    });
  }
  if (flags.clientCredentials) return 'client_credentials';
  if (device) return 'device_code';
  return flags.idpIssuer !== undefined || workload ? 'jwt_bearer' : undefined;
}

/** The flags of cross-app access (enterprise-managed authorization), for connect and login. */
export function addIdentityProviderOptions(command: Command): Command {
  return command
    .optionsGroup(HelpGroup.enterprise)
    .option('--idp-issuer <url>', 'cross-app access: your enterprise identity provider (its ID token is exchanged for an ID-JAG)')
    .option('--idp-client-id <id>', "cross-app access: airlock's client at the identity provider")
    .option('--idp-client-secret-env <name>', "read that client's secret from this environment variable")
    .option('--idp-client-secret-file <path>', "read that client's secret from this file")
    .option('--idp-id-token-env <name>', 'read your ID token from the identity provider from this environment variable')
    .option('--idp-id-token-file <path>', 'read your ID token from the identity provider from this file')
    .option('--workload-token-file <path>', "workload identity: present this JWT (read anew each time, e.g. a Kubernetes service account token) as a JWT bearer grant, with --client-id")
    .option('--workload-token-env <name>', 'workload identity: the JWT from this environment variable');
}

/** A secret from an environment variable or a file (never from argv); `flag` names them in messages. */
export function readSecret(flags: Pick<AuthFlags, 'environment'>, env: string | undefined, file: string | undefined, flag: string): string | undefined {
  if (env !== undefined && file !== undefined) {
    throw new AirlockError('AIRLOCK_USAGE', `give ${flag}-env or ${flag}-file, not both`);
  }
  if (env !== undefined) {
    const value = (flags.environment ?? process.env)[env];
    if (!value) throw new AirlockError('AIRLOCK_MISSING_ENV', `${flag}-env: ${env} is not set or empty`, { hint: `Set ${env} in the environment that starts mcp-airlock.` });
    return value;
  }
  if (file !== undefined) {
    let value: string;
    try {
      value = readFileSync(file, 'utf8').trim();
    } catch (error) {
      throw new AirlockError('AIRLOCK_HEADER_FILE', `cannot read the ${flag}-file ${quote(file)}: ${describeError(error)}`, { cause: error });
    }
    if (value) return value;
    throw new AirlockError('AIRLOCK_HEADER_FILE', `the ${flag}-file ${quote(file)} is empty`);
  }
  return undefined;
}

/** --workload-token-file/-env: a reader of the workload's JWT, re-read for every grant (such files rotate). */
export function workloadToken(flags: AuthFlags): (() => Promise<string>) | undefined {
  if (flags.workloadTokenFile === undefined && flags.workloadTokenEnv === undefined) return undefined;
  if (flags.workloadTokenFile !== undefined && flags.workloadTokenEnv !== undefined) throw new AirlockError('AIRLOCK_USAGE', 'give --workload-token-file or --workload-token-env, not both');
  if (flags.clientId === undefined && flags.staticOauthClientInfo === undefined) {
    throw new AirlockError('AIRLOCK_USAGE', 'a workload token was given without --client-id', { hint: 'The authorization server maps the workload to the client it registered for it: pass --client-id.' });
  }
  // Checked now, so a missing file or variable fails at start-up rather than at the first 401.
  readSecret(flags, flags.workloadTokenEnv, flags.workloadTokenFile, '--workload-token');
  return async () => readSecret(flags, flags.workloadTokenEnv, flags.workloadTokenFile, '--workload-token')!;
}

/** --idp-*: the identity provider of cross-app access, or undefined without --idp-issuer. */
export function identityProvider(flags: AuthFlags): IdentityProvider | undefined {
  if (flags.idpIssuer === undefined) {
    const stray = (['idpClientId', 'idpIdTokenEnv', 'idpIdTokenFile', 'idpClientSecretEnv', 'idpClientSecretFile'] as const).filter((k) => flags[k] !== undefined);
    if (stray.length > 0) throw new AirlockError('AIRLOCK_USAGE', 'an --idp-* option was given without --idp-issuer', { hint: 'Cross-app access needs --idp-issuer too.' });
    return undefined;
  }
  const idToken = readSecret(flags, flags.idpIdTokenEnv, flags.idpIdTokenFile, '--idp-id-token');
  if (flags.idpClientId === undefined) {
    throw new AirlockError('AIRLOCK_USAGE', 'cross-app access needs --idp-client-id', {
      hint: "airlock's client at the identity provider: the ID token (--idp-id-token-env, or a login airlock runs at the IdP) is issued to it.",
    });
  }
  // Without a given ID token, airlock logs in at the IdP itself (OpenID Connect, in the browser).
  const idp: IdentityProvider = { issuer: flags.idpIssuer, clientId: flags.idpClientId };
  if (idToken !== undefined) idp.idToken = idToken;
  const secret = readSecret(flags, flags.idpClientSecretEnv, flags.idpClientSecretFile, '--idp-client-secret');
  if (secret !== undefined) idp.clientSecret = secret;
  return idp;
}

/** The client secret from --client-secret-env or --client-secret-file (never from argv). */
export function clientSecret(flags: AuthFlags): string | undefined {
  return readSecret(flags, flags.clientSecretEnv, flags.clientSecretFile, '--client-secret');
}

export interface AuthContext {
  log: Logger;
  grant?: AuthGrant;
  /**
   * Told at each step of a login (login's step view, doctor). Default: the authorization URL and
   * the device code as warnings on the log (stderr; never stdout in stdio modes).
   */
  onProgress?: LoginProgressListener;
  /** Instead of the keychain or file store: doctor logs in with a memory store, leaving the user's login untouched. */
  store?: GrantStore;
  /** Instead of the global fetch: doctor records every exchange. */
  fetch?: FetchLike;
  /** login: a redirect URL may be pasted on the terminal when the session looks remote or --no-browser was given. */
  pasteFromTerminal?: boolean;
  /** Told of every login step too, besides `onProgress` (connect notes that a grant ran). */
  observe?: LoginProgressListener;
}

/** Open the store now (status, logout); loads the keychain binding. */
export async function openStore(flags: Pick<AuthFlags, 'storage'>, log: Logger): Promise<GrantStore> {
  const { openGrantStore } = await import('../store/open-store.js');
  return openGrantStore({ storage: flags.storage, log });
}

/** Build the session for one server; its store is opened when first needed (keychain probe, file fallback). */
export async function createAuthSession(serverUrl: URL, flags: AuthFlags, context: AuthContext): Promise<AuthSession> {
  const { log } = context;
  // The OAuth client (openid-client) and the keychain binding load only when a login is needed.
  const { AuthSession } = await import('../auth/auth-session.js');
  const grant = context.grant ?? grantOf(flags);
  const remote = mcpRemoteAuth(flags);
  let clientSigningKey: ClientSigningKey | undefined;
  if (flags.clientPrivateKeyFile !== undefined) {
    const { loadClientSigningKey } = await import('../auth/client-signing-key.js');
    clientSigningKey = await loadClientSigningKey(flags.clientPrivateKeyFile, flags.clientSigningAlg);
  } else if (flags.clientSigningAlg !== undefined) {
    throw new AirlockError('AIRLOCK_USAGE', '--client-signing-alg was given without --client-private-key-file', { hint: 'Pass the key file too, or drop --client-signing-alg.' });
  }
  const store = context.store ?? credentialStore(flags, log);
  return new AuthSession({
    serverUrl: serverUrl.href,
    store,
    log,
    // The authorization server gets the same CAs, client certificate and proxy as the MCP server.
    fetch: context.fetch ?? outboundFetch(flags.environment ?? process.env, tlsSource(flags, flags.environment ?? process.env)),
    grant,
    scope: flags.scope ?? remote.scope,
    clientId: flags.clientId ?? remote.clientId,
    clientSecret: clientSecret(flags) ?? remote.clientSecret,
    clientSigningKey,
    identityProvider: identityProvider(flags),
    workloadToken: workloadToken(flags),
    clientMetadataUrl: flags.clientMetadataUrl,
    callbackPort: flags.callbackPort,
    callbackHost: flags.callbackHost ?? remote.callbackHost,
    resource: flags.resource,
    omitResource: flags.omitResource ?? false,
    authorizeParams: flags.authorizeParam,
    authTimeoutMs: flags.authTimeout * 1000,
    noBrowser: !flags.browser,
    // Plain http for authorization traffic only to loopback, and only with --allow-http or a
    // loopback MCP server (the same rule as for MCP traffic itself).
    allowHttp: flags.allowHttp || isLoopbackHost(serverUrl.hostname),
    assumeS256: flags.assumeS256,
    profile: profileSettings(flags),
    registrationToken: readSecret(flags, flags.registrationTokenEnv, flags.registrationTokenFile, '--registration-token'),
    ...(await headlessLogin(flags, context.pasteFromTerminal ?? false)),
    dpop: flags.dpop ?? 'auto',
    onProgress: (event) => {
      context.observe?.(event);
      if (context.onProgress) return context.onProgress(event);
      if (event.step !== 'authorization') return;
      if (event.via === 'browser') log.warn(`to log in to ${serverUrl.origin}, open: ${event.url}`);
      else log.warn(`to log in, open ${event.verificationUriComplete ?? event.verificationUri} and enter the code ${event.userCode} (valid ${Math.round(event.expiresIn / 60)} min)`);
    },
  });
}

/**
 * Headless login: why the browser may be elsewhere (only when a browser would be opened and
 * $BROWSER does not say how), and where a pasted redirect comes from: --paste-from FILE or `-`
 * (stdin), else the terminal for `login` when the session looks remote or --no-browser was given.
 */
async function headlessLogin(flags: AuthFlags, terminal: boolean): Promise<{ remoteReason?: string; pasted?: PastedRedirect }> {
  const { pastedRedirect, remoteSessionReason } = await import('../auth/pasted-redirect.js');
  const remoteReason = flags.browser && !process.env['BROWSER'] ? remoteSessionReason() : undefined;
  const out: { remoteReason?: string; pasted?: PastedRedirect } = remoteReason ? { remoteReason } : {};
  if (flags.pasteFrom === '-') out.pasted = pastedRedirect({ kind: 'stream', input: process.stdin, name: 'stdin' });
  else if (flags.pasteFrom !== undefined) out.pasted = pastedRedirect({ kind: 'file', path: flags.pasteFrom });
  else if (terminal && process.stdin.isTTY && (remoteReason !== undefined || !flags.browser)) out.pasted = pastedRedirect({ kind: 'stream', input: process.stdin, name: 'the terminal' }, true);
  return out;
}

/** The credential store connect, login and serve use: opened on first use, so a server that needs no login costs no keychain probe and no warning. */
function credentialStore(flags: Pick<AuthFlags, 'storage' | 'account'>, log: Logger): GrantStore {
  return lazyGrantStore(async () => accountStore(await (await import('../store/open-store.js')).openGrantStore({ storage: flags.storage, log }), flags.account));
}

/** --account: checked when parsed. */
export function parseAccount(value: string): string {
  try {
    return checkAccountName(value);
  } catch (error) {
    throw new InvalidArgumentError(error instanceof AirlockError ? `${error.message}. ${error.hint ?? ''}`.trim() : String(error));
  }
}

/**
 * The requester `connect` and `serve --upstream` use: OAuth unless switched off, or unless the
 * user supplies an Authorization header of their own (which then wins).
 */
export async function upstreamAuth(url: URL, headers: Record<string, string>, flags: AuthFlags, base: HttpRequester, log: Logger): Promise<{ request: HttpRequester; session?: LazyAuth }> {
  if (!flags.auth || headers.authorization !== undefined) return { request: base };
  const store = credentialStore(flags, log);
  const session: LazyAuth = new LazyAuth(() => createAuthSession(url, flags, { log, store, observe: (event) => { if (event.step === 'tokens') session.noteGrant(); } }), { store, grant: grantOf(flags) });
  return { request: authorizedRequester(base, session, url), session };
}

const STORE_NAMES: Record<StorageBackend, string> = { keychain: 'the keychain', file: 'the credential file', memory: 'memory' };

/**
 * The AuthSession, created on first use: start-up loads no OAuth code and no keychain binding.
 * The first request to the server starts loading them (and the store) while it is in flight.
 */
export class LazyAuth implements TokenSource {
  private session: Promise<AuthSession> | undefined;
  private ready: AuthSession | undefined;
  /** The Authorization value last sent, and its token's claims (decoded once per token). */
  private sent: { authorization: string; claims: Record<string, unknown> | undefined } | undefined;

  /** A grant ran in this process (a login, client credentials): the token is new, not from the store. */
  private granted = false;

  constructor(
    private readonly create: () => Promise<AuthSession>,
    private readonly origin: { store?: GrantStore; grant?: AuthGrant } = {},
  ) {}

  /** Called when a grant delivered tokens. */
  noteGrant(): void {
    this.granted = true;
  }

  /**
   * Where the token last sent came from, in words, for connect's "connected" line; undefined when
   * none was sent (the server needed none). Never the token.
   */
  describeSource(): string | undefined {
    if (this.sent === undefined) return undefined;
    const { grant } = this.origin;
    if (grant === 'client_credentials') return 'OAuth client credentials';
    if (grant === 'jwt_bearer') return 'OAuth JWT bearer grant';
    let where = 'the credential store';
    try {
      if (this.origin.store) where = STORE_NAMES[this.origin.store.backend];
    } catch {
      // Not open (cannot be, once a token was sent): the generic name.
    }
    return this.granted ? `OAuth token from a login just now, kept in ${where}` : `OAuth token from ${where}`;
  }

  private get(): Promise<AuthSession> {
    this.session ??= this.create().then((s) => (this.ready = s));
    return this.session;
  }

  async authorization(): Promise<string | undefined> {
    const authorization = await (await this.get()).authorization();
    if (authorization !== undefined && authorization !== this.sent?.authorization) {
      const token = /^(?:Bearer|DPoP)\s+(\S+)\s*$/i.exec(authorization)?.[1];
      this.sent = { authorization, claims: token === undefined ? undefined : jwtClaims(token) };
    }
    return authorization;
  }

  /**
   * The claims of the access token last sent (a JWT; undefined for an opaque one), read without
   * verification: airlock obtained the token itself, and the policy of connect binds the agent
   * running as this user, not the user (see docs/policy.md, "Who the caller is").
   */
  claimsNow(): Record<string, unknown> | undefined {
    return this.sent?.claims;
  }

  async onUnauthorized(wwwAuthenticate: string | null): Promise<void> {
    return (await this.get()).onUnauthorized(wwwAuthenticate);
  }

  async onInsufficientScope(wwwAuthenticate: string): Promise<void> {
    return (await this.get()).onInsufficientScope(wwwAuthenticate);
  }

  async dpopProof(url: URL, method: string, authorization: string): Promise<string | undefined> {
    return (await this.get()).dpopProof(url, method, authorization);
  }

  dpopNonce(url: URL, status: number, header: (name: string) => string | undefined): boolean {
    return this.ready?.dpopNonce(url, status, header) ?? false;
  }

  /** For the audit record, synchronously: nobody until the session has loaded a token. */
  principalNow(): AuditPrincipal | undefined {
    return this.ready?.principalNow();
  }
}
