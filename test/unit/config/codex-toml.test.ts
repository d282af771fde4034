import { describe, expect, it } from 'vitest';
import { readCodexServers, setCodexServers, TomlSyntaxError } from '../../../src/config/codex-toml.js';

describe('readCodexServers', () => {
  it('reads tables, sub-tables, inline tables, arrays over lines, both string kinds and comments', () => {
    const text = [
      'model = "o3" # a comment',
      '[mcp_servers.time]',
      'command = "uvx"',
      'args = [',
      '  "mcp-server-time", # the package',
      "  'C:\\\\literal',",
      ']',
      'env = { TZ = "Europe/Paris", "X-Y" = "a\\"b" }',
      '[mcp_servers."with.dot"]',
      'url = "https://x.example/mcp"',
      'startup_timeout_sec = 20',
      'enabled = true',
      '[mcp_servers.time.env]',
      'LANG = "fr"',
      '[profiles.fast]',
      'whatever = 2024-01-01T00:00:00Z',
    ].join('\n');
    expect(readCodexServers(text)).toEqual({
      time: { command: 'uvx', args: ['mcp-server-time', 'C:\\\\literal'], env: { TZ: 'Europe/Paris', 'X-Y': 'a"b', LANG: 'fr' } },
      'with.dot': { url: 'https://x.example/mcp', startup_timeout_sec: 20, enabled: true },
    });
  });

  it('a syntax error in the servers says where', () => {
    expect(() => readCodexServers('[mcp_servers.a]\ncommand = "x\n')).toThrow(TomlSyntaxError);
    expect(() => readCodexServers('[mcp_servers.a]\n\nargs = ["a" "b"]\n')).toThrow('expected "," or "]" in an array at line 3');
  });
});

describe('setCodexServers', () => {
  it('replaces the tables of those names where they were, appends the new ones, leaves the rest', () => {
    const text = 'model = "o3"\n\n[mcp_servers.a]\ncommand = "old"\n[mcp_servers.a.env]\nX = "1"\n\n[mcp_servers.b]\ncommand = "b"\n';
    expect(setCodexServers(text, { a: { command: 'npx', args: ['-y', 'mcp-airlock', 'a'] } })).toBe(
      'model = "o3"\n\n[mcp_servers.b]\ncommand = "b"\n\n[mcp_servers.a]\ncommand = "npx"\nargs = ["-y", "mcp-airlock", "a"]\n',
    );
    expect(setCodexServers('', { 'a b': { command: 'C:\\Program Files\\node.exe', args: [] } })).toBe('[mcp_servers."a b"]\ncommand = "C:\\\\Program Files\\\\node.exe"\nargs = []\n');
  });
});
