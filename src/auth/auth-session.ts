/**
 * The one object the transports use for OAuth (MCP authorization 2025-11-25 and 2026-07-28): the
 * header for the next request, what to do on 401 (refresh, else log in) and on 403
 * insufficient_scope (step-up with the union of scopes, bounded), and the explicit `login`. One
 * session serves one MCP server URL; its tokens are stored under that URL's canonical form and
 * never handed out for another. Logins and refreshes hold the store's lock for the resource, and
 * re-read the store once they have it: another process may have finished meanwhile.
 */
import type { Configuration, DPoPHandle, ServerMetadata, TokenEndpointResponse } from 'openid-client';
import { AirlockError, describeError, quote } from '../errors.js';
import type { Logger } from '../log.js';
import { authLockName, authLockWaitMs, DEFAULT_AUTH_TIMEOUT_MS, type ClientRecord, type GrantStore, type TokenRecord } from '../store/grant-store.js';
import { announceTarget, discoverAuthorization, type AuthorizationTarget } from './auth-discovery.js';
import { authorizationCodeFlow, requireS256 } from './authorization-code.js';
import { checkAuthorizeParams } from './authorize-params.js';
import { openInBrowser } from './browser.js';
import { startCallbackServer } from './callback-server.js';
import { clientCredentialsFlow, requireClientSecret } from './client-credentials.js';
import { checkClientMetadataUrl, resolveClient, type ClientChoice } from './client-registration.js';
import { deviceGrantFlow } from './device-grant.js';
import { asksForDpopNonce, DpopProver, installationDpopKey, tokenEndpointDpop, wantsDpop, type DpopKey, type DpopMode } from './dpop.js';
import { idTokenUsable, jwtBearerGrant, loginAtIdentityProvider, requestIdJag, type IdentityProvider } from './identity-assertion.js';
import type { LoginProgress, LoginProgressListener } from './login-progress.js';
import { describeOutcomes, type FetchLike } from './metadata-fetch.js';
import { oauthConfiguration, oauthErrorCode, type OAuthClientOptions } from './oauth-client.js';
import type { ClientSigningKey } from './client-signing-key.js';
import { metadataUnreadable } from './resource-metadata.js';
import { canonicalResourceUri } from './resource-uri.js';
import { parseScope, selectScopes, stepUpScopes, unionScopes } from './scopes.js';
import type { PastedRedirect } from './pasted-redirect.js';
import { adjustScopes, applies, authorizeExtras, describePlan, planProfile, tokenExtras, type ProfileSettings, type ProviderPlan } from './provider-profiles.js';
import { discoverAuthorizationServer } from './server-metadata.js';
import { refreshRejected, refreshTokens } from './token-refresh.js';
import { isUnexpired, needsRefresh, tokenRecordFrom } from './token-response.js';
import { asksForOtherCredentials, bearerChallenge, type BearerChallenge } from './www-authenticate.js';
import { credentialsWithoutOAuth } from '../transports/upstream-diagnosis.js';

/** `jwt_bearer`: enterprise-managed authorization (an ID-JAG from the IdP, see identity-assertion.ts). */
export type AuthGrant = 'authorization_code' | 'device_code' | 'client_credentials' | 'jwt_bearer';

/** Grants that need no user: a new token is simply requested again when one expires. */
function unattended(grant: AuthGrant | undefined): boolean {
  return grant === 'client_credentials' || grant === 'jwt_bearer';
}

