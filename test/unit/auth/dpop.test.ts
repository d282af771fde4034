/**
 * DPoP, client side (RFC 9449): the installation key (made once, kept in the store, its private key
 * not extractable in memory, in the real keychain when there is one), proofs for resource requests,
 * nonces, and when DPoP is used. Proofs are checked with jose, as a resource server would.
 */
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { webcrypto } from 'node:crypto';
import { findCredentialsAsync } from '@napi-rs/keyring';
import { calculateJwkThumbprint, decodeProtectedHeader, importJWK, jwtVerify, type JWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { accessTokenHash, asksForDpopNonce, DPOP_KEY_NAME, DpopProver, installationDpopKey, proofTarget, wantsDpop } from '../../../src/auth/dpop.js';
import { createLogger } from '../../../src/log.js';
import { createFileGrantStore, lockDirFor } from '../../../src/store/file-store.js';
import { createKeychainGrantStore } from '../../../src/store/keychain-store.js';
import { MemoryGrantStore } from '../../helpers/memory-grant-store.js';
import { clearKeychainService, requireTestKeyring } from '../../helpers/keyring.js';
import { rejectedAirlockError } from '../../helpers/thrown.js';

const log = createLogger('silent');

async function verifyProof(proof: string): Promise<{ header: ReturnType<typeof decodeProtectedHeader>; payload: Record<string, unknown> }> {
  const header = decodeProtectedHeader(proof);
  const key = await importJWK(header.jwk as JWK, 'ES256');
  const { payload } = await jwtVerify(proof, key, { typ: 'dpop+jwt', algorithms: ['ES256'] });
  return { header, payload };
}

describe('installationDpopKey', () => {
  it('makes one key, stores it, and hands out the same key afterwards; the private key cannot be exported from memory', async () => {
    const store = new MemoryGrantStore();
    const [a, b] = await Promise.all([installationDpopKey(store, log), installationDpopKey(store, log)]);
    expect(a.jkt).toBe(b.jkt);
    expect(store.keys.size).toBe(1);
    const stored = JSON.parse(store.keys.get(DPOP_KEY_NAME)!.privateJwk) as JWK;
    expect(stored).toMatchObject({ kty: 'EC', crv: 'P-256' });
    expect(typeof stored.d).toBe('string');
    expect(await calculateJwkThumbprint(stored, 'sha256')).toBe(a.jkt);
    expect(a.publicJwk).not.toHaveProperty('d');
    expect(a.keyPair.privateKey.extractable).toBe(false);
    await expect(webcrypto.subtle.exportKey('jwk', a.keyPair.privateKey as webcrypto.CryptoKey)).rejects.toThrow();
    const later = await installationDpopKey(store, log);
    expect(later.jkt).toBe(a.jkt);
  });

  it('a damaged stored key is an error that names the entry and never quotes it', async () => {
    const store = new MemoryGrantStore();
    await store.saveKey({ name: DPOP_KEY_NAME, privateJwk: '{"kty":"EC","crv":"P-256","d":"c2VjcmV0LXNob3VsZC1ub3QtbGVhaw"', createdAt: 1 });
    const error = await rejectedAirlockError(installationDpopKey(store, log));
    expect(error.code).toBe('AIRLOCK_CREDENTIAL_STORE');
    expect(error.message).toBe('the stored DPoP key is damaged (not JSON)');
    expect(error.hint).toContain('"key:dpop"');
    expect(`${error.message} ${error.hint}`).not.toContain('c2VjcmV0');
  });

  it('with the file store the key is a 0600 record file in the credential directory, like the tokens', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'airlock-dpop-'));
    try {
      const store = createFileGrantStore({ dir: join(dir, 'credentials') });
      const old = process.umask(0); // the modes must not depend on the user's umask
      let key;
      try {
        key = await installationDpopKey(store, log);
      } finally {
        process.umask(old);
      }
      const reopened = await installationDpopKey(createFileGrantStore({ dir: join(dir, 'credentials') }), log);
      expect(reopened.jkt).toBe(key.jkt);
      const files = await readdir(join(dir, 'credentials'));
      const keyFile = files.find((name) => /^key-[0-9a-f]{32}\.json$/.test(name));
      expect(keyFile).toBeDefined();
      if (process.platform !== 'win32') {
        expect((await stat(join(dir, 'credentials'))).mode & 0o777).toBe(0o700);
        expect((await stat(join(dir, 'credentials', keyFile!))).mode & 0o777).toBe(0o600);
      }
      // In clear: the file's mode is all that protects the private key (docs/auth-and-login.md, "Where credentials live").
      const stored = JSON.parse(await readFile(join(dir, 'credentials', keyFile!), 'utf8')) as { record: { privateJwk: string } };
      expect(JSON.parse(stored.record.privateJwk)).toHaveProperty('d');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('in the real keychain: the key is one entry "key:dpop", read back by a new store', async (ctx) => {
    requireTestKeyring(ctx);
    const service = `mcp-airlock-dpop-test-${process.pid}`;
    const root = await mkdtemp(join(tmpdir(), 'airlock-dpop-keychain-'));
    try {
      const open = () => createKeychainGrantStore({ lockDir: lockDirFor(join(root, 'credentials')), service, log });
      const key = await installationDpopKey(open(), log);
      const entries = await findCredentialsAsync(service);
      expect(entries.map((e) => e.account)).toEqual(['key:dpop']);
      expect(await calculateJwkThumbprint(JSON.parse(JSON.parse(entries[0]!.password).record.privateJwk) as JWK, 'sha256')).toBe(key.jkt);
      expect((await installationDpopKey(open(), log)).jkt).toBe(key.jkt);
    } finally {
      await clearKeychainService(service);
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('DpopProver', () => {
  it('signs a fresh proof per request: typ dpop+jwt, the public JWK only, htm, htu without query, iat, a new jti, ath of the token', async () => {
    const key = await installationDpopKey(new MemoryGrantStore(), log);
    const prover = new DpopProver(key);
    const url = new URL('https://mcp.example.com/mcp?session=1#frag');
    const first = await verifyProof(await prover.proof(url, 'POST', 'the-token'));
    const second = await verifyProof(await prover.proof(url, 'POST', 'the-token'));
    expect(first.header).toMatchObject({ alg: 'ES256', typ: 'dpop+jwt' });
    expect(first.header.jwk).not.toHaveProperty('d');
    expect(await calculateJwkThumbprint(first.header.jwk as JWK, 'sha256')).toBe(key.jkt);
    expect(first.payload).toMatchObject({ htm: 'POST', htu: 'https://mcp.example.com/mcp', ath: accessTokenHash('the-token') });
    expect(Math.abs((first.payload.iat as number) - Date.now() / 1000)).toBeLessThan(5);
    expect(first.payload.jti).not.toBe(second.payload.jti);
    expect(first.payload).not.toHaveProperty('nonce');
    expect(proofTarget(url)).toBe('https://mcp.example.com/mcp');
  });

  it('puts the nonce an origin gave into later proofs for that origin only', async () => {
    const prover = new DpopProver(await installationDpopKey(new MemoryGrantStore(), log));
    const here = new URL('https://mcp.example.com/mcp');
    expect(prover.rememberNonce(here, 'n-1')).toBe(true);
    expect(prover.rememberNonce(here, 'n-1')).toBe(false);
    expect((await verifyProof(await prover.proof(here, 'GET', 't'))).payload.nonce).toBe('n-1');
    expect((await verifyProof(await prover.proof(new URL('https://other.example.com/mcp'), 'GET', 't'))).payload).not.toHaveProperty('nonce');
    expect(prover.rememberNonce(here, undefined)).toBe(false);
  });
});

describe('when DPoP is used', () => {
  const metadata = (algs?: string[]) => ({ issuer: 'https://as.example.com', ...(algs ? { dpop_signing_alg_values_supported: algs } : {}) });
  it('auto: when the server lists ES256; always and never regardless', () => {
    expect(wantsDpop(metadata(['ES256', 'EdDSA']), 'auto', log)).toBe(true);
    expect(wantsDpop(metadata(['EdDSA']), 'auto', log)).toBe(false);
    expect(wantsDpop(metadata(), 'auto', log)).toBe(false);
    expect(wantsDpop(metadata(), 'always', log)).toBe(true);
    expect(wantsDpop(metadata(['ES256']), 'never', log)).toBe(false);
  });

  it('a use_dpop_nonce challenge is a 401 with the DPoP scheme and that error', () => {
    expect(asksForDpopNonce(401, 'DPoP error="use_dpop_nonce", resource_metadata="x"')).toBe(true);
    expect(asksForDpopNonce(401, 'Bearer error="use_dpop_nonce"')).toBe(false);
    expect(asksForDpopNonce(401, 'DPoP error="invalid_token"')).toBe(false);
    expect(asksForDpopNonce(400, 'DPoP error="use_dpop_nonce"')).toBe(false);
    expect(asksForDpopNonce(401, undefined)).toBe(false);
  });
});
