/**
 * The proof checks of inbound-dpop.ts (RFC 9449 §4.3) one at a time, with proofs signed by
 * airlock's own prover and by hand (jose) where a proof must be wrong in one way only.
 */
import type { IncomingMessage } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { accessTokenHash, DpopProver, installationDpopKey } from '../../../src/auth/dpop.js';
import { createLogger } from '../../../src/log.js';
import { inboundDpop } from '../../../src/policy/inbound-dpop.js';
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
});
