/**
 * What a login has done so far, as events at the real step boundaries of the MCP authorization
 * flow (2025-11-25 "Authorization Flow Steps"): resource metadata (RFC 9728), authorization server
 * metadata (RFC 8414), the client (pre-registered, Client ID Metadata Document, or RFC 7591
 * registration), the user's authorization (browser, or RFC 8628 device code), and the tokens.
 * The `login` command turns them into the steps the user watches; the auth code stays free of any
 * view. Events carry no token and no secret.
 */
import type { ClientRecord } from '../store/grant-store.js';

export type LoginProgress =
  /** RFC 9728: the document found at `url` names `authorizationServer` (the first one listed, the one used). */
  /** `legacy`: no document anywhere (the last URL tried is `url`); MCP 2025-03-26: the server's origin is the authorization server. */
  | { step: 'resource-metadata'; url: string; resource: string; authorizationServer: string; legacy?: true }
  /** RFC 8414: the authorization server's metadata, checked to carry exactly this issuer. */
  | { step: 'server-metadata'; issuer: string }
  /** Which client airlock is at the issuer; `reused` for a registration stored by an earlier login. */
  | { step: 'client'; clientId: string; method: ClientRecord['method']; reused: boolean }
  /** Waiting for the user in the browser, at this URL (shown also when a browser was opened). */
  | { step: 'authorization'; via: 'browser'; url: string }
  /** Waiting for the user to enter `userCode` at the verification URI (RFC 8628 §3.3). */
  | { step: 'authorization'; via: 'device'; userCode: string; verificationUri: string; verificationUriComplete?: string; expiresIn: number }
  /** Tokens received and stored; `scope` as granted, `expiresAt` in ms since the epoch. */
  | { step: 'tokens'; scope?: string; expiresAt?: number; subject?: string };

export type LoginProgressListener = (event: LoginProgress) => void;