export interface AuthOptions {
  /** The MCP server URL; tokens are kept for (and sent to) its canonical form only. */
  serverUrl: string;
  store: GrantStore;
  log: Logger;
  fetch?: FetchLike;
  /** Opens the authorization URL; default: the system browser (`openInBrowser`). */
  openUrl?: (url: string) => Promise<void>;
  /** Do not open a browser; the URL is only shown (the `authorization` progress event). */
  noBrowser?: boolean;
  /**
   * Told at each step boundary of a login (discovery, client, authorization, tokens). It is what
   * shows the user the authorization URL (always, so it can be opened by hand) or the device code;
   * without it they go to the log.
   */
  onProgress?: LoginProgressListener;
  grant?: AuthGrant;
  /** --scope: overrides the challenge's and the metadata's scopes. */
  scope?: string;
  clientId?: string;
  clientSecret?: string;
  /** The enterprise IdP and the user's ID token, for the `jwt_bearer` grant (cross-app access). */
  identityProvider?: IdentityProvider;
  /**
   * Workload identity federation (SEP-1933): the workload's own JWT (a Kubernetes service account
   * token, a CI job's OIDC token), read anew for each grant (such files are rotated), presented
   * as the `jwt_bearer` assertion (RFC 7523 §2.1).
   */
  workloadToken?: () => Promise<string>;
  /** --client-private-key-file: the client authenticates with private_key_jwt (RFC 7523 §2.2). */
  clientSigningKey?: ClientSigningKey;
  clientMetadataUrl?: string;
  callbackPort?: number;
  callbackHost?: string;
  /** --resource: the RFC 8707 resource indicator to send instead of the metadata's. */
  resource?: string;
  /** --omit-resource: send no RFC 8707 `resource` at all (providers that refuse it: Entra's AADSTS9010010). */
  omitResource?: boolean;
  /** --authorize-param: more parameters for the authorization request (Google's access_type=offline). */
  authorizeParams?: Record<string, string>;
  /** Longest wait for the user (browser or device code). Default 5 minutes. */
  authTimeoutMs?: number;
  /** Allow plain http to loopback authorization endpoints. */
  allowHttp?: boolean;
  /** Use PKCE S256 even though the server does not advertise it. */
  assumeS256?: boolean;
  /** Headless login: the redirect URL may be pasted back (the terminal, stdin, --paste-from FILE). */
  pasted?: PastedRedirect;
  /**
   * Why the browser may run on another machine (an SSH session, no display, a container): the
   * login says how to paste or forward the callback port, and uses the device grant first when
   * the server offers it and no grant was chosen (`grant` unset).
   */
  remoteReason?: string;
  /** --provider-profile, --skip-adjustment, --app-id-uri (provider-profiles.ts). */
  profile?: ProfileSettings;
  /** --registration-token-env/-file: the RFC 7591 §3 initial access token for dynamic registration (Okta). */
  registrationToken?: string;
  /** --dpop: DPoP-bound tokens (RFC 9449) when the authorization server offers them (auto, the default), always, or never. */
  dpop?: DpopMode;
  now?: () => number;
}

/** Who the stored grant says we are, for status and the audit log; never the token. */
export interface Principal {
  issuer: string;
  subject?: string;
  clientId: string;
  scopes: string[];
}

/** Step-ups per session: a server that keeps asking for new scopes must not keep opening browsers. */
export const MAX_STEP_UPS = 3;
/** A token from a login rejected this soon after is not worth another login (loop guard). */
const FRESH_LOGIN_MS = 60_000;

function withoutRefreshToken(record: TokenRecord): TokenRecord {
  const { refreshToken: _dropped, ...rest } = record;
  return rest;
}

/**
 * A 401 from a server that publishes no OAuth metadata: say that it answered 401 and offers no
 * login, and point to static credentials (the header its challenge names), in one line; what
 * discovery tried stays in the cause (and the debug log). Shared wording: upstream-diagnosis.ts.
 */
function unauthorizedWithoutOAuth(error: unknown, resource: string, wwwAuthenticate: string | null): unknown {
  if (!(error instanceof AirlockError) || error.code !== 'AIRLOCK_AUTH_DISCOVERY') return error;
  // Metadata that is there but cannot be read (too large, behind a 401) is not "no OAuth": say what it is.
  if (metadataUnreadable(error)) return error;
  return credentialsWithoutOAuth(new URL(resource), 401, wwwAuthenticate ?? undefined, error);
}

/**
 * A server with no metadata at all whose MCP 2025-03-26 default registration endpoint refuses us
 * most likely offers no OAuth login: a discovery failure (which a 401 turns into the hint about
 * static credentials), not a registration one.
 */
function legacyRefusal(error: unknown, target: AuthorizationTarget): unknown {
  const legacy = target.legacy;
  if (legacy?.via !== 'default-endpoints' || !(error instanceof AirlockError) || error.code !== 'AIRLOCK_AUTH_REGISTRATION') return error;
  const message = `no protected resource metadata found; tried ${describeOutcomes(legacy.resourceTried)}; nor authorization server metadata at the server's origin (MCP 2025-03-26); tried ${describeOutcomes(legacy.serverTried)}; and its default endpoints do not work either: ${error.message}`;
  return new AirlockError('AIRLOCK_AUTH_DISCOVERY', message, {
    hint: 'The server must publish its protected resource metadata (MCP authorization 2025-11-25); check the URL, or run mcp-airlock doctor.',
    cause: error,
  });
}

export class AuthSession {
  /** Canonical server URL: the store key. */
  readonly resource: string;
  private readonly options: AuthOptions;
  private readonly store: GrantStore;
  private readonly log: Logger;
  private readonly fetch: FetchLike;
  private readonly now: () => number;
  private readonly authTimeoutMs: number;
  private record: TokenRecord | undefined;
  private loaded = false;
  private target: { key: string; value: AuthorizationTarget } | undefined;
  /** What the last 401 challenge said (resource_metadata, scope). */
  private challenge: BearerChallenge = {};
  /** The access token of the last header handed out: the one a 401 or 403 is about. */
  private handedOut: string | undefined;
  private lastRefreshed: string | undefined;
  private lastLogin: { token: string; at: number; issuer: string } | undefined;
  private lastRequested: string[] = [];
  private stepUps = 0;
  /** The ID token of the last login at a cross-app access IdP (memory only). */
  private idpLogin: string | undefined;
  /** The provider profile of the current target, and the resource indicator before the profile dropped it. */
  private plan: { value: ProviderPlan; resource: string } | undefined;
  /** The installation's DPoP key, loaded (or made) on first need, and the proofs made with it. */
  private dpopKey: Promise<DpopKey> | undefined;
  private prover: DpopProver | undefined;

