import { describe, expect, it } from 'vitest';
import { canonicalResourceUri, checkAuthUrl, resourceCovers } from '../../../src/auth/resource-uri.js';
import { thrownAirlockError } from '../../helpers/thrown.js';

describe('canonicalResourceUri (RFC 8707 §2)', () => {
  it.each([
    ['HTTPS://MCP.Example.COM/mcp', 'https://mcp.example.com/mcp'],
    ['https://mcp.example.com/', 'https://mcp.example.com'],
    ['https://mcp.example.com', 'https://mcp.example.com'],
    ['https://mcp.example.com/server/mcp/', 'https://mcp.example.com/server/mcp'],
    ['https://mcp.example.com:443/mcp', 'https://mcp.example.com/mcp'],
    ['https://mcp.example.com:8443/mcp#frag', 'https://mcp.example.com:8443/mcp'],
    ['https://user:pw@mcp.example.com/mcp', 'https://mcp.example.com/mcp'],
    ['http://127.0.0.1:3000/a/../mcp', 'http://127.0.0.1:3000/mcp'],
    ['https://mcp.example.com/mcp?tenant=a#x', 'https://mcp.example.com/mcp?tenant=a'],
    ['http://[::1]:8080/', 'http://[::1]:8080'],
  ])('%s -> %s', (input, expected) => {
    expect(canonicalResourceUri(input)).toBe(expected);
  });

  it('refuses non-URLs and other schemes', () => {
    expect(thrownAirlockError(() => canonicalResourceUri('mcp.example.com')).code).toBe('AIRLOCK_BAD_URL');
    const error = thrownAirlockError(() => canonicalResourceUri('ftp://h/x', '--resource'));
    expect(error.message).toBe('--resource has unsupported scheme "ftp:"; only http and https');
  });
});

describe('resourceCovers (RFC 9728 §3.3, how strict)', () => {
  it('accepts the identical resource and a same-origin path prefix at a segment boundary', () => {
    expect(resourceCovers('https://h/mcp', 'https://h/mcp')).toBe(true);
    expect(resourceCovers('https://h', 'https://h/mcp')).toBe(true);
    expect(resourceCovers('https://h/api', 'https://h/api/mcp')).toBe(true);
  });

  it('refuses another origin, a sibling path, a partial segment, and a longer path', () => {
    expect(resourceCovers('https://evil.example/mcp', 'https://h/mcp')).toBe(false);
    expect(resourceCovers('http://h/mcp', 'https://h/mcp')).toBe(false);
    expect(resourceCovers('https://h:8443/mcp', 'https://h/mcp')).toBe(false);
    expect(resourceCovers('https://h/other', 'https://h/mcp')).toBe(false);
    expect(resourceCovers('https://h/mc', 'https://h/mcp')).toBe(false);
    expect(resourceCovers('https://h/mcp/sub', 'https://h/mcp')).toBe(false);
    expect(resourceCovers('https://h?x=1', 'https://h/mcp')).toBe(false);
  });
});

describe('checkAuthUrl', () => {
  it('allows https always, and http only to loopback with allowHttp', () => {
    expect(checkAuthUrl('https://as.example/token', 'the token_endpoint', { allowHttp: false }).href).toBe('https://as.example/token');
    expect(checkAuthUrl('http://127.0.0.1:9/token', 'the token_endpoint', { allowHttp: true }).host).toBe('127.0.0.1:9');
    expect(checkAuthUrl('http://localhost:9/token', 'x', { allowHttp: true }).hostname).toBe('localhost');
  });

  it('refuses loopback http without allowHttp, naming the flag', () => {
    const error = thrownAirlockError(() => checkAuthUrl('http://127.0.0.1:9/token', 'the token_endpoint', { allowHttp: false }));
    expect(error.code).toBe('AIRLOCK_INSECURE_URL');
    expect(error.message).toBe('refusing plain http for the token_endpoint "http://127.0.0.1:9/token": authorization traffic must use https');
    expect(error.hint).toContain('--allow-http');
  });

  it('refuses http to a non-loopback host even with allowHttp', () => {
    const error = thrownAirlockError(() => checkAuthUrl('http://as.example/token', 'the token_endpoint', { allowHttp: true }));
    expect(error.code).toBe('AIRLOCK_INSECURE_URL');
    expect(error.hint).toContain('only to loopback');
  });

  it('refuses other schemes', () => {
    expect(thrownAirlockError(() => checkAuthUrl('javascript:alert(1)', 'x', { allowHttp: true })).code).toBe('AIRLOCK_BAD_URL');
  });
});
