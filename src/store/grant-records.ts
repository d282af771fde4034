/**
 * How a record is written into a store (a keychain entry or a file) and checked when read back.
 * Stored text is an envelope `{"version":1,"kind":"tokens","record":{…}}`, so a later format can be
 * recognised and a file copied under the wrong name is caught.
 *
 * Stored text contains secrets. Nothing here ever puts stored text into an error: a JSON.parse
 * message quotes the input, so it is neither used nor kept as a cause; problems name fields only.
 */
import type { ClientRecord, KeyRecord, TokenRecord } from './grant-store.js';

/** Which record type: tokens, a client registration, or one of airlock's own keys (DPoP). */
export type RecordKind = 'tokens' | 'client' | 'key';

const FORMAT_VERSION = 1;

/** The keychain account for a record: `tokens:<canonical resource>`, `client:<issuer>` or `key:<name>`. */
export function recordAccount(kind: RecordKind, id: string): string {
  return `${kind}:${id}`;
}

/** Serialise a record for storage. */
export function encodeRecord(kind: 'tokens', record: TokenRecord): string;
export function encodeRecord(kind: 'client', record: ClientRecord): string;
export function encodeRecord(kind: 'key', record: KeyRecord): string;
export function encodeRecord(kind: RecordKind, record: TokenRecord | ClientRecord | KeyRecord): string {
  return JSON.stringify({ version: FORMAT_VERSION, kind, record });
}

/** Stored text that is not a record we can use; `problem` never contains stored content. */
export class RecordFormatError extends Error {
  override readonly name = 'RecordFormatError';
}

type FieldType = 'string' | 'number';
type Fields = Record<string, { type: FieldType; optional?: true; oneOf?: readonly string[] }>;

const tokenFields: Fields = {
  resource: { type: 'string' },
  issuer: { type: 'string' },
  clientId: { type: 'string' },
  accessToken: { type: 'string' },
  tokenType: { type: 'string' },
  refreshToken: { type: 'string', optional: true },
  expiresAt: { type: 'number', optional: true },
  scope: { type: 'string', optional: true },
  subject: { type: 'string', optional: true },
  obtainedAt: { type: 'number' },
  dpopJkt: { type: 'string', optional: true },
};

const keyFields: Fields = {
  name: { type: 'string' },
  privateJwk: { type: 'string' },
  createdAt: { type: 'number' },
};

const clientFields: Fields = {
  issuer: { type: 'string' },
  clientId: { type: 'string' },
  clientSecret: { type: 'string', optional: true },
  method: { type: 'string', oneOf: ['pre-registered', 'metadata-document', 'dynamic'] },
  redirectUri: { type: 'string', optional: true },
  tokenEndpointAuthMethod: { type: 'string', optional: true },
  clientSecretExpiresAt: { type: 'number', optional: true },
  registeredAt: { type: 'number' },
};

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkFields(record: Record<string, unknown>, fields: Fields): void {
  for (const [name, spec] of Object.entries(fields)) {
    const value = record[name];
    if (value === undefined) {
      if (spec.optional) continue;
      throw new RecordFormatError(`field ${name} is missing`);
    }
    if (typeof value !== spec.type || (spec.type === 'number' && !Number.isFinite(value))) {
      throw new RecordFormatError(`field ${name} is not a ${spec.type}`);
    }
    if (spec.oneOf && !spec.oneOf.includes(value as string)) {
      throw new RecordFormatError(`field ${name} has an unknown value`);
    }
  }
}

function decode(kind: RecordKind, text: string, fields: Fields): Record<string, unknown> {
  let envelope: unknown;
  try {
    envelope = JSON.parse(text);
  } catch {
    // The parser's message quotes the text, which holds secrets: say only what is wrong.
    throw new RecordFormatError('it is not valid JSON');
  }
  if (!isObject(envelope)) throw new RecordFormatError('it is not a JSON object');
  if (envelope.version !== FORMAT_VERSION) {
    throw new RecordFormatError(
      typeof envelope.version === 'number' && envelope.version > FORMAT_VERSION
        ? `it has format version ${envelope.version}, written by a newer mcp-airlock`
        : 'it has no known format version',
    );
  }
  if (envelope.kind !== kind) throw new RecordFormatError(`it does not hold ${kind === 'tokens' ? 'tokens' : kind === 'key' ? 'a key' : 'a client registration'}`);
  if (!isObject(envelope.record)) throw new RecordFormatError('it has no record');
  checkFields(envelope.record, fields);
  // Unknown fields are kept: a newer version may have added them, and a save must not drop them.
  return envelope.record;
}

/** Parse and check stored tokens. Throws RecordFormatError. */
export function decodeTokenRecord(text: string): TokenRecord {
  return decode('tokens', text, tokenFields) as unknown as TokenRecord;
}

/** Parse and check a stored client registration. Throws RecordFormatError. */
export function decodeClientRecord(text: string): ClientRecord {
  return decode('client', text, clientFields) as unknown as ClientRecord;
}

/** Parse and check a stored key. Throws RecordFormatError. */
export function decodeKeyRecord(text: string): KeyRecord {
  return decode('key', text, keyFields) as unknown as KeyRecord;
}
