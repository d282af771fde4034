/**
 * DPoP on the client side (RFC 9449, MCP SEP-1932): one key pair per installation, proofs for the
 * MCP server's requests, and the server nonces it asks for.
 *
 * The key is ES256 (P-256), made on first use and kept in the credential store like the tokens it
 * binds (the OS keychain; the 0600 credential files only where there is no keychain), never in a
 * file of its own. In memory the private key is a non-extractable CryptoKey: once imported, nothing
 * in this process can read it back. Proofs for the token endpoint are made by openid-client with the
 * same key pair (its DPoP handle, which also retries a `use_dpop_nonce` answer once, §8); proofs for
 * the resource server are made here (§7), with `ath`, and a nonce per origin (§9).
 */
import { createHash, randomBytes } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import { getDPoPHandle, type Configuration, type DPoPHandle, type ServerMetadata } from 'openid-client';
import { AirlockError, describeError, quote } from '../errors.js';
import type { Logger } from '../log.js';
import type { GrantStore } from '../store/grant-store.js';
import { parseWwwAuthenticate } from './www-authenticate.js';

/** `--dpop`: use DPoP when the authorization server advertises it (auto), always, or never. */
export type DpopMode = 'auto' | 'always' | 'never';

/** The one algorithm airlock signs proofs with (RFC 9449 §4.2 leaves it to the client; ES256 is what every DPoP server takes). */
export const DPOP_ALG = 'ES256';
/** The store name of the installation's key. */
export const DPOP_KEY_NAME = 'dpop';

/** A WebCrypto key pair, as openid-client takes it (this project's lib has no DOM types). */
type KeyPair = Parameters<typeof getDPoPHandle>[1];
type PrivateKey = KeyPair['privateKey'];

/** The installation's DPoP key: the pair to sign with, its public JWK and its thumbprint (RFC 7638). */
export interface DpopKey {
  keyPair: KeyPair;
  publicJwk: JWK;
  /** base64url SHA-256 JWK thumbprint: `dpop_jkt` (§10) and the token's `cnf.jkt` (§6.1). */
  jkt: string;
}

function publicPart(jwk: JWK): JWK {
  const { kty, crv, x, y } = jwk;
  return { kty, crv, x, y } as JWK;
}

async function importKey(privateJwk: JWK): Promise<DpopKey> {
  const publicJwk = publicPart(privateJwk);
  // The private key is not extractable; oauth4webapi needs to export the public one (its proof header).
  const privateKey = (await importJWK(privateJwk, DPOP_ALG, { extractable: false })) as PrivateKey;
  const publicKey = (await importJWK(publicJwk, DPOP_ALG, { extractable: true })) as PrivateKey;
  return { keyPair: { privateKey, publicKey }, publicJwk, jkt: await calculateJwkThumbprint(publicJwk, 'sha256') };
}

/**
 * The installation's DPoP key: the stored one, else a new one, saved under the store's lock so that
 * two processes starting at once end up with the same key.
 */
export async function installationDpopKey(store: GrantStore, log: Logger, now: () => number = Date.now): Promise<DpopKey> {
  const read = async (): Promise<DpopKey | undefined> => {
    const record = await store.loadKey(DPOP_KEY_NAME);
    if (!record) return undefined;
    let jwk: JWK;
    try {
      jwk = JSON.parse(record.privateJwk) as JWK;
      if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.d !== 'string') throw new Error('not a P-256 private key');
      return await importKey(jwk);
    } catch (error) {
      // The message never quotes the stored text (it holds the private key).
      throw new AirlockError('AIRLOCK_CREDENTIAL_STORE', `the stored DPoP key is damaged (${error instanceof SyntaxError ? 'not JSON' : describeError(error)})`, {
        hint: `Remove the entry "key:${DPOP_KEY_NAME}" of service "mcp-airlock" from your keychain (or its file in the credential directory); airlock makes a new key, and you log in again.`,
      });
    }
  };
  const stored = await read();
  if (stored) return stored;
  return store.withLock(`key:${DPOP_KEY_NAME}`, async () => {
    const again = await read();
    if (again) return again;
    const { privateKey } = await generateKeyPair(DPOP_ALG, { extractable: true });
    const privateJwk = await exportJWK(privateKey);
    await store.saveKey({ name: DPOP_KEY_NAME, privateJwk: JSON.stringify(privateJwk), createdAt: now() });
    const key = await importKey(privateJwk);
    log.debug(`made this installation's DPoP key (ES256, thumbprint ${key.jkt})`);
    return key;
  });
}

