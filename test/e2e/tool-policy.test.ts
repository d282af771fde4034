/**
 * The tool policy through the real CLI: hidden tools vanish from tools/list, calls to them are
 * answered by airlock with an error naming the rule and never reach the server.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../src/audit/audit-record.js';
import { repoRoot, startAirlock, startServe, stdioFixture, type AirlockProcess } from '../helpers/airlock-process.js';
import { LineClient } from '../helpers/line-client.js';
import { connectClient, textOf } from '../helpers/mcp-client.js';

const running: AirlockProcess[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
});

describe('tool policy', () => {
  it('run --deny-tool: a denied call is answered by airlock and never forwarded', async () => {
    // The raw echo server answers every request it receives; a forwarded call would come back as a result.
    const proc = startAirlock(['run', '--deny-tool', 'delete_*', '--', process.execPath, join(repoRoot, 'fixtures', 'raw-echo-server.mjs')]);
    running.push(proc);
    const client = new LineClient(proc);
    client.send({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'delete_everything', arguments: {} } });
    const denied = await client.response(1);
    expect(denied.error).toEqual({
      code: -32602,
      message: 'mcp-airlock tool policy: tool "delete_everything" is not available: denied by "delete_*" (--deny-tool, or denyTools in the policy file)',
      data: { airlock: 'AIRLOCK_POLICY_DENIED', tool: 'delete_everything' },
    });
    client.send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'read_file', arguments: {} } });
    expect((await client.response(2)).result).toBeDefined(); // allowed: forwarded and echoed
    // Had airlock forwarded call 1, the echo server's own answer to it would be on stdout too.
    expect(client.messages().filter((m) => m.id === 1)).toHaveLength(1);
    client.endInput();
  });

  // Issue 20: a name that is not a string slipped past the deny rule to the server.
  it('run --deny-tool: a tools/call whose name is an array is refused with -32602, never forwarded, and recorded', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'airlock-tool-policy-'));
    try {
      const auditFile = join(dir, 'audit.jsonl');
      const proc = startAirlock(['run', '--deny-tool', 'delete_*', '--audit-file', auditFile, '--', process.execPath, join(repoRoot, 'fixtures', 'raw-echo-server.mjs')]);
      running.push(proc);
      const client = new LineClient(proc);
      client.send({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: ['delete_file'], arguments: { path: '/etc' } } });
      expect((await client.response(1)).error).toEqual({
        code: -32602,
        message: 'mcp-airlock tool policy: a tools/call needs the tool\'s name as a string in params.name, not ["delete_file"]',
        data: { airlock: 'AIRLOCK_POLICY_DENIED', rule: '(tool name not a string)' },
      });
      client.send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'read_file', arguments: {} } });
      expect((await client.response(2)).result).toBeDefined();
      expect(client.messages().filter((m) => m.id === 1)).toHaveLength(1); // the echo server never saw it
      client.endInput();
      expect(await proc.exited).toBe(0);
      const record = readFileSync(auditFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditRecord).find((r) => r.id === 1);
      expect(record).toMatchObject({ method: 'tools/call', name: '["delete_file"]', outcome: 'denied', errorCode: -32602, airlockCode: 'AIRLOCK_POLICY_DENIED', rule: '(tool name not a string)' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('serve --read-only and --allow-tool filter tools/list and refuse the rest, per session', async () => {
    const serve = await startServe(['--read-only', '--', process.execPath, stdioFixture]);
    running.push(serve);
    const { client } = await connectClient(new StreamableHTTPClientTransport(new URL(`${serve.url}/mcp`)));
    expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(['add', 'echo']);
    expect(textOf(await client.callTool({ name: 'add', arguments: { a: 1, b: 2 } }))).toBe('3');
    await expect(client.callTool({ name: 'crash', arguments: { code: 1 } })).rejects.toThrow(/tool "crash" is not available: --read-only/);
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'alive' } }))).toBe('alive'); // crash never ran
    await client.close();

    const allow = await startServe(['--allow-tool', 'e*', '--allow-tool', 'sl?w', '--', process.execPath, stdioFixture]);
    running.push(allow);
    const second = await connectClient(new StreamableHTTPClientTransport(new URL(`${allow.url}/mcp`)));
    expect((await second.client.listTools()).tools.map((t) => t.name).sort()).toEqual(['echo', 'env', 'slow']);
    await second.client.close();
  });

  it("a refusal by the policy file's denyTools names denyTools, not only --deny-tool (regression: reported as --deny-tool)", async () => {
    const policyFile = join(mkdtempSync(join(tmpdir(), 'airlock-policy-')), 'policy.json');
    writeFileSync(policyFile, '{ "denyTools": ["delete_*"] }');
    const proc = startAirlock(['run', '--policy-file', policyFile, '--', process.execPath, join(repoRoot, 'fixtures', 'raw-echo-server.mjs')]);
    running.push(proc);
    const client = new LineClient(proc);
    client.send({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'delete_everything', arguments: {} } });
    expect((await client.response(1)).error?.message).toBe('mcp-airlock tool policy: tool "delete_everything" is not available: denied by "delete_*" (--deny-tool, or denyTools in the policy file)');
    client.endInput();
  });

  it("accepts mcp-remote's --ignore-tool as --deny-tool", async () => {
    const proc = startAirlock(['run', '--ignore-tool', 'sec*', '--', process.execPath, join(repoRoot, 'fixtures', 'raw-echo-server.mjs')]);
    running.push(proc);
    const client = new LineClient(proc);
    client.send({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'secret', arguments: {} } });
    expect((await client.response(1)).error?.message).toContain('denied by "sec*" (--deny-tool, or denyTools in the policy file)');
    client.endInput();
  });
});
