import { describe, expect, it } from 'vitest';
import { formatScope, parseScope, selectScopes, stepUpScopes, unionScopes } from '../../../src/auth/scopes.js';

describe('parseScope / formatScope (RFC 6749 §3.3)', () => {
  it('splits on spaces, drops empty and invalid tokens and duplicates', () => {
    expect(parseScope('a  b a "bad" c\\d e')).toEqual(['a', 'b', 'e']);
    expect(parseScope(undefined)).toEqual([]);
    expect(parseScope('')).toEqual([]);
  });

  it('formats an empty list as no parameter at all', () => {
    expect(formatScope([])).toBeUndefined();
    expect(formatScope(['a', 'b'])).toBe('a b');
  });
});

describe('selectScopes (MCP 2025-11-25 Scope Selection Strategy)', () => {
  it('takes the challenge scope first', () => {
    expect(selectScopes({ challenge: 'files:read', supported: ['files:read', 'files:write'] })).toEqual(['files:read']);
  });

  it('else all of scopes_supported', () => {
    expect(selectScopes({ supported: ['files:read', 'files:write'] })).toEqual(['files:read', 'files:write']);
  });

  it('else none: never an invented default such as openid', () => {
    expect(selectScopes({})).toEqual([]);
    expect(selectScopes({ challenge: '', supported: [] })).toEqual([]);
  });

  it('lets the user\'s --scope override both', () => {
    expect(selectScopes({ requested: 'mine', challenge: 'theirs', supported: ['x'] })).toEqual(['mine']);
  });
});

describe('stepUpScopes (step-up on insufficient_scope)', () => {
  it('asks for the union of the held and the new scopes', () => {
    expect(stepUpScopes(['read'], 'write admin')).toEqual(['read', 'write', 'admin']);
    expect(stepUpScopes(['read', 'write'], 'write admin')).toEqual(['read', 'write', 'admin']);
  });

  it('is undefined when the challenge asks for nothing new', () => {
    expect(stepUpScopes(['read', 'write'], 'write')).toBeUndefined();
    expect(stepUpScopes(['read'], undefined)).toBeUndefined();
  });

  it('unionScopes keeps first occurrences in order', () => {
    expect(unionScopes(['b', 'a'], ['a', 'c'], ['b'])).toEqual(['b', 'a', 'c']);
  });
});
