/**
 * Authorization server metadata (RFC 8414, OpenID Connect Discovery 1.0), found the way MCP
 * 2025-11-25 "Authorization Server Metadata Discovery" orders the well-known URLs, and accepted only
 * when its `issuer` is exactly the issuer we asked for (RFC 8414 §3.3; MCP 2026-07-28: MUST NOT use
 * it otherwise). openid-client's own discovery tries one URL only, so the walk is ours.
 */
import type { ServerMetadata } from 'openid-client';
import { AirlockError, quote } from '../errors.js';
import type { Logger } from '../log.js';
import { firstMetadataDocument, type FetchLike } from './metadata-fetch.js';
import { checkAuthUrl } from './resource-uri.js';

export type { ServerMetadata };

/** Endpoints the flow may call; each must be https (or loopback http with allowHttp). */
const ENDPOINTS = [
  'authorization_endpoint',
  'token_endpoint',
  'registration_endpoint',
  'device_authorization_endpoint',
  'revocation_endpoint',
] as const;

/**
 * Candidate metadata URLs for an issuer. With a path (`https://as/t1`): RFC 8414 path insertion
 * (`/.well-known/oauth-authorization-server/t1`), OIDC with path insertion
 * (`/.well-known/openid-configuration/t1`), OIDC with the path appended
 * (`/t1/.well-known/openid-configuration`). Without a path: oauth-authorization-server, then
 * openid-configuration. A terminating slash of the path is removed first (RFC 8414 §3.1).
 */
export function authorizationServerMetadataUrls(issuer: string): URL[] {
  const url = new URL(issuer);
  const path = url.pathname.endsWith('/') ? url.pathname.slice(0, -1) : url.pathname;
  if (!path) {
    return [new URL('/.well-known/oauth-authorization-server', url.origin), new URL('/.well-known/openid-configuration', url.origin)];
  }
  return [
    new URL(`/.well-known/oauth-authorization-server${path}`, url.origin),
    new URL(`/.well-known/openid-configuration${path}`, url.origin),
    new URL(`${path}/.well-known/openid-configuration`, url.origin),
  ];
}

/**
 * Validate a metadata document for `issuer`: the `issuer` member must be identical (RFC 8414 §3.3,
 * simple string comparison), a token endpoint must exist, and every endpoint must be a URL the flow
 * may call (see `checkAuthUrl`).
 */
export function checkServerMetadata(
  body: Record<string, unknown>,
  issuer: string,
  documentUrl: string,
  allowHttp: boolean,
): ServerMetadata | AirlockError {
  if (body['issuer'] !== issuer) {
    return new AirlockError(
      'AIRLOCK_AUTH_ISSUER_MISMATCH',
      `the authorization server metadata at ${quote(documentUrl)} names issuer ${quote(body['issuer'])}, expected ${quote(issuer)}`,
      {
        hint: 'RFC 8414 §3.3: metadata whose issuer differs from the one asked for must not be used (it may be a mix-up attack). Report it to the server operator.',
      },
    );
  }
  if (typeof body['token_endpoint'] !== 'string') {
    return new AirlockError('AIRLOCK_AUTH_DISCOVERY', `the authorization server metadata at ${quote(documentUrl)} has no token_endpoint`, {
      hint: 'The authorization server publishes incomplete RFC 8414 metadata; report it to its operator.',
    });
  }
  for (const name of ENDPOINTS) {
    const value = body[name];
    if (value === undefined) continue;
    if (typeof value !== 'string') {
      return new AirlockError('AIRLOCK_AUTH_DISCOVERY', `the authorization server metadata at ${quote(documentUrl)} has a ${name} that is not a string`, {
        hint: 'The authorization server publishes invalid RFC 8414 metadata; report it to its operator.',
      });
    }
    try {
      checkAuthUrl(value, `the ${name}`, { allowHttp });
    } catch (error) {
      return error as AirlockError;
    }
  }
  return body as unknown as ServerMetadata;
}

export interface ServerDiscoveryOptions {
  fetch: FetchLike;
  allowHttp: boolean;
  log: Logger;
}

/** Find and validate the metadata of the authorization server `issuer` (RFC 8414 §3). */
export async function discoverAuthorizationServer(issuer: string, options: ServerDiscoveryOptions): Promise<ServerMetadata> {
  checkAuthUrl(issuer, 'the authorization server', { allowHttp: options.allowHttp });
  const found = await firstMetadataDocument(authorizationServerMetadataUrls(issuer), {
    fetch: options.fetch,
    log: options.log,
    what: 'authorization server metadata',
    accept: (body, url) => checkServerMetadata(body, issuer, url.href, options.allowHttp),
  });
  return found.value;
}
