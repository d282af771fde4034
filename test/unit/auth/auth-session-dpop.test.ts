/**
 * AuthSession with DPoP (RFC 9449) against a real authorization server: oidc-provider with
 * features.dPoP issues DPoP-bound JWT access tokens (`cnf.jkt`) and binds refresh tokens of public
 * clients to the key. Logins, refreshes and the server's nonces (§8) are real.
 */
import { decodeJwt } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { startAuthFixture } from '../../../fixtures/auth/protected-server.mjs';
import { AuthSession, type AuthOptions } from '../../../src/auth/auth-session.js';
import { DPOP_KEY_NAME, installationDpopKey } from '../../../src/auth/dpop.js';
import { createLogger } from '../../../src/log.js';
import { HeadlessBrowser } from '../../helpers/headless-browser.js';
import { MemoryGrantStore } from '../../helpers/memory-grant-store.js';

const log = createLogger('silent');
let fixture: Awaited<ReturnType<typeof startAuthFixture>> | undefined;
afterEach(async () => {
  await fixture?.close();
  fixture = undefined;
});

function session(store: MemoryGrantStore, extra: Partial<AuthOptions> = {}): AuthSession {
  return new AuthSession({ serverUrl: fixture!.url, store, log, openUrl: new HeadlessBrowser().open, allowHttp: true, authTimeoutMs: 10_000, ...extra });
}

const tokenRequests = () => fixture!.asRequests.filter((r) => (r as { route?: string }).route === 'token');

describe('AuthSession with DPoP (oidc-provider features.dPoP)', () => {
  it('logs in for a DPoP-bound token (cnf.jkt is the installation key), hands it out with the DPoP scheme, and refreshes it with the same key', async () => {
    fixture = await startAuthFixture({ dpop: {} });
    const store = new MemoryGrantStore();
    const auth = session(store);
    const record = await auth.login();
    const key = await installationDpopKey(store, log);
    expect(record.tokenType).toBe('DPoP');
    expect(record.dpopJkt).toBe(key.jkt);
    expect(decodeJwt(record.accessToken).cnf).toEqual({ jkt: key.jkt });
    expect(await auth.authorization()).toBe(`DPoP ${record.accessToken}`);
    const proof = await auth.dpopProof(new URL(fixture.url), 'POST', `DPoP ${record.accessToken}`);
    expect(proof).toMatch(/^ey/);
    expect(await auth.dpopProof(new URL(fixture.url), 'POST', 'Bearer x')).toBeUndefined();

    // A 401 for this token in a later process: the refresh token is DPoP-bound (a public client), so only a proof of this key refreshes it.
    const later = session(store);
    await later.authorization();
    await later.onUnauthorized(null);
    const refreshed = await store.loadTokens(record.resource);
    expect(refreshed!.accessToken).not.toBe(record.accessToken);
    expect(refreshed!.tokenType).toBe('DPoP');
    expect(decodeJwt(refreshed!.accessToken).cnf).toEqual({ jkt: key.jkt });
    expect(tokenRequests().map((r) => (r as { grantType?: string }).grantType)).toEqual(['authorization_code', 'refresh_token']);
  });

  it('answers the authorization server\'s use_dpop_nonce (RFC 9449 §8) by sending the token request again with its nonce', async () => {
    fixture = await startAuthFixture({ dpop: { requireNonce: true } });
    const store = new MemoryGrantStore();
    const record = await session(store).login();
    expect(record.tokenType).toBe('DPoP');
    // Each token request was first refused for its nonce, then sent again: two per grant.
    const statuses = tokenRequests().map((r) => (r as { status?: number }).status);
    expect(statuses).toEqual([400, 200]);
  });

  it('tokens bound to a key this installation no longer holds are not refreshed: a new login binds new ones', async () => {
    fixture = await startAuthFixture({ dpop: {} });
    const store = new MemoryGrantStore();
    const first = await session(store).login();
    store.keys.delete(DPOP_KEY_NAME); // the key is gone (a new installation, a cleared keychain)
    const auth = session(store);
    await auth.authorization();
    await auth.onUnauthorized(null);
    const next = await store.loadTokens(first.resource);
    const key = await installationDpopKey(store, log);
    expect(next!.dpopJkt).toBe(key.jkt);
    expect(key.jkt).not.toBe(first.dpopJkt);
    expect(tokenRequests().map((r) => (r as { grantType?: string }).grantType)).toEqual(['authorization_code', 'authorization_code']);
  });

  it('--dpop never: Bearer tokens from the same server, and no key is made', async () => {
    fixture = await startAuthFixture({ dpop: {} });
    const store = new MemoryGrantStore();
    const record = await session(store, { dpop: 'never' }).login();
    expect(record.tokenType).toBe('Bearer');
    expect(record.dpopJkt).toBeUndefined();
    expect(decodeJwt(record.accessToken).cnf).toBeUndefined();
    expect(store.keys.size).toBe(0);
  });

  it('auto at a server without DPoP: Bearer tokens and no key', async () => {
    fixture = await startAuthFixture();
    const store = new MemoryGrantStore();
    const record = await session(store).login();
    expect(record.tokenType).toBe('Bearer');
    expect(store.keys.size).toBe(0);
  });
});
