import { describe, expect, it } from 'vitest';
import { isUnexpired, needsRefresh, REFRESH_MARGIN_MS, tokenRecordFrom, unverifiedSubject } from '../../../src/auth/token-response.js';
import type { TokenRecord } from '../../../src/store/grant-store.js';
import { thrownAirlockError } from '../../helpers/thrown.js';

const jwt = (payload: object) => `e30.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.sig`;
const context = { resource: 'https://mcp.example/mcp', issuer: 'https://as.example', clientId: 'c', requestedScopes: ['a', 'b'], now: 1_000_000 };

describe('tokenRecordFrom', () => {
  it('records the token, its expiry, the granted scope and the subject of a JWT access token', () => {
    const record = tokenRecordFrom({ access_token: jwt({ sub: 'alice' }), token_type: 'bearer', expires_in: 300, refresh_token: 'rt', scope: 'a' } as never, context);
    expect(record).toEqual({
      resource: 'https://mcp.example/mcp',
      issuer: 'https://as.example',
      clientId: 'c',
      accessToken: jwt({ sub: 'alice' }),
      tokenType: 'Bearer',
      refreshToken: 'rt',
      expiresAt: 1_300_000,
      scope: 'a',
      subject: 'alice',
      obtainedAt: 1_000_000,
    });
  });

  it('records the requested scopes when the server does not say, and no expiry when it does not', () => {
    const record = tokenRecordFrom({ access_token: 'opaque', token_type: 'Bearer' } as never, context);
    expect(record.scope).toBe('a b');
    expect(record.expiresAt).toBeUndefined();
    expect(record.subject).toBeUndefined();
  });

  it('keeps the previous refresh token when the server rotates none in (RFC 6749 §6)', () => {
    const previous = { refreshToken: 'old-rt', subject: 'bob' } as TokenRecord;
    expect(tokenRecordFrom({ access_token: 'x', token_type: 'Bearer' } as never, { ...context, previous })).toMatchObject({ refreshToken: 'old-rt', subject: 'bob' });
    expect(tokenRecordFrom({ access_token: 'x', token_type: 'Bearer', refresh_token: 'new-rt' } as never, { ...context, previous }).refreshToken).toBe('new-rt');
  });

  it('refuses token types other than Bearer', () => {
    expect(thrownAirlockError(() => tokenRecordFrom({ access_token: 'x', token_type: 'DPoP' } as never, context)).code).toBe('AIRLOCK_AUTH_TOKEN');
  });
});

describe('unverifiedSubject', () => {
  it('reads sub from a JWT payload, nothing from anything else', () => {
    expect(unverifiedSubject(jwt({ sub: 'x' }))).toBe('x');
    expect(unverifiedSubject(jwt({ sub: 42 }))).toBeUndefined();
    expect(unverifiedSubject('opaque-token')).toBeUndefined();
    expect(unverifiedSubject('a.!!!.c')).toBeUndefined();
  });
});

describe('needsRefresh', () => {
  const record = (obtainedAt: number, expiresAt?: number) => ({ obtainedAt, expiresAt }) as TokenRecord;

  it('refreshes within the margin before expiry, not earlier', () => {
    const r = record(0, 3_600_000);
    expect(needsRefresh(r, 3_600_000 - REFRESH_MARGIN_MS - 1)).toBe(false);
    expect(needsRefresh(r, 3_600_000 - REFRESH_MARGIN_MS)).toBe(true);
  });

  it('uses a quarter of the lifetime for short-lived tokens', () => {
    const r = record(0, 40_000);
    expect(needsRefresh(r, 29_999)).toBe(false);
    expect(needsRefresh(r, 30_000)).toBe(true);
  });

  it('never for tokens without a known expiry', () => {
    expect(needsRefresh(record(0), Number.MAX_SAFE_INTEGER)).toBe(false);
    expect(isUnexpired(record(0), Number.MAX_SAFE_INTEGER)).toBe(true);
    expect(isUnexpired(record(0, 10), 10)).toBe(false);
  });
});
