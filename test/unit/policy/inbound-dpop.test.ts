/**
 * The proof checks of inbound-dpop.ts (RFC 9449 §4.3) one at a time, with proofs signed by
 * airlock's own prover and by hand (jose) where a proof must be wrong in one way only.
 */
import type { IncomingMessage } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { accessTokenHash, DpopProver, installationDpopKey } from '../../../src/auth/dpop.js';
import { createLogger } from '../../../src/log.js';
import { DPOP_NONCE_ROTATE_MS, dpopNonces, inboundDpop } from '../../../src/policy/inbound-dpop.js';
import { MemoryGrantStore } from '../../helpers/memory-grant-store.js';

const URL_ = 'http://127.0.0.1:8808/mcp';
const request = (headers: Record<string, string | string[]>, method = 'POST', url = '/mcp?x=1'): IncomingMessage =>
  ({ method, url, headers: { host: '127.0.0.1:8808', ...headers } }) as unknown as IncomingMessage;

async function setup(now = Date.now) {
  const key = await installationDpopKey(new MemoryGrantStore(), createLogger('silent'));
  const dpop = inboundDpop({ required: false, expectedUrls: (_req, path) => [`http://127.0.0.1:8808${path}`], now });
  return { key, prover: new DpopProver(key), dpop, bound: { cnf: { jkt: key.jkt } } };
}

