import { describe, expect, it } from 'vitest';
import { decodeClientRecord, decodeTokenRecord, encodeRecord, recordAccount, RecordFormatError } from '../../../src/store/grant-records.js';
import { sampleClient, sampleTokens } from '../../helpers/grant-records.js';

function problem(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(RecordFormatError);
    return (error as Error).message;
  }
  throw new Error('expected a RecordFormatError');
}

describe('grant records', () => {
  it('names keychain accounts by kind and id', () => {
    expect(recordAccount('tokens', 'https://mcp.example.com/mcp')).toBe('tokens:https://mcp.example.com/mcp');
    expect(recordAccount('client', 'https://as.example.com')).toBe('client:https://as.example.com');
  });

  it('round-trips both kinds in a versioned envelope', () => {
    const tokens = sampleTokens('https://mcp.example.com/mcp');
    const client = sampleClient('https://as.example.com');
    expect(JSON.parse(encodeRecord('tokens', tokens))).toEqual({ version: 1, kind: 'tokens', record: tokens });
    expect(decodeTokenRecord(encodeRecord('tokens', tokens))).toEqual(tokens);
    expect(decodeClientRecord(encodeRecord('client', client))).toEqual(client);
    const minimal = { resource: 'r', issuer: 'i', clientId: 'c', accessToken: 'a', tokenType: 'Bearer', obtainedAt: 0 };
    expect(decodeTokenRecord(encodeRecord('tokens', minimal))).toEqual(minimal);
  });

  it('says what is wrong without repeating any stored text', () => {
    const secret = 'at-SECRET-do-not-print';
    const text = encodeRecord('tokens', sampleTokens('r', 'do-not-print'));
    const cases: [string, string][] = [
      [text.slice(0, 60), 'it is not valid JSON'],
      [`"${secret}"`, 'it is not a JSON object'],
      [text.replace('"version":1', '"version":7'), 'it has format version 7, written by a newer mcp-airlock'],
      [text.replace('"version":1,', ''), 'it has no known format version'],
      [text.replace('"kind":"tokens"', '"kind":"client"'), 'it does not hold tokens'],
      [JSON.stringify({ version: 1, kind: 'tokens', record: [secret] }), 'it has no record'],
      [text.replace('"tokenType":"Bearer"', `"tokenType":["${secret}"]`), 'field tokenType is not a string'],
      [text.replace('"obtainedAt":1800000000000', '"obtainedAt":"soon"'), 'field obtainedAt is not a number'],
      [text.replace('"clientId":"client-1",', ''), 'field clientId is missing'],
    ];
    for (const [input, expected] of cases) {
      const message = problem(() => decodeTokenRecord(input));
      expect(message).toBe(expected);
      expect(message).not.toContain('SECRET');
    }
    const client = encodeRecord('client', sampleClient('i'));
    expect(problem(() => decodeClientRecord(client.replace('"dynamic"', '"stolen"')))).toBe('field method has an unknown value');
    expect(problem(() => decodeClientRecord(encodeRecord('tokens', sampleTokens('r'))))).toBe('it does not hold a client registration');
  });
});