  constructor(options: AuthOptions) {
    this.options = options;
    this.resource = canonicalResourceUri(options.serverUrl, 'the server URL');
    if (options.resource !== undefined) canonicalResourceUri(options.resource, '--resource');
    if (options.clientMetadataUrl !== undefined) checkClientMetadataUrl(options.clientMetadataUrl);
    if (options.clientSecret !== undefined && options.clientId === undefined) {
      throw new AirlockError('AIRLOCK_USAGE', 'a client secret was given without a client id', { hint: 'Pass --client-id too.' });
    }
    if (options.omitResource && options.resource !== undefined) {
      throw new AirlockError('AIRLOCK_USAGE', 'give --resource or --omit-resource, not both');
    }
    if (options.authorizeParams) checkAuthorizeParams(options.authorizeParams);
    if (options.clientSigningKey !== undefined && options.clientId === undefined) {
      throw new AirlockError('AIRLOCK_USAGE', 'a client private key was given without a client id', { hint: 'Pass --client-id too.' });
    }
    if (options.clientSigningKey !== undefined && options.clientSecret !== undefined) {
      throw new AirlockError('AIRLOCK_USAGE', 'give a client secret or a client private key, not both', {
        hint: 'A client authenticates one way: drop --client-secret-env/--client-secret-file or --client-private-key-file.',
      });
    }
    this.store = options.store;
    this.log = options.log;
    this.fetch = options.fetch ?? globalThis.fetch;
    this.now = options.now ?? Date.now;
    this.authTimeoutMs = options.authTimeoutMs ?? DEFAULT_AUTH_TIMEOUT_MS;
  }

  /** Header value for the next request, or undefined when we hold no usable token (refreshes if near expiry). */
  async authorization(): Promise<string | undefined> {
    let record = await this.current();
    if (record && needsRefresh(record, this.now())) record = await this.refreshAhead(record);
    this.handedOut = record?.accessToken;
    if (!record) return undefined;
    return `${record.tokenType === 'DPoP' ? 'DPoP' : 'Bearer'} ${record.accessToken}`;
  }

  /**
   * The DPoP proof for one request that carries `authorization` (RFC 9449 §7.1), or undefined for
   * a Bearer token. The proof is made for this URL and method, with `ath` for the token.
   */
  async dpopProof(url: URL, method: string, authorization: string): Promise<string | undefined> {
    if (!authorization.startsWith('DPoP ')) return undefined;
    const prover = (this.prover ??= new DpopProver(await this.installationKey()));
    return prover.proof(url, method, authorization.slice('DPoP '.length));
  }

  /**
   * Told of every answer to a request that carried a proof: keeps its `DPoP-Nonce` (RFC 9449 §9),
   * and says whether it is a `use_dpop_nonce` challenge, to be answered by sending once more.
   */
  dpopNonce(url: URL, status: number, header: (name: string) => string | undefined): boolean {
    this.prover?.rememberNonce(url, header('dpop-nonce'));
    return asksForDpopNonce(status, header('www-authenticate'));
  }

  /**
   * Called with a 401 response's WWW-Authenticate; refreshes, or logs in, and resolves when a new
   * token is stored. Throws AirlockError with a hint on failure.
   */
  async onUnauthorized(wwwAuthenticate: string | null): Promise<void> {
    // An API-key server: no metadata to look for, no login to try (the hint names its header).
    if (asksForOtherCredentials(wwwAuthenticate)) throw credentialsWithoutOAuth(new URL(this.resource), 401, wwwAuthenticate ?? undefined);
    const challenge = bearerChallenge(wwwAuthenticate) ?? {};
    this.challenge = { ...this.challenge, ...challenge };
    const rejected = this.handedOut;
    // MCP 2026-07-28 (SEP-2352): a 401 may mean that the server now trusts another authorization
    // server. Its resource metadata is read again; a new issuer means a new registration and login.
    this.target = undefined;
    const lastLogin = this.lastLogin;
    if (rejected && lastLogin?.token === rejected && this.now() - lastLogin.at < FRESH_LOGIN_MS) {
      const target = await this.discover().catch(() => undefined);
      if (target === undefined || target.issuer === lastLogin.issuer) {
        throw new AirlockError('AIRLOCK_AUTH_TOKEN', `the server ${quote(this.resource)} rejected the token of a login that just succeeded`, {
          hint: 'The server does not accept tokens of the authorization server it names: check --resource, or the server\'s audience configuration.',
        });
      }
    }
    await this.locked(async () => {
      const fresh = await this.reload();
      if (fresh && fresh.accessToken !== rejected && isUnexpired(fresh, this.now())) {
        this.log.debug('another login or refresh finished meanwhile; using its token');
        return;
      }
      if (fresh?.refreshToken && fresh.accessToken !== this.lastRefreshed && (await this.refresh(fresh))) return;
      await this.loginLocked().catch((error: unknown) => {
        throw unauthorizedWithoutOAuth(error, this.resource, wwwAuthenticate);
      });
    });
  }

