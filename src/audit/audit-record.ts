/**
 * The audit record and its hash chain. One JSON line per request/response pair and per
 * notification. Each process that writes to an audit file keeps its own chain (a random `chain`
 * id, `seq` from 0): every record carries the SHA-256 of the previous record of its chain, and
 * the chain is anchored by its first record (`seq` 0, an all-zero `prev`). Several processes
 * (Claude Desktop starts several copies of a server line) can then append to one file without
 * coordinating, and a removed, changed or reordered record breaks the chain it belongs to.
 *
 * The hash covers the exact bytes of the line up to its `hash` member, so `verify` needs no
 * canonical JSON: a line is `{...,"hash":"<64 hex>"}` and its hash is
 * HMAC-SHA256(installation key, prev-hash-hex + "\n" + line-without-hash + "}") in format 2
 * (`"v":2,"key":"<key id>"`, see audit-key.ts), or plain SHA-256 of the same text in format 1 (logs
 * written before the key: anyone can recompute those, so they show accidents, not tampering).
 */
import { createHash, createHmac, createSecretKey, type KeyObject } from 'node:crypto';

/** Format 1: unkeyed SHA-256 chain (before issue 14). */
export const UNKEYED_FORMAT_VERSION = 1;
/** Format 2: HMAC-SHA256 chain under the installation's audit key. */
export const AUDIT_FORMAT_VERSION = 2;
export const GENESIS_HASH = '0'.repeat(64);

/** What happened to a call: how it ended, as the client saw it. */
export type AuditOutcome =
  /** Answered with a result. */
  | 'ok'
  /** Answered by the server with a JSON-RPC error (`error.code` says which). */
  | 'error'
  /** Refused by airlock's tool policy; never reached the server. */
  | 'denied'
  /** Airlock answered with an error because the upstream failed, closed or refused the request. */
  | 'upstream-failure'
  /** The client cancelled it (notifications/cancelled) before an answer came. */
  | 'cancelled'
  /** The session ended before any answer (client gone, or airlock stopped). */
  | 'unanswered'
  /** A notification: nothing to answer. */
  | 'delivered';

export type AuditDirection = 'client->server' | 'server->client';

/**
 * One party in a delegation chain: a member of the `act` claim (RFC 8693 §4.1), which names who
 * acts on the subject's behalf. Only its identifying claims are kept.
 */
export interface AuditActor {
  subject?: string;
  issuer?: string;
  clientId?: string;
}

/** Who the calls were made as, from the token in use. Never the token itself. */
export interface AuditPrincipal {
  issuer: string;
  subject?: string;
  /**
   * The delegation chain of a delegated token, current actor first, then each earlier one (the
   * nested `act` objects of RFC 8693 §4.1). Absent for a token that acts for nobody else.
   */
  actors?: AuditActor[];
  clientId: string;
  scopes: string[];
  /** The caller's groups and roles, read from the claims a policy names (absent without a policy that uses them). */
  groups?: string[];
  roles?: string[];
  /** False when read from a token airlock did not obtain or check (a static header). */
  verified?: boolean;
}

/** The fields a record has before the chain members (`chain`, `seq`, `prev`, `hash`) are added. */
export interface AuditEvent {
  /** ISO 8601 with milliseconds, UTC: when the request (or notification) reached airlock. */
  time: string;
  session: string;
  /** The upstream: URL without credentials or secret query values, or the command line, redacted. */
  server: string;
  /** Inbound and outbound transport, e.g. "stdio->streamable-http". */
  transport: string;
  direction: AuditDirection;
  kind: 'request' | 'notification';
  method: string;
  id?: string | number;
  /** Tool or prompt name, or resource URI. */
  name?: string;
  /** Arguments: absent with --audit-args none; a "sha256:<hex>" digest; or the redacted arguments. */
  args?: string | unknown;
  outcome: AuditOutcome;
  /** The JSON-RPC error code when the outcome is an error. */
  errorCode?: number;
  /** Airlock's stable code (AIRLOCK_*) for denials and upstream failures. */
  airlockCode?: string;
  /** The id of the policy rule, rate limit or flow rule that refused the call. */
  rule?: string;
  /** Why a call went unanswered (the session's close reason). */
  detail?: string;
  latencyMs?: number;
  /** Bytes of the request (client->server) and of the answer (server->client). */
  bytesIn: number;
  bytesOut: number;
  principal?: AuditPrincipal | null;
  /** The MCP host process whose config line made the call, when the hub ran it (docs/hub.md). */
  host?: AuditHost;
  airlock: string;
}

