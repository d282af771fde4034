/**
 * A real JWKS and RFC 8414 authorization server metadata on loopback, for resource-server tests:
 * keys can be added (rotated) or kept unpublished (a rogue signer), and tokens signed with any.
 */
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export class KeyServer {
  server!: Server;
  url = '';
  keys: JWK[] = [];
  /** How many times /jwks was asked for. */
  jwksFetches = 0;
  /** Answer /jwks with this status instead (an outage), or with this body (a huge one). */
  jwksStatus: number | undefined;
  jwksBody: string | undefined;
  /** The Authorization header of the last /jwks request (a JWKS behind basic auth). */
  jwksAuthorization: string | undefined;
  private signers = new Map<string, CryptoKey>();

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      if (req.url === '/.well-known/oauth-authorization-server') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer: this.url, jwks_uri: `${this.url}/jwks`, authorization_endpoint: `${this.url}/authorize`, token_endpoint: `${this.url}/token` }));
      } else if (req.url === '/jwks' || req.url?.startsWith('/jwks?')) {
        this.jwksFetches += 1;
        this.jwksAuthorization = req.headers.authorization;
        if (this.jwksStatus !== undefined) res.writeHead(this.jwksStatus).end('down');
        else res.writeHead(200, { 'content-type': 'application/json' }).end(this.jwksBody ?? JSON.stringify({ keys: this.keys }));
      } else res.writeHead(404).end();
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async addKey(kid: string, publish = true): Promise<void> {
    const { publicKey, privateKey } = await generateKeyPair('RS256');
    this.signers.set(kid, privateKey);
    if (publish) this.keys.push({ ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' });
  }

  async token(claims: Record<string, unknown>, options: { kid?: string; expiresIn?: string | number | null; notBefore?: string | number; issuer?: string; typ?: string | null } = {}): Promise<string> {
    const kid = options.kid ?? 'k1';
    const typ = options.typ === null ? {} : { typ: options.typ ?? 'at+jwt' };
    let jwt = new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid, ...typ }).setIssuer(options.issuer ?? this.url).setIssuedAt();
    if (options.expiresIn !== null) jwt = jwt.setExpirationTime(options.expiresIn ?? '5m');
    if (options.notBefore !== undefined) jwt = jwt.setNotBefore(options.notBefore);
    return jwt.sign(this.signers.get(kid)!);
  }

  /** A token with any header and no valid signature (`alg: none`, an HMAC algorithm...). */
  forged(header: Record<string, unknown>, claims: Record<string, unknown>, signature = ''): string {
    const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    return `${part(header)}.${part({ iss: this.url, iat: now, exp: now + 300, ...claims })}.${signature}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}
