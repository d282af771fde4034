/**
 * What airlock keeps per server after a login, and the one interface every store implements.
 * The auth flow (src/auth/) only talks to `GrantStore`; the keychain and file stores
 * (src/store/) implement it. Secrets live only in these records, never in logs or argv.
 */

/** A client registration, kept per issuer and never used with another issuer (MCP auth, 2026-07-28). */
export interface ClientRecord {
  /** The authorization server's issuer identifier, exactly as its metadata says. */
  issuer: string;
  clientId: string;
  clientSecret?: string;
  /** How we came by it: pre-registered by the user, a Client ID Metadata Document, or RFC 7591 DCR. */
  method: 'pre-registered' | 'metadata-document' | 'dynamic';
  /** The redirect URI registered with it (DCR binds it exactly). */
  redirectUri?: string;
  /** token_endpoint_auth_method the client uses ('none' for public clients). */
  tokenEndpointAuthMethod?: string;
  /** Epoch seconds when the client secret expires (RFC 7591 client_secret_expires_at; 0 = never). */
  clientSecretExpiresAt?: number;
  registeredAt: number;
}

/** Tokens for one resource from one issuer. */
export interface TokenRecord {
  /** Canonical resource URI (RFC 8707) the tokens are for. */
  resource: string;
  issuer: string;
  clientId: string;
  accessToken: string;
  tokenType: string;
  refreshToken?: string;
  /** Epoch milliseconds; absent when the server did not say. */
  expiresAt?: number;
  /** Space-separated granted scopes (as granted, else as requested). */
  scope?: string;
  /** Subject from the ID token or a JWT access token, when known (for status and the audit log). */
  subject?: string;
  obtainedAt: number;
  /**
   * For a DPoP-bound token (`tokenType` "DPoP", RFC 9449 §5): the JWK SHA-256 thumbprint of the key
   * it is bound to. A token bound to another key than the installation's is unusable (log in again).
   */
  dpopJkt?: string;
}

/**
 * A private key airlock keeps for itself (the per-installation DPoP key, RFC 9449): only in the
 * store, like tokens, never in a plain file of its own.
 */
export interface KeyRecord {
  /** What the key is for, e.g. `dpop`. */
  name: string;
  /** The private key as a JSON Web Key (RFC 7517), with its public part. */
  privateJwk: string;
  createdAt: number;
}

/** Where a store keeps its records: shown by `status`, never the secret itself. */
export type StorageBackend = 'keychain' | 'file' | 'memory';

/**
 * The store the auth flow uses. Implementations must be safe to call from several processes at
 * once (last writer wins per record); serialising logins is the job of `withLock`.
 */
export interface GrantStore {
  readonly backend: StorageBackend;
  loadTokens(resource: string): Promise<TokenRecord | undefined>;
  saveTokens(record: TokenRecord): Promise<void>;
  /** Returns true when something was removed. */
  deleteTokens(resource: string): Promise<boolean>;
  listTokens(): Promise<TokenRecord[]>;
  loadClient(issuer: string): Promise<ClientRecord | undefined>;
  saveClient(record: ClientRecord): Promise<void>;
  deleteClient(issuer: string): Promise<boolean>;
  loadKey(name: string): Promise<KeyRecord | undefined>;
  saveKey(record: KeyRecord): Promise<void>;
  deleteKey(name: string): Promise<boolean>;
  /**
   * Run `fn` while holding a lock shared by every airlock process on this machine for `name`
   * (one login or refresh per resource at a time). Waits up to `timeoutMs`, then throws.
   */
  withLock<T>(name: string, fn: () => Promise<T>, timeoutMs?: number): Promise<T>;
}

/**
 * The lock name for everything that changes one resource's grant: logins, refreshes (AuthSession)
 * and logout's revocation, so that none of them stores or revokes a token another just replaced.
 */
export function authLockName(resource: string): string {
  return `auth:${resource}`;
}

/** How long a login waits for the user, unless --auth-timeout says otherwise. */
export const DEFAULT_AUTH_TIMEOUT_MS = 5 * 60_000;

/** How long to wait for the auth lock: another process's login may take its whole wait, plus a margin. */
export function authLockWaitMs(authTimeoutMs: number = DEFAULT_AUTH_TIMEOUT_MS): number {
  return authTimeoutMs + 30_000;
}
