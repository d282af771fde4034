/**
 * The private key of a client that authenticates with `private_key_jwt` (RFC 7523 §2.2, OpenID
 * Connect Core §9): read from a PEM file (PKCS#8, SEC1 "EC PRIVATE KEY" or PKCS#1 "RSA PRIVATE
 * KEY") or a JWK file, and turned into a WebCrypto key for openid-client's `PrivateKeyJwt`. The
 * algorithm comes from --client-signing-alg, else the JWK's `alg`, else the key itself (P-256 is
 * ES256, RSA is RS256, Ed25519 is EdDSA). Error messages name the file and never its content.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { importPKCS8, type CryptoKey } from 'jose';
import { AirlockError, describeError, quote } from '../errors.js';

/** The key openid-client signs client assertions with, and what to name in the JWS header. */
export interface ClientSigningKey {
  key: CryptoKey;
  /** JWS algorithm (RFC 7518 §3.1). */
  alg: string;
  /** The JWK's `kid`, sent in the assertion header so the server can pick the key. */
  kid?: string;
}

/** Algorithms a client assertion may be signed with (asymmetric only: a shared secret is client_secret_jwt). */
const SIGNING_ALGORITHMS = ['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA', 'Ed25519'] as const;

const CURVE_ALGORITHMS: Record<string, string> = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' };

/** The algorithm a key implies, or undefined (a curve we do not sign with). */
function impliedAlgorithm(key: KeyObject): string | undefined {
  switch (key.asymmetricKeyType) {
    case 'ec':
      return CURVE_ALGORITHMS[key.asymmetricKeyDetails?.namedCurve ?? ''];
    case 'rsa':
      return 'RS256';
    case 'rsa-pss':
      return 'PS256';
    case 'ed25519':
      return 'EdDSA';
    default:
      return undefined;
  }
}

function keyError(file: string, problem: string, cause?: unknown): AirlockError {
  return new AirlockError('AIRLOCK_USAGE', `--client-private-key-file ${quote(file)}: ${problem}`, {
    hint: 'Give a private key as PEM (PKCS#8, "EC PRIVATE KEY" or "RSA PRIVATE KEY") or as a JWK (JSON with "d"); an EC, RSA or Ed25519 key.',
    ...(cause === undefined ? {} : { cause }),
  });
}

/** Parse the text of a key file: a JWK when it is a JSON object, else PEM. */
export async function parseClientSigningKey(text: string, file: string, algorithm?: string): Promise<ClientSigningKey> {
  if (algorithm !== undefined && !(SIGNING_ALGORITHMS as readonly string[]).includes(algorithm)) {
    throw new AirlockError('AIRLOCK_USAGE', `--client-signing-alg ${quote(algorithm)} is not an algorithm a client assertion can be signed with`, {
      hint: `Use one of ${SIGNING_ALGORITHMS.join(', ')}.`,
    });
  }
  let keyObject: KeyObject;
  let jwkAlg: string | undefined;
  let kid: string | undefined;
  const trimmed = text.trim();
  try {
    if (trimmed.startsWith('{')) {
      let jwk: Record<string, unknown>;
      try {
        jwk = JSON.parse(trimmed) as Record<string, unknown>;
      } catch {
        // The parser's message would quote the key: say only what is wrong.
        throw keyError(file, 'it starts like JSON but is not valid JSON');
      }
      if (typeof jwk['d'] !== 'string') throw keyError(file, 'the JWK holds no private key (no "d")');
      if (typeof jwk['alg'] === 'string') jwkAlg = jwk['alg'];
      if (typeof jwk['kid'] === 'string') kid = jwk['kid'];
      keyObject = createPrivateKey({ key: jwk as never, format: 'jwk' });
    } else {
      keyObject = createPrivateKey({ key: trimmed, format: 'pem' });
    }
  } catch (error) {
    if (error instanceof AirlockError) throw error;
    // Node's message names the format problem, never the key material.
    throw keyError(file, `not a private key it can read (${describeError(error)})`);
  }
  const alg = algorithm ?? jwkAlg ?? impliedAlgorithm(keyObject);
  if (alg === undefined) throw keyError(file, `a ${keyObject.asymmetricKeyType ?? 'unknown'} key, which no client assertion algorithm uses`);
  try {
    const pkcs8 = keyObject.export({ format: 'pem', type: 'pkcs8' }).toString();
    const key = await importPKCS8(pkcs8, alg);
    return kid === undefined ? { key, alg } : { key, alg, kid };
  } catch (error) {
    throw keyError(file, `the key cannot sign with ${alg} (${describeError(error)})`);
  }
}

/** Read and parse --client-private-key-file. */
export async function loadClientSigningKey(file: string, algorithm?: string): Promise<ClientSigningKey> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new AirlockError('AIRLOCK_USAGE', `cannot read the client private key file ${quote(file)}: ${describeError(error)}`, { cause: error });
  }
  return parseClientSigningKey(text, file, algorithm);
}
