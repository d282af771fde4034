/**
 * From an MCP server URL to the authorization server that guards it (MCP 2025-11-25
 * "Authorization Server Discovery"): the protected resource metadata (RFC 9728) names the
 * authorization servers, the first one is used, and its metadata (RFC 8414) must carry exactly
 * that issuer. Also fixes the resource indicator (RFC 8707) sent with every request.
 */
import type { ServerMetadata } from 'openid-client';
import { quote } from '../errors.js';
import type { Logger } from '../log.js';
import type { LoginProgressListener } from './login-progress.js';
import type { FetchLike } from './metadata-fetch.js';
import { discoverResourceMetadata, type ResourceMetadata } from './resource-metadata.js';
import { canonicalResourceUri } from './resource-uri.js';
import { discoverAuthorizationServer } from './server-metadata.js';

export interface AuthorizationTarget {
  /** RFC 8707 `resource` to send: the user's --resource, else the metadata's (canonical) resource. */
  resourceIndicator: string;
  resourceMetadata: ResourceMetadata;
  resourceMetadataUrl: string;
  issuer: string;
  serverMetadata: ServerMetadata;
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

/** Walk resource metadata, then authorization server metadata. Throws AIRLOCK_AUTH_* on any failed check. */
export async function discoverAuthorization(options: DiscoveryOptions): Promise<AuthorizationTarget> {
  const prm = await discoverResourceMetadata(options);
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
