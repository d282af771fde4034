/**
 * Keeps secrets out of audit records. Arguments are recorded as a SHA-256 digest by default;
 * with `--audit-args full` they are recorded with secret-looking members and token-like strings
 * replaced. Command lines are described without secret values, for logs and records alike.
 *
 * Redaction is a safety net, not a guarantee: a secret with no recognisable name or shape cannot
 * be told from data. That is why `digest` is the default.
 */
import { createHash, createHmac } from 'node:crypto';

export type AuditArgsMode = 'none' | 'digest' | 'full';

export const REDACTED = '[REDACTED]';

/** A word that makes a member or flag name secret wherever it appears in it ("githubToken", "AWS_SECRET_ACCESS_KEY"). */
const SECRET_WORDS = new Set(['authorization', 'auth', 'cookie', 'token', 'secret', 'password', 'passwd', 'pwd', 'passphrase', 'credential', 'credentials', 'apikey', 'privatekey']);
/** Two adjacent words that do ("api_key", "accessKey", "session-id"). */
const SECRET_PAIRS = new Set(['api key', 'access key', 'private key', 'secret key', 'session id', 'signing key', 'encryption key']);

/** Strings that look like credentials whatever member they are in. */
const TOKEN_SHAPES: RegExp[] = [
  /\bBearer\s+[A-Za-z0-9\-._~+/]+=*/gi,
  /\bBasic\s+[A-Za-z0-9+/]{8,}=*/g, // checked below: only when it decodes to user:password
  /\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g, // JWT
  /\b(?:sk|pk|rk)-[A-Za-z0-9_-]{16,}/g, // OpenAI/Anthropic/Stripe-style keys
  /\bgh[pousr]_[A-Za-z0-9]{20,}/g, // GitHub tokens
  /\bgithub_pat_[A-Za-z0-9_]{20,}/g,
  /\bglpat-[A-Za-z0-9_-]{20,}/g, // GitLab
  /\bxox[abprs]-[A-Za-z0-9-]{10,}/g, // Slack
  /\bAKIA[0-9A-Z]{16}\b/g, // AWS access key id
  /\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])/g, // Google API key (may end in "-", so no \b)
  /\bnpm_[A-Za-z0-9]{36}\b/g, // npm access token
  /\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{10,}/g, // Stripe secret, restricted and publishable keys
  /\bwhsec_[A-Za-z0-9+/=]{20,}/g, // Stripe webhook secret
  /\bhf_[A-Za-z0-9]{30,}/g, // Hugging Face
  /\b(?:AccountKey|SharedAccessKey)=[A-Za-z0-9+/]{20,}={0,2}/g, // Azure storage / service bus connection strings
  /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g,
];

/** "githubToken" -> github token; "AWS_SECRET_ACCESS_KEY" -> aws secret access key; "x-api-key" -> x api key. */
function wordsOf(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toLowerCase()
    .split(/[-_.\s]+/)
    .filter(Boolean);
}

/** Whether a member or flag name says its value is a secret. */
export function isSecretName(name: string): boolean {
  const words = wordsOf(name);
  return words.some((word, i) => SECRET_WORDS.has(word) || (i > 0 && SECRET_PAIRS.has(`${words[i - 1]} ${word}`)));
}

/** "Basic <base64>" is a credential only when it decodes to user:password (not "Basic information"). */
function isBasicCredential(match: string): boolean {
  const encoded = match.replace(/^Basic\s+/, '');
  return Buffer.from(encoded, 'base64').toString('utf8').includes(':');
}

