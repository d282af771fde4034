import { describe, expect, it } from 'vitest';
import { convertReferences, hostEntry, plainSecrets } from '../../../src/config/host-import.js';

describe('host entries as servers-file entries', () => {
  it('references in every host spelling become ${env:NAME}', () => {
    expect(convertReferences('Bearer ${TOKEN}', 'claude-code')).toBe('Bearer ${env:TOKEN}');
    expect(convertReferences('${env:TOKEN}', 'vscode')).toBe('${env:TOKEN}');
    expect(convertReferences('${TOKEN:-none}', 'claude-code')).toBe('${env:TOKEN}');
    expect(convertReferences('$TOKEN', 'gemini')).toBe('${env:TOKEN}');
    expect(convertReferences('a $b c', 'gemini')).toBe('a $b c');
    expect(() => convertReferences('${workspaceFolder}/x', 'vscode')).toThrow('it uses "${workspaceFolder}", which only its host can fill in');
    expect(() => convertReferences('${userHome}/x', 'cursor')).toThrow('it uses "${userHome}"');
  });

  it("mcp-remote and airlock's drop-in line are the remote server; an installed line is not taken again", () => {
    expect(hostEntry({ command: 'npx', args: ['-y', 'mcp-remote@latest', 'https://x.example/sse'] }, 'claude').entry).toEqual({ url: 'https://x.example/sse' });
    expect(() => hostEntry({ command: 'npx', args: ['-y', 'mcp-airlock', 'github'] }, 'cursor')).toThrow('already an mcp-airlock line');
    expect(() => hostEntry({ command: 'node', args: ['/src/airlock/bin/mcp-airlock.js', 'github'] }, 'cursor')).toThrow('already an mcp-airlock line');
    expect(() => hostEntry({ command: 'x', disabled: true }, 'cursor')).toThrow('it is disabled in Cursor');
  });

  it("Codex's header members become headers", () => {
    expect(hostEntry({ url: 'https://x', bearer_token_env_var: 'TOK', http_headers: { A: 'b' }, env_http_headers: { 'X-Key': 'KEY' } }, 'codex').entry).toEqual({
      url: 'https://x',
      headers: { A: 'b', 'X-Key': '${env:KEY}', Authorization: 'Bearer ${env:TOK}' },
    });
  });

  it('plain secrets: the credential after an auth scheme is the part to store', () => {
    expect(plainSecrets({ headers: { Authorization: 'Bearer abc', Accept: 'x' }, env: { API_KEY: 'k', REF: '${env:X}' } })).toEqual([
      { member: 'env', key: 'API_KEY', prefix: '', value: 'k' },
      { member: 'headers', key: 'Authorization', prefix: 'Bearer ', value: 'abc' },
    ]);
  });
});
