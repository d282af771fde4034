import { describe, expect, it } from 'vitest';
import { decodeAccessToken, shownClaims, tokenChecks, type TokenExpectations } from '../../../src/doctor/token-checks.js';

const now = Date.UTC(2026, 0, 1);
const nowS = now / 1000;
const expected: TokenExpectations = { resource: 'https://h/mcp', issuer: 'https://as', requestedScopes: ['mcp:read'], now, provider: 'unknown' };
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const jwt = (claims: Record<string, unknown>) => `${b64({ alg: 'RS256', typ: 'at+jwt' })}.${b64(claims)}.c2ln`;

describe('decodeAccessToken and shownClaims', () => {
  it('decodes a JWT without verifying it, and gives undefined for an opaque token', () => {
    expect(decodeAccessToken(jwt({ iss: 'https://as', sub: 'alice' }))).toEqual({ iss: 'https://as', sub: 'alice' });
    expect(decodeAccessToken('opaque-token-value')).toBeUndefined();
  });

  it('shows only the known claims', () => {
    expect(shownClaims({ iss: 'i', aud: 'a', jti: 'j', exp: 1, scope: 's', other: 'x' })).toEqual({ iss: 'i', aud: 'a', exp: 1, scope: 's' });
  });
});

describe('tokenChecks', () => {
  it('passes a token for the resource, from the issuer, unexpired, with the scopes asked for', () => {
    const checks = tokenChecks({ iss: 'https://as', aud: ['https://h/mcp', 'other'], exp: nowS + 600, scope: 'mcp:read mcp:write' }, expected);
    expect(checks.map((c) => [c.id, c.status, c.message])).toEqual([
      ['token.audience', 'pass', 'aud "https://h/mcp other" includes the resource "https://h/mcp"'],
      ['token.issuer', 'pass', 'iss "https://as"'],
      ['token.expiry', 'pass', 'expires in 10 min (2026-01-01T00:10:00.000Z)'],
      ['token.scopes', 'pass', 'scopes "mcp:read mcp:write"'],
    ]);
  });

  it('fails another audience, another issuer, an expired token; warns missing scopes (read from scp too)', () => {
    const checks = tokenChecks({ iss: 'https://evil', aud: 'https://other/mcp', exp: nowS - 5, scp: ['profile'] }, expected);
    expect(checks.map((c) => [c.id, c.status, c.message, c.hint])).toEqual([
      ['token.audience', 'fail', 'the access token is for audience "https://other/mcp", not for the resource "https://h/mcp"', 'Configure the authorization server to issue tokens for the resource indicator (RFC 8707) "https://h/mcp", or pass --resource with the audience the MCP server expects.'],
      ['token.issuer', 'fail', 'iss "https://evil" is not the authorization server "https://as"', 'The MCP server will reject it: the authorization server must sign tokens with the issuer its metadata names.'],
      ['token.expiry', 'fail', 'the access token expired 5 s ago', 'Check the clocks of this machine and the authorization server.'],
      ['token.scopes', 'warn', 'asked for "mcp:read", granted "profile"', 'The authorization server did not grant "mcp:read": allow these scopes for this client (or this user) on the authorization server.'],
    ]);
  });

  it('warns a token without aud or exp; falls back to the token response scope', () => {
    const checks = tokenChecks({ iss: 'https://as' }, { ...expected, grantedScope: 'mcp:read' });
    expect(checks.map((c) => [c.id, c.status])).toEqual([['token.audience', 'warn'], ['token.issuer', 'pass'], ['token.expiry', 'warn'], ['token.scopes', 'pass']]);
  });
});