  /** Called on 403 with error=insufficient_scope: step-up with the union of scopes, bounded (MAX_STEP_UPS). */
  async onInsufficientScope(wwwAuthenticate: string): Promise<void> {
    const challenge = bearerChallenge(wwwAuthenticate);
    if (!challenge?.scope) {
      throw new AirlockError('AIRLOCK_AUTH_INSUFFICIENT_SCOPE', `the server ${quote(this.resource)} refused the request for lack of scope without naming the scope it needs`, {
        hint: 'Pass the scope the server needs with --scope, or ask the server operator.',
      });
    }
    if (challenge.resourceMetadata) this.challenge = { ...this.challenge, resourceMetadata: challenge.resourceMetadata };
    const rejected = this.handedOut;
    await this.locked(async () => {
      const fresh = await this.reload();
      const held = parseScope(fresh?.scope);
      const needed = parseScope(challenge.scope);
      if (fresh && fresh.accessToken !== rejected && isUnexpired(fresh, this.now()) && needed.every((s) => held.includes(s))) {
        this.log.debug('another process already holds a token with the scopes asked for; using it');
        return;
      }
      const wanted = stepUpScopes(held, challenge.scope);
      if (!wanted) {
        throw new AirlockError('AIRLOCK_AUTH_INSUFFICIENT_SCOPE', `the server ${quote(this.resource)} asks for scope ${quote(challenge.scope)}, which the current token already holds`, {
          hint: 'Logging in again would not help; the server and its authorization server disagree about scopes. Ask the server operator.',
        });
      }
      if (this.stepUps >= MAX_STEP_UPS) {
        throw new AirlockError('AIRLOCK_AUTH_INSUFFICIENT_SCOPE', `gave up asking for more scopes after ${MAX_STEP_UPS} step-ups; the server now asks for ${quote(challenge.scope)}`, {
          hint: 'Log in once with every scope you need: mcp-airlock login <url> --scope "...".',
        });
      }
      this.stepUps++;
      this.log.info(`the server needs scope ${quote(challenge.scope)}; authorizing again for ${quote(wanted.join(' '))}`);
      await this.loginLocked(unionScopes(this.lastRequested, wanted));
    });
  }

  /**
   * What the server told a request without a token (the `login` command's probe, login-probe.ts):
   * a 401 challenge's `scope` and `resource_metadata` (RFC 6750 §3, RFC 9728 §5.1), so that the
   * login asks for the same scopes `connect` would on its first 401, not for every scope the server
   * lists. A header without a Bearer challenge leaves nothing.
   */
  takeChallenge(wwwAuthenticate: string | undefined): void {
    const challenge = bearerChallenge(wwwAuthenticate);
    if (challenge?.scope) this.log.debug(`the server's 401 asks for scope ${quote(challenge.scope)}`);
    if (challenge) this.challenge = { ...this.challenge, ...challenge };
  }

  /** Explicit login (the `login` command): runs discovery and the flow even if a token exists when `force`. */
  async login(opts: { force?: boolean } = {}): Promise<TokenRecord> {
    if (!opts.force) {
      const record = await this.current();
      if (record && isUnexpired(record, this.now())) return record;
    }
    return this.locked(async () => {
      if (!opts.force) {
        const fresh = await this.reload();
        if (fresh && isUnexpired(fresh, this.now())) return fresh;
      }
      return this.loginLocked();
    });
  }

  /** Principal info for the audit log: issuer, subject, client id, scopes; never the token. */
  async principal(): Promise<Principal | undefined> {
    await this.current();
    return this.principalNow();
  }

  /** The same, synchronously, for the token last loaded (the audit record is written synchronously). */
  principalNow(): Principal | undefined {
    const record = this.record;
    if (!record) return undefined;
    const principal: Principal = { issuer: record.issuer, clientId: record.clientId, scopes: parseScope(record.scope) };
    if (record.subject) principal.subject = record.subject;
    return principal;
  }

  private locked<T>(fn: () => Promise<T>): Promise<T> {
    return this.store.withLock(authLockName(this.resource), fn, authLockWaitMs(this.authTimeoutMs));
  }

  private async current(): Promise<TokenRecord | undefined> {
    return this.loaded ? this.record : this.reload();
  }

