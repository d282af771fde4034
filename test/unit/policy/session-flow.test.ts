import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../../src/policy/policy-file.js';
import { labelsFromAnnotations, SessionFlow, ToolLabeler } from '../../../src/policy/session-flow.js';

const flowsOf = (flows: unknown[], labels: Record<string, unknown> = {}) => parsePolicy(JSON.stringify({ flows, labels }), 'p.json').flows;
const EXFILTRATION = { id: 'no-exfiltration', deny: 'external-communication', after: ['private-data', 'untrusted-content'] };

describe('labelsFromAnnotations (documented reading of the hints)', () => {
  it('read-only closed world is private data; read-only open world untrusted content; writing to the open world external communication', () => {
    expect(labelsFromAnnotations({ readOnlyHint: true, openWorldHint: false })).toEqual(['private-data']);
    expect(labelsFromAnnotations({ readOnlyHint: true, openWorldHint: true })).toEqual(['untrusted-content']);
    expect(labelsFromAnnotations({ readOnlyHint: false, openWorldHint: true })).toEqual(['external-communication']);
    expect(labelsFromAnnotations({ readOnlyHint: false, openWorldHint: false })).toEqual([]);
  });

  it('reads absent hints as the spec defaults: an undescribed tool may communicate externally', () => {
    expect(labelsFromAnnotations({})).toEqual(['external-communication']);
    expect(labelsFromAnnotations({ readOnlyHint: true })).toEqual(['untrusted-content']);
  });
});

describe('ToolLabeler', () => {
  it('the policy\'s labels win over the annotations for the tools they name', () => {
    const labeler = new ToolLabeler({ 'private-data': ['read_*', 'query'], pii: ['read_customer'] }, true);
    expect(labeler.labelsOf('read_customer', { readOnlyHint: true })).toEqual({ labels: ['private-data', 'pii'], source: 'policy' });
    expect(labeler.labelsOf('query', {})).toEqual({ labels: ['private-data'], source: 'policy' });
    expect(labeler.labelsOf('fetch', { readOnlyHint: true })).toEqual({ labels: ['untrusted-content'], source: 'annotations' });
    expect(labeler.labelsOf('local_write', { openWorldHint: false })).toEqual({ labels: [], source: 'none' });
  });

  it('labelsFromAnnotations: false labels only what the policy names', () => {
    const labeler = new ToolLabeler({ 'external-communication': ['send_*'] }, false);
    expect(labeler.labelsOf('send_mail', {})).toEqual({ labels: ['external-communication'], source: 'policy' });
    expect(labeler.labelsOf('post', {})).toEqual({ labels: [], source: 'none' });
  });
});

describe('SessionFlow', () => {
  it('refuses external communication after private data and untrusted content, naming the earlier calls', () => {
    const flow = new SessionFlow(flowsOf([EXFILTRATION]));
    expect(flow.check('read_file', ['private-data'])).toBeUndefined();
    flow.record('read_file', ['private-data']);
    expect(flow.check('send_email', ['external-communication'])).toBeUndefined(); // only one of the two so far
    flow.record('fetch_url', ['untrusted-content']);
    flow.record('read_db', ['private-data']);
    const refused = flow.check('send_email', ['external-communication'])!;
    expect(refused.rule.id).toBe('no-exfiltration');
    expect(refused.message).toBe(
      'refused by flow rule "no-exfiltration": this session already called "read_file" (private-data) and "fetch_url" (untrusted-content), and "send_email" is external-communication; data those calls returned could leave through this one',
    );
    expect(flow.check('read_file', ['private-data'])).toBeUndefined(); // reading stays allowed
  });

  it('the same tools in another order pass: sending before reading leaks nothing', () => {
    const flow = new SessionFlow(flowsOf([EXFILTRATION]));
    for (const [tool, label] of [['send_email', 'external-communication'], ['read_file', 'private-data'], ['fetch_url', 'untrusted-content']] as const) {
      expect(flow.check(tool, [label])).toBeUndefined();
      flow.record(tool, [label]);
    }
    expect(flow.check('send_email', ['external-communication'])).toBeDefined(); // but not a fourth call
  });

  it('uses the rule\'s own reason and custom labels', () => {
    const flow = new SessionFlow(flowsOf([{ id: 'crm', deny: ['external-communication', 'publish'], after: 'pii', reason: 'customer data stays in' }], { pii: 'crm_*', publish: 'post_*' }));
    flow.record('crm_lookup', ['pii']);
    expect(flow.check('post_tweet', ['publish'])?.message).toBe('refused by flow rule "crm": this session already called "crm_lookup" (pii), and "post_tweet" is publish; customer data stays in');
  });

  it('sessions do not share history', () => {
    const rules = flowsOf([EXFILTRATION]);
    const first = new SessionFlow(rules);
    first.record('a', ['private-data', 'untrusted-content']);
    expect(first.check('x', ['external-communication'])).toBeDefined();
    expect(new SessionFlow(rules).check('x', ['external-communication'])).toBeUndefined();
    expect([...first.history()]).toEqual([['private-data', 'a'], ['untrusted-content', 'a']]);
  });
});
