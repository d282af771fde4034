/**
 * Parsing of the `WWW-Authenticate` response header (RFC 9110 §11.6.1): one header value may carry
 * several challenges, each a case-insensitive scheme followed by a token68 or by comma-separated
 * auth-params whose values are tokens or quoted strings with backslash escapes. The header comes
 * from the network: the parser never throws, ignores what it cannot read, and keeps the first of
 * duplicated parameters.
 */

export interface AuthChallenge {
  /** The auth-scheme, lowercased ("bearer"). */
  scheme: string;
  /** Parameters by lowercased name (RFC 9110 §11.2: names are case-insensitive). */
  params: ReadonlyMap<string, string>;
  token68?: string;
}

/** What a Bearer challenge tells an OAuth client (RFC 6750 §3, RFC 9728 §5.1). */
export interface BearerChallenge {
  /** URL of the protected resource metadata (RFC 9728 §5.1). */
  resourceMetadata?: string;
  /** Space-separated scopes the resource wants (RFC 6750 §3). */
  scope?: string;
  /** `invalid_request`, `invalid_token`, `insufficient_scope` (RFC 6750 §3.1), or another value. */
  error?: string;
  errorDescription?: string;
}

const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*/;

/** All challenges in a `WWW-Authenticate` header value, in order. */
export function parseWwwAuthenticate(header: string): AuthChallenge[] {
  const s = header;
  let i = 0;
  const challenges: AuthChallenge[] = [];

  const skipSpace = (): void => {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < s.length && TCHAR.test(s[i]!)) i++;
    return s.slice(start, i);
  };
  const readQuoted = (): string => {
    let out = '';
    i++; // the opening quote
    while (i < s.length) {
      const c = s[i]!;
      if (c === '\\' && i + 1 < s.length) {
        out += s[i + 1];
        i += 2;
      } else if (c === '"') {
        i++;
        return out;
      } else {
        out += c;
        i++;
      }
    }
    return out; // unterminated: keep what was there
  };

  while (i < s.length) {
    skipSpace();
    if (s[i] === ',') {
      i++;
      continue;
    }
    if (i >= s.length) break;
    const scheme = readToken();
    if (!scheme) {
      // Not a challenge: skip to the next element.
      while (i < s.length && s[i] !== ',') i++;
      continue;
    }
    const params = new Map<string, string>();
    const challenge: AuthChallenge = { scheme: scheme.toLowerCase(), params };
    challenges.push(challenge);
    skipSpace();

    // token68: the whole rest of this element (up to a comma or the end).
    const t68 = TOKEN68.exec(s.slice(i));
    if (t68) {
      let k = i + t68[0].length;
      while (k < s.length && (s[k] === ' ' || s[k] === '\t')) k++;
      if (k >= s.length || s[k] === ',') {
        challenge.token68 = t68[0];
        i = k;
        continue;
      }
    }

    for (;;) {
      skipSpace();
      const start = i;
      const name = readToken();
      if (!name) break;
      skipSpace();
      if (s[i] !== '=') {
        // A token without "=": the scheme of the next challenge.
        i = start;
        break;
      }
      i++;
      skipSpace();
      const value = s[i] === '"' ? readQuoted() : readToken();
      const key = name.toLowerCase();
      if (!params.has(key)) params.set(key, value);
      skipSpace();
      if (s[i] !== ',') break;
      i++;
    }
  }
  return challenges;
}

/**
 * Whether a 401's challenges name only schemes other than OAuth's (`ApiKey header="X-Api-Key"`,
 * `Basic`): such a server is no OAuth resource server (RFC 6750 §3, RFC 9728 §5.1 challenge with
 * Bearer or DPoP), so no discovery or login can help. No header at all says nothing either way.
 */
export function asksForOtherCredentials(header: string | null | undefined): boolean {
  if (!header) return false;
  const schemes = parseWwwAuthenticate(header).map((c) => c.scheme);
  return schemes.length > 0 && !schemes.includes('bearer') && !schemes.includes('dpop');
}

/**
 * The first Bearer challenge of a `WWW-Authenticate` header, else its first DPoP challenge (RFC 9449
 * §7.1: a DPoP resource server challenges with the DPoP scheme, with the same parameters), or
 * undefined when there is neither.
 */
export function bearerChallenge(header: string | null | undefined): BearerChallenge | undefined {
  if (!header) return undefined;
  const challenges = parseWwwAuthenticate(header);
  const bearer = challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'dpop');
  if (!bearer) return undefined;
  const result: BearerChallenge = {};
  const get = (name: string): string | undefined => {
    const value = bearer.params.get(name);
    return value === undefined || value === '' ? undefined : value;
  };
  const resourceMetadata = get('resource_metadata');
  const scope = get('scope');
  const error = get('error');
  const errorDescription = get('error_description');
  if (resourceMetadata !== undefined) result.resourceMetadata = resourceMetadata;
  if (scope !== undefined) result.scope = scope;
  if (error !== undefined) result.error = error;
  if (errorDescription !== undefined) result.errorDescription = errorDescription;
  return result;
}