  /** Read the store again. A record for another resource (a store bug) is never used. */
  private async reload(): Promise<TokenRecord | undefined> {
    const record = await this.store.loadTokens(this.resource);
    this.record = record?.resource === this.resource ? record : undefined;
    this.loaded = true;
    return this.record;
  }

  private async save(record: TokenRecord): Promise<void> {
    await this.store.saveTokens(record);
    this.record = record;
    this.loaded = true;
  }

  private async discover(onProgress?: LoginProgressListener): Promise<AuthorizationTarget> {
    const key = this.challenge.resourceMetadata ?? '';
    if (this.target?.key === key) {
      if (onProgress) announceTarget(this.target.value, onProgress);
      return this.target.value;
    }
    const value = await discoverAuthorization({
      serverUrl: this.resource,
      resourceMetadataUrl: this.challenge.resourceMetadata,
      resourceOverride: this.options.resource,
      fetch: this.fetch,
      allowHttp: this.options.allowHttp ?? false,
      log: this.log,
      onProgress,
    });
    const plan = planProfile(value.issuer, value.serverMetadata as Record<string, unknown>, this.options.profile);
    this.plan = { value: plan, resource: value.resourceIndicator };
    if (this.options.omitResource) {
      this.log.debug(`not sending the resource indicator ${quote(value.resourceIndicator)} (--omit-resource)`);
      value.resourceIndicator = '';
    } else if (applies(plan, 'omit-resource')) {
      value.resourceIndicator = '';
    }
    this.target = { key, value };
    return value;
  }

  /** Extra token request parameters of the provider profile (Auth0's audience). */
  private tokenParams(): Record<string, string> {
    return this.plan ? tokenExtras(this.plan.value, this.plan.resource) : {};
  }

  private installationKey(): Promise<DpopKey> {
    this.dpopKey ??= installationDpopKey(this.store, this.log, this.now).catch((error: unknown) => {
      this.dpopKey = undefined;
      throw error;
    });
    return this.dpopKey;
  }

  /** The proof maker for token requests to `config`'s server, when DPoP is wanted there (see wantsDpop). */
  private async dpopFor(config: Configuration): Promise<{ handle: DPoPHandle; jkt: string } | undefined> {
    if (!wantsDpop(config.serverMetadata(), this.options.dpop ?? 'auto', this.log)) return undefined;
    const key = await this.installationKey();
    return { handle: tokenEndpointDpop(config, key), jkt: key.jkt };
  }

  private clientOptions(): OAuthClientOptions {
    const options: OAuthClientOptions = { fetch: this.fetch, allowHttp: this.options.allowHttp ?? false };
    if (this.options.clientSigningKey) options.signingKey = this.options.clientSigningKey;
    return options;
  }

  /** Proactive refresh before expiry. Never opens a browser: a failure leaves the 401 path to log in. */
  private async refreshAhead(stale: TokenRecord): Promise<TokenRecord | undefined> {
    try {
      return await this.locked(async () => {
        const fresh = await this.reload();
        if (!fresh || !needsRefresh(fresh, this.now())) return fresh;
        if (fresh.refreshToken) return (await this.refresh(fresh)) ?? this.usable(this.record);
        // Client credentials and identity assertions need no user: a new token is the refresh.
        if (unattended(this.options.grant)) return await this.loginLocked();
        return this.usable(fresh);
      });
    } catch (error) {
      this.log.warn(`could not refresh the access token for ${quote(this.resource)}: ${describeError(error)}`);
      return this.usable(stale);
    }
  }

  private usable(record: TokenRecord | undefined): TokenRecord | undefined {
    return record && isUnexpired(record, this.now()) ? record : undefined;
  }

  /**
   * Refresh `record` (inside the lock). Resolves with the new record, or undefined when only a
   * new login can help: the server refused the refresh token (it is then dropped from the store),
   * the resource now names another authorization server (the refresh token is never sent to it),
   * or the client registration is gone. Transient failures throw.
   */
  private async refresh(record: TokenRecord): Promise<TokenRecord | undefined> {
    const target = await this.discover();
    if (target.issuer !== record.issuer) {
      // The refresh token and the client registration belong to the old issuer: neither is sent to the new one.
      this.log.info(`the server now names the authorization server ${quote(target.issuer)} instead of ${quote(record.issuer)}; its refresh token is not sent there`);
      return undefined;
    }
    const client = await this.store.loadClient(record.issuer);
    if (!client || client.clientId !== record.clientId) return undefined;
    const config = oauthConfiguration(target.serverMetadata, client, this.clientOptions());
    const dpop = await this.dpopFor(config);
    if (record.dpopJkt !== undefined && record.dpopJkt !== dpop?.jkt) {
      // RFC 9449 §5: the refresh token is bound to the key it was issued with; no other key can use it.
      this.log.info(`the stored tokens for ${quote(this.resource)} are bound to a DPoP key this installation no longer holds${dpop ? '' : ' or uses'}; a new login is needed`);
      return undefined;
    }
    try {
      if (this.plan) this.log.debug(`provider profile: ${describePlan(this.plan.value, { resource: this.plan.resource })}`);
      const next = await refreshTokens({ config, record, resourceIndicator: target.resourceIndicator, tokenParams: this.tokenParams(), now: this.now, ...(dpop ? { dpop } : {}) });
      await this.save(next);
      this.lastRefreshed = next.accessToken;
      this.log.debug(`refreshed the access token for ${quote(this.resource)}`);
      return next;
    } catch (error) {
      const rejected = refreshRejected(error);
      if (!rejected) throw error;
      if (rejected === 'invalid_client' && client.method === 'dynamic') {
        await this.store.deleteClient(client.issuer);
        this.log.info(`the authorization server no longer accepts client ${quote(client.clientId)} ("invalid_client"); dropped that registration, registering again at the next login`);
      } else {
        this.log.info(`the authorization server refused the refresh token (${quote(rejected)}); a new login is needed`);
      }
      await this.save(withoutRefreshToken(record));
      return undefined;
    }
  }

