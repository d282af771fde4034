/**
 * TLS for every outbound connection on a corporate network: the certificate authorities airlock
 * trusts (Node's own roots, the OS trust store unless --no-system-ca, NODE_EXTRA_CA_CERTS, and
 * --ca-file), and a client certificate for mutual TLS (--client-cert / --client-key: PEM, or
 * PKCS#12 `.p12`/`.pfx`). The same options go to the MCP server's connections (node:https, or
 * undici through a proxy) and to the authorization server's (fetch with an undici dispatcher).
 *
 * The OS trust store: Node 22.15+ and 24 read it themselves (`tls.getCACertificates('system')`);
 * on Node 20 airlock reads the system bundle file (`SSL_CERT_FILE`, else the first of the usual
 * Linux paths). Everything is read on the first https connection, not at start-up.
 *
 * Secrets: the key's passphrase comes from an environment variable or the OS keychain, never argv,
 * and never appears in a message; a wrong one is named as such.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import tls from 'node:tls';
import { AirlockError, describeError, quote } from '../errors.js';

/** What the user asked for (flags, environment). */
export interface OutboundTlsOptions {
  /** Trust the OS certificate store besides Node's roots (default true; --no-system-ca). */
  systemCa: boolean;
  /** --ca-file: more certificate authorities (PEM, any number of certificates). */
  caFiles: string[];
  /** --client-cert: PEM certificate (chain), or a PKCS#12 bundle (.p12, .pfx) with the key in it. */
  clientCert?: string;
  /** --client-key: the PEM private key of a PEM --client-cert. */
  clientKey?: string;
  /** The key's passphrase, already read (from the environment or the keychain), or a way to read it. */
  passphrase?: () => Promise<string | undefined>;
  env?: NodeJS.ProcessEnv;
}

/** TLS connect options for node:https agents and undici (`connect`, `requestTls`). */
export interface TlsConnectOptions {
  ca?: string[];
  cert?: string;
  key?: string;
  pfx?: Buffer;
  passphrase?: string;
  /**
   * All of the above as one context, made once: without it every new connection would build its
   * own from a few hundred certificates (tens of milliseconds each).
   */
  secureContext?: tls.SecureContext;
}

/** System CA bundle files, most common first (Debian/Ubuntu, RHEL/Fedora, SUSE, Alpine and the BSDs). */
const SYSTEM_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/ca-bundle.pem', '/etc/ssl/cert.pem'];

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const HAS_CERTIFICATE = /-----BEGIN CERTIFICATE-----/;

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** The OS trust store's certificates (PEM): Node's own reader where it has one, else the bundle file. */
export async function systemCertificates(env: NodeJS.ProcessEnv = process.env): Promise<string[]> {
  const fromFile = env['SSL_CERT_FILE'];
  if (fromFile) return (await readOptional(fromFile))?.match(PEM_CERTIFICATE) ?? [];
  const nodeReader = (tls as { getCACertificates?: (type: 'system') => string[] }).getCACertificates;
  if (nodeReader) return nodeReader('system');
  for (const path of SYSTEM_BUNDLES) {
    const text = await readOptional(path);
    if (text) return text.match(PEM_CERTIFICATE) ?? [];
  }
  return [];
}

async function readUserFile(path: string, flag: string, encoding?: 'utf8'): Promise<string | Buffer> {
  try {
    return encoding ? await readFile(path, encoding) : await readFile(path);
  } catch (error) {
    throw new AirlockError('AIRLOCK_USAGE', `${flag}: cannot read ${quote(path)}: ${describeError(error)}`, { hint: `Check the path given to ${flag}.`, cause: error });
  }
}

function isPkcs12(path: string): boolean {
  return /\.(p12|pfx)$/i.test(path);
}

/** A PEM private key that needs a passphrase (PKCS#8 encrypted, or a legacy encrypted PEM). */
function encryptedPem(text: string): boolean {
  return text.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----') || /Proc-Type:\s*4,ENCRYPTED/.test(text);
}

/**
 * Read everything the options name and check that it makes a TLS context (a wrong passphrase or a
 * key that does not match the certificate is found here, with a message that says which, instead
 * of at the first connection). Undefined when nothing differs from Node's defaults.
 */
