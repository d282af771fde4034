/**
 * Masking of what the doctor shows of an HTTP exchange. The report goes into bug reports and CI
 * logs, so it must never carry a token, a client secret, an authorization code, a PKCE verifier or
 * a cookie (issue 5). Values are replaced by `[REDACTED]` by name (headers, JSON members, form and
 * query parameters), and token-shaped strings anywhere else by the audit log's `redactString`.
 * Metadata is shown as it is: names such as `token_endpoint` are not secrets, so the audit log's
 * name heuristics (`redactValue`) are not used here.
 */
import { isSecretName, isSecretNonMetadataName, REDACTED, redactString } from '../redact.js';

/**
 * Headers whose value is a credential (RFC 9110 §11.6.2, RFC 6265) beyond what their name says; a
 * DPoP proof (RFC 9449 §4) is a signed JWT that goes with the token, shown as `[REDACTED]` too.
 */
const SECRET_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'dpop']);
/** Named like a secret, but shown: the MCP session id is what a bug report needs to follow a session. */
const SHOWN_HEADERS = new Set(['mcp-session-id']);

/** A header that carries a credential: the fixed ones, and any a user named like one (X-Auth-Token, Private-Token, …). */
function isSecretHeader(key: string): boolean {
  return SECRET_HEADERS.has(key) || (!SHOWN_HEADERS.has(key) && isSecretName(key));
}

/**
 * Parameters and JSON members that carry secrets: RFC 6749 §4.1.2 `code`, §5.1 tokens, RFC 7636
 * §4.1 `code_verifier`, RFC 7591 §3.2.1 `client_secret` and `registration_access_token`, RFC 8628
 * §3.2 `device_code`, OpenID `id_token`, and a resource owner's `password`.
 */
export const SECRET_FIELDS: ReadonlySet<string> = new Set([
  'access_token',
  'refresh_token',
  'id_token',
  'client_secret',
  'registration_access_token',
  'code',
  'code_verifier',
  'device_code',
  'password',
  'client_assertion',
  'assertion',
  'subject_token',
  'actor_token',
]);

/**
 * Whether a JSON member or parameter holds a secret: the OAuth fields above, and any other name
 * that sounds like one (`api_key`, `secret`, `privateKey`, …) unless it names metadata or the value
 * is a URL (shown, with its own secrets redacted).
 */
function isSecretField(name: string, value: string): boolean {
  if (SECRET_FIELDS.has(name)) return true;
  return isSecretNonMetadataName(name) && !/^https?:\/\//i.test(value);
}

/** A header value as shown: credentials replaced, the auth scheme kept ("Bearer [REDACTED]"). */
export function maskHeaderValue(name: string, value: string): string {
  const key = name.toLowerCase();
  if (isSecretHeader(key)) {
    const scheme = /^(Bearer|Basic|DPoP|Digest)\s/i.exec(value);
    return scheme && key.endsWith('authorization') ? `${scheme[1]} ${REDACTED}` : REDACTED;
  }
  if (key === 'location' || key === 'content-location') return maskUrl(value);
  // A challenge holds no credential, and "Bearer resource_metadata=..." would look like one to redactString.
  if (key === 'www-authenticate') return value;
  return redactString(value);
}

/** Headers as a plain object, lowercased names, values masked. */
export function maskHeaders(headers: Headers | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!headers) return out;
  headers.forEach((value, name) => {
    out[name] = maskHeaderValue(name, value);
  });
  const cookies = headers.getSetCookie?.() ?? [];
  if (cookies.length) out['set-cookie'] = REDACTED;
  return out;
}

function maskParams(params: URLSearchParams): boolean {
  let changed = false;
  for (const name of new Set(params.keys())) {
    if (isSecretField(name, params.get(name) ?? '')) {
      params.set(name, REDACTED);
      changed = true;
    }
  }
  return changed;
}

/** A URL with secret query parameters (and a fragment's) masked; unparsable text is only redacted. */
export function maskUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return redactString(value);
  }
  const query = new URLSearchParams(url.search);
  if (maskParams(query)) url.search = query.toString();
  if (url.hash.length > 1) {
    const fragment = new URLSearchParams(url.hash.slice(1));
    if (maskParams(fragment)) url.hash = fragment.toString();
  }
  return redactString(url.href);
}

function maskJson(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactString(value);
  if (value === null || typeof value !== 'object' || depth > 32) return value;
  if (Array.isArray(value)) return value.map((item) => maskJson(item, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    out[key] = typeof item === 'string' && item !== '' && isSecretField(key, item) ? REDACTED : maskJson(item, depth + 1);
  }
  return out;
}

/**
 * A body as shown: JSON with secret members masked (re-serialised compactly), a form with secret
 * parameters masked, other text with token-shaped strings masked; then trimmed to `max` characters.
 */
export function maskBody(text: string, contentType: string | null | undefined, max: number): string {
  let shown: string;
  const type = (contentType ?? '').toLowerCase();
  const trimmed = text.trim();
  if (type.includes('json') || /^[[{]/.test(trimmed)) {
    try {
      shown = JSON.stringify(maskJson(JSON.parse(trimmed)));
    } catch {
      shown = redactString(text);
    }
  } else if (type.includes('application/x-www-form-urlencoded')) {
    const params = new URLSearchParams(text);
    maskParams(params);
    shown = redactString(params.toString());
  } else if (type.includes('text/event-stream')) {
    shown = text
      .split('\n')
      .map((line) => (line.startsWith('data:') ? `data: ${maskBody(line.slice(5), 'application/json', Number.MAX_SAFE_INTEGER)}` : redactString(line)))
      .join('\n');
  } else {
    shown = redactString(text);
  }
  return trimBody(shown, max);
}

/** Cut a text to `max` characters, saying how much was left out. */
export function trimBody(text: string, max: number): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max)}… (${text.length - max} more characters)`;
}
