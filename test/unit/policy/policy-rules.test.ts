import { describe, expect, it } from 'vitest';
import { ANONYMOUS, callerFromPrincipal, type Caller } from '../../../src/policy/caller.js';
import { parsePolicy } from '../../../src/policy/policy-file.js';
import { AccessRules, globsToRegExp, type CallContext } from '../../../src/policy/policy-rules.js';
import type { ToolAnnotations } from '../../../src/policy/policy-document.js';

const rulesOf = (rules: unknown[]): AccessRules => new AccessRules(parsePolicy(JSON.stringify({ rules }), 'p.json').rules);

const alice = callerFromPrincipal({ issuer: 'https://idp', subject: 'alice', clientId: 'vscode', scopes: ['mcp:read'], groups: ['support', 'eng-platform'], roles: ['viewer'] });
const bob = callerFromPrincipal({ issuer: 'https://idp', subject: 'bob', clientId: 'cursor', scopes: ['mcp:read', 'mcp:write'], groups: ['billing'] });
const agent = callerFromPrincipal({ issuer: 'https://idp', subject: 'alice', clientId: 'gateway', scopes: ['mcp:read'], actors: [{ subject: 'agent-7' }, { subject: 'orchestrator' }] });

const call = (tool: string, caller: Caller, annotations: ToolAnnotations = {}, labels: string[] = []): CallContext => ({ tool, caller, annotations, labels });
const verdict = (rules: AccessRules, context: CallContext): string => {
  const decision = rules.decide(context);
  return decision.allowed ? `allow ${decision.rule?.id ?? '(no rules)'}` : `deny ${decision.rule?.id ?? '(default)'}: ${decision.why}`;
};

describe('globsToRegExp', () => {
  it('joins globs into one whole-name pattern', () => {
    const re = globsToRegExp(['read_*', 'search', 'get?']);
    expect(['read_file', 'search', 'gets'].map((t) => re.test(t))).toEqual([true, true, true]);
    expect(['search_web', 'xread_file', 'get', 'a.b'].map((t) => re.test(t))).toEqual([false, false, false, false]);
    expect(globsToRegExp(['a.b']).test('axb')).toBe(false);
    expect(globsToRegExp(['read_*', 'delete_*']).test('delete_\nfile')).toBe(true); // issue 20: line breaks too
  });
});

