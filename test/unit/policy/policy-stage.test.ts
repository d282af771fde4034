import { describe, expect, it } from 'vitest';
import type { JSONRPCMessage } from '../../../src/bridge/json-rpc.js';
import { principalFromClaims } from '../../../src/audit/principal.js';
import { ANONYMOUS, callerFromPrincipal, callerSource, type Caller } from '../../../src/policy/caller.js';
import { parsePolicy } from '../../../src/policy/policy-file.js';
import { compilePolicy, type PolicyStage } from '../../../src/policy/policy-stage.js';

const support = callerFromPrincipal({ issuer: 'https://idp', subject: 'sam', clientId: 'c', scopes: [], groups: ['support'] });
const billing = callerFromPrincipal({ issuer: 'https://idp', subject: 'bea', clientId: 'c', scopes: [], groups: ['billing'] });

const TOOLS = [
  { name: 'read_ticket', annotations: { readOnlyHint: true, openWorldHint: false } },
  { name: 'fetch_url', annotations: { readOnlyHint: true } },
  { name: 'send_email', annotations: { readOnlyHint: false, openWorldHint: true } },
  { name: 'refund_order', annotations: { destructiveHint: true } },
];

const POLICY = {
  denyTools: ['debug_*'],
  rules: [
    { id: 'support', effect: 'allow', tools: ['read_*', 'fetch_*', 'send_*'], principal: { groups: ['support'] } },
    { id: 'billing', effect: 'allow', tools: ['read_*', 'refund_*'], principal: { groups: 'billing' } },
  ],
  rateLimits: [{ id: 'mail', tools: 'send_*', limit: 2, window: '1h' }],
  flows: [{ id: 'no-exfiltration', deny: 'external-communication', after: ['private-data', 'untrusted-content'] }],
};

function stageFor(caller: () => Caller, policy: unknown = POLICY): PolicyStage {
  return compilePolicy(parsePolicy(JSON.stringify(policy), 'p.json'), { now: () => 0 }).stageFor(caller)!;
}

const list = (stage: PolicyStage): string[] => {
  const answer = { jsonrpc: '2.0', id: 1, result: { tools: TOOLS } } as JSONRPCMessage;
  const shown = (stage.fromServer(answer, { method: 'tools/list' }) ?? answer) as { result: { tools: Array<{ name: string }> } };
  return shown.result.tools.map((t) => t.name);
};

let nextId = 10;
/** The error data of the refusal, or "forwarded". */
const call = (stage: PolicyStage, name: string): unknown => {
  const verdict = stage.fromClient({ jsonrpc: '2.0', id: nextId++, method: 'tools/call', params: { name, arguments: {} } } as JSONRPCMessage);
  return verdict ? (verdict.reply as { error: { code: number; message: string; data: unknown } }).error : 'forwarded';
};

