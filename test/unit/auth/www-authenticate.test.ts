import { describe, expect, it } from 'vitest';
import { asksForOtherCredentials, bearerChallenge, parseWwwAuthenticate } from '../../../src/auth/www-authenticate.js';

function params(header: string, index = 0): Record<string, string> {
  return Object.fromEntries(parseWwwAuthenticate(header)[index]!.params);
}

describe('parseWwwAuthenticate', () => {
  it('reads a Bearer challenge with quoted parameters (RFC 9728 §5.1)', () => {
    const header = 'Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp", scope="files:read files:write"';
    expect(parseWwwAuthenticate(header)).toEqual([
      {
        scheme: 'bearer',
        params: new Map([
          ['resource_metadata', 'https://mcp.example.com/.well-known/oauth-protected-resource/mcp'],
          ['scope', 'files:read files:write'],
        ]),
      },
    ]);
  });

  it('unescapes quoted-pair in quoted strings and keeps commas and "=" inside them', () => {
    expect(params('Bearer error_description="say \\"no\\", a=b \\\\ end", error=invalid_token')).toEqual({
      error_description: 'say "no", a=b \\ end',
      error: 'invalid_token',
    });
  });

  it('splits several challenges in one header, with parameters after each', () => {
    const challenges = parseWwwAuthenticate('Basic realm="api", Bearer realm="mcp", scope="a b", DPoP algs="ES256"');
    expect(challenges.map((c) => c.scheme)).toEqual(['basic', 'bearer', 'dpop']);
    expect(Object.fromEntries(challenges[1]!.params)).toEqual({ realm: 'mcp', scope: 'a b' });
    expect(Object.fromEntries(challenges[2]!.params)).toEqual({ algs: 'ES256' });
  });

  it('treats scheme and parameter names case-insensitively', () => {
    const [challenge] = parseWwwAuthenticate('BEARER Resource_Metadata="u", SCOPE=x');
    expect(challenge!.scheme).toBe('bearer');
    expect(Object.fromEntries(challenge!.params)).toEqual({ resource_metadata: 'u', scope: 'x' });
  });

  it('accepts tokens as values, optional whitespace around "=", and empty challenges', () => {
    expect(parseWwwAuthenticate('Bearer')).toEqual([{ scheme: 'bearer', params: new Map() }]);
    expect(params('Bearer error = invalid_token ,scope = "a"')).toEqual({ error: 'invalid_token', scope: 'a' });
    expect(parseWwwAuthenticate('Bearer, Basic realm="x"').map((c) => c.scheme)).toEqual(['bearer', 'basic']);
  });

  it('reads token68 challenges without taking them for parameters', () => {
    const challenges = parseWwwAuthenticate('Negotiate YII=, Bearer scope="a"');
    expect(challenges[0]).toEqual({ scheme: 'negotiate', params: new Map(), token68: 'YII=' });
    expect(Object.fromEntries(challenges[1]!.params)).toEqual({ scope: 'a' });
  });

  it('keeps the first of duplicated parameters', () => {
    expect(params('Bearer scope="first", scope="second"')).toEqual({ scope: 'first' });
  });

  it('survives garbage: unterminated quotes, stray characters, empty input', () => {
    expect(parseWwwAuthenticate('')).toEqual([]);
    expect(params('Bearer scope="never closed')).toEqual({ scope: 'never closed' });
    expect(parseWwwAuthenticate('"junk", Bearer scope=a').map((c) => c.scheme)).toEqual(['bearer']);
    expect(() => parseWwwAuthenticate('=,=,"\\')).not.toThrow();
  });

  it('does not let a parameter named __proto__ touch object prototypes', () => {
    const [challenge] = parseWwwAuthenticate('Bearer __proto__="x", scope="a"');
    expect(challenge!.params.get('__proto__')).toBe('x');
    expect(({} as Record<string, unknown>)['x']).toBeUndefined();
  });
});

describe('bearerChallenge', () => {
  it('picks the Bearer challenge among others and names its fields', () => {
    expect(bearerChallenge('Basic realm="x", Bearer error="insufficient_scope", scope="a b", resource_metadata="https://h/m", error_description="needs b"')).toEqual({
      error: 'insufficient_scope',
      scope: 'a b',
      resourceMetadata: 'https://h/m',
      errorDescription: 'needs b',
    });
  });

  it('is undefined without a header or without a Bearer challenge', () => {
    expect(bearerChallenge(null)).toBeUndefined();
    expect(bearerChallenge('')).toBeUndefined();
    expect(bearerChallenge('Basic realm="x"')).toBeUndefined();
  });

  it('drops empty values', () => {
    expect(bearerChallenge('Bearer scope="", resource_metadata=""')).toEqual({});
  });
});

describe('asksForOtherCredentials', () => {
  it('is true only when every challenge is in a scheme OAuth does not use', () => {
    expect(asksForOtherCredentials('ApiKey header="X-Api-Key"')).toBe(true);
    expect(asksForOtherCredentials('Basic realm="api"')).toBe(true);
    expect(asksForOtherCredentials('Basic realm="api", Bearer resource_metadata="https://x/.well-known/oauth-protected-resource"')).toBe(false);
    expect(asksForOtherCredentials('DPoP algs="ES256"')).toBe(false);
    expect(asksForOtherCredentials('Bearer')).toBe(false);
    // No header, or nothing parseable in it: nothing is known, so OAuth discovery still runs.
    expect(asksForOtherCredentials(null)).toBe(false);
    expect(asksForOtherCredentials('')).toBe(false);
  });
});