  /** Discovery, client, grant, store (inside the lock). `scopes` overrides the scope selection (step-up). */
  private async loginLocked(scopes?: string[]): Promise<TokenRecord> {
    try {
      const target = await this.discover(this.options.onProgress);
      const grant = await this.current();
      this.checkGivenClient(target, grant);
      const previous = grant?.issuer;
      if (previous !== undefined && previous !== target.issuer) {
        this.log.info(`the server now names the authorization server ${quote(target.issuer)} instead of ${quote(previous)}; logging in there, with a registration of its own`);
      }
      const selected = adjustScopes(this.plan?.value, scopes ?? selectScopes({
        requested: this.options.scope,
        challenge: this.challenge.scope,
        supported: target.resourceMetadata.scopesSupported,
      }), { resource: this.plan?.resource ?? target.resourceIndicator, named: [...parseScope(this.challenge.scope), ...(target.resourceMetadata.scopesSupported ?? [])] });
      if (this.plan) this.log.debug(`provider profile: ${describePlan(this.plan.value, { resource: this.plan.resource, scopes: selected })}`);
      this.lastRequested = selected;
      const stored = await this.store.loadClient(target.issuer);
      const { response, client, dpopJkt } = await this.runGrant(target, selected, stored).catch(async (error: unknown) => {
        if (!(await this.dropStaleRegistration(error, stored))) throw legacyRefusal(error, target);
        // The stored registration is gone now.
        return this.runGrant(target, selected, undefined);
      });
      const record = tokenRecordFrom(response, {
        resource: this.resource,
        issuer: target.issuer,
        clientId: client.clientId,
        requestedScopes: selected,
        now: this.now(),
        ...(dpopJkt !== undefined ? { dpopJkt } : {}),
      });
      await this.save(record);
      this.options.onProgress?.({ step: 'tokens', scope: record.scope, expiresAt: record.expiresAt, subject: record.subject });
      this.lastLogin = { token: record.accessToken, at: this.now(), issuer: target.issuer };
      this.log.info(`logged in to ${quote(target.issuer)} for ${quote(this.resource)}${record.subject ? ` as ${quote(record.subject)}` : ''}${record.scope ? ` with scope ${quote(record.scope)}` : ''}`);
      return record;
    } catch (error) {
      // Metadata may have changed; discover afresh next time.
      this.target = undefined;
      throw error;
    }
  }

  /**
   * A client the user gave (--client-id, with its secret or key) belongs to the authorization server
   * it was given for, and is never sent to another one (MCP 2026-07-28: credentials are kept per
   * issuer). Which server that is, the stored grant says: it records the issuer the client was
   * used at. A given client with no grant of its own is bound at first use (the grant of that
   * login records it). After a migration (the resource metadata names another issuer) the login
   * stops: the user must pass the client registered at the new issuer, or log out first to use
   * this one there.
   */
  private checkGivenClient(target: AuthorizationTarget, grant: TokenRecord | undefined): void {
    const given = this.options.clientId;
    if (given === undefined || grant === undefined || grant.clientId !== given || grant.issuer === target.issuer) return;
    throw new AirlockError(
      'AIRLOCK_AUTH_ISSUER_MISMATCH',
      `the server ${quote(this.resource)} now names the authorization server ${quote(target.issuer)} instead of ${quote(grant.issuer)}; the client ${quote(given)} given with --client-id was used at ${quote(grant.issuer)} and is not sent to another authorization server`,
      {
        hint: `Log in again with the client registered at the new authorization server: mcp-airlock login ${this.resource} --client-id <its id> (and its secret). If ${quote(given)} is registered there too, run mcp-airlock logout ${this.resource} first, then log in with it.`,
      },
    );
  }