describe('PolicyStage', () => {
  it('tools/list shows each caller only what it may call', () => {
    expect(list(stageFor(() => support))).toEqual(['read_ticket', 'fetch_url', 'send_email']);
    expect(list(stageFor(() => billing))).toEqual(['read_ticket', 'refund_order']);
    expect(list(stageFor(() => ANONYMOUS))).toEqual([]);
  });

  it('refuses a call the rules do not allow with the rule (or the default) named, and forwards the rest', () => {
    const stage = stageFor(() => billing);
    list(stage);
    expect(call(stage, 'refund_order')).toBe('forwarded');
    expect(call(stage, 'send_email')).toEqual({
      code: -32602,
      message: 'mcp-airlock tool policy: tool "send_email" is not available: no policy rule allows it for this caller (a policy with rules denies by default)',
      data: { airlock: 'AIRLOCK_POLICY_DENIED', tool: 'send_email', rule: '(default deny)' },
    });
    const denyRule = stageFor(() => billing, { rules: [{ effect: 'allow' }, { id: 'no-refunds', effect: 'deny', tools: 'refund_*', reason: 'refunds need a person' }] });
    expect(call(denyRule, 'refund_order')).toEqual({
      code: -32602,
      message: 'mcp-airlock tool policy: tool "refund_order" is not available: denied by policy rule "no-refunds": refunds need a person',
      data: { airlock: 'AIRLOCK_POLICY_DENIED', tool: 'refund_order', rule: 'no-refunds' },
    });
  });

  it('the flat members answer as they always did, without a rule id', () => {
    const stage = stageFor(() => support);
    expect(call(stage, 'debug_dump')).toEqual({
      code: -32602,
      message: 'mcp-airlock tool policy: tool "debug_dump" is not available: denied by "debug_*" (--deny-tool, or denyTools in the policy file)',
      data: { airlock: 'AIRLOCK_POLICY_DENIED', tool: 'debug_dump' },
    });
  });

  it('asks who calls at each message: a new token with other groups changes the answer', () => {
    let who = support;
    const stage = stageFor(() => who);
    expect(call(stage, 'fetch_url')).toBe('forwarded');
    who = billing;
    expect((call(stage, 'fetch_url') as { data: { rule: string } }).data.rule).toBe('(default deny)');
  });

  it('a new tools/list with other annotations changes the answer (decisions are not kept past it)', () => {
    const stage = stageFor(() => support, { rules: [{ id: 'reads', effect: 'allow', annotations: { readOnlyHint: true } }] });
    const listWith = (readOnlyHint: boolean) => stage.fromServer({ jsonrpc: '2.0', id: 1, result: { tools: [{ name: 'lookup', annotations: { readOnlyHint } }] } } as JSONRPCMessage, { method: 'tools/list' });
    listWith(true);
    expect(call(stage, 'lookup')).toBe('forwarded');
    listWith(false);
    expect((call(stage, 'lookup') as { data: { rule: string } }).data.rule).toBe('(default deny)');
  });

  it('stops the exfiltration sequence; the same tools in another order pass', () => {
    const stage = stageFor(() => support);
    list(stage); // annotations -> labels: read_ticket private-data, fetch_url untrusted-content, send_email external-communication
    expect(call(stage, 'read_ticket')).toBe('forwarded');
    expect(call(stage, 'fetch_url')).toBe('forwarded');
    expect(call(stage, 'send_email')).toEqual({
      code: -32000,
      message:
        'mcp-airlock policy: tool "send_email" refused by flow rule "no-exfiltration": this session already called "read_ticket" (private-data) and "fetch_url" (untrusted-content), and "send_email" is external-communication; data those calls returned could leave through this one',
      data: { airlock: 'AIRLOCK_FLOW_DENIED', tool: 'send_email', rule: 'no-exfiltration' },
    });

    const other = stageFor(() => support);
    list(other);
    expect([call(other, 'send_email'), call(other, 'read_ticket'), call(other, 'fetch_url')]).toEqual(['forwarded', 'forwarded', 'forwarded']);
  });

  // Issue 20: without a tools/list in the session (2026 clients call from a list they cached) no
  // call counted as private data or untrusted content, so the exfiltration rule never fired.
  it('an unlisted tool counts as every label for the flow rules: the exfiltration stops without a tools/list', () => {
    const stage = stageFor(() => support);
    expect(call(stage, 'read_ticket')).toBe('forwarded');
    expect(call(stage, 'send_email')).toEqual({
      code: -32000,
      message:
        'mcp-airlock policy: tool "send_email" refused by flow rule "no-exfiltration": this session already called "read_ticket" (private-data, unlisted) and "read_ticket" (untrusted-content, unlisted), and "send_email" is external-communication (unlisted); data those calls returned could leave through this one. A tool no tools/list of this session named counts as every label: name it in the policy\'s labels, or list the tools first',
      data: { airlock: 'AIRLOCK_FLOW_DENIED', tool: 'send_email', rule: 'no-exfiltration' },
    });

    // In a listed session, an unlisted read still counts as the label that was missing.
    const mixed = stageFor(() => support);
    list(mixed);
    expect([call(mixed, 'read_ticket'), call(mixed, 'send_email'), call(mixed, 'fetch_news')]).toEqual(['forwarded', 'forwarded', 'forwarded']);
    expect(call(mixed, 'send_email')).toMatchObject({
      message: expect.stringContaining('this session already called "read_ticket" (private-data) and "fetch_news" (untrusted-content, unlisted), and "send_email" is external-communication;'),
      data: { rule: 'no-exfiltration' },
    });
    // And a tool never listed is refused after a private read and an open-world one, as before.
    const listed = stageFor(() => support);
    list(listed);
    expect([call(listed, 'read_ticket'), call(listed, 'fetch_url')]).toEqual(['forwarded', 'forwarded']);
    expect(call(listed, 'send_sms')).toMatchObject({ code: -32000, data: { airlock: 'AIRLOCK_FLOW_DENIED', tool: 'send_sms', rule: 'no-exfiltration' } });
  });

  it('the policy\'s own labels need no tools/list', () => {
    const labelled = stageFor(() => support, { ...POLICY, labels: { 'private-data': ['read_*'], 'untrusted-content': ['fetch_*'], 'external-communication': ['send_*'] } });
    expect([call(labelled, 'read_ticket'), call(labelled, 'send_email'), call(labelled, 'fetch_url')]).toEqual(['forwarded', 'forwarded', 'forwarded']);
    expect(call(labelled, 'send_email')).toMatchObject({
      message: 'mcp-airlock policy: tool "send_email" refused by flow rule "no-exfiltration": this session already called "read_ticket" (private-data) and "fetch_url" (untrusted-content), and "send_email" is external-communication; data those calls returned could leave through this one',
    });
  });

  it('rate limits count forwarded calls only, shared by the sessions of the process', () => {
    const policy = compilePolicy(parsePolicy(JSON.stringify(POLICY), 'p.json'), { now: () => 0 });
    const first = policy.stageFor(() => support)!;
    const second = policy.stageFor(() => support)!;
    list(first);
    list(second);
    expect(call(first, 'send_email')).toBe('forwarded');
    expect(call(second, 'debug_x')).toMatchObject({ data: { airlock: 'AIRLOCK_POLICY_DENIED' } }); // refused: takes no token
    expect(call(second, 'send_email')).toBe('forwarded');
    expect(call(first, 'send_email')).toEqual({
      code: -32000,
      message: 'mcp-airlock policy: rate limit "mail" (2 calls per 1h per caller) reached for tool "send_email"; retry in 1800 s',
      data: { airlock: 'AIRLOCK_RATE_LIMITED', rule: 'mail', tool: 'send_email', retryAfterSeconds: 1800 },
    });
    expect(call(policy.stageFor(() => billing)!, 'refund_order')).toBe('forwarded'); // another caller, another limit
  });

  it('leaves other messages alone', () => {
    const stage = stageFor(() => ANONYMOUS);
    expect(stage.fromClient({ jsonrpc: '2.0', id: 1, method: 'tools/list' } as JSONRPCMessage)).toBeUndefined();
    const other = { jsonrpc: '2.0', id: 3, result: { tools: TOOLS } } as JSONRPCMessage;
    expect(stage.fromServer(other, { method: 'prompts/list' })).toBeUndefined();
  });

  it('compilePolicy: inactive without anything to enforce; asks for groups and roles only when matched', () => {
    const empty = compilePolicy(parsePolicy('{}', 'p.json'));
    expect(empty.active).toBe(false);
    expect(empty.stageFor(() => ANONYMOUS)).toBeUndefined();
    const withGroups = compilePolicy(parsePolicy(JSON.stringify({ claims: { groups: '/realm_access/roles' }, rules: [{ effect: 'allow', principal: { groups: 'x' } }] }), 'p.json'));
    expect(withGroups.identityClaims).toEqual({ groups: ['/realm_access/roles'], roles: ['roles'] });
    expect(withGroups.namesPrincipals).toBe(true);
    const bySubject = compilePolicy(parsePolicy(JSON.stringify({ rateLimits: [{ limit: 1, window: '1s', principal: { subject: 'x' } }] }), 'p.json'));
    expect([bySubject.active, bySubject.identityClaims, bySubject.namesPrincipals]).toEqual([true, undefined, true]);
  });
});

