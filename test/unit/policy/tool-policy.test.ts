import { describe, expect, it } from 'vitest';
import type { JSONRPCMessage } from '../../../src/bridge/json-rpc.js';
import { messageText, rememberText } from '../../../src/bridge/message-text.js';
import { ANONYMOUS } from '../../../src/policy/caller.js';
import { emptyPolicy } from '../../../src/policy/policy-document.js';
import { compilePolicy, type PolicyStage } from '../../../src/policy/policy-stage.js';
import { globToRegExp, ToolPolicy } from '../../../src/policy/tool-policy.js';

const policy = (allow: string[] = [], deny: string[] = [], readOnly = false) => new ToolPolicy({ allow, deny, readOnly });
/** The flat flags as the bridge runs them: the policy stage of a policy with no file. */
const stage = (allow: string[] = [], deny: string[] = [], readOnly = false): PolicyStage =>
  compilePolicy({ ...emptyPolicy(), tools: { allow, deny, readOnly } }).stageFor(() => ANONYMOUS)!;
const call = (name: string, id = 1) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: {} } }) as JSONRPCMessage;
const listResult = (tools: Array<{ name: string; annotations?: { readOnlyHint?: boolean } }>) =>
  ({ jsonrpc: '2.0', id: 9, result: { tools, nextCursor: 'c2' } }) as JSONRPCMessage;
const listed = { method: 'tools/list' };

describe('globToRegExp', () => {
  it('matches whole names with * and ?, and takes every other character literally', () => {
    expect(globToRegExp('delete_*').test('delete_file')).toBe(true);
    expect(globToRegExp('delete_*').test('undelete_file')).toBe(false);
    expect(globToRegExp('get?').test('gets')).toBe(true);
    expect(globToRegExp('get?').test('get')).toBe(false);
    expect(globToRegExp('a.b+(c)').test('a.b+(c)')).toBe(true);
    expect(globToRegExp('a.b').test('axb')).toBe(false);
  });

  // Issue 20: `.` left line breaks out, so "delete_\nfile" passed a `delete_*` deny.
  it('* and ? match line breaks too', () => {
    expect(globToRegExp('delete_*').test('delete_\nfile')).toBe(true);
    expect(globToRegExp('*').test('x\r\ny')).toBe(true);
    expect(globToRegExp('a?b').test('a\nb')).toBe(true);
    expect(new ToolPolicy({ allow: [], deny: ['delete_*'], readOnly: false }).refusal('delete_\u2028file', undefined)).toBe('denied by "delete_*" (--deny-tool, or denyTools in the policy file)');
  });
});

describe('ToolPolicy', () => {
  it('names the rule that hides a tool; deny wins over allow', () => {
    const p = policy(['read_*', 'search'], ['read_secrets']);
    expect(p.refusal('read_file', undefined)).toBeUndefined();
    expect(p.refusal('search', undefined)).toBeUndefined();
    expect(p.refusal('read_secrets', undefined)).toBe('denied by "read_secrets" (--deny-tool, or denyTools in the policy file)');
    expect(p.refusal('write_file', undefined)).toBe('not matched by any allow pattern ("read_*", "search": --allow-tool, or allowTools in the policy file)');
  });

  it('is inactive without rules, so the bridge can skip it', () => {
    expect(policy().active).toBe(false);
    expect(policy([], [], true).active).toBe(true);
    expect(compilePolicy(emptyPolicy()).stageFor(() => ANONYMOUS)).toBeUndefined();
  });
});

describe('the flat flags as a bridge stage', () => {
  it('filters tools/list into a new message and keeps the rest of the result', () => {
    const original = listResult([{ name: 'read_file' }, { name: 'delete_file' }]);
    rememberText(original, JSON.stringify(original));
    const filtered = stage([], ['delete_*']).fromServer(original, listed)!;
    expect(filtered).toEqual({ jsonrpc: '2.0', id: 9, result: { tools: [{ name: 'read_file' }], nextCursor: 'c2' } });
    expect(messageText(filtered)).not.toContain('delete_file'); // the original text is not reused
    expect((original as { result: { tools: unknown[] } }).result.tools).toHaveLength(2); // not mutated
  });

  it('leaves responses to other methods, and lists it does not change, alone', () => {
    const p = stage([], ['x']);
    expect(p.fromServer(listResult([{ name: 'x' }]), { method: 'resources/list' })).toBeUndefined();
    expect(p.fromServer(listResult([{ name: 'y' }]), listed)).toBeUndefined();
  });

  it('answers a call to a denied tool itself, with the rule, code -32602 and a stable data code', () => {
    const verdict = stage([], ['delete_*']).fromClient(call('delete_file', 42));
    expect(verdict?.reply).toEqual({
      jsonrpc: '2.0',
      id: 42,
      error: {
        code: -32602,
        message: 'mcp-airlock tool policy: tool "delete_file" is not available: denied by "delete_*" (--deny-tool, or denyTools in the policy file)',
        data: { airlock: 'AIRLOCK_POLICY_DENIED', tool: 'delete_file' },
      },
    });
    expect(stage([], ['delete_*']).fromClient(call('read_file'))).toBeUndefined();
    expect(stage([], ['x']).fromClient({ jsonrpc: '2.0', id: 1, method: 'tools/list' } as JSONRPCMessage)).toBeUndefined();
  });

  it('--read-only: keeps only tools marked readOnlyHint, and allows calls only to those it has seen listed', () => {
    const p = stage([], [], true);
    expect(p.fromClient(call('echo'))?.reply).toMatchObject({ error: { message: expect.stringContaining('--read-only (or readOnly in the policy file), and no tools/list from the server marked it readOnlyHint') } });
    const filtered = p.fromServer(listResult([{ name: 'echo', annotations: { readOnlyHint: true } }, { name: 'rm', annotations: { readOnlyHint: false } }, { name: 'plain' }]), listed)!;
    expect((filtered as { result: { tools: Array<{ name: string }> } }).result.tools.map((t) => t.name)).toEqual(['echo']);
    expect(p.fromClient(call('echo'))).toBeUndefined();
    expect(p.fromClient(call('rm'))).toBeDefined();
  });
});