export async function loadOutboundTls(options: OutboundTlsOptions): Promise<TlsConnectOptions | undefined> {
  const env = options.env ?? process.env;
  const result: TlsConnectOptions = {};
  const extra: string[] = [];
  if (options.systemCa) extra.push(...(await systemCertificates(env)));
  // A `ca` replaces Node's default list, so NODE_EXTRA_CA_CERTS goes in explicitly.
  const nodeExtra = env['NODE_EXTRA_CA_CERTS'];
  if (nodeExtra) extra.push(...((await readOptional(nodeExtra))?.match(PEM_CERTIFICATE) ?? []));
  for (const file of options.caFiles) {
    const certificates = (await readUserFile(file, '--ca-file', 'utf8') as string).match(PEM_CERTIFICATE);
    if (!certificates) throw new AirlockError('AIRLOCK_USAGE', `--ca-file: ${quote(file)} holds no PEM certificate`, { hint: 'Give a PEM file with one or more "-----BEGIN CERTIFICATE-----" blocks (convert DER with openssl x509 -inform der).' });
    extra.push(...certificates);
  }
  if (extra.length > 0) {
    // The system store repeats most of Node's roots, spelled with other line breaks: one copy each.
    const byBody = new Map<string, string>();
    for (const pem of [...tls.rootCertificates, ...extra]) if (!byBody.has(pem.replace(/\s+/g, ''))) byBody.set(pem.replace(/\s+/g, ''), pem);
    result.ca = [...byBody.values()];
  }

  if (options.clientKey !== undefined && options.clientCert === undefined) {
    throw new AirlockError('AIRLOCK_USAGE', '--client-key was given without --client-cert', { hint: 'Pass the certificate too: --client-cert PATH.' });
  }
  if (options.clientCert !== undefined) {
    const certPath = resolve(options.clientCert);
    let needsPassphrase: boolean;
    if (isPkcs12(certPath)) {
      if (options.clientKey !== undefined) throw new AirlockError('AIRLOCK_USAGE', '--client-key is not used with a PKCS#12 --client-cert (.p12/.pfx): the key is inside it', { hint: 'Drop --client-key.' });
      result.pfx = (await readUserFile(certPath, '--client-cert')) as Buffer;
      needsPassphrase = true;
    } else {
      const cert = (await readUserFile(certPath, '--client-cert', 'utf8')) as string;
      if (!HAS_CERTIFICATE.test(cert)) throw new AirlockError('AIRLOCK_USAGE', `--client-cert: ${quote(options.clientCert)} holds no PEM certificate`, { hint: 'Give a PEM certificate, or a PKCS#12 bundle named .p12 or .pfx.' });
      const key = options.clientKey === undefined ? cert : ((await readUserFile(resolve(options.clientKey), '--client-key', 'utf8')) as string);
      if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key)) {
        throw new AirlockError('AIRLOCK_USAGE', options.clientKey === undefined ? `--client-cert: ${quote(options.clientCert)} holds no private key; give it with --client-key` : `--client-key: ${quote(options.clientKey)} holds no PEM private key`, { hint: 'The key is a PEM file ("-----BEGIN PRIVATE KEY-----" or an encrypted one).' });
      }
      result.cert = cert;
      result.key = key;
      needsPassphrase = encryptedPem(key);
    }
    if (needsPassphrase) {
      const passphrase = await options.passphrase?.();
      if (passphrase !== undefined) result.passphrase = passphrase;
      else if (result.key !== undefined) {
        throw new AirlockError('AIRLOCK_USAGE', `the client key ${quote(options.clientKey ?? options.clientCert)} is encrypted and no passphrase was given`, { hint: 'Put the passphrase in an environment variable and name it with --client-key-passphrase-env NAME, or store it in the OS keychain (see docs/auth-and-login.md, "Corporate networks").' });
      }
    }
  }
  if (Object.keys(result).length === 0) return undefined;
  try {
    result.secureContext = tls.createSecureContext(result);
  } catch (error) {
    if (options.clientCert !== undefined) {
      // OpenSSL's text names the problem (bad decrypt, mac verify failure, key values mismatch), never the passphrase.
      const reason = describeError(error);
      const wrongPassphrase = /bad decrypt|mac verify|bad password|BAD_DECRYPT|MAC_VERIFY/i.test(reason);
      throw new AirlockError('AIRLOCK_USAGE', `cannot use the client certificate ${quote(options.clientCert)}: ${wrongPassphrase ? 'the passphrase is wrong (or missing)' : reason}`, {
        hint: wrongPassphrase ? 'Check the passphrase in the variable named by --client-key-passphrase-env, or in the keychain.' : 'Check that --client-key belongs to --client-cert and that both are PEM (or the certificate is a PKCS#12 .p12/.pfx).',
      });
    }
    throw new AirlockError('AIRLOCK_USAGE', `cannot use the certificate authorities given: ${describeError(error)}`, { hint: 'Check the files given with --ca-file (PEM certificates), or SSL_CERT_FILE.' });
  }
  return result;
}
