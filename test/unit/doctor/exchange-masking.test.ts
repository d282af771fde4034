import { describe, expect, it } from 'vitest';
import { maskBody, maskHeaders, maskHeaderValue, maskUrl, trimBody } from '../../../src/doctor/exchange-masking.js';

// Secret-shaped values are built at run time, so this file holds nothing a secret scanner flags.
const JWT = `eyJ${'hbGci'.repeat(4)}.eyJ${'zdWIi'.repeat(4)}.${'s1g_-'.repeat(6)}`;
const OPAQUE = 'opaque-refresh-'.concat('x'.repeat(20));

describe('maskHeaderValue and maskHeaders', () => {
  it('masks credentials and cookies, keeping the auth scheme', () => {
    expect(maskHeaderValue('Authorization', `Bearer ${JWT}`)).toBe('Bearer [REDACTED]');
    expect(maskHeaderValue('authorization', 'Basic YWdlbnQ6c2VjcmV0')).toBe('Basic [REDACTED]');
    expect(maskHeaderValue('proxy-authorization', 'Negotiate abc')).toBe('[REDACTED]');
    expect(maskHeaderValue('Cookie', 'sid=abc; other=def')).toBe('[REDACTED]');
    expect(maskHeaderValue('x-api-key', 'k-123')).toBe('[REDACTED]');
  });

  it('masks secret parameters of a Location URL and token shapes in any header, and leaves the rest', () => {
    expect(maskHeaderValue('location', 'http://127.0.0.1:5/callback?code=abc&state=s1&iss=x')).toBe('http://127.0.0.1:5/callback?code=%5BREDACTED%5D&state=s1&iss=x');
    expect(maskHeaderValue('www-authenticate', 'Bearer resource_metadata="https://h/.well-known/oauth-protected-resource/mcp", scope="a b"')).toBe('Bearer resource_metadata="https://h/.well-known/oauth-protected-resource/mcp", scope="a b"');
    expect(maskHeaderValue('x-debug', `seen ${JWT}`)).toBe('seen [REDACTED]');
    expect(maskHeaderValue('mcp-session-id', 'sess-1')).toBe('sess-1');
    // Headers a user adds with --header, named like secrets: masked whatever their name.
    for (const name of ['X-Auth-Token', 'Private-Token', 'X-Goog-Api-Key', 'Api-Token', 'x-api-key']) expect(maskHeaderValue(name, 'abc123def456')).toBe('[REDACTED]');
  });

  it('turns Headers into a masked object, Set-Cookie included', () => {
    const headers = new Headers({ 'content-type': 'application/json', authorization: `Bearer ${JWT}` });
    headers.append('set-cookie', 'a=1; Path=/');
    headers.append('set-cookie', 'b=2; Path=/');
    expect(maskHeaders(headers)).toEqual({ 'content-type': 'application/json', authorization: 'Bearer [REDACTED]', 'set-cookie': '[REDACTED]' });
    expect(maskHeaders(undefined)).toEqual({});
  });
});

describe('maskUrl', () => {
  it('masks code, tokens and secrets in the query and the fragment', () => {
    expect(maskUrl('https://h/cb?code=c1&state=s')).toBe('https://h/cb?code=%5BREDACTED%5D&state=s');
    expect(maskUrl(`https://h/cb#access_token=${JWT}&token_type=Bearer`)).toBe('https://h/cb#access_token=%5BREDACTED%5D&token_type=Bearer');
    expect(maskUrl('https://h/.well-known/oauth-authorization-server/t1')).toBe('https://h/.well-known/oauth-authorization-server/t1');
    expect(maskUrl('not a url, Bearer abc.def')).toBe('not a url, [REDACTED]');
  });
});