describe('inboundDpop', () => {
  it('accepts a proof for the request (the query is not part of htu) once, and refuses its replay', async () => {
    const { prover, dpop, bound } = await setup();
    const proof = await prover.proof(new URL(URL_), 'POST', 'tok');
    expect(await dpop.check(request({ dpop: proof }), 'dpop', 'tok', bound)).toBeUndefined();
    expect((await dpop.check(request({ dpop: proof }), 'dpop', 'tok', bound))?.description).toBe('DPoP proof replayed');
  });

  it('refuses a proof whose iat is too old or ahead, two proofs, a private jwk, a token that is not bound', async () => {
    const { key, prover, dpop, bound } = await setup();
    const sign = async (iat: number, jwk: object = key.publicJwk) =>
      new SignJWT({ htm: 'POST', htu: URL_, jti: `j${iat}`, ath: accessTokenHash('tok') }).setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk }).setIssuedAt(iat).sign(key.keyPair.privateKey);
    const nowSec = Math.floor(Date.now() / 1000);
    expect((await dpop.check(request({ dpop: await sign(nowSec - 600) }), 'dpop', 'tok', bound))?.description).toBe('iat outside the accepted window');
    expect((await dpop.check(request({ dpop: await sign(nowSec + 60) }), 'dpop', 'tok', bound))?.description).toBe('iat outside the accepted window');
    const good = await prover.proof(new URL(URL_), 'POST', 'tok');
    expect((await dpop.check(request({ dpop: `${good}, ${good}` }), 'dpop', 'tok', bound))?.description).toBe('more than one DPoP proof');
    const other = await generateKeyPair('ES256', { extractable: true });
    const privateJwk = await exportJWK(other.privateKey);
    expect((await dpop.check(request({ dpop: await sign(nowSec, privateJwk) }), 'dpop', 'tok', bound))?.description).toBe('the proof jwk is not a public key');
    expect(await dpop.check(request({ dpop: good }), 'dpop', 'tok', {})).toMatchObject({ error: 'invalid_token', description: 'token is not DPoP-bound' });
  });

  it('Bearer: an unbound token passes unless required; a bound one never', async () => {
    const { bound } = await setup();
    const open = inboundDpop({ required: false, expectedUrls: () => [URL_] });
    const strict = inboundDpop({ required: true, expectedUrls: () => [URL_] });
    expect(await open.check(request({}), 'bearer', 'tok', {})).toBeUndefined();
    expect((await open.check(request({}), 'bearer', 'tok', bound))?.description).toBe('DPoP-bound token presented as Bearer');
    expect((await strict.check(request({}), 'bearer', 'tok', {}))?.description).toBe('DPoP required');
    expect(open.presented(request({ authorization: 'DPoP abc.def' }))).toEqual({ scheme: 'dpop', token: 'abc.def' });
    expect(open.presented(request({ authorization: 'Basic abc' }))).toBeUndefined();
  });

  it('--oauth-dpop-nonce: a proof without a nonce, or with one this server did not issue, gets use_dpop_nonce and the current nonce; the current and the previous period\'s pass, older ones do not', async () => {
    let clock = 1_900_000_000_000;
    const now = () => clock;
    const key = await installationDpopKey(new MemoryGrantStore(), createLogger('silent'));
    const bound = { cnf: { jkt: key.jkt } };
    const dpop = inboundDpop({ required: false, expectedUrls: (_req, path) => [`http://127.0.0.1:8808${path}`], nonce: { secret: Buffer.alloc(32, 7) }, now });
    // The prover signs with the real clock; the checker's window is around the fake one.
    const proof = async (nonce?: string) => {
      const claims: Record<string, string> = { htm: 'POST', htu: URL_, jti: Math.random().toString(36), ath: accessTokenHash('tok') };
      if (nonce !== undefined) claims['nonce'] = nonce;
      return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.publicJwk }).setIssuedAt(Math.floor(clock / 1000)).sign(key.keyPair.privateKey);
    };
    const missing = await dpop.check(request({ dpop: await proof() }), 'dpop', 'tok', bound);
    expect(missing).toMatchObject({ error: 'use_dpop_nonce', description: 'Resource server requires nonce in DPoP proof', message: 'the DPoP proof has no nonce; this server requires one (--oauth-dpop-nonce), given in DPoP-Nonce' });
    const issued = missing!.nonce!;
    expect(issued).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await dpop.check(request({ dpop: await proof(issued) }), 'dpop', 'tok', bound)).toBeUndefined();
    const wrong = await dpop.check(request({ dpop: await proof(`${issued.slice(0, 42)}${issued.endsWith('A') ? 'B' : 'A'}`) }), 'dpop', 'tok', bound);
    expect(wrong).toMatchObject({ error: 'use_dpop_nonce', message: 'the DPoP proof carries a nonce this server did not issue, or an expired one; a new one is in DPoP-Nonce', nonce: issued });
    // Another server's nonce (another secret) is not this one's.
    const other = dpopNonces({ secret: Buffer.alloc(32, 8) }, now).current();
    expect((await dpop.check(request({ dpop: await proof(other) }), 'dpop', 'tok', bound))?.error).toBe('use_dpop_nonce');
    // One rotation later: a new nonce is issued, the previous one still passes.
    clock += DPOP_NONCE_ROTATE_MS;
    expect(await dpop.check(request({ dpop: await proof(issued) }), 'dpop', 'tok', bound)).toBeUndefined();
    const next = (await dpop.check(request({ dpop: await proof() }), 'dpop', 'tok', bound))!.nonce!;
    expect(next).not.toBe(issued);
    // Two rotations later the first one is refused, and the current one is given.
    clock += DPOP_NONCE_ROTATE_MS;
    expect(await dpop.check(request({ dpop: await proof(issued) }), 'dpop', 'tok', bound)).toMatchObject({ error: 'use_dpop_nonce', nonce: expect.not.stringMatching(next) });
    expect(await dpop.check(request({ dpop: await proof(next) }), 'dpop', 'tok', bound)).toBeUndefined();
  });

  it('without --oauth-dpop-nonce a proof needs no nonce, and one it carries is not checked', async () => {
    const { prover, dpop, bound } = await setup();
    prover.rememberNonce(new URL(URL_), 'from-somewhere-else');
    expect(await dpop.check(request({ dpop: await prover.proof(new URL(URL_), 'POST', 'tok') }), 'dpop', 'tok', bound)).toBeUndefined();
  });
});