  /**
   * A stored dynamic registration the authorization server refused with `invalid_client` (it forgot
   * the client: a restart with an in-memory store, a clean-up) is dropped, so that the one retry of
   * the login registers again. Resolves false for anything else: a registration made in this very
   * login, a client the user gave (--client-id), another error.
   */
  private async dropStaleRegistration(error: unknown, used: ClientRecord | undefined): Promise<boolean> {
    if (used?.method !== 'dynamic' || oauthErrorCode(error) !== 'invalid_client') return false;
    const now = await this.store.loadClient(used.issuer);
    if (now?.clientId !== used.clientId || now.registeredAt !== used.registeredAt) return false;
    await this.store.deleteClient(used.issuer);
    this.log.info(`the authorization server no longer accepts client ${quote(used.clientId)} ("invalid_client"); dropped that registration, registering again`);
    return true;
  }

  /**
   * The user's ID token for cross-app access: the one given, else one from an OpenID Connect login
   * at the IdP that airlock runs itself (authorization code, PKCE S256, scope openid, no resource),
   * kept in memory only and reused until shortly before it expires.
   */
  private async idpIdToken(idp: IdentityProvider, idpMetadata: ServerMetadata): Promise<string> {
    if (idp.idToken !== undefined) return idp.idToken;
    if (this.idpLogin && idTokenUsable(this.idpLogin, this.now())) return this.idpLogin;
    const { options } = this;
    const progress = options.onProgress;
    this.idpLogin = await loginAtIdentityProvider({
      idp,
      idpMetadata,
      fetch: this.fetch,
      allowHttp: options.allowHttp ?? false,
      assumeS256: options.assumeS256 ?? false,
      callbackHost: options.callbackHost,
      callbackPort: options.callbackPort,
      openUrl: options.openUrl ?? ((url) => openInBrowser(url)),
      noBrowser: options.noBrowser ?? false,
      onAuthorizationUrl: progress ? (url) => progress({ step: 'authorization', via: 'browser', url }) : undefined,
      timeoutMs: this.authTimeoutMs,
      log: this.log,
    });
    return this.idpLogin;
  }

  /** `stored`: the client the store holds for the issuer (read once by loginLocked). */
  private async runGrant(target: AuthorizationTarget, scopes: string[], stored: ClientRecord | undefined): Promise<{ response: TokenEndpointResponse; client: ClientRecord; dpopJkt?: string }> {
    // Every grant asks for a DPoP-bound token where DPoP is wanted (RFC 9449 §5); the key's thumbprint goes into the record.
    const granted = await this.grantWith(target, scopes, stored);
    return granted.dpop ? { response: granted.response, client: granted.client, dpopJkt: granted.dpop.jkt } : granted;
  }