describe('AccessRules', () => {
  const rules = rulesOf([
    { id: 'support-reads', effect: 'allow', tools: 'read_*', principal: { groups: ['support'] } },
    { id: 'billing-refunds', effect: 'allow', tools: ['read_*', 'refund_*'], principal: { groups: 'billing', scopes: ['mcp:write'] } },
    { id: 'no-destructive-for-delegates', effect: 'deny', annotations: { destructiveHint: true }, principal: { delegated: true }, reason: 'a person must do this' },
    { id: 'agents', effect: 'allow', principal: { actor: 'agent-*' } },
  ]);

  it('allows by the first matching allow rule, per caller', () => {
    expect(verdict(rules, call('read_file', alice))).toBe('allow support-reads');
    expect(verdict(rules, call('read_file', bob))).toBe('allow billing-refunds');
    expect(verdict(rules, call('refund_order', bob))).toBe('allow billing-refunds');
  });

  it('denies by default once there are rules, saying so', () => {
    expect(verdict(rules, call('refund_order', alice))).toBe('deny (default): no policy rule allows it for this caller (a policy with rules denies by default)');
    expect(verdict(rules, call('read_file', ANONYMOUS))).toBe('deny (default): no policy rule allows it for this caller (a policy with rules denies by default)');
  });

  it('scopes are all required; groups any of', () => {
    const bobWithoutWrite = { ...bob, scopes: ['mcp:read'] };
    expect(verdict(rules, call('refund_order', bobWithoutWrite))).toMatch(/^deny \(default\)/);
    const both = { ...alice, groups: ['billing'], scopes: ['mcp:write', 'mcp:read'] };
    expect(verdict(rules, call('refund_order', both))).toBe('allow billing-refunds');
  });

  it('deny wins over an allow that also matches, whatever the order', () => {
    // agent-7 acting for alice: `agents` allows any tool, and the deny rule for destructive ones sits before it.
    expect(verdict(rules, call('update', agent, { destructiveHint: false }))).toBe('allow agents');
    expect(verdict(rules, call('update', agent, {}))).toBe('deny no-destructive-for-delegates: denied by policy rule "no-destructive-for-delegates": a person must do this');
    const reversed = rulesOf([
      { id: 'allow-all', effect: 'allow' },
      { id: 'deny-delete', effect: 'deny', tools: 'delete_*' },
    ]);
    expect(verdict(reversed, call('delete_repo', alice))).toBe('deny deny-delete: denied by policy rule "deny-delete"');
    expect(verdict(reversed, call('create_repo', alice))).toBe('allow allow-all');
  });

  it('reads missing annotations as the spec defaults (not read-only, destructive, open world)', () => {
    const byHints = rulesOf([
      { id: 'reads', effect: 'allow', annotations: { readOnlyHint: true } },
      { id: 'closed', effect: 'allow', annotations: { openWorldHint: false, destructiveHint: false } },
    ]);
    expect(verdict(byHints, call('t', alice, {}))).toMatch(/^deny \(default\)/);
    expect(verdict(byHints, call('t', alice, { readOnlyHint: true }))).toBe('allow reads');
    expect(verdict(byHints, call('t', alice, { openWorldHint: false }))).toMatch(/^deny \(default\)/); // destructive by default
    expect(verdict(byHints, call('t', alice, { openWorldHint: false, destructiveHint: false }))).toBe('allow closed');
  });

  it('a read-only tool is never destructive, and always idempotent, whatever those hints say (they are meaningless then)', () => {
    const byHints = rulesOf([
      { id: 'destructive', effect: 'deny', annotations: { destructiveHint: true } },
      { id: 'idempotent', effect: 'allow', annotations: { idempotentHint: true } },
    ]);
    expect(verdict(byHints, call('read', alice, { readOnlyHint: true }))).toBe('allow idempotent');
    expect(verdict(byHints, call('read', alice, { readOnlyHint: true, destructiveHint: true, idempotentHint: false }))).toBe('allow idempotent');
    expect(verdict(byHints, call('write', alice, { idempotentHint: true }))).toMatch(/^deny destructive/);
    expect(verdict(byHints, call('write', alice, { idempotentHint: true, destructiveHint: false }))).toBe('allow idempotent');
  });

  it('matches the current actor, not earlier ones, and delegated both ways', () => {
    const byActor = rulesOf([
      { id: 'orchestrator', effect: 'allow', principal: { actor: 'orchestrator' } },
      { id: 'direct', effect: 'allow', tools: 'direct_*', principal: { delegated: false } },
    ]);
    expect(verdict(byActor, call('x', agent))).toMatch(/^deny \(default\)/);
    expect(verdict(byActor, call('x', { ...agent, actors: ['orchestrator'] }))).toBe('allow orchestrator');
    expect(verdict(byActor, call('direct_x', alice))).toBe('allow direct');
    expect(verdict(byActor, call('direct_x', agent))).toMatch(/^deny \(default\)/);
  });

  it('matches subject, issuer, client id, roles and labels', () => {
    const byWho = rulesOf([
      { id: 's', effect: 'allow', tools: 's', principal: { subject: 'al*' } },
      { id: 'i', effect: 'allow', tools: 'i', principal: { issuer: 'https://other' } },
      { id: 'c', effect: 'allow', tools: 'c', principal: { clientId: ['cursor', 'zed'] } },
      { id: 'r', effect: 'allow', tools: 'r', principal: { roles: 'view*' } },
      { id: 'l', effect: 'allow', labels: ['private-data'] },
    ]);
    expect([verdict(byWho, call('s', alice)), verdict(byWho, call('s', bob))]).toEqual(['allow s', expect.stringMatching(/^deny/)]);
    expect(verdict(byWho, call('i', alice))).toMatch(/^deny/);
    expect([verdict(byWho, call('c', alice)), verdict(byWho, call('c', bob))]).toEqual([expect.stringMatching(/^deny/), 'allow c']);
    expect([verdict(byWho, call('r', alice)), verdict(byWho, call('r', bob))]).toEqual(['allow r', expect.stringMatching(/^deny/)]);
    expect([verdict(byWho, call('x', bob, {}, ['private-data'])), verdict(byWho, call('x', bob, {}, ['untrusted-content']))]).toEqual(['allow l', expect.stringMatching(/^deny/)]);
  });

  it('without rules allows everything (the flat members decide alone)', () => {
    expect(verdict(new AccessRules([]), call('anything', ANONYMOUS))).toBe('allow (no rules)');
  });

  it('traces which condition kept each rule from matching', () => {
    expect(rules.trace(call('refund_order', alice)).map((t) => [t.rule.id, t.mismatch])).toEqual([
      ['support-reads', 'tools'],
      ['billing-refunds', 'principal.groups'],
      ['no-destructive-for-delegates', 'principal.delegated'],
      ['agents', 'principal.actor'],
    ]);
  });
});
