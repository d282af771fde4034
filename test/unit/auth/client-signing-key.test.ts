/**
 * Reading a private_key_jwt key (RFC 7523 §2.2): PEM in its three usual forms and JWK, the
 * algorithm from the flag, the JWK or the key, and refusals that never quote the key.
 */
import { generateKeyPairSync } from 'node:crypto';
import { compactVerify, exportJWK, importSPKI, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { parseClientSigningKey } from '../../../src/auth/client-signing-key.js';
import { AirlockError } from '../../../src/errors.js';

async function signsFor(parsed: Awaited<ReturnType<typeof parseClientSigningKey>>, spki: string): Promise<void> {
  const jws = await new SignJWT({ sub: 'x' }).setProtectedHeader({ alg: parsed.alg }).sign(parsed.key);
  await expect(compactVerify(jws, await importSPKI(spki, parsed.alg))).resolves.toBeTruthy();
}

describe('parseClientSigningKey', () => {
  it('an EC P-256 key in SEC1 PEM is ES256; in PKCS#8 too', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const spki = publicKey.export({ format: 'pem', type: 'spki' }).toString();
    const sec1 = await parseClientSigningKey(privateKey.export({ format: 'pem', type: 'sec1' }).toString(), 'k.pem');
    expect(sec1.alg).toBe('ES256');
    await signsFor(sec1, spki);
    const pkcs8 = await parseClientSigningKey(privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), 'k.pem');
    expect(pkcs8.alg).toBe('ES256');
  });

  it('P-384 is ES384, RSA (PKCS#1) is RS256 unless --client-signing-alg says PS256, Ed25519 is EdDSA', async () => {
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    expect((await parseClientSigningKey(p384.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), 'k')).alg).toBe('ES384');
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pkcs1 = rsa.privateKey.export({ format: 'pem', type: 'pkcs1' }).toString();
    const spki = rsa.publicKey.export({ format: 'pem', type: 'spki' }).toString();
    const rs = await parseClientSigningKey(pkcs1, 'k');
    expect(rs.alg).toBe('RS256');
    await signsFor(rs, spki);
    const ps = await parseClientSigningKey(pkcs1, 'k', 'PS256');
    expect(ps.alg).toBe('PS256');
    await signsFor(ps, spki);
    const ed = generateKeyPairSync('ed25519');
    expect((await parseClientSigningKey(ed.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), 'k')).alg).toBe('EdDSA');
  });

  it('a JWK: its alg and kid are used', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = { ...(await exportJWK(privateKey)), alg: 'PS384', kid: 'agent-key-1' };
    const parsed = await parseClientSigningKey(JSON.stringify(jwk), 'k.json');
    expect(parsed).toMatchObject({ alg: 'PS384', kid: 'agent-key-1' });
    await signsFor(parsed, publicKey.export({ format: 'pem', type: 'spki' }).toString());
  });

  it('refuses a public JWK, an unknown algorithm, a mismatched one, and garbage, without quoting the file', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const refusal = async (text: string, alg?: string): Promise<AirlockError> => {
      const error = await parseClientSigningKey(text, 'agent.key', alg).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AirlockError);
      if (text.length > 40) expect((error as AirlockError).message).not.toContain(text.slice(10, 40));
      return error as AirlockError;
    };
    expect((await refusal(JSON.stringify(await exportJWK(publicKey)))).message).toBe('--client-private-key-file "agent.key": the JWK holds no private key (no "d")');
    expect((await refusal('x', 'HS256')).message).toBe('--client-signing-alg "HS256" is not an algorithm a client assertion can be signed with');
    const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    expect((await refusal(pem, 'RS256')).message).toMatch(/^--client-private-key-file "agent.key": the key cannot sign with RS256/);
    expect((await refusal('-----BEGIN PRIVATE KEY-----\nnot base64 at all, surely not a key\n-----END PRIVATE KEY-----')).message).toMatch(/^--client-private-key-file "agent.key": not a private key it can read/);
    expect((await refusal('{"kty": "EC", "d": ')).message).toBe('--client-private-key-file "agent.key": it starts like JSON but is not valid JSON');
  });
});