// Issue 20: a delegated token whose `act` was not the expected shape passed as direct, and a
// `delegated: true` deny rule let delete_file through. Any act present means delegated.
describe('delegated tokens whatever the shape of their act claim', () => {
  const policy = {
    rules: [
      { id: 'no-agent-deletes', effect: 'deny', tools: 'delete_*', principal: { delegated: true } },
      { id: 'everyone', effect: 'allow' },
    ],
  };
  const shapes: Array<[string, unknown]> = [
    ['an act.sub over 256 characters', { sub: 'agent-'.padEnd(300, 'x') }],
    ['an empty act.sub', { sub: '' }],
    ['a number act.sub', { sub: 42 }],
    ['an array act.sub', { sub: ['agent-7'] }],
    ['an act without sub', { client_id: 'agent-app' }],
    ['an empty act', {}],
    ['an act that is an array', [{ sub: 'agent-7' }]],
    ['an act that is a string', 'agent-7'],
  ];
  it.each(shapes)('%s is refused by a delegated: true deny rule', (_, act) => {
    const principal = principalFromClaims({ iss: 'https://idp', sub: 'alice', client_id: 'c', act }, true)!;
    const stage = stageFor(callerSource(() => principal, ANONYMOUS), policy);
    expect(call(stage, 'delete_file')).toEqual({
      code: -32602,
      message: 'mcp-airlock tool policy: tool "delete_file" is not available: denied by policy rule "no-agent-deletes"',
      data: { airlock: 'AIRLOCK_POLICY_DENIED', tool: 'delete_file', rule: 'no-agent-deletes' },
    });
    expect(call(stage, 'read_file')).toBe('forwarded');
  });
  it('a token without act is direct: the same call is forwarded', () => {
    const principal = principalFromClaims({ iss: 'https://idp', sub: 'alice', client_id: 'c' }, true)!;
    expect(call(stageFor(callerSource(() => principal, ANONYMOUS), policy), 'delete_file')).toBe('forwarded');
  });
  it('an actor rule sees the long actor cut, not dropped', () => {
    const principal = principalFromClaims({ iss: 'https://idp', sub: 'alice', act: { sub: 'agent-'.padEnd(300, 'x') } }, true)!;
    const stage = stageFor(callerSource(() => principal, ANONYMOUS), { rules: [{ id: 'no-agents', effect: 'deny', principal: { actor: 'agent-*' } }, { effect: 'allow' }] });
    expect(call(stage, 'read_file')).toMatchObject({ data: { rule: 'no-agents' } });
  });
});

