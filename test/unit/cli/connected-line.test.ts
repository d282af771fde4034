import { describe, expect, it } from 'vitest';
import type { JSONRPCMessage } from '../../../src/bridge/json-rpc.js';
import { connectedLineStage } from '../../../src/cli/connected-line.js';

function stage(outbound: object, auth = 'none') {
  const lines: string[] = [];
  const s = connectedLineStage({ server: 'https://mcp.example.com/mcp', outbound, auth: () => auth, write: (line) => lines.push(line) });
  return { s, lines };
}

const initialize = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'c', version: '1' } } } as JSONRPCMessage;

describe('connectedLineStage', () => {
  it('writes one line at the first successful answer, with the negotiated version, and changes no message', () => {
    const { s, lines } = stage({ transportName: 'streamable-http', translation: 'none' }, 'OAuth token from the keychain');
    expect(s.fromClient!(initialize)).toBeUndefined();
    const answer = { jsonrpc: '2.0', id: 1, result: { protocolVersion: '2025-06-18', capabilities: {}, serverInfo: { name: 's', version: '1' } } } as JSONRPCMessage;
    expect(s.fromServer!(answer, { method: 'initialize' })).toBeUndefined();
    expect(s.fromServer!({ jsonrpc: '2.0', id: 2, result: {} } as JSONRPCMessage, { method: 'tools/list' })).toBeUndefined();
    expect(lines).toEqual(['connected to https://mcp.example.com/mcp (streamable HTTP, MCP 2025-06-18, auth: OAuth token from the keychain)']);
  });

  it('says nothing for an error answer, and waits for a success', () => {
    const { s, lines } = stage({ transportName: 'sse' });
    s.fromClient!(initialize);
    s.fromServer!({ jsonrpc: '2.0', id: 1, error: { code: -32000, message: 'no' } } as JSONRPCMessage, { method: 'initialize' });
    expect(lines).toEqual([]);
    s.fromServer!({ jsonrpc: '2.0', id: 1, result: { protocolVersion: '2024-11-05' } } as JSONRPCMessage, { method: 'initialize' });
    expect(lines).toEqual(['connected to https://mcp.example.com/mcp (HTTP+SSE, MCP 2024-11-05, auth: none)']);
  });

  it('takes a 2026-07-28 request\'s version from its _meta, and names a translation', () => {
    const modern = stage({ transportName: 'streamable-http', translation: 'none' });
    modern.s.fromClient!({ jsonrpc: '2.0', id: 'd', method: 'server/discover', params: { _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' } } } as JSONRPCMessage);
    modern.s.fromServer!({ jsonrpc: '2.0', id: 'd', result: { supportedVersions: ['2026-07-28'] } } as JSONRPCMessage, { method: 'server/discover' });
    expect(modern.lines).toEqual(['connected to https://mcp.example.com/mcp (streamable HTTP, MCP 2026-07-28, auth: none)']);
    const translated = stage({ transportName: 'streamable-http', translation: 'legacy-client' });
    translated.s.fromClient!(initialize);
    translated.s.fromServer!({ jsonrpc: '2.0', id: 1, result: { protocolVersion: '2025-06-18' } } as JSONRPCMessage, { method: 'initialize' });
    expect(translated.lines).toEqual(['connected to https://mcp.example.com/mcp (streamable HTTP, MCP 2026-07-28, translated for a 2025-06-18 client, auth: none)']);
  });
});