  private async grantWith(target: AuthorizationTarget, scopes: string[], stored: ClientRecord | undefined): Promise<{ response: TokenEndpointResponse; client: ClientRecord; dpop?: { handle: DPoPHandle; jkt: string } | undefined }> {
    const { options } = this;
    const choice: ClientChoice = {};
    if (options.clientId !== undefined) choice.clientId = options.clientId;
    if (options.clientSecret !== undefined) choice.clientSecret = options.clientSecret;
    if (options.clientSigningKey !== undefined) choice.privateKeyJwt = true;
    if (options.clientMetadataUrl !== undefined) choice.clientMetadataUrl = options.clientMetadataUrl;
    const registration = { ...(options.registrationToken !== undefined ? { initialAccessToken: options.registrationToken } : {}), ...(this.plan ? { plan: this.plan.value } : {}) };
    const base = { issuer: target.issuer, metadata: target.serverMetadata, store: this.store, choice, fetch: this.fetch, log: this.log, now: this.now(), registration };
    const tokenParams = this.tokenParams();
    const allowHttp = options.allowHttp ?? false;
    const configure = async (client: ClientRecord) => {
      const config = oauthConfiguration(target.serverMetadata, client, this.clientOptions());
      return { config, dpop: await this.dpopFor(config) };
    };
    const progress = options.onProgress;
    const chosen = (client: ClientRecord): ClientRecord => {
      progress?.(clientProgress(client, stored));
      return client;
    };

    // Headless, with no grant chosen: the device grant first where the server offers it.
    const remoteDevice = options.grant === undefined && options.remoteReason !== undefined && !(options.pasted && !options.pasted.auto) && typeof target.serverMetadata.device_authorization_endpoint === 'string';
    if (remoteDevice) this.log.info(`${options.remoteReason}: logging in with the device grant the authorization server offers (a code to enter in any browser)`);
    switch (remoteDevice ? 'device_code' : (options.grant ?? 'authorization_code')) {
      case 'client_credentials': {
        const client = choice.clientId ? await resolveClient(base) : stored;
        requireClientSecret(client);
        chosen(client);
        const { config, dpop } = await configure(client);
        const response = await clientCredentialsFlow({ config, client, scopes, resourceIndicator: target.resourceIndicator, tokenParams, ...(dpop ? { dpop: dpop.handle } : {}) });
        return { response, client, dpop };
      }
      case 'jwt_bearer': {
        const idp = options.identityProvider;
        if (options.workloadToken && choice.clientId) {
          // The assertion is the credential: the client may be public (token_endpoint_auth_method none).
          const client = chosen(await resolveClient(base));
          const { config, dpop } = await configure(client);
          const response = await jwtBearerGrant(config, await options.workloadToken(), scopes, target.resourceIndicator, 'presenting the workload identity token (JWT bearer grant)', dpop?.handle);
          return { response, client, dpop };
        }
        if (!idp || !choice.clientId) {
          throw new AirlockError('AIRLOCK_USAGE', 'cross-app access needs the identity provider, the ID token, and a client at the authorization server', {
            hint: 'Pass --idp-issuer, --idp-client-id, --idp-id-token-env (or -file), and --client-id with its secret; or, for a workload, --workload-token-file (or -env) and --client-id.',
          });
        }
        const client = await resolveClient(base);
        requireClientSecret(client);
        chosen(client);
        // The IdP's metadata, once for both its login (when needed) and the exchange.
        const idpMetadata = await discoverAuthorizationServer(idp.issuer, { fetch: this.fetch, allowHttp, log: this.log });
        const idToken = await this.idpIdToken(idp, idpMetadata);
        // The ID-JAG always names the resource (the IdP's policy is per resource), even with --omit-resource.
        const assertion = await requestIdJag({ idp: { ...idp, idToken }, idpMetadata, audience: target.issuer, resource: target.resourceIndicator || target.resourceMetadata.resource, scopes, fetch: this.fetch, log: this.log });
        const { config, dpop } = await configure(client);
        const response = await jwtBearerGrant(config, assertion, scopes, target.resourceIndicator, undefined, dpop?.handle);
        return { response, client, dpop };
      }
      case 'device_code': {
        const client = chosen(await resolveClient(base));
        const { config, dpop } = await configure(client);
        const response = await deviceGrantFlow({
          config,
          ...(dpop ? { dpop: dpop.handle } : {}),
          scopes,
          resourceIndicator: target.resourceIndicator,
          tokenParams,
          onDeviceCode: progress ? (info) => progress({ step: 'authorization', via: 'device', ...info }) : undefined,
          timeoutMs: this.authTimeoutMs,
          allowHttp,
          log: this.log,
        });
        return { response, client, dpop };
      }
      default: {
        const profileS256 = !options.assumeS256 && applies(this.plan?.value, 'assume-s256');
        requireS256(target.serverMetadata, (options.assumeS256 ?? false) || profileS256, this.log, profileS256 ? `${this.plan?.value.name} profile` : undefined);
        const callback = await startCallbackServer({
          host: options.callbackHost,
          port: options.callbackPort,
          preferredPort: stored?.method === 'dynamic' ? registeredPort(stored.redirectUri) : undefined,
          log: this.log,
        });
        try {
          const client = chosen(await resolveClient({ ...base, redirectUri: callback.redirectUri }));
          const { config, dpop } = await configure(client);
          const response = await authorizationCodeFlow({
            config,
            ...(dpop ? { dpop } : {}),
            callback,
            scopes,
            resourceIndicator: target.resourceIndicator,
            tokenParams,
            extraParams: { ...(this.plan ? authorizeExtras(this.plan.value, this.plan.resource) : {}), ...options.authorizeParams },
            openUrl: options.openUrl ?? ((url) => openInBrowser(url)),
            noBrowser: options.noBrowser ?? false,
            onAuthorizationUrl: progress ? (url) => progress({ step: 'authorization', via: 'browser', url }) : undefined,
            timeoutMs: this.authTimeoutMs,
            log: this.log,
            ...(options.pasted ? { pasted: options.pasted } : {}),
            ...(options.remoteReason ? { remoteReason: options.remoteReason } : {}),
          });
          return { response, client, dpop };
        } finally {
          await callback.close();
        }
      }
    }
  }
}

/** The port of a stored loopback redirect URI, to listen there again and keep the registration. */
function registeredPort(redirectUri: string | undefined): number | undefined {
  if (!redirectUri) return undefined;
  const port = Number(new URL(redirectUri).port);
  return Number.isInteger(port) && port > 0 ? port : undefined;
}

/** The client step of a login; `reused` when the store already held this very registration. */
function clientProgress(client: ClientRecord, stored: ClientRecord | undefined): LoginProgress {
  const reused = stored !== undefined && stored.clientId === client.clientId && stored.method === client.method && stored.registeredAt === client.registeredAt;
  return { step: 'client', clientId: client.clientId, method: client.method, reused };
}
