import { describe, expect, it } from 'vitest';
import { checkServersFile } from '../../../src/config/servers-file.js';

const issues = (text: string) => checkServersFile(text).issues.map((i) => `${i.line}:${i.column}${i.warning ? ' warning' : ''}: ${i.message}`);

describe('checkServersFile', () => {
  it('reads servers with their type from command or url, and every type spelling', () => {
    const { servers } = checkServersFile('{"mcpServers": {"a": {"command": "x"}, "b": {"url": "https://x/mcp"}, "c": {"type": "streamableHttp", "url": "https://x"}, "d": {"type": "sse", "url": "https://x"}}}');
    expect(Object.fromEntries(Object.entries(servers!).map(([k, v]) => [k, v.type]))).toEqual({ a: 'stdio', b: 'http', c: 'http', d: 'sse' });
  });

  it('an unknown member is an error at its line and column, with the member it most likely meant', () => {
    expect(issues('{\n  "servers": {\n    "a": { "command": "x", "arsg": [] }\n  }\n}')).toEqual([
      '3:28: unknown member "arsg" in servers.a (did you mean "args"?); known: type, command, args, env, cwd, url, headers, auth, storage, policyFile, share, idleTimeout, maxMessage, protocol',
    ]);
    expect(issues('{"servers": {"a": {"type": "streamable-htp", "url": "https://x"}}}')).toEqual(['1:20: unknown type "streamable-htp" (did you mean "streamable-http"?): use stdio, http (also streamable-http, streamableHttp) or sse']);
  });

  it('a secret in clear text in env or headers is a warning, the file stays valid', () => {
    const result = checkServersFile('{"servers": {"a": {"url": "https://x", "headers": {"Authorization": "Bearer abc", "Accept": "x"}}, "b": {"command": "x", "env": {"GITHUB_TOKEN": "ghp_1", "API_KEY": "${keychain:k}", "HOME_DIR": "/h"}}}}');
    expect(result.servers).toBeDefined();
    expect(result.issues.map((i) => [i.pointer, i.warning])).toEqual([
      ['/servers/a/headers/Authorization', true],
      ['/servers/b/env/GITHUB_TOKEN', true],
    ]);
    expect(result.issues[0]!.message).toBe('servers.a.headers.Authorization looks like a secret in clear text: store it with `mcp-airlock secret set NAME` and write ${keychain:NAME}');
  });

  it('a bare ${NAME} says which reference to write; an unknown kind is named', () => {
    expect(issues('{"servers": {"a": {"command": "x", "env": {"T": "${TOKEN}"}}}}')).toEqual([
      '1:44: servers.a.env.T: "${TOKEN}" names no source: write ${env:TOKEN} for an environment variable, or ${keychain:TOKEN} for a stored secret',
    ]);
    expect(issues('{"servers": {"a": {"command": "x", "args": ["${input:x}"]}}}')).toEqual(['1:45: servers.a.args[0]: "${input:x}" is not a reference: use ${env:NAME}, ${keychain:NAME} or ${file:PATH}']);
  });

  it('a server named like a command is a warning: `mcp-airlock status` runs the command', () => {
    expect(checkServersFile('{"servers": {"status": {"command": "x"}}}', { reserved: ['status'] }).issues.map((i) => i.message)).toEqual([
      'server "status" has the name of a command: `mcp-airlock status` runs the command; rename the server',
    ]);
  });

  it('not JSON: where and why', () => {
    expect(issues('{"servers": {,}}')).toEqual(['1:14: not valid JSON: expected a member name in double quotes, found ","']);
  });
});
