/**
 * From an MCP server URL to the authorization server that guards it (MCP 2025-11-25
 * "Authorization Server Discovery"): the protected resource metadata (RFC 9728) names the
 * authorization servers, the first one is used, and its metadata (RFC 8414) must carry exactly
 * that issuer. Also fixes the resource indicator (RFC 8707) sent with every request.
 */
import type { ServerMetadata } from 'openid-client';
import { AirlockError, quote } from '../errors.js';
import type { Logger } from '../log.js';
import type { LoginProgressListener } from './login-progress.js';
import { describeOutcomes, MetadataNotFoundError, type CandidateOutcome, type FetchLike } from './metadata-fetch.js';
import { discoverResourceMetadata, type ResourceMetadata } from './resource-metadata.js';
import { canonicalResourceUri } from './resource-uri.js';
import { checkServerMetadata, discoverAuthorizationServer } from './server-metadata.js';

export interface AuthorizationTarget {
  /** RFC 8707 `resource` to send: the user's --resource, else the metadata's (canonical) resource. */
  resourceIndicator: string;
  resourceMetadata: ResourceMetadata;
  resourceMetadataUrl: string;
  issuer: string;
  serverMetadata: ServerMetadata;
  /**
   * How the authorization server was found without resource metadata (MCP 2025-03-26): its
   * metadata at the MCP server's origin, or the default endpoints there.
   */
  legacy?: { via: 'origin-metadata' | 'default-endpoints'; resourceTried: CandidateOutcome[]; serverTried: CandidateOutcome[] };
}

export interface DiscoveryOptions {
  /** Canonical URL of the MCP server. */
  serverUrl: string;
  /** `resource_metadata` from the last 401 challenge. */
  resourceMetadataUrl?: string;
  /** --resource: overrides the resource indicator. */
  resourceOverride?: string;
  fetch: FetchLike;
  allowHttp: boolean;
  log: Logger;
  /** Told after each of the two documents is found and checked (a login's first two steps). */
  onProgress?: LoginProgressListener;
}

/**
 * Walk resource metadata, then authorization server metadata. Throws AIRLOCK_AUTH_* on any failed
 * check. A server that publishes no resource metadata at all gets the MCP 2025-03-26 fallback
 * (`legacyAuthorization`), said so in one log line.
 */
export async function discoverAuthorization(options: DiscoveryOptions): Promise<AuthorizationTarget> {
  let prm;
  try {
    prm = await discoverResourceMetadata(options);
  } catch (error) {
    if (!(error instanceof MetadataNotFoundError)) throw error;
    return legacyAuthorization(options, error);
  }
  const issuer = prm.metadata.authorizationServers[0]!;
  if (prm.metadata.authorizationServers.length > 1) {
    options.log.debug(`the resource lists ${prm.metadata.authorizationServers.length} authorization servers; using the first, ${quote(issuer)}`);
  }
  options.onProgress?.({ step: 'resource-metadata', url: prm.url, resource: prm.metadata.resource, authorizationServer: issuer });
  const serverMetadata = await discoverAuthorizationServer(issuer, options);
  options.onProgress?.({ step: 'server-metadata', issuer });
  const resourceIndicator = options.resourceOverride
    ? canonicalResourceUri(options.resourceOverride, '--resource')
    : prm.metadata.resource;
  options.log.debug(`authorization server ${quote(issuer)}; resource indicator ${quote(resourceIndicator)}`);
  return { resourceIndicator, resourceMetadata: prm.metadata, resourceMetadataUrl: prm.url, issuer, serverMetadata };
}

/**
 * MCP 2025-03-26 "Authorization Base URL" and "Fallbacks for Servers without Metadata Discovery",
 * for servers older than RFC 9728 metadata: the authorization server is the MCP server's origin
 * (the path discarded); its RFC 8414 metadata is looked for there, and without it the default
 * endpoints `/authorize`, `/token` and `/register` are used. Only reached when no resource
 * metadata exists at all; the resource indicator is the server URL itself (or --resource).
 */
async function legacyAuthorization(options: DiscoveryOptions, missing: MetadataNotFoundError): Promise<AuthorizationTarget> {
  const issuer = new URL(options.serverUrl).origin;
  const resource = options.serverUrl;
  let serverMetadata: ServerMetadata;
  let legacy: NonNullable<AuthorizationTarget['legacy']>;
  try {
    serverMetadata = await discoverAuthorizationServer(issuer, options);
    legacy = { via: 'origin-metadata', resourceTried: missing.tried, serverTried: [] };
    options.log.info(`${quote(resource)} publishes no protected resource metadata; using the MCP 2025-03-26 fallback: the authorization server metadata at ${quote(issuer)}`);
  } catch (error) {
    if (!(error instanceof MetadataNotFoundError)) throw error;
    const defaults = {
      issuer,
      authorization_endpoint: `${issuer}/authorize`,
      token_endpoint: `${issuer}/token`,
      registration_endpoint: `${issuer}/register`,
      response_types_supported: ['code'],
      grant_types_supported: ['authorization_code', 'refresh_token'],
      // 2025-03-26 made PKCE mandatory for every client, so S256 is what such a server takes.
      code_challenge_methods_supported: ['S256'],
    };
    const checked = checkServerMetadata(defaults, issuer, `${issuer} (default endpoints)`, options.allowHttp);
    if (checked instanceof AirlockError) throw checked;
    serverMetadata = checked;
    legacy = { via: 'default-endpoints', resourceTried: missing.tried, serverTried: error.tried };
    options.log.info(`${quote(resource)} publishes no protected resource or authorization server metadata (tried ${describeOutcomes([...missing.tried, ...error.tried])}); using the MCP 2025-03-26 default endpoints ${issuer}/authorize, /token and /register`);
  }
  const resourceIndicator = options.resourceOverride ? canonicalResourceUri(options.resourceOverride, '--resource') : resource;
  const target = {
    resourceIndicator,
    resourceMetadata: { resource, authorizationServers: [issuer] },
    resourceMetadataUrl: '',
    issuer,
    serverMetadata,
    legacy,
  };
  if (options.onProgress) announceTarget(target, options.onProgress);
  return target;
}

/**
 * The two discovery steps of a target found earlier, told again as `discoverAuthorization` told
 * them (a login that reuses a cached target still shows its steps, the 2025-03-26 fallback as such).
 */
export function announceTarget(target: AuthorizationTarget, onProgress: LoginProgressListener): void {
  const { issuer, legacy, resourceMetadata } = target;
  const url = legacy ? (legacy.resourceTried.at(-1)?.url ?? resourceMetadata.resource) : target.resourceMetadataUrl;
  onProgress({ step: 'resource-metadata', url, resource: resourceMetadata.resource, authorizationServer: issuer, ...(legacy ? { legacy: true as const } : {}) });
  onProgress({ step: 'server-metadata', issuer });
}
