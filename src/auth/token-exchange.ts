/**
 * OAuth 2.0 Token Exchange (RFC 8693) for `serve --upstream-token-exchange`: the gateway pattern
 * the MCP gateways describe. A caller's access token, issued for airlock, is never sent upstream
 * (MCP security best practices, "Token Passthrough"); airlock presents it as the `subject_token`
 * at the exchange server the operator named (never one the upstream's metadata names: that
 * server would get every caller's token and the client secret), authenticated as its own
 * confidential client, and asks for a token whose audience is the upstream (RFC 8693 §2.1 with
 * RFC 8707 `resource`). The upstream then sees the same user, with a token meant for it.
 *
 * Exchanged tokens live in memory only, keyed by a digest of the subject token, and are reused
 * until shortly before they expire. They are never stored, logged or audited.
 *
 * With `delegate`, the exchange asks for a delegation token rather than an impersonation one
 * (RFC 8693 §1.1): airlock also presents its own access token (client credentials at the same
 * authorization server) as the `actor_token`, and a server that supports delegation names
 * airlock in the issued token's `act` claim (§4.1), so the upstream sees who acts for the user.
 */
import { createHash } from 'node:crypto';
import { genericGrantRequest, type Configuration } from 'openid-client';
import { AirlockError, quote } from '../errors.js';
import type { Logger } from '../log.js';
import type { ClientRecord } from '../store/grant-store.js';
import type { AuthorizationTarget } from './auth-discovery.js';
import type { TokenSource } from './authorized-requester.js';
import { clientCredentialsFlow } from './client-credentials.js';
import { preRegisteredClient } from './client-registration.js';
import { MetadataNotFoundError, type FetchLike } from './metadata-fetch.js';
import { oauthConfiguration, tokenRequestError } from './oauth-client.js';
import { discoverResourceMetadata, type DiscoveredResourceMetadata } from './resource-metadata.js';
import { canonicalResourceUri } from './resource-uri.js';
import { formatScope, parseScope, unionScopes } from './scopes.js';
import { discoverAuthorizationServer } from './server-metadata.js';
import { tokenRecordFrom } from './token-response.js';
import { bearerChallenge } from './www-authenticate.js';

/** RFC 8693 §2.1 grant type, and §3 token type identifiers. */
export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

/** An exchanged token is renewed this long before it expires. */
const RENEW_BEFORE_MS = 30_000;
/** Without expires_in, an exchanged token is kept this long (it is re-exchanged on a 401 anyway). */
const DEFAULT_LIFETIME_MS = 5 * 60_000;
/** Distinct callers whose exchanged tokens are kept; the oldest is dropped past this. */
const MAX_CACHED = 256;

