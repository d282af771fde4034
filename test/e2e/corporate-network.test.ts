/**
 * Corporate networks, through the real CLI: a server whose certificate comes from a private CA
 * (trusted with --ca-file, or through the system bundle), mutual TLS to a server that requires a
 * client certificate (PEM, an encrypted key, PKCS#12 with its passphrase from the environment or
 * the OS keychain), the authorization traffic over the same TLS, and a proxy that wants
 * credentials (`user:pass@` in HTTPS_PROXY). Certificates are made at test time with openssl; TLS
 * is terminated on loopback in front of the fixture MCP server.
 */
import { AsyncEntry } from '@napi-rs/keyring';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain JS fixture
import { startFixtureHttpServer } from '../../fixtures/lib/http-fixture.mjs';
import { passphraseAccount, tlsSource } from '../../src/cli/tls-options.js';
import { KEYCHAIN_ENTRY_OPTIONS, KEYCHAIN_SERVICE } from '../../src/store/keychain-store.js';
import { outboundFetch } from '../../src/transports/http-request.js';
import { startAirlock } from '../helpers/airlock-process.js';
import { requireTestKeyring } from '../helpers/keyring.js';
import { LineClient } from '../helpers/line-client.js';
import { tunnel } from '../helpers/loopback.js';

const P12_PASSPHRASE = 'p12-passphrase-7f3a9c';
const KEY_PASSPHRASE = 'pem-passphrase-4b81e2';
const PROXY_PASSWORD = 'proxy-password-91d0c7';

let dir: string;
let fixture: { url: string; port: number; close(): Promise<void> };
const servers: Array<TlsServer | HttpServer> = [];
let plainTls: string; // https, any client
let mutualTls: string; // https, a client certificate signed by the CA required
const file = (name: string): string => join(dir, name);

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

/** TLS on loopback in front of the fixture's plain HTTP port. */
async function terminator(requireClientCert: boolean): Promise<string> {
  const server = createTlsServer(
    { key: readFileSync(file('server.key')), cert: readFileSync(file('server.pem')), ca: readFileSync(file('ca.pem')), requestCert: requireClientCert, rejectUnauthorized: requireClientCert },
    (socket) => {
      const upstream = netConnect(fixture.port, '127.0.0.1');
      socket.pipe(upstream).pipe(socket);
      upstream.on('error', () => socket.destroy());
      socket.on('error', () => upstream.destroy());
    },
  );
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'airlock-corporate-'));
  writeFileSync(file('server.ext'), 'subjectAltName=IP:127.0.0.1\n');
  writeFileSync(file('client.ext'), 'extendedKeyUsage=clientAuth\n');
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-subj', '/CN=Airlock Test Corporate CA', '-days', '2');
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'server.ext');
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=airlock-client');
  openssl('x509', '-req', '-in', 'client.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'client.pem', '-days', '2', '-extfile', 'client.ext');
  openssl('pkcs8', '-topk8', '-in', 'client.key', '-out', 'client-encrypted.key', '-passout', `pass:${KEY_PASSPHRASE}`);
  openssl('pkcs12', '-export', '-in', 'client.pem', '-inkey', 'client.key', '-out', 'client.p12', '-passout', `pass:${P12_PASSPHRASE}`);
  // A stand-in for the OS bundle: the machine's roots plus the private CA (as an admin would install it).
  writeFileSync(file('system-bundle.pem'), `${readFileSync('/etc/ssl/certs/ca-certificates.crt', 'utf8')}\n${readFileSync(file('ca.pem'), 'utf8')}`);
  fixture = await startFixtureHttpServer({ port: 0 });
  plainTls = await terminator(false);
  mutualTls = await terminator(true);
});

afterAll(async () => {
  for (const server of servers) await new Promise((resolve) => server.close(resolve));
  await fixture?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** An environment without proxies and without SSL_CERT_FILE, plus `extra`. */
function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const base = { ...process.env };
  for (const name of ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'NO_PROXY', 'no_proxy', 'SSL_CERT_FILE', 'NODE_EXTRA_CA_CERTS']) delete base[name];
  return { ...base, ...extra };
}

/** connect to `url` and call add; resolves with the exit code, stderr, and whether the call worked. */
async function callThrough(url: string, args: string[], environment: NodeJS.ProcessEnv): Promise<{ ok: boolean; code: number; stderr: string }> {
  const proc = startAirlock([`${url}/mcp`, '--transport', 'http', '--no-auth', ...args], { env: environment });
  const client = new LineClient(proc);
  try {
    await client.handshake();
    const result = (await client.call(1, 'add', { a: 3, b: 4 })).result;
    client.endInput();
    const code = await proc.exited;
    return { ok: JSON.stringify(result) === JSON.stringify({ content: [{ type: 'text', text: '7' }] }), code, stderr: proc.stderr() };
  } catch {
    client.endInput();
    await proc.stop();
    return { ok: false, code: await proc.exited, stderr: proc.stderr() };
  }
}

