/**
 * What went wrong talking to an MCP server, said the same way by connect, serve --upstream, login
 * and doctor: the server is down or unreachable, an https URL reached a plain-HTTP server, Node
 * does not trust its certificate, nothing MCP is at that path (a 404 or an HTML page), it wants an
 * API key, it wants an OAuth login, or it failed itself (5xx). Each case is one line naming the
 * URL (never its query or userinfo) and a hint with the next step. An HTML body is summarised to
 * its status and <title>, never passed on: not to the client's JSON-RPC error, not to stderr.
 */
import { STATUS_CODES } from 'node:http';
import { AirlockError, HttpStatusError, describeError, quote, type HttpAnswerDetails } from '../errors.js';
import { parseWwwAuthenticate } from '../auth/www-authenticate.js';
import { isLoopbackHost } from './http-guard.js';
import type { HttpResponse } from './http-request.js';

/** The URL as messages show it: scheme, host and path; no userinfo, query or fragment (they may carry keys). */
export function displayUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

/** "HTTP 404 Not Found"; the reason phrase is Node's, never the server's (a server could forge it). */
export function statusLine(status: number): string {
  const reason = STATUS_CODES[status];
  return reason ? `HTTP ${status} ${reason}` : `HTTP ${status}`;
}

/** Whether an answer is an HTML page, by its content type or, without one, by its first tag. */
export function isHtml(text: string, contentType?: string): boolean {
  if (contentType && /\b(text\/html|application\/xhtml\+xml)\b/i.test(contentType)) return true;
  return /^\s*(<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>])/i.test(text);
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ', '#39': "'" };

/** The <title> of an HTML page, whitespace collapsed and common entities decoded; undefined without one. */
export function pageTitle(html: string): string | undefined {
  const match = /<title[^>]*>([\s\S]*?)<\/title\s*>/i.exec(html);
  const title = match?.[1]?.replace(/&(#39|[a-z]+);/gi, (entity, name: string) => ENTITIES[name.toLowerCase()] ?? entity).replace(/\s+/g, ' ').trim();
  return title || undefined;
}

/**
 * The message of a JSON error body (JSON-RPC's `error.message`, OAuth's `error_description` or
 * `error`, a plain `message`), so a refusal reads as its words, not as escaped JSON.
 */
function jsonErrorMessage(text: string): string | undefined {
  if (!text.trimStart().startsWith('{')) return undefined;
  let body: { error?: unknown; error_description?: unknown; message?: unknown };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    return undefined;
  }
  const error = body.error;
  const found = [
    error !== null && typeof error === 'object' ? (error as { message?: unknown }).message : undefined,
    body.error_description,
    typeof error === 'string' ? error : undefined,
    body.message,
  ].find((value): value is string => typeof value === 'string' && value.trim() !== '');
  return found === undefined ? undefined : found.replace(/\s+/g, ' ').trim().slice(0, 300);
}

/**
 * An error answer's body as the message of an HttpStatusError: an HTML page as
 * `page title: "..."` (or `an HTML page`), a JSON error as its message, anything else as it is
 * (the diagnosis quotes it).
 */
export function summariseBody(text: string, contentType?: string): { text: string; html: boolean } {
  if (!isHtml(text, contentType)) return { text: jsonErrorMessage(text) ?? text, html: false };
  const title = pageTitle(text);
  return { text: title === undefined ? 'an HTML page' : `page title: ${quote(title, 120)}`, html: true };
}

/** What httpAnswerError reads from a refused answer besides its body. */
export function answerHeaders(response: Pick<HttpResponse, 'header'>): { contentType?: string; wwwAuthenticate?: string; location?: string } {
  return { contentType: response.header('content-type'), wwwAuthenticate: response.header('www-authenticate'), location: response.header('location') };
}

/** The error a transport throws for an answer it cannot use: status, summarised body, and the challenge of a 401/403. */
export function httpAnswerError(status: number, body: string, answer: { contentType?: string; wwwAuthenticate?: string; location?: string; prefix?: string }): HttpStatusError {
  const summary = summariseBody(body, answer.contentType);
  const details: HttpAnswerDetails = { html: summary.html };
  if (answer.wwwAuthenticate !== undefined) details.wwwAuthenticate = answer.wwwAuthenticate;
  if (answer.location !== undefined && status >= 300 && status < 400) details.location = answer.location;
  const text = summary.text || `HTTP ${status}`;
  return new HttpStatusError(status, answer.prefix ? `${answer.prefix}${text}` : text, details);
}

/**
 * The --header that would carry the credentials a 401/403 asks for: the header a challenge names
 * (`header="X-Api-Key"`, as API gateways write it), `Authorization: Basic` for Basic, another
 * scheme as itself, else `Authorization: Bearer`. Values are always an ${ENV} reference.
 */
export function credentialHeaderExample(wwwAuthenticate: string | undefined): string {
  const challenges = wwwAuthenticate ? parseWwwAuthenticate(wwwAuthenticate) : [];
  for (const challenge of challenges) {
    const named = challenge.params.get('header') ?? challenge.params.get('header_name') ?? challenge.params.get('key');
    if (named && /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}$/.test(named)) return `${named}: \${API_KEY}`;
  }
  const first = challenges[0]?.scheme;
  if (first === 'basic') return 'Authorization: Basic ${CREDENTIALS}';
  if (first && first !== 'bearer' && /^[a-z0-9-]{1,32}$/.test(first)) return `Authorization: ${first === 'apikey' ? 'ApiKey' : first[0]!.toUpperCase() + first.slice(1)} \${TOKEN}`;
  return 'Authorization: Bearer ${TOKEN}';
}

