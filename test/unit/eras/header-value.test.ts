import { describe, expect, it } from 'vitest';
import { decodeHeaderValue, encodeHeaderValue, isEncodableHeaderValue, isPlainHeaderValue } from '../../../src/eras/header-value.js';

/** The "Encoding examples" table of 2026-07-28 streamable-http.mdx, "Value Encoding". */
const specExamples: Array<[string, string]> = [
  ['us-west1', 'us-west1'],
  ['Hello, 世界', '=?base64?SGVsbG8sIOS4lueVjA==?='],
  [' padded ', '=?base64?IHBhZGRlZCA=?='],
  ['line1\nline2', '=?base64?bGluZTEKbGluZTI=?='],
  ['=?base64?literal?=', '=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?='],
];

describe('encodeHeaderValue', () => {
  it.each(specExamples)('encodes %j as the spec table says', (value, encoded) => {
    expect(encodeHeaderValue(value)).toBe(encoded);
  });

  it.each([
    ['get_weather'],
    ['file:///projects/myapp/config.json'],
    ['a b c'],
    ['~!@#$%^&*()_+{}|:"<>?`-=[]\\;\',./'],
    ['=?base64?no-suffix'],
    ['no-prefix?='],
    ['=?BASE64?SGk=?='],
  ])('leaves the plain, header-safe %j as it is', (value) => {
    expect(encodeHeaderValue(value)).toBe(value);
  });

  it.each([
    ['a leading space', ' x', '=?base64?IHg=?='],
    ['a trailing tab', 'x\t', '=?base64?eAk=?='],
    ['an interior tab (a control character)', 'a\tb', '=?base64?YQli?='],
    ['a carriage return', 'a\rb', '=?base64?YQ1i?='],
    ['NUL', 'a\u0000b', '=?base64?YQBi?='],
    ['DEL', 'a\u007fb', '=?base64?YX9i?='],
    ['a Latin-1 letter', 'é', '=?base64?w6k=?='],
    ['an astral emoji', '😀', '=?base64?8J+YgA==?='],
    ['the empty string', '', '=?base64??='],
    ['an empty sentinel lookalike', '=?base64??=', '=?base64?PT9iYXNlNjQ/Pz0=?='],
    ['overlapping sentinel markers', '=?base64?=', '=?base64?PT9iYXNlNjQ/PQ==?='],
  ])('encodes a value with %s', (_what, value, encoded) => {
    expect(encodeHeaderValue(value)).toBe(encoded);
  });

  it('turns a lone surrogate into U+FFFD (so callers check isEncodableHeaderValue first)', () => {
    expect(decodeHeaderValue(encodeHeaderValue('a\uD800'))).toBe('a\uFFFD');
  });
});

describe('decodeHeaderValue', () => {
  it.each(specExamples)('decodes the spec table entry for %j back', (value, encoded) => {
    expect(decodeHeaderValue(encoded)).toBe(value);
  });

  it('trims surrounding spaces and tabs of a plain value and of a sentinel', () => {
    expect(decodeHeaderValue(' \tus-west1 \t')).toBe('us-west1');
    expect(decodeHeaderValue('  =?base64?SGVsbG8sIOS4lueVjA==?=\t')).toBe('Hello, 世界');
  });

  it('keeps interior whitespace and a tab inside a plain value', () => {
    expect(decodeHeaderValue('a  b\tc')).toBe('a  b\tc');
  });

  it('decodes the empty sentinel to the empty string', () => {
    expect(decodeHeaderValue('=?base64??=')).toBe('');
  });

  it('keeps a leading U+FEFF instead of dropping it as a byte order mark', () => {
    expect(decodeHeaderValue('=?base64?77u/YWJj?=')).toBe('\uFEFFabc');
  });

  it('treats markers in another case as a plain value', () => {
    expect(decodeHeaderValue('=?BASE64?SGk=?=')).toBe('=?BASE64?SGk=?=');
  });

  it.each([
    ['missing padding', '=?base64?SGVsbG8?='],
    ['too much padding', '=?base64?SGVsbG8==?='],
    ['padding in the middle', '=?base64?QQ==QQ==?='],
    ['non-zero pad bits', '=?base64?QR==?='],
    ['the base64url alphabet', '=?base64?Pz8-?='],
    ['a character outside base64', '=?base64?SGVs*G8=?='],
    ['whitespace inside the payload', '=?base64?SGVs bG8=?='],
    ['invalid UTF-8 (a lone 0xFF)', '=?base64?/w==?='],
    ['an overlong UTF-8 sequence', '=?base64?wIA=?='],
    ['a UTF-8-encoded surrogate', '=?base64?7aCA?='],
    ['overlapping markers', '=?base64?=' ],
  ])('refuses a sentinel with %s', (_what, raw) => {
    expect(decodeHeaderValue(raw)).toBeUndefined();
  });

  it('decodes a good sentinel after refusing a bad one, and keeps a leading U+FEFF (one decoder serves every call)', () => {
    expect(decodeHeaderValue('=?base64?4pyT?=')).toBe('✓');
    expect(decodeHeaderValue('=?base64?8J+Y?=')).toBeUndefined(); // a truncated 4-byte sequence
    expect(decodeHeaderValue('=?base64?4pyT?=')).toBe('✓');
    expect(decodeHeaderValue(`=?base64?${Buffer.from('\uFEFFx').toString('base64')}?=`)).toBe('\uFEFFx');
  });

  it('accepts the canonical form next to which the bad pad bits were tested', () => {
    expect(decodeHeaderValue('=?base64?QQ==?=')).toBe('A');
    expect(decodeHeaderValue('=?base64?Pz8+?=')).toBe('??>');
  });

  it.each([
    ['a control character', 'a\u0001b'],
    ['a line feed', 'a\nb'],
    ['DEL', 'a\u007fb'],
    ['a non-ASCII character', 'caf\u00e9'],
  ])('refuses a plain value with %s', (_what, raw) => {
    expect(decodeHeaderValue(raw)).toBeUndefined();
  });

  it.each([
    ['plain'],
    [''],
    [' both ends '],
    ['\ttabs\t'],
    ['line1\r\nline2'],
    ['=?base64?literal?='],
    ['=?base64??='],
    ['Grüße, 世界 😀'],
    ['\u0000\u001f\u007f\u0080\u00ff'],
    ['x'.repeat(1000)],
  ])('round-trips %j through encode and decode', (value) => {
    expect(decodeHeaderValue(encodeHeaderValue(value))).toBe(value);
  });
});

describe('isPlainHeaderValue', () => {
  it.each([
    ['us-west1', true],
    ['a b', true],
    ['', false],
    [' a', false],
    ['a ', false],
    ['a\tb', false],
    ['é', false],
  ])('%j → %s', (value, plain) => {
    expect(isPlainHeaderValue(value)).toBe(plain);
  });
});

describe('isEncodableHeaderValue', () => {
  it.each([
    ['plain', true],
    ['😀', true],
    ['\uD83D\uDE00', true],
    ['a\uD800', false],
    ['\uDC00a', false],
    ['\uDE00\uD83D', false],
  ])('%j → %s', (value, encodable) => {
    expect(isEncodableHeaderValue(value)).toBe(encodable);
  });
});