// Issue 20: `"name": ["delete_file"]` passed a deny rule (the stage left it to the server), and a
// server that dispatches by handlers[name] deleted.
describe('a tools/call whose name is not a string', () => {
  it.each([
    ['an array', ['delete_file'], 'not ["delete_file"]'],
    ['an object', { toString: 'delete_file' }, 'not {"toString":"delete_file"}'],
    ['a number', 42, 'not 42'],
    ['null', null, 'not null'],
    ['missing', undefined, 'it is missing'],
    ['a long array, quoted cut short', 'x'.repeat(200).split(''), `not ${JSON.stringify('x'.repeat(200).split('')).slice(0, 99)}\u2026`],
  ])('%s is refused with -32602 while a policy is active', (_, name, shown) => {
    const stage = stageFor(() => ANONYMOUS, { denyTools: ['delete_*'] });
    const verdict = stage.fromClient({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name, arguments: {} } } as JSONRPCMessage);
    expect(verdict?.reply).toEqual({
      jsonrpc: '2.0',
      id: 7,
      error: {
        code: -32602,
        message: `mcp-airlock tool policy: a tools/call needs the tool's name as a string in params.name, ${shown}`,
        data: { airlock: 'AIRLOCK_POLICY_DENIED', rule: '(tool name not a string)' },
      },
    });
  });
  it('a call without params is refused too', () => {
    const stage = stageFor(() => ANONYMOUS, { rules: [{ effect: 'allow' }] });
    expect(stage.fromClient({ jsonrpc: '2.0', id: 8, method: 'tools/call' } as JSONRPCMessage)?.reply).toMatchObject({ error: { code: -32602 } });
  });
});

// Issue 20: a batch of 10,000 made-up tool names evicted a drained bucket, and the limit started over.
describe('rate limits through the stage', () => {
  it('a flood of made-up tool names does not reset a drained limit, nor make a bucket per name', () => {
    const policy = { rules: [{ effect: 'allow' }], rateLimits: [{ id: 'per-tool', per: ['caller', 'tool'], limit: 2, window: '1h' }] };
    const stage = stageFor(() => support, policy);
    list(stage);
    expect([call(stage, 'read_ticket'), call(stage, 'read_ticket')]).toEqual(['forwarded', 'forwarded']);
    expect(call(stage, 'read_ticket')).toMatchObject({ data: { airlock: 'AIRLOCK_RATE_LIMITED', rule: 'per-tool' } });
    const answers = Array.from({ length: 10_000 }, (_, i) => call(stage, `made-up-${i}`));
    expect(answers.filter((a) => a === 'forwarded')).toHaveLength(2);
    expect(call(stage, 'read_ticket')).toMatchObject({ data: { airlock: 'AIRLOCK_RATE_LIMITED', rule: 'per-tool' } });
    expect(call(stage, 'fetch_url')).toBe('forwarded'); // a listed tool still has a count of its own
  });
});