/** The hint for a server that wants credentials but offers no OAuth login. */
function apiKeyHint(wwwAuthenticate: string | undefined): string {
  return `It takes an API key or a static token: pass it with --header "${credentialHeaderExample(wwwAuthenticate)}" and set the variable in the environment (then no login is tried).`;
}

/**
 * A 401/403 from a server without OAuth metadata (RFC 9728): it wants an API key or a static
 * token, which airlock cannot get by logging in. `cause` keeps what discovery tried.
 */
export function credentialsWithoutOAuth(url: URL, status: number, wwwAuthenticate: string | undefined, cause?: unknown): AirlockError {
  // A challenge in another scheme says why at once; else discovery found no metadata (the cause).
  const schemes = wwwAuthenticate ? [...new Set(parseWwwAuthenticate(wwwAuthenticate).map((c) => c.scheme))] : [];
  const why = schemes.length > 0 && !schemes.includes('bearer') && !schemes.includes('dpop')
    ? `it asks for ${schemes.map((scheme) => quote(asWritten(wwwAuthenticate!, scheme))).join(' or ')} credentials, not an OAuth token`
    : 'no protected resource metadata';
  return new AirlockError('AIRLOCK_UPSTREAM_CREDENTIALS', `${statusLine(status)} from ${displayUrl(url)}, and it offers no OAuth login (${why})`, {
    hint: apiKeyHint(wwwAuthenticate),
    cause,
  });
}