describe('a private certificate authority', () => {
  it('is not trusted by default; --ca-file trusts it', async () => {
    const without = await callThrough(plainTls, [], env());
    expect(without.ok).toBe(false);
    expect(without.stderr).toMatch(/certificate|UNABLE_TO_VERIFY|issuer/i);
    expect((await callThrough(plainTls, ['--ca-file', file('ca.pem')], env())).ok).toBe(true);
  });

  it('installed in the system bundle (SSL_CERT_FILE) it is trusted by default, and not with --no-system-ca', async () => {
    expect((await callThrough(plainTls, [], env({ SSL_CERT_FILE: file('system-bundle.pem') }))).ok).toBe(true);
    expect((await callThrough(plainTls, ['--no-system-ca'], env({ SSL_CERT_FILE: file('system-bundle.pem') }))).ok).toBe(false);
  });

  it('a --ca-file without a certificate is a usage error naming the file', async () => {
    writeFileSync(file('empty.pem'), 'nothing here\n');
    const result = await callThrough(plainTls, ['--ca-file', file('empty.pem')], env());
    expect(result.ok).toBe(false);
    expect(result.stderr).toContain(`--ca-file: ${JSON.stringify(file('empty.pem'))} holds no PEM certificate`);
  });
});

describe('mutual TLS', () => {
  const trust = () => ['--ca-file', file('ca.pem')];

  it('a server that requires a client certificate refuses airlock without one, and takes the PEM certificate and key', async () => {
    expect((await callThrough(mutualTls, trust(), env())).ok).toBe(false);
    expect((await callThrough(mutualTls, [...trust(), '--client-cert', file('client.pem'), '--client-key', file('client.key')], env())).ok).toBe(true);
  });

  it('PKCS#12 with the passphrase from the environment; a wrong one is named, never shown', async () => {
    const args = [...trust(), '--client-cert', file('client.p12'), '--client-key-passphrase-env', 'P12_PASS'];
    expect((await callThrough(mutualTls, args, env({ P12_PASS: P12_PASSPHRASE }))).ok).toBe(true);
    const wrong = await callThrough(mutualTls, args, env({ P12_PASS: 'not-the-passphrase-55e1' }));
    expect(wrong.ok).toBe(false);
    expect(wrong.stderr).toContain(`cannot use the client certificate ${JSON.stringify(file('client.p12'))}: the passphrase is wrong (or missing)`);
    expect(wrong.stderr).not.toContain('not-the-passphrase-55e1');
  });

  it('an encrypted PEM key: without a passphrase a clear error; with it from the environment it works', async () => {
    const args = [...trust(), '--client-cert', file('client.pem'), '--client-key', file('client-encrypted.key')];
    const missing = await callThrough(mutualTls, args, env());
    expect(missing.stderr).toContain(`the client key ${JSON.stringify(file('client-encrypted.key'))} is encrypted and no passphrase was given`);
    const ok = await callThrough(mutualTls, [...args, '--client-key-passphrase-env', 'KEY_PASS'], env({ KEY_PASS: KEY_PASSPHRASE }));
    expect(ok.ok).toBe(true);
    expect(ok.stderr).not.toContain(KEY_PASSPHRASE);
  });

  it('the passphrase from the OS keychain (service mcp-airlock, account tls-passphrase:<path>)', async (ctx) => {
    requireTestKeyring(ctx);
    const entry = new AsyncEntry(KEYCHAIN_SERVICE, passphraseAccount(file('client.p12')), KEYCHAIN_ENTRY_OPTIONS);
    await entry.setPassword(P12_PASSPHRASE);
    try {
      expect((await callThrough(mutualTls, [...trust(), '--client-cert', file('client.p12')], env())).ok).toBe(true);
    } finally {
      await entry.deleteCredential();
    }
  });

  it('the authorization traffic (fetch) goes over the same CAs and client certificate', async () => {
    const flags = { caFile: [file('ca.pem')], clientCert: file('client.pem'), clientKey: file('client.key') };
    const response = await outboundFetch(env(), tlsSource(flags, env()))(`${mutualTls}/.well-known/oauth-protected-resource/mcp`);
    expect(response.status).toBe(404); // the fixture has no metadata: what matters is that TLS got through
    await response.body?.cancel();
    await expect(outboundFetch(env(), tlsSource({ caFile: [file('ca.pem')] }, env()))(`${mutualTls}/x`)).rejects.toThrow();
  });
});

describe('a proxy that wants credentials', () => {
  let proxyPort = 0;
  const authorizations: Array<string | undefined> = [];
  beforeAll(async () => {
    const proxy = createHttpServer((_req, res) => res.writeHead(405).end());
    proxy.on('connect', (req, socket: Socket, head) => {
      authorizations.push(req.headers['proxy-authorization']);
      if (req.headers['proxy-authorization'] !== `Basic ${Buffer.from(`alice:${PROXY_PASSWORD}`).toString('base64')}`) {
        socket.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="corp"\r\n\r\n');
        return;
      }
      tunnel(req.url!, socket, head);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    servers.push(proxy);
    proxyPort = (proxy.address() as AddressInfo).port;
  });

  it('user:pass@ in HTTPS_PROXY is sent as Proxy-Authorization; the password is never printed', async () => {
    const good = await callThrough(plainTls, ['--ca-file', file('ca.pem'), '--log-level', 'debug'], env({ HTTPS_PROXY: `http://alice:${PROXY_PASSWORD}@127.0.0.1:${proxyPort}` }));
    expect(good.ok).toBe(true);
    expect(authorizations.length).toBeGreaterThan(0);
    expect(good.stderr).not.toContain(PROXY_PASSWORD);
    const bad = await callThrough(plainTls, ['--ca-file', file('ca.pem'), '--log-level', 'debug'], env({ HTTPS_PROXY: `http://alice:wrong-${PROXY_PASSWORD}@127.0.0.1:${proxyPort}` }));
    expect(bad.ok).toBe(false);
    expect(bad.stderr).not.toContain(PROXY_PASSWORD);
  });
});
