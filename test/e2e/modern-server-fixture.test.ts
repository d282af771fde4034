/**
 * fixtures/modern-server.mjs on its own (no airlock): the SDK v2 client in the modern era over
 * stdio and HTTP, and the SDK v1 client (2025 era) against the dual-era and the modern-only modes.
 * Each test starts its own fixture process (about half a second of SDK loading each), so the
 * tests run concurrently and assert with their own `expect`.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Client as ModernClient, StreamableHTTPClientTransport as ModernHttpTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport as ModernStdioTransport } from '@modelcontextprotocol/client/stdio';
import { Client as LegacyClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport as LegacyStdioTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport as LegacyHttpTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { describe, it, type ExpectStatic } from 'vitest';
import { textOf } from '../helpers/mcp-client.js';

const fixture = fileURLToPath(new URL('../../fixtures/modern-server.mjs', import.meta.url));
type Legacy = 'serve' | 'reject';

/** Start the fixture in HTTP mode, run `use`, stop it, and check stdout held only the ready line. */
async function withHttpFixture(expect: ExpectStatic, legacy: Legacy, use: (url: URL) => Promise<void>): Promise<void> {
  const child = spawn(process.execPath, [fixture, '--http', '0', '--legacy', legacy], { stdio: ['ignore', 'pipe', 'ignore'] });
  const lines: string[] = [];
  const firstLine = new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      lines.push(line);
      if (lines.length === 1) resolve(line);
    });
    child.once('exit', (code) => reject(new Error(`the fixture exited (${code}) before it was ready`)));
  });
  try {
    const ready = await firstLine;
    expect(ready).toMatch(/^listening http:\/\/127\.0\.0\.1:\d+\/mcp$/);
    await use(new URL(ready.slice('listening '.length)));
  } finally {
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  }
  expect(lines).toHaveLength(1);
}

/** The SDK v2 client pinned to 2026-07-28, answering elicitations with a fixed name. */
function modernClient(): ModernClient {
  const client = new ModernClient({ name: 'fixture-test', version: '1.0.0' }, { capabilities: { elicitation: {} }, versionNegotiation: { mode: { pin: '2026-07-28' } } });
  client.setRequestHandler('elicitation/create', async () => ({ action: 'accept', content: { name: 'Ada' } }));
  return client;
}

async function exerciseModern(expect: ExpectStatic, client: ModernClient): Promise<string[]> {
  expect(client.getProtocolEra()).toBe('modern');
  expect(client.getNegotiatedProtocolVersion()).toBe('2026-07-28');
  const { tools } = await client.listTools();
  expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'hi' } }))).toBe('hi');
  // input_required → the client's elicitation handler → retried call with inputResponses.
  expect(textOf(await client.callTool({ name: 'ask_name', arguments: {} }))).toBe('Hello, Ada');
  return tools.map((tool) => tool.name);
}

const everyTool = ['echo', 'add', 'lookup', 'bad_header_tool', 'slow', 'ask_name', 'sample', 'list_roots', 'notify_change'];

describe.concurrent('modern-server fixture, SDK v2 client (2026-07-28)', () => {
  it('serves the modern era over stdio', async ({ expect }) => {
    const client = modernClient();
    await client.connect(new ModernStdioTransport({ command: process.execPath, args: [fixture, '--legacy', 'reject'], stderr: 'ignore' }));
    try {
      expect(await exerciseModern(expect, client)).toEqual(everyTool);
      expect(JSON.parse(textOf(await client.callTool({ name: 'lookup', arguments: { region: 'eu' } })))).toEqual({
        transport: 'stdio',
        mcpParamHeaders: null,
        arguments: { region: 'eu' },
      });
    } finally {
      await client.close();
    }
  });

  it('serves the modern era over HTTP, and lookup reports the Mcp-Param-* headers it received', async ({ expect }) => {
    await withHttpFixture(expect, 'reject', async (url) => {
      const sent: Array<Record<string, string>> = [];
      const recordingFetch = (input: string | URL | Request, init?: RequestInit) => {
        sent.push(Object.fromEntries(new Headers(init?.headers)));
        return fetch(input, init);
      };
      const client = modernClient();
      await client.connect(new ModernHttpTransport(url, { fetch: recordingFetch }));
      try {
        // The v2 client drops the tool whose x-mcp-header sits on a `number` (as the spec asks).
        expect(await exerciseModern(expect, client)).toEqual(everyTool.filter((name) => name !== 'bad_header_tool'));
        const lookup = await client.callTool({ name: 'lookup', arguments: { region: 'Hello, 世界', id: 42, verbose: false } });
        expect(JSON.parse(textOf(lookup)).mcpParamHeaders).toEqual({
          'mcp-param-region': '=?base64?SGVsbG8sIOS4lueVjA==?=',
          'mcp-param-item-id': '42',
          'mcp-param-verbose': 'false',
        });
        expect(sent.find((headers) => headers['mcp-name'] === 'echo')).toMatchObject({ 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call' });
      } finally {
        await client.close();
      }
    });
  });
});

describe.concurrent('modern-server fixture, SDK v1 client (2025 era)', () => {
  function legacyClient(): LegacyClient {
    const client = new LegacyClient({ name: 'fixture-test-v1', version: '1.0.0' }, { capabilities: { elicitation: {} } });
    client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept', content: { name: 'Bob' } }));
    return client;
  }

  it('is served over stdio with --legacy serve, multi-round-trip tools becoming real elicitation requests', async ({ expect }) => {
    const client = legacyClient();
    await client.connect(new LegacyStdioTransport({ command: process.execPath, args: [fixture, '--legacy', 'serve'], stderr: 'ignore' }));
    try {
      expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'old' } }))).toBe('old');
      expect(textOf(await client.callTool({ name: 'ask_name', arguments: {} }))).toBe('Hello, Bob');
    } finally {
      await client.close();
    }
  });

  it('is refused over stdio with --legacy reject (-32022)', async ({ expect }) => {
    const client = legacyClient();
    const transport = new LegacyStdioTransport({ command: process.execPath, args: [fixture, '--legacy', 'reject'], stderr: 'ignore' });
    try {
      await expect(client.connect(transport)).rejects.toThrow(/-32022.*Unsupported protocol version: 2025-/);
    } finally {
      await transport.close();
    }
  });

  it('is served over HTTP with --legacy serve (stateless)', async ({ expect }) => {
    await withHttpFixture(expect, 'serve', async (url) => {
      const client = legacyClient();
      await client.connect(new LegacyHttpTransport(url));
      try {
        expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'old' } }))).toBe('old');
      } finally {
        await client.close();
      }
    });
  });

  it('is refused over HTTP with --legacy reject (HTTP 400, -32022)', async ({ expect }) => {
    await withHttpFixture(expect, 'reject', async (url) => {
      const client = legacyClient();
      await expect(client.connect(new LegacyHttpTransport(url))).rejects.toThrow(/400|-32022|Unsupported protocol version/);
    });
  });
});