/** A scheme as the server wrote it (`ApiKey`), where the parser gives it lower-cased. */
function asWritten(header: string, scheme: string): string {
  const escaped = scheme.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(?:^|,)\\s*(${escaped})(?=\\s|,|$)`, 'i').exec(header)?.[1] ?? scheme;
}

/** Whether a challenge is an OAuth Bearer one that names its resource metadata (so a login can work). */
function offersOAuth(wwwAuthenticate: string | undefined): boolean {
  if (!wwwAuthenticate) return false;
  return parseWwwAuthenticate(wwwAuthenticate).some((c) => c.scheme === 'bearer' && c.params.has('resource_metadata'));
}

/**
 * An answer to an unauthenticated probe that says the URL is wrong or the server failed (404, 410,
 * an HTML page, 5xx), rather than anything about credentials: login and doctor report it as
 * connect would, instead of going on to OAuth discovery.
 */
export function isWrongPlaceOrFailure(status: number, html: boolean): boolean {
  return status === 404 || status === 410 || status >= 500 || html;
}

export const PATH_HINT = 'Check the path of the MCP endpoint: often /mcp (streamable HTTP) or /sse (the legacy HTTP+SSE transport); see --transport.';

/**
 * An HTTP status that ended the exchange, as one message and a hint. `detail` is the body as
 * summariseBody made it (an HTML page: its title; other text is quoted here).
 */
export function diagnoseStatus(url: URL, status: number, detail: string, answer: HttpAnswerDetails = {}): AirlockError {
  const where = displayUrl(url);
  const text = detail.trim();
  const said = text === '' || text === `HTTP ${status}` ? '' : answer.html ? ` (${text})` : `: ${quote(text, 300)}`;
  const head = `${statusLine(status)} from ${where}${said}`;
  if (status === 401 || status === 403) {
    // Without the body: a server may echo the credentials it refused.
    const bare = `${statusLine(status)} from ${where}`;
    if (offersOAuth(answer.wwwAuthenticate)) {
      return new AirlockError('AIRLOCK_UPSTREAM_HTTP', bare, {
        hint: `The server wants an OAuth login: run mcp-airlock login ${where} (and connect without --no-auth), or pass a token with --header "Authorization: Bearer \${TOKEN}".`,
      });
    }
    return new AirlockError('AIRLOCK_UPSTREAM_CREDENTIALS', bare, {
      hint: status === 403 && !answer.wwwAuthenticate
        ? `The server refuses these credentials, or a firewall or an IP allow-list is in front of it; if it takes an API key, pass it with --header "${credentialHeaderExample(undefined)}".`
        : `The server wants credentials: log in with mcp-airlock login ${where} if it offers OAuth; if it takes an API key or a static token, pass it with --header "${credentialHeaderExample(answer.wwwAuthenticate)}".`,
    });
  }
  if (status >= 300 && status < 400) {
    // Redirects within the origin are followed (http-request.ts); this one leads elsewhere (often a single sign-on page).
    let target: string | undefined;
    try {
      target = answer.location === undefined ? undefined : new URL(answer.location, url).origin;
    } catch {
      target = undefined;
    }
    return new AirlockError('AIRLOCK_UPSTREAM_HTTP', `${statusLine(status)} from ${where}${target ? `, redirecting to ${quote(target)}` : ''}`, {
      hint: 'airlock follows redirects only within the same origin, since its headers may carry credentials: if the other address is the MCP server and you trust it, connect to it directly; a sign-in page means the server wants credentials another way.',
    });
  }
  if (status >= 500) {
    return new AirlockError('AIRLOCK_UPSTREAM_HTTP', head, { hint: "The server, or a proxy in front of it, failed: try again later, or check the server's logs." });
  }
  if (status === 404 || status === 405 || status === 410 || answer.html) {
    return new AirlockError('AIRLOCK_UPSTREAM_HTTP', head, { hint: PATH_HINT });
  }
  return new AirlockError('AIRLOCK_UPSTREAM_HTTP', head, { hint: 'The server refused the request; rerun with --log-level debug for details.' });
}

/** The errno-style code of a network failure, from the error or its causes (fetch wraps it in "fetch failed"). */
function networkCode(error: unknown): { code?: string; message: string; reason?: string } | undefined {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; current = (current as { cause?: unknown }).cause, depth++) {
    const code = (current as { code?: unknown }).code;
    const reason = (current as { reason?: unknown }).reason;
    const cause = (current as { cause?: unknown }).cause;
    // AbortSignal.timeout(): an AbortError whose cause is the TimeoutError.
    if (current.name === 'TimeoutError' || (current.name === 'AbortError' && cause instanceof Error && cause.name === 'TimeoutError')) return { code: 'ETIMEDOUT', message: current.message };
    if (typeof code === 'string') return { code, message: current.message, reason: typeof reason === 'string' ? reason : undefined };
    // fetch refuses the Fetch standard's "bad ports" (1, 6000, 6665-6669, ...) with a bare Error.
    if (current.message === 'bad port') return { code: 'BAD_PORT', message: current.message };
    // Node 24's fetch says a non-HTTP answer in words only; 20 and 22 give llhttp's HPE_ code.
    if (/does not match the HTTP\/1\.1 protocol/.test(current.message)) return { code: 'HPE_INVALID_CONSTANT', message: current.message };
  }
  return undefined;
}

const UNREACHABLE_HINT = 'Check that the server is running and the host and port in the URL; behind a proxy, check HTTPS_PROXY/NO_PROXY.';

const CERTIFICATE_PROBLEMS: Record<string, string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: 'it is self-signed',
  SELF_SIGNED_CERT_IN_CHAIN: 'it chains to a self-signed certificate that is not trusted here',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'its issuer is unknown here',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'its issuer is unknown here',
  UNABLE_TO_GET_ISSUER_CERT: 'its issuer is unknown here',
  CERT_HAS_EXPIRED: 'it has expired',
  CERT_NOT_YET_VALID: 'it is not valid yet',
  ERR_TLS_CERT_ALTNAME_INVALID: 'it is for another host name',
  CERT_REVOKED: 'it has been revoked',
};

/**
 * A failure before any HTTP answer, as one message and a hint; undefined when it is not a network
 * or TLS failure. Never the OpenSSL text: a code and plain words.
 */
export function diagnoseNetwork(url: URL, error: unknown): AirlockError | undefined {
  const found = networkCode(error);
  if (!found) return undefined;
  const { code = '', message, reason } = found;
  const where = displayUrl(url);
  const host = url.host;
  if (/WRONG_VERSION_NUMBER|PACKET_LENGTH_TOO_LONG|HTTP_REQUEST/.test(code) || /wrong version number|packet length too long|http request/i.test(`${reason ?? ''} ${code === 'EPROTO' ? message : ''}`)) {
    const plain = new URL(url.href);
    plain.protocol = 'http:';
    const loopback = isLoopbackHost(url.hostname);
    return new AirlockError('AIRLOCK_UPSTREAM_TLS', `${where} answered in plain HTTP, not HTTPS`, {
      hint: `The server does not speak TLS on that port: use ${displayUrl(plain)}${loopback ? '' : ' with --allow-http (unencrypted: only on a network you trust)'}.`,
      cause: error,
    });
  }
  const certificate = CERTIFICATE_PROBLEMS[code];
  if (certificate !== undefined) {
    const hint = code === 'ERR_TLS_CERT_ALTNAME_INVALID'
      ? 'Use the host name the certificate was issued for, or fix the certificate.'
      : code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID' || code === 'CERT_REVOKED'
        ? "The server's certificate must be renewed (or the clock of this machine is wrong)."
        : "If the server uses a private certificate authority, trust it with --ca-file PATH (a PEM file of the CA); the OS trust store is already used unless --no-system-ca. Otherwise fix the server's certificate.";
    return new AirlockError('AIRLOCK_UPSTREAM_TLS', `cannot trust the TLS certificate of ${host}: ${certificate} (${code})`, { hint, cause: error });
  }
  if (code === 'ECONNREFUSED') {
    return new AirlockError('AIRLOCK_UPSTREAM_UNREACHABLE', `cannot reach ${where}: connection refused (nothing listens on ${host})`, { hint: UNREACHABLE_HINT, cause: error });
  }
  if (code === 'BAD_PORT') {
    return new AirlockError('AIRLOCK_UPSTREAM_UNREACHABLE', `cannot reach ${where}: port ${url.port} is one that fetch clients never connect to (a "bad port" of the Fetch standard)`, {
      hint: 'Run the server on another port: browsers and Node refuse this one whatever listens there.',
      cause: error,
    });
  }
  if (code.startsWith('HPE_')) {
    return new AirlockError('AIRLOCK_UPSTREAM_HTTP', `cannot talk to ${where}: what answers on ${host} does not speak HTTP/1.1 (${code})`, {
      hint: 'Check the port in the URL: another kind of service (SSH, a database, a mail server) may listen there.',
      cause: error,
    });
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NONAME') {
    return new AirlockError('AIRLOCK_UPSTREAM_UNREACHABLE', `cannot reach ${where}: the host name ${quote(url.hostname)} does not resolve (${code})`, {
      hint: 'Check the host name in the URL, and your network or VPN.',
      cause: error,
    });
  }
  if (code === 'ETIMEDOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || (code === 'ABORT_ERR' && /timeout|timed out/i.test(message))) {
    return new AirlockError('AIRLOCK_UPSTREAM_UNREACHABLE', `cannot reach ${where}: no answer in time (timed out)`, {
      hint: 'Check the URL, that the server is up, and the network (firewall, VPN, HTTPS_PROXY/NO_PROXY).',
      cause: error,
    });
  }
  if (/^(ECONNRESET|EHOSTUNREACH|ENETUNREACH|EPIPE|ECONNABORTED|EPROTO|UND_ERR_SOCKET|UND_ERR_CLOSED)$/.test(code) || code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS')) {
    // describeError gives OpenSSL's error queue as its reason ("sslv3 alert handshake failure").
    const detail = describeError(error).split('\n')[0]!.trim();
    return new AirlockError('AIRLOCK_UPSTREAM_UNREACHABLE', `cannot reach ${where}: ${detail.includes(code) ? detail : `${code} (${detail})`}`, { hint: UNREACHABLE_HINT, cause: error });
  }
  return undefined;
}

/** Any failure of an exchange with the server (an HttpStatusError, a network error), diagnosed. */
export function diagnoseUpstream(url: URL, error: unknown): AirlockError {
  if (error instanceof AirlockError) return error;
  const status = (error as { code?: unknown }).code;
  if (error instanceof HttpStatusError && status === -1 && error.details.html) {
    return new AirlockError('AIRLOCK_UPSTREAM_HTTP', `${displayUrl(url)} answered with a web page, not MCP (${error.message})`, { hint: PATH_HINT, cause: error });
  }
  if (typeof status === 'number' && status > 0) {
    const details = error instanceof HttpStatusError ? error.details : {};
    const detail = (error instanceof Error ? error.message : '').replace(/^(Streamable HTTP error|SSE error): /, '');
    const diagnosed = diagnoseStatus(url, status, detail, details);
    return new AirlockError(diagnosed.code, diagnosed.message, { hint: diagnosed.hint, cause: error });
  }
  const network = diagnoseNetwork(url, error);
  if (network) return network;
  const text = error instanceof Error ? error.message.split('\n')[0]! : String(error);
  return new AirlockError('AIRLOCK_UPSTREAM_HTTP', `request to ${displayUrl(url)} failed: ${text}`, { cause: error });
}
