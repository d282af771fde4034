/**
 * URLs in the authorization flow: the canonical form of a resource identifier (RFC 8707 §2, MCP
 * 2025-11-25 "Canonical Server URI"), whether a protected resource's metadata may speak for a
 * server URL (RFC 9728 §3.3), and which URLs the flow may talk to at all.
 */
import { AirlockError, quote } from '../errors.js';
import { isLoopbackHost } from '../transports/http-guard.js';

function parseHttpUrl(value: string | URL, what: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new AirlockError('AIRLOCK_BAD_URL', `${what} is not a URL: ${quote(String(value))}`, {
      hint: 'Give an absolute URL, such as https://mcp.example.com/mcp.',
    });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new AirlockError('AIRLOCK_BAD_URL', `${what} has unsupported scheme ${quote(url.protocol)}; only http and https`, {
      hint: 'Give an absolute http(s) URL.',
    });
  }
  return url;
}

/**
 * The canonical resource URI for a server URL, as sent in `resource` (RFC 8707 §2) and used as the
 * key of stored tokens: lowercase scheme and host and no default port (the WHATWG URL parser does
 * both), no fragment (RFC 8707 §2: MUST NOT), no user info, and no trailing slash (MCP 2025-11-25
 * recommends the form without it; Entra rejects a trailing slash, AADSTS9010010). The query is kept.
 */
export function canonicalResourceUri(value: string | URL, what = 'resource'): string {
  const url = parseHttpUrl(value, what);
  url.hash = '';
  url.username = '';
  url.password = '';
  if (url.search) return url.href;
  const path = url.pathname.endsWith('/') ? url.pathname.slice(0, -1) : url.pathname;
  return `${url.protocol}//${url.host}${path}`;
}

/**
 * Whether the resource named in protected resource metadata may stand for `serverUrl`. RFC 9728 §3.3
 * asks for identity; we also accept a same-origin path prefix at a segment boundary (`https://h`
 * or `https://h/api` for `https://h/api/mcp`), because real MCP servers publish their origin as
 * the resource while serving at a path, and such a token can only be valid where the server already
 * lives. A different origin or a sibling path is refused: that metadata speaks for another server.
 * Both arguments must be canonical (see `canonicalResourceUri`).
 */
export function resourceCovers(resource: string, serverUrl: string): boolean {
  if (resource === serverUrl) return true;
  const r = new URL(resource);
  const s = new URL(serverUrl);
  if (r.origin !== s.origin || r.search) return false;
  const prefix = r.pathname === '/' ? '' : r.pathname;
  return s.pathname === prefix || s.pathname.startsWith(`${prefix}/`);
}

export interface AuthUrlOptions {
  /** Allow plain http, and then only to a loopback host. */
  allowHttp: boolean;
}

/**
 * Check a URL the flow is about to fetch or hand to the user: https, or plain http to a loopback
 * host when `allowHttp` (OAuth 2.1 §1.5, RFC 8252 §8.3). Authorization codes, client secrets and
 * tokens never cross a network in clear text, whatever --allow-http says for the MCP traffic.
 */
export function checkAuthUrl(value: string, what: string, options: AuthUrlOptions): URL {
  const url = parseHttpUrl(value, what);
  if (url.protocol === 'https:') return url;
  if (isLoopbackHost(url.hostname) && options.allowHttp) return url;
  throw new AirlockError('AIRLOCK_INSECURE_URL', `refusing plain http for ${what} ${quote(url.href)}: authorization traffic must use https`, {
    hint: isLoopbackHost(url.hostname)
      ? 'This is a loopback address: pass --allow-http to allow plain http to it.'
      : 'Authorization over plain http is allowed only to loopback addresses; the server must use https.',
  });
}

/**
 * The RFC 8707 `resource` parameter, or nothing when the indicator is '' (--omit-resource, for
 * providers that refuse it, such as Entra ID's AADSTS9010010 for some resources).
 */
export function resourceParam(indicator: string): Record<string, string> {
  return indicator ? { resource: indicator } : {};
}
