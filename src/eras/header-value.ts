/**
 * The value rules of the 2026-07-28 request headers that mirror body fields (streamable-http.mdx,
 * "Value Encoding"): a value goes into `Mcp-Name` or `Mcp-Param-{Name}` as it is when a header can
 * carry it unchanged, otherwise as `=?base64?<base64 of its UTF-8 bytes>?=` (the "sentinel").
 *
 * Why a value cannot go plain: RFC 9110 §5.5 field values are visible ASCII, space and tab, and
 * field parsing strips surrounding whitespace, so non-ASCII, control characters and leading or
 * trailing whitespace would be lost or refused on the way. A plain value that already looks like a
 * sentinel is encoded too, so that a decoder never mistakes it for one.
 */

const SENTINEL_PREFIX = '=?base64?';
const SENTINEL_SUFFIX = '?=';

/** RFC 4648 §4 alphabet with `=` padding only at the end; canonical form is checked separately. */
const BASE64_SHAPE = /^[A-Za-z0-9+/]*={0,2}$/;

/** Surrounding optional whitespace of a field value (RFC 9110 §5.5: SP and HTAB only). */
const SURROUNDING_OWS = /^[ \t]+|[ \t]+$/g;

/** A lone UTF-16 surrogate: text no UTF-8 byte sequence can represent. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** One decoder for every sentinel: a decode() without `stream` starts afresh. ignoreBOM: a leading U+FEFF is part of the value, not a byte order mark to drop. */
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function looksLikeSentinel(value: string): boolean {
  return value.startsWith(SENTINEL_PREFIX) && value.endsWith(SENTINEL_SUFFIX);
}

/**
 * True when `value` can travel as a header value unchanged and read back identical: non-empty,
 * every character printable ASCII (0x20-0x7E), no leading or trailing space. Tab, although RFC 9110
 * allows it inside a value, is a control character, and the spec asks for the sentinel for those.
 * The empty string is not plain either: some HTTP stacks drop empty fields, and an `Mcp-Param-*`
 * that vanishes on the way reads as "the client omitted it" (a -32020 on the server).
 */
export function isPlainHeaderValue(value: string): boolean {
  if (value.length === 0 || value.startsWith(' ') || value.endsWith(' ')) return false;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || code > 0x7e) return false;
  }
  return true;
}

/**
 * True when `value` is well-formed Unicode (no lone surrogate), so that its UTF-8 encoding, and
 * therefore its sentinel, decodes back to the same string. A JSON body can carry a lone surrogate
 * (`"\ud800"`); no header can.
 */
export function isEncodableHeaderValue(value: string): boolean {
  return !LONE_SURROGATE.test(value);
}

/**
 * Encode a string for `Mcp-Name` or `Mcp-Param-{Name}` (streamable-http.mdx, "Value Encoding"):
 * plain when {@link isPlainHeaderValue} and it does not look like a sentinel, else the sentinel.
 * A lone surrogate cannot be represented in UTF-8 and becomes U+FFFD here, so the result would
 * not decode to the input: check {@link isEncodableHeaderValue} first where that matters.
 */
export function encodeHeaderValue(value: string): string {
  if (isPlainHeaderValue(value) && !looksLikeSentinel(value)) return value;
  return `${SENTINEL_PREFIX}${Buffer.from(value, 'utf8').toString('base64')}${SENTINEL_SUFFIX}`;
}

/**
 * Decode an `Mcp-Name` or `Mcp-Param-{Name}` value as a server must before comparing it with the
 * body. Surrounding spaces and tabs are trimmed first (they are not part of a field value).
 *
 * Returns undefined when the value cannot be a valid header value of this kind:
 * - a sentinel whose payload is not canonical base64 (RFC 4648 §3.5: exact padding, zero pad bits,
 *   standard alphabet, no whitespace), or whose bytes are not valid UTF-8;
 * - text that starts with `=?base64?` and ends with `?=` but has no room for a payload between them;
 * - a plain value with a character a field value cannot carry (a control character other than tab,
 *   or anything outside ASCII): the spec asks servers to reject "invalid characters".
 * Sentinel markers are case-sensitive: `=?BASE64?…?=` is a plain value, returned as it is.
 */
export function decodeHeaderValue(raw: string): string | undefined {
  const value = raw.replace(SURROUNDING_OWS, '');
  if (value.startsWith(SENTINEL_PREFIX) && value.endsWith(SENTINEL_SUFFIX)) {
    if (value.length < SENTINEL_PREFIX.length + SENTINEL_SUFFIX.length) return undefined;
    return decodeBase64Utf8(value.slice(SENTINEL_PREFIX.length, value.length - SENTINEL_SUFFIX.length));
  }
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if ((code < 0x20 && code !== 0x09) || code > 0x7e) return undefined;
  }
  return value;
}

function decodeBase64Utf8(payload: string): string | undefined {
  if (payload.length % 4 !== 0 || !BASE64_SHAPE.test(payload)) return undefined;
  const bytes = Buffer.from(payload, 'base64');
  // Buffer's decoder is lenient (it ignores stray bits and accepts base64url); re-encoding tells a
  // canonical payload from one that merely decodes.
  if (bytes.toString('base64') !== payload) return undefined;
  try {
    return STRICT_UTF8.decode(bytes);
  } catch {
    return undefined;
  }
}