export interface TokenExchangeOptions {
  /** The upstream MCP server: its resource metadata gives the resource and scopes to ask for. */
  serverUrl: URL;
  /**
   * The authorization server to exchange at (--token-exchange-issuer, else serve's --oauth-issuer):
   * named by the operator, never taken from the upstream's metadata, because every exchange sends
   * it a caller's token and airlock's client secret.
   */
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** --scope: scopes to ask for (default: what the upstream's metadata lists, else none). */
  scope?: string;
  /** --resource: the RFC 8707 resource to ask for instead of the metadata's. */
  resource?: string;
  /** Ask for a delegation token, with airlock's own token as the actor_token (RFC 8693 §2.1). */
  delegate?: boolean;
  allowHttp: boolean;
  fetch?: FetchLike;
  log: Logger;
  now?: () => number;
}

interface Exchanged {
  authorization: string;
  expiresAt: number;
}

/** The upstream's authorization server, and airlock's client there. */
interface Prepared {
  target: AuthorizationTarget;
  client: ClientRecord;
  config: Configuration;
}

/**
 * The upstream names authorization servers other than the exchange server: its tokens come from
 * elsewhere. Nothing is sent to the servers it names (they would receive callers' tokens and the
 * client secret, and could replay the tokens at airlock itself).
 */
function unpinnedUpstream(serverUrl: string, found: DiscoveredResourceMetadata, issuer: string): AirlockError {
  const servers = found.metadata.authorizationServers;
  const named = `${servers.length === 1 ? 'the authorization server' : 'the authorization servers'} ${servers.map((s) => quote(s)).join(', ')}`;
  return new AirlockError(
    'AIRLOCK_AUTH_ISSUER_MISMATCH',
    `the upstream ${quote(serverUrl)} names ${named} in its resource metadata (${quote(found.url)}), not the token exchange server ${quote(issuer)}; no caller's token or client secret was sent to it`,
    {
      hint: 'Callers\' tokens are exchanged only at --token-exchange-issuer (default --oauth-issuer). If the upstream really trusts that server, pass it with --token-exchange-issuer <url> and the client airlock has there; otherwise check --upstream.',
    },
  );
}

function digest(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

export class TokenExchanger {
  private target: Promise<Prepared> | undefined;
  private readonly cache = new Map<string, Promise<Exchanged>>();
  /** airlock's own token, the actor of delegated exchanges. */
  private actor: Promise<Exchanged> | undefined;
  /** Scopes the upstream asked for in a 403 insufficient_scope, added to every later exchange. */
  private extraScopes: string[] = [];
  private readonly fetch: FetchLike;
  private readonly now: () => number;

  constructor(private readonly options: TokenExchangeOptions) {
    this.fetch = options.fetch ?? globalThis.fetch;
    this.now = options.now ?? Date.now;
  }

  /**
   * The exchange server and what to ask it for, found once: the upstream's resource metadata
   * (RFC 9728) for the resource and its scopes only, then the pinned issuer's metadata (RFC 8414).
   * An upstream whose metadata names other authorization servers is refused before anything is
   * sent anywhere: it does not accept tokens of the pinned one, and the servers it names are not
   * trusted with callers' tokens.
   */
  private prepare(): Promise<Prepared> {
    this.target ??= (async () => {
      const { issuer, allowHttp, log } = this.options;
      const serverUrl = canonicalResourceUri(this.options.serverUrl.href, '--upstream');
      let found: DiscoveredResourceMetadata | undefined;
      try {
        found = await discoverResourceMetadata({ serverUrl, fetch: this.fetch, allowHttp, log });
      } catch (error) {
        if (!(error instanceof MetadataNotFoundError)) throw error;
        log.debug(`${quote(serverUrl)} publishes no protected resource metadata; exchanging at ${quote(issuer)} for the resource ${quote(serverUrl)}`);
      }
      if (found && !found.metadata.authorizationServers.includes(issuer)) throw unpinnedUpstream(serverUrl, found, issuer);
      const serverMetadata = await discoverAuthorizationServer(issuer, { fetch: this.fetch, allowHttp, log });
      const grants = serverMetadata.grant_types_supported;
      if (grants !== undefined && !grants.includes(TOKEN_EXCHANGE_GRANT)) {
        log.warn(`${quote(issuer)} does not list token exchange in grant_types_supported; trying it anyway`);
      }
      const resourceMetadata = found?.metadata ?? { resource: serverUrl, authorizationServers: [issuer] };
      const resourceIndicator = this.options.resource ? canonicalResourceUri(this.options.resource, '--resource') : resourceMetadata.resource;
      const target: AuthorizationTarget = { resourceIndicator, resourceMetadata, resourceMetadataUrl: found?.url ?? '', issuer, serverMetadata };
      const { clientId, clientSecret } = this.options;
      const client = preRegisteredClient(issuer, clientId, { clientSecret }, serverMetadata, this.now());
      return { target, client, config: oauthConfiguration(serverMetadata, client, { fetch: this.fetch, allowHttp }) };
    })();
    // A failed discovery is retried by the next request, not remembered.
    this.target.catch(() => (this.target = undefined));
    return this.target;
  }

  /** `Authorization` header value for the upstream, for the caller holding `subjectToken`. */
  async authorizationFor(subjectToken: string): Promise<string> {
    const key = digest(subjectToken);
    const cached = this.cache.get(key);
    if (cached) {
      const held = await cached.catch(() => undefined);
      if (held && held.expiresAt - RENEW_BEFORE_MS > this.now()) return held.authorization;
      if (this.cache.get(key) === cached) this.cache.delete(key);
    }
    const pending = this.exchange(subjectToken);
    this.cache.set(key, pending);
    if (this.cache.size > MAX_CACHED) this.cache.delete(this.cache.keys().next().value!);
    pending.catch(() => this.cache.get(key) === pending && this.cache.delete(key));
    return (await pending).authorization;
  }

  /** Forget the token exchanged for this caller (the upstream refused it). */
  forget(subjectToken: string): void {
    this.cache.delete(digest(subjectToken));
  }

  /** The upstream asked for more scope (403 insufficient_scope): ask for it in later exchanges. */
  widen(wwwAuthenticate: string): boolean {
    const wanted = parseScope(bearerChallenge(wwwAuthenticate)?.scope);
    const next = unionScopes(this.extraScopes, wanted);
    if (next.length === this.extraScopes.length) return false;
    this.extraScopes = next;
    this.cache.clear();
    return true;
  }

  private async exchange(subjectToken: string): Promise<Exchanged> {
    const prepared = await this.prepare();
    const { target, config } = prepared;
    const scopes = unionScopes(parseScope(this.options.scope ?? formatScope(target.resourceMetadata.scopesSupported ?? [])), this.extraScopes);
    const params: Record<string, string> = {
      subject_token: subjectToken,
      subject_token_type: ACCESS_TOKEN_TYPE,
      requested_token_type: ACCESS_TOKEN_TYPE,
      resource: target.resourceIndicator,
    };
    const scope = formatScope(scopes);
    if (scope) params['scope'] = scope;
    if (this.options.delegate) {
      params['actor_token'] = (await this.actorToken(prepared)).authorization.slice('Bearer '.length);
      params['actor_token_type'] = ACCESS_TOKEN_TYPE;
    }
    const started = this.now();
    let response;
    try {
      response = await genericGrantRequest(config, TOKEN_EXCHANGE_GRANT, params);
    } catch (error) {
      throw tokenRequestError(error, `exchanging the caller's token at ${quote(target.issuer)} (RFC 8693)`);
    }
    // The same reading as any token response (Bearer only, expires_in), kept in memory only.
    const record = tokenRecordFrom(response, { resource: target.resourceIndicator, issuer: target.issuer, clientId: this.options.clientId, requestedScopes: scopes, now: started });
    this.options.log.debug(`exchanged a caller's token at ${quote(target.issuer)} for ${quote(target.resourceIndicator)}`);
    return { authorization: `Bearer ${record.accessToken}`, expiresAt: record.expiresAt ?? started + DEFAULT_LIFETIME_MS };
  }

  /**
   * airlock's own access token at the upstream's authorization server (client credentials,
   * RFC 6749 §4.4), the actor of a delegation; kept until shortly before it expires.
   */
  private async actorToken({ target, client, config }: Prepared): Promise<Exchanged> {
    const held = await this.actor?.catch(() => undefined);
    if (held && held.expiresAt - RENEW_BEFORE_MS > this.now()) return held;
    const started = this.now();
    const pending = (async () => {
      const response = await clientCredentialsFlow({
        config,
        client,
        scopes: [],
        resourceIndicator: target.resourceIndicator,
        what: `getting airlock's own token at ${quote(target.issuer)} to act as the delegate (RFC 8693 actor_token)`,
      });
      const record = tokenRecordFrom(response, { resource: target.resourceIndicator, issuer: target.issuer, clientId: this.options.clientId, requestedScopes: [], now: started });
      return { authorization: `Bearer ${record.accessToken}`, expiresAt: record.expiresAt ?? started + DEFAULT_LIFETIME_MS };
    })();
    this.actor = pending;
    return pending;
  }

  /** A TokenSource for one session: its caller's current token, exchanged. */
  sourceFor(subjectToken: () => string | undefined): TokenSource {
    const subject = (): string => {
      const token = subjectToken();
      if (token === undefined) {
        throw new AirlockError('AIRLOCK_AUTH_TOKEN', 'token exchange needs the caller\'s access token, and this request came without one', {
          hint: 'serve --upstream-token-exchange works with --oauth-issuer or --oauth-jwks (inbound OAuth).',
        });
      }
      return token;
    };
    return {
      authorization: async () => this.authorizationFor(subject()),
      onUnauthorized: async () => this.forget(subject()),
      onInsufficientScope: async (wwwAuthenticate) => {
        if (!this.widen(wwwAuthenticate)) {
          throw new AirlockError('AIRLOCK_AUTH_INSUFFICIENT_SCOPE', 'the upstream still refuses the exchanged token for lack of scope', {
            hint: 'Allow the exchanging client these scopes at the upstream\'s authorization server, or pass them with --scope.',
          });
        }
      },
    };
  }
}
