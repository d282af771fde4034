/**
 * OAuth 2.0 Protected Resource Metadata (RFC 9728): which authorization servers an MCP server
 * trusts and which scopes it knows. MCP 2025-11-25 "Protected Resource Metadata Discovery
 * Requirements": use `resource_metadata` from the 401 challenge when present, else the path-aware
 * well-known URL, then the root one; the document MUST list at least one authorization server.
 */
import { AirlockError, quote } from '../errors.js';
import type { Logger } from '../log.js';
import { DocumentTooLargeError } from './bounded-body.js';
import { firstMetadataDocument, type FetchLike } from './metadata-fetch.js';
import { canonicalResourceUri, checkAuthUrl, resourceCovers } from './resource-uri.js';

export interface ResourceMetadata {
  /** Canonical form of the document's `resource`. */
  resource: string;
  /** Issuer identifiers, as the document lists them (RFC 9728 §2). */
  authorizationServers: string[];
  scopesSupported?: string[];
}

export interface DiscoveredResourceMetadata {
  /** Where the document was found. */
  url: string;
  metadata: ResourceMetadata;
}

const WELL_KNOWN = '/.well-known/oauth-protected-resource';

/**
 * Candidate metadata URLs, in the order MCP 2025-11-25 gives: the challenge's `resource_metadata`,
 * then the path-aware URL (RFC 9728 §3.1: the well-known segment inserted between host and path,
 * a terminating slash removed), then the root URL. Duplicates are dropped.
 */
export function resourceMetadataUrls(serverUrl: string | URL, fromChallenge?: string): URL[] {
  const server = new URL(serverUrl);
  const path = server.pathname.endsWith('/') ? server.pathname.slice(0, -1) : server.pathname;
  const urls: URL[] = [];
  if (fromChallenge) urls.push(new URL(fromChallenge, server));
  if (path) urls.push(new URL(`${WELL_KNOWN}${path}${server.search}`, server.origin));
  urls.push(new URL(WELL_KNOWN, server.origin));
  const seen = new Set<string>();
  return urls.filter((u) => !seen.has(u.href) && seen.add(u.href));
}

function stringArray(value: unknown): string[] | undefined {
  if (!Array.isArray(value)) return undefined;
  return value.filter((v): v is string => typeof v === 'string' && v.length > 0);
}

/**
 * Validate a resource metadata document for `serverUrl` (canonical). Requires a `resource` that
 * covers the server (RFC 9728 §3.3, see `resourceCovers` for how strict) and at least one
 * authorization server (MCP 2025-11-25).
 */
export function checkResourceMetadata(body: Record<string, unknown>, serverUrl: string, documentUrl: string): ResourceMetadata | AirlockError {
  const rawResource = body['resource'];
  if (typeof rawResource !== 'string' || !rawResource) {
    return new AirlockError('AIRLOCK_AUTH_DISCOVERY', `the resource metadata at ${quote(documentUrl)} has no "resource"`, {
      hint: 'The server publishes invalid RFC 9728 metadata; report it to its operator.',
    });
  }
  let resource: string;
  try {
    resource = canonicalResourceUri(rawResource, 'the metadata "resource"');
  } catch (error) {
    return error as AirlockError;
  }
  if (!resourceCovers(resource, serverUrl)) {
    return new AirlockError(
      'AIRLOCK_AUTH_RESOURCE_MISMATCH',
      `the resource metadata at ${quote(documentUrl)} is for ${quote(rawResource)}, not for ${quote(serverUrl)}`,
      { hint: 'RFC 9728 §3.3: metadata for another resource must not be used. Check the server URL, or report the metadata to its operator.' },
    );
  }
  const authorizationServers = stringArray(body['authorization_servers']) ?? [];
  if (authorizationServers.length === 0) {
    return new AirlockError('AIRLOCK_AUTH_DISCOVERY', `the resource metadata at ${quote(documentUrl)} lists no authorization_servers`, {
      hint: 'MCP servers must name at least one authorization server in their RFC 9728 metadata; report it to the operator.',
    });
  }
  const metadata: ResourceMetadata = { resource, authorizationServers };
  const scopes = stringArray(body['scopes_supported']);
  if (scopes) metadata.scopesSupported = scopes;
  return metadata;
}

export interface ResourceDiscoveryOptions {
  /** The MCP server URL, canonical. */
  serverUrl: string;
  /** `resource_metadata` from the last 401 challenge. */
  resourceMetadataUrl?: string;
  fetch: FetchLike;
  allowHttp: boolean;
  log: Logger;
}

/**
 * RFC 9728 §3: the metadata is public, so a 401 on its URL is not a server without metadata: taking
 * it for absent sent the login down the MCP 2025-03-26 fallback to another authorization server.
 * `fromChallenge`: the URL came from the server's own 401 challenge (`resource_metadata`), so the
 * server speaks OAuth and is misconfigured; a 401 on a well-known URL airlock guessed may also be a
 * server that takes a static token or an API key on every path (login and connect then say that).
 */
export class MetadataUnauthorizedError extends AirlockError {
  constructor(readonly url: string, readonly fromChallenge: boolean) {
    super(
      'AIRLOCK_AUTH_DISCOVERY',
      fromChallenge
        ? `the protected resource metadata at ${quote(url)}, named by the server's 401 challenge, answered 401 Unauthorized; the server is misconfigured (RFC 9728 metadata must be readable without a token)`
        : `the protected resource metadata at ${quote(url)} answered 401 Unauthorized; a server that offers OAuth must serve it without a token (RFC 9728), so the server is misconfigured, or it takes a static token or an API key instead`,
      {
        hint: fromChallenge
          ? 'Ask the server operator to serve its protected resource metadata without authentication, or run mcp-airlock doctor <url>.'
          : 'If the server takes a static token or an API key, pass it with --header "Authorization: Bearer ${TOKEN}"; if it uses OAuth, ask its operator to serve /.well-known/oauth-protected-resource without authentication.',
      },
    );
  }
}

/**
 * Whether a discovery error is about metadata the server does publish but that cannot be read
 * (larger than the limit, behind a 401 at the URL its own challenge names): such a server speaks
 * OAuth, so the error is never turned into "it offers no OAuth login" (the reading of a discovery
 * that found nothing, which a 401 on a guessed URL still gets).
 */
export function metadataUnreadable(error: unknown): boolean {
  return error instanceof DocumentTooLargeError || (error instanceof MetadataUnauthorizedError && error.fromChallenge);
}

/** Find and validate the server's protected resource metadata (RFC 9728 §3, MCP 2025-11-25). */
export async function discoverResourceMetadata(options: ResourceDiscoveryOptions): Promise<DiscoveredResourceMetadata> {
  const candidates = resourceMetadataUrls(options.serverUrl, options.resourceMetadataUrl);
  for (const url of candidates) checkAuthUrl(url.href, 'the resource metadata URL', { allowHttp: options.allowHttp });
  const named = options.resourceMetadataUrl === undefined ? undefined : candidates[0]!.href;
  const found = await firstMetadataDocument(candidates, {
    fetch: options.fetch,
    log: options.log,
    what: 'protected resource metadata',
    accept: (body, url) => checkResourceMetadata(body, options.serverUrl, url.href),
    refuseStatus: (status, url) => (status === 401 ? new MetadataUnauthorizedError(url.href, url.href === named) : undefined),
  });
  return { url: found.url, metadata: found.value };
}