/**
 * Whether to ask `metadata`'s authorization server for DPoP-bound tokens: in `auto` mode when it
 * lists ES256 in `dpop_signing_alg_values_supported` (RFC 9449 §5.1); `always` sends proofs
 * whatever it says (a server that ignores them issues Bearer tokens, which are then used as such).
 */
export function wantsDpop(metadata: ServerMetadata, mode: DpopMode, log: Logger): boolean {
  if (mode === 'never') return false;
  if (mode === 'always') return true;
  const algs = metadata.dpop_signing_alg_values_supported;
  if (!Array.isArray(algs) || algs.length === 0) return false;
  if (algs.includes(DPOP_ALG)) return true;
  log.debug(`the authorization server ${quote(metadata.issuer)} takes DPoP proofs signed with ${quote(algs.join(' '))} only, not ES256; using Bearer tokens`);
  return false;
}

/** openid-client's proof maker for the token endpoint of `config`, with the installation's key. */
export function tokenEndpointDpop(config: Configuration, key: DpopKey): DPoPHandle {
  return getDPoPHandle(config, key.keyPair);
}

/** RFC 9449 §4.2: `htu` is the request URI without query and fragment. */
export function proofTarget(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

/** RFC 9449 §4.2 `ath`: base64url SHA-256 of the access token's ASCII bytes. */
export function accessTokenHash(accessToken: string): string {
  return createHash('sha256').update(accessToken, 'ascii').digest('base64url');
}

/** Nonces remembered at most, one per origin (a server rotates its own; old origins fall out). */
const MAX_NONCES = 100;

/** Proofs for resource requests (RFC 9449 §7), with the nonce each origin last gave (§9). */
export class DpopProver {
  private readonly nonces = new Map<string, string>();

  constructor(readonly key: DpopKey) {}

  /** A fresh proof (new `jti`, current `iat`) for one request; `ath` binds it to the token it carries. */
  async proof(url: URL, method: string, accessToken?: string): Promise<string> {
    const claims: Record<string, string> = { htm: method, htu: proofTarget(url), jti: randomBytes(16).toString('base64url') };
    if (accessToken !== undefined) claims['ath'] = accessTokenHash(accessToken);
    const nonce = this.nonces.get(url.origin);
    if (nonce !== undefined) claims['nonce'] = nonce;
    return new SignJWT(claims)
      .setProtectedHeader({ alg: DPOP_ALG, typ: 'dpop+jwt', jwk: this.key.publicJwk })
      .setIssuedAt()
      .sign(this.key.keyPair.privateKey);
  }

  /** Keep a `DPoP-Nonce` the origin of `url` sent (on any answer, §8/§9). Returns whether it is new. */
  rememberNonce(url: URL, nonce: string | undefined): boolean {
    if (!nonce || nonce.length > 1024) return false;
    if (this.nonces.get(url.origin) === nonce) return false;
    this.nonces.delete(url.origin);
    if (this.nonces.size >= MAX_NONCES) this.nonces.delete(this.nonces.keys().next().value!);
    this.nonces.set(url.origin, nonce);
    return true;
  }
}

/** A 401 whose DPoP challenge says `use_dpop_nonce` (RFC 9449 §9): send again with the nonce given. */
export function asksForDpopNonce(status: number, wwwAuthenticate: string | undefined): boolean {
  if (status !== 401 || !wwwAuthenticate) return false;
  return parseWwwAuthenticate(wwwAuthenticate).some((c) => c.scheme === 'dpop' && c.params.get('error') === 'use_dpop_nonce');
}