/** An MCP host process, as the hub knows it: its pid and executable name (Linux /proc). */
export interface AuditHost {
  pid: number;
  name?: string;
}

/**
 * A record the writer adds about the log itself, in its own chain: `audit/rotated` (the file before
 * this one, so a whole missing file shows) and `audit/gap` (records lost to a failed write).
 */
export interface AuditMarker {
  time: string;
  kind: 'marker';
  method: 'audit/rotated' | 'audit/gap';
  /** audit/rotated: the base name of the file this one follows. */
  file?: string;
  /** audit/gap: how many records were lost. */
  lost?: number;
  detail?: string;
  airlock: string;
}

/** What a chain key is to sealing and checking: its public id and the secret. */
export interface ChainKey {
  id: string;
  secret: Buffer;
}

/** A record as written: the event plus its place in the chain. */
export interface AuditRecord extends Omit<AuditEvent, 'kind'> {
  kind: AuditEvent['kind'] | 'marker';
  file?: string;
  lost?: number;
  v: number;
  /** Format 2: the id of the key that seals it. */
  key?: string;
  chain: string;
  seq: number;
  prev: string;
  hash: string;
}

const HASH_SUFFIX = /,"hash":"([0-9a-f]{64})"\}$/;

/** Format 1: SHA-256 over the previous hash and the line's text without its hash member. */
export function chainHash(prev: string, body: string): string {
  return createHash('sha256').update(prev).update('\n').update(body).digest('hex');
}

/** The key as a KeyObject, made once per key: cheaper per record than a Buffer. */
const keyObjects = new WeakMap<Buffer, KeyObject>();
function keyObjectOf(secret: Buffer): KeyObject {
  let key = keyObjects.get(secret);
  if (!key) keyObjects.set(secret, (key = createSecretKey(secret)));
  return key;
}

/** Format 2: the same text under HMAC-SHA256 with the installation's key. */
export function keyedChainHash(secret: Buffer, prev: string, body: string): string {
  return createHmac('sha256', keyObjectOf(secret)).update(prev).update('\n').update(body).digest('hex');
}

/**
 * Serialise one record as a line (no newline), linking it to `prev`. Member order is fixed by the
 * object literal, so lines read well: chain position first, then what happened.
 */
export function sealRecord(event: AuditEvent | AuditMarker, chain: string, seq: number, prev: string, key?: ChainKey): string {
  // The chain members are hex and a number: written by hand, the event serialised once (this
  // runs for every message, so no intermediate objects).
  const head = key ? `{"v":${AUDIT_FORMAT_VERSION},"key":"${key.id}"` : `{"v":${UNKEYED_FORMAT_VERSION}`;
  const body = `${head},"chain":"${chain}","seq":${seq},"prev":"${prev}",${JSON.stringify(event).slice(1)}`;
  const hash = key ? keyedChainHash(key.secret, prev, body) : chainHash(prev, body);
  return `${body.slice(0, -1)},"hash":"${hash}"}`;
}

/** Split a line into the text its hash covers and the hash it claims; undefined when malformed. */
export function openLine(line: string): { body: string; hash: string } | undefined {
  const match = HASH_SUFFIX.exec(line);
  if (!match) return undefined;
  return { body: `${line.slice(0, match.index)}}`, hash: match[1]! };
}