/** `scheme://user:password@host`: the password part of a URL's userinfo (RFC 3986 §3.2.1). */
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s/?#@:]*):([^\s/?#@]*)@/gi;
/** A query or fragment parameter: `?name=value` or `&name=value`. */
const QUERY_PARAMETER = /([?&#;])([^=&#\s?]+)=([^&#\s]*)/g;
/** A value masked before (as is, or URL-encoded by URLSearchParams). */
const ALREADY_REDACTED = /^(?:\[REDACTED\]|%5BREDACTED%5D)$/i;
/** Parameter names that carry credentials but are not secret words on their own. */
const SECRET_PARAMETERS = new Set(['key', 'sig', 'signature', 'code', 'access_token', 'refresh_token', 'id_token', 'client_secret', 'x-amz-signature', 'x-amz-credential', 'x-amz-security-token', 'x-goog-signature']);

/** Secret-sounding names that hold metadata, never a secret: `token_endpoint`, `token_type`, `…_auth_methods_supported`. */
const METADATA_NAME = /(?:_endpoint|_uri|_url|_type|_method|_methods|_supported|_alg|_values|_expires_at|_expires_in)$/;

/** A secret-sounding name that does not name metadata: `api_key` and `secret`, not `token_endpoint`. */
export function isSecretNonMetadataName(name: string): boolean {
  return isSecretName(name) && !METADATA_NAME.test(name.toLowerCase());
}

function secretParameter(name: string): boolean {
  let decoded = name;
  try {
    decoded = decodeURIComponent(name);
  } catch {
    // keep it as written
  }
  return SECRET_PARAMETERS.has(decoded.toLowerCase()) || isSecretNonMetadataName(decoded);
}

/** Replace token-like runs inside a string, URL passwords, and secret-looking query parameters. */
export function redactString(value: string): string {
  let out = value;
  for (const shape of TOKEN_SHAPES) {
    out = out.replace(shape, (match) => (match.startsWith('Basic') && !isBasicCredential(match) ? match : REDACTED));
  }
  if (out.includes('@')) out = out.replace(URL_PASSWORD, (_match, head: string, password: string) => (password === '' ? `${head}:@` : `${head}:${REDACTED}@`));
  if (out.includes('=')) out = out.replace(QUERY_PARAMETER, (match, sep: string, name: string, item: string) => (item !== '' && !ALREADY_REDACTED.test(item) && secretParameter(name) ? `${sep}${name}=${REDACTED}` : match));
  return out;
}

/** A copy of a JSON value with secret members and token-like strings replaced. */
export function redactValue(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactString(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth > 32) return '[TOO DEEP]';
  if (Array.isArray(value)) return value.map((item) => redactValue(item, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    out[key] = isSecretName(key) && item !== null && item !== '' ? REDACTED : redactValue(item, depth + 1);
  }
  return out;
}

/**
 * A digest of the arguments as JSON, in the order the client sent them. With a key (derived from
 * the installation's audit key, see audit-key.ts), `hmac-sha256:<hex>`: equal arguments still give
 * equal digests, but without the key nobody can test guesses (a 6-digit code has only a million).
 * Without one, the old unkeyed `sha256:<hex>`.
 */
export function digestArguments(args: unknown, key?: Buffer): string {
  const text = JSON.stringify(args ?? null);
  if (key) return `hmac-sha256:${createHmac('sha256', key).update(text).digest('hex')}`;
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

/** The key for argument digests: derived from the audit key, so a digest never reveals a chain hash or the reverse. */
export function argumentDigestKey(auditSecret: Buffer): Buffer {
  return createHmac('sha256', auditSecret).update('mcp-airlock audit args digest').digest();
}

/**
 * Arguments seen before the audit key had loaded, to digest under it: the audit writer replaces
 * this with the digest when it seals the record (never written as is).
 */
export class PendingDigest {
  constructor(readonly args: unknown) {}

  /** Never the arguments themselves, should one ever reach JSON.stringify unsealed. */
  toJSON(): string {
    return 'digest-pending';
  }
}

/** What goes in the record's `args` for this mode; undefined means "leave the member out". */
export function recordArguments(args: unknown, mode: AuditArgsMode, digestKey?: Buffer): unknown {
  if (mode === 'none' || args === undefined) return undefined;
  if (mode === 'digest') return digestArguments(args, digestKey);
  return redactValue(args);
}

/**
 * A command line with secret values replaced: `--api-key X`, `--token=X`, `API_KEY=X`, and
 * token-shaped words.
 */
export function describeCommandSafely(command: string, args: readonly string[]): string {
  const words = [command, ...args];
  const out: string[] = [];
  let hideNext = false;
  for (const word of words) {
    if (hideNext) {
      out.push(REDACTED);
      hideNext = false;
      continue;
    }
    const flag = /^(--?[A-Za-z0-9][A-Za-z0-9_.-]*)(=(.*))?$/.exec(word);
    const assignment = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(word);
    // `--no-auth` and the like are switches: they take no value to hide.
    if (flag && !/^--?no-/.test(flag[1]!) && isSecretName(flag[1]!.replace(/^-+/, ''))) {
      if (flag[2] === undefined) hideNext = true;
      out.push(flag[2] === undefined ? word : `${flag[1]}=${REDACTED}`);
    } else if (assignment && isSecretName(assignment[1]!)) {
      out.push(`${assignment[1]}=${REDACTED}`);
    } else {
      out.push(redactString(word));
    }
  }
  return out.map((word) => (/^[A-Za-z0-9_@%+=:,./[\]-]+$/.test(word) ? word : JSON.stringify(word))).join(' ');
}

/**
 * A URL as it may be shown in a message or a log: its userinfo (user and password) and every query
 * and fragment value replaced, since any of them may carry a credential
 * (`https://user:pass@idp/jwks?key=...`). Not a URL: `redactString` of it.
 */
export function redactUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return redactString(value);
  }
  const userinfo = url.username || url.password ? `${REDACTED}@` : '';
  const query = url.search
    ? `?${url.search.slice(1).split('&').map((part) => (part.includes('=') ? `${part.slice(0, part.indexOf('='))}=${REDACTED}` : part === '' ? '' : REDACTED)).join('&')}`
    : '';
  const fragment = url.hash ? `#${REDACTED}` : '';
  return `${url.protocol}//${userinfo}${url.host}${url.pathname}${query}${fragment}`;
}

/**
 * The values of a URL that may be credentials (user, password, query and fragment values), raw
 * and percent-decoded, for `redactValues`: text about the URL (a library's error message) may
 * quote them. Values shorter than 4 characters are left out: they are no secret, and replacing
 * them would mangle the text.
 */
export function urlSecretValues(value: string): string[] {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return [];
  }
  const raw = [url.username, url.password, url.hash.slice(1), ...url.search.slice(1).split('&').map((part) => part.slice(part.indexOf('=') + 1))];
  const values = new Set<string>();
  for (const item of raw) {
    for (const form of [item, safeDecode(item)]) if (form.length >= 4) values.add(form);
  }
  // Longest first, so that a value containing another is replaced whole.
  return [...values].sort((a, b) => b.length - a.length);
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    return value;
  }
}

/** `text` with every occurrence of each of `values` replaced, and then `redactString` of it. */
export function redactValues(text: string, values: readonly string[]): string {
  let out = text;
  for (const value of values) out = out.split(value).join(REDACTED);
  return redactString(out);
}