describe('maskBody', () => {
  it('masks every secret member of a token response and of a registration response (RFC 6749 §5.1, RFC 7591 §3.2.1)', () => {
    const token = JSON.stringify({ access_token: JWT, refresh_token: OPAQUE, id_token: JWT, token_type: 'Bearer', expires_in: 300, scope: 'mcp:read' });
    expect(maskBody(token, 'application/json; charset=utf-8', 10_000)).toBe('{"access_token":"[REDACTED]","refresh_token":"[REDACTED]","id_token":"[REDACTED]","token_type":"Bearer","expires_in":300,"scope":"mcp:read"}');
    const registration = JSON.stringify({ client_id: 'c1', client_secret: 'sec-1', registration_access_token: 'rat-1', registration_client_uri: 'https://h/reg/c1', redirect_uris: ['http://127.0.0.1/callback'] });
    expect(maskBody(registration, 'application/json', 10_000)).toBe('{"client_id":"c1","client_secret":"[REDACTED]","registration_access_token":"[REDACTED]","registration_client_uri":"https://h/reg/c1","redirect_uris":["http://127.0.0.1/callback"]}');
  });

  // Issue 14 #6: `doctor --verbose --json`, documented as safe to attach, printed secrets found in bodies.
  it('masks secret-like members of any body, and secrets inside strings and URLs, keeping metadata', () => {
    const body = JSON.stringify({
      error: 'invalid_client',
      debug: { apiKey: 'k-123', secret: 's-456', privateKey: 'p-789', password: 'hunter2', db: 'postgres://admin:PASS@db/app', hint: `use npm_${'a1B2'.repeat(9)}` },
      token_type: 'Bearer',
      jwks_uri: 'https://as/jwks?key=abc',
      token_endpoint: 'https://as/token',
    });
    expect(JSON.parse(maskBody(body, 'application/json', 10_000))).toEqual({
      error: 'invalid_client',
      debug: { apiKey: '[REDACTED]', secret: '[REDACTED]', privateKey: '[REDACTED]', password: '[REDACTED]', db: 'postgres://admin:[REDACTED]@db/app', hint: 'use [REDACTED]' },
      token_type: 'Bearer',
      jwks_uri: 'https://as/jwks?key=[REDACTED]',
      token_endpoint: 'https://as/token',
    });
  });

  it('keeps metadata names such as token_endpoint, which are not secrets', () => {
    const metadata = JSON.stringify({ issuer: 'https://as', token_endpoint: 'https://as/token', token_endpoint_auth_methods_supported: ['none'] });
    expect(maskBody(metadata, 'application/json', 10_000)).toBe(metadata);
  });

  it('masks the secret parameters of a form body (the token request)', () => {
    const form = `grant_type=authorization_code&code=c1&code_verifier=v1&redirect_uri=http%3A%2F%2F127.0.0.1%3A5%2Fcallback&client_secret=s1&refresh_token=${OPAQUE}&resource=https%3A%2F%2Fh%2Fmcp`;
    expect(maskBody(form, 'application/x-www-form-urlencoded', 10_000)).toBe('grant_type=authorization_code&code=%5BREDACTED%5D&code_verifier=%5BREDACTED%5D&redirect_uri=http%3A%2F%2F127.0.0.1%3A5%2Fcallback&client_secret=%5BREDACTED%5D&refresh_token=%5BREDACTED%5D&resource=https%3A%2F%2Fh%2Fmcp');
  });

  it('masks JSON inside an event stream, and token shapes in plain text', () => {
    const sse = `event: message\ndata: {"jsonrpc":"2.0","id":1,"result":{"access_token":"${OPAQUE}"}}\n\n`;
    expect(maskBody(sse, 'text/event-stream', 10_000)).toBe('event: message\ndata: {"jsonrpc":"2.0","id":1,"result":{"access_token":"[REDACTED]"}}\n\n');
    expect(maskBody(`error: token ${JWT} expired`, 'text/plain', 10_000)).toBe('error: token [REDACTED] expired');
  });

  it('trims long bodies, saying how much was cut', () => {
    expect(maskBody('x'.repeat(30), 'text/plain', 10)).toBe('xxxxxxxxxx… (20 more characters)');
    expect(trimBody('short', 10)).toBe('short');
  });
});
