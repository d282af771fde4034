/**
 * `mcp-airlock policy explain`: which rule decides a call, for a caller and a tool given on the
 * command line, and why every other rule did not match. It runs the evaluator the bridge runs
 * (policy-rules.ts, session-flow.ts), so what it says is what airlock does.
 */
import { describeCaller, type Caller } from './caller.js';
import { ANNOTATION_HINTS, hintValue, type AccessRule, type AnnotationHint, type PolicyDocument, type ToolAnnotations } from './policy-document.js';
import { AccessRules, DEFAULT_DENY, type Mismatch } from './policy-rules.js';
import { RateLimiter } from './rate-limit.js';
import { SessionFlow, ToolLabeler } from './session-flow.js';
import { ToolPolicy } from './tool-policy.js';

export interface ExplainInput {
  tool: string;
  caller: Caller;
  annotations: ToolAnnotations;
  /** Labels the session has already used (for flow rules). */
  seen: string[];
}

export interface RuleTrace {
  id: string;
  effect: 'allow' | 'deny';
  line: number;
  column: number;
  matches: boolean;
  /** Why it does not match, in words. */
  because?: string;
}

export interface Explanation {
  tool: string;
  caller: string;
  annotations: Record<AnnotationHint, boolean>;
  labels: string[];
  labelSource: 'policy' | 'annotations' | 'none';
  verdict: 'allow' | 'deny';
  /** What decided: a rule (by id), the flat members, the default of a policy with rules, a flow rule, or nothing (no rules). */
  decidedBy: { kind: 'rule' | 'flat' | 'default' | 'flow' | 'none'; id?: string; line?: number; column?: number };
  reason: string;
  rules: RuleTrace[];
  flows: Array<{ id: string; refusesNow: boolean; deny: string[]; after: string[] }>;
  rateLimits: Array<{ id: string; limit: number; window: string; per: string[]; burst: number }>;
}

export function explainCall(policy: PolicyDocument, input: ExplainInput): Explanation {
  const { tool, caller } = input;
  const annotations = Object.fromEntries(ANNOTATION_HINTS.map((hint) => [hint, hintValue(input.annotations, hint)])) as Record<AnnotationHint, boolean>;
  const { labels, source } = new ToolLabeler(policy.labels, policy.labelsFromAnnotations).labelsOf(tool, input.annotations);
  const rules = new AccessRules(policy.rules);
  const context = { tool, caller, annotations: input.annotations, labels };
  const traces = rules.trace(context).map(({ rule, mismatch }) => ({
    id: rule.id,
    effect: rule.effect,
    ...rule.location,
    matches: mismatch === undefined,
    ...(mismatch === undefined ? {} : { because: describeMismatch(rule, mismatch, context) }),
  }));
  const flow = new SessionFlow(policy.flows);
  for (const label of input.seen) flow.record(`(a ${label} tool)`, [label]);
  const refusal = flow.check(tool, labels);
  const flows = policy.flows.map((f) => ({ id: f.id, refusesNow: refusal?.rule === f, deny: f.deny, after: f.after }));
  const limiter = new RateLimiter(policy.rateLimits);
  const rateLimits = limiter.applicable(caller, tool).map((r) => ({ id: r.id, limit: r.limit, window: r.window, per: r.per, burst: r.burst }));
  const base = { tool, caller: describeCaller(caller), annotations, labels, labelSource: source, rules: traces, flows, rateLimits };

  const flat = new ToolPolicy(policy.tools).refusal(tool, input.annotations.readOnlyHint);
  if (flat !== undefined) return { ...base, verdict: 'deny', decidedBy: { kind: 'flat' }, reason: flat };
  const decision = rules.decide(context);
  if (!decision.allowed) {
    const decidedBy = decision.rule ? { kind: 'rule' as const, id: decision.rule.id, ...decision.rule.location } : { kind: 'default' as const, id: DEFAULT_DENY };
    return { ...base, verdict: 'deny', decidedBy, reason: decision.why };
  }
  if (refusal) return { ...base, verdict: 'deny', decidedBy: { kind: 'flow', id: refusal.rule.id, ...refusal.rule.location }, reason: refusal.message };
  if (decision.rule) return { ...base, verdict: 'allow', decidedBy: { kind: 'rule', id: decision.rule.id, ...decision.rule.location }, reason: `allowed by policy rule ${JSON.stringify(decision.rule.id)}, and no deny rule matches` };
  return { ...base, verdict: 'allow', decidedBy: { kind: 'none' }, reason: 'the policy has no rules, and the flat members let it through' };
}

function list(values: readonly string[]): string {
  return values.length === 0 ? 'none' : values.map((v) => JSON.stringify(v)).join(', ');
}

function describeMismatch(rule: AccessRule, mismatch: Mismatch, call: { tool: string; caller: Caller; annotations: ToolAnnotations; labels: readonly string[] }): string {
  const { caller } = call;
  const p = rule.principal ?? {};
  switch (mismatch) {
    case 'tools':
      return `the tool is not one of ${list(rule.tools)}`;
    case 'labels':
      return `the tool's labels (${list(call.labels)}) include none of ${list(rule.labels ?? [])}`;
    case 'principal.subject':
      return `subject ${caller.subject === undefined ? 'unknown' : JSON.stringify(caller.subject)} is not one of ${list(p.subject ?? [])}`;
    case 'principal.issuer':
      return `issuer ${caller.issuer === undefined ? 'unknown' : JSON.stringify(caller.issuer)} is not one of ${list(p.issuer ?? [])}`;
    case 'principal.clientId':
      return `client ${caller.clientId === undefined ? 'unknown' : JSON.stringify(caller.clientId)} is not one of ${list(p.clientId ?? [])}`;
    case 'principal.groups':
      return `groups ${list(caller.groups)} include none of ${list(p.groups ?? [])}`;
    case 'principal.roles':
      return `roles ${list(caller.roles)} include none of ${list(p.roles ?? [])}`;
    case 'principal.scopes':
      return `scopes ${list(caller.scopes)} lack ${list((p.scopes ?? []).filter((s) => !caller.scopes.includes(s)))}`;
    case 'principal.actor':
      return caller.actors.length === 0 ? 'the token is not delegated (no act claim)' : `actor ${JSON.stringify(caller.actors[0])} is not one of ${list(p.actor ?? [])}`;
    case 'principal.delegated':
      return p.delegated ? 'the token is not delegated (no act claim)' : `the token is delegated (actor ${JSON.stringify(caller.actors[0])})`;
    default: {
      const actual = hintValue(call.annotations, mismatch);
      const readOnly = mismatch !== 'readOnlyHint' && mismatch !== 'openWorldHint' && hintValue(call.annotations, 'readOnlyHint');
      const given = readOnly ? ' (the tool is read-only)' : call.annotations[mismatch] === undefined ? ' (not given: the spec default)' : '';
      return `${mismatch} is ${actual}${given}, the rule wants ${rule.annotations[mismatch]}`;
    }
  }
}

/** The explanation for a person. */
export function formatExplanation(e: Explanation, file: string): string {
  const out: string[] = [];
  out.push(`${file}: tool ${JSON.stringify(e.tool)} called by ${e.caller}`);
  out.push(`  annotations: ${Object.entries(e.annotations).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  out.push(`  labels: ${e.labels.length === 0 ? 'none' : e.labels.join(', ')}${e.labelSource === 'none' ? '' : ` (from the ${e.labelSource === 'policy' ? 'policy' : 'annotations'})`}`);
  if (e.rules.length > 0) {
    out.push('', 'rules (deny wins; without a matching rule, deny):');
    for (const r of e.rules) out.push(`  line ${String(r.line).padEnd(4)} ${r.effect.padEnd(5)} ${JSON.stringify(r.id)}: ${r.matches ? 'MATCHES' : `no: ${r.because}`}`);
  }
  const where = e.decidedBy.line === undefined ? '' : ` (line ${e.decidedBy.line})`;
  out.push('', `verdict: ${e.verdict === 'allow' ? 'ALLOWED' : 'DENIED'}${where}: ${e.reason}`);
  for (const f of e.flows) out.push(`flow rule ${JSON.stringify(f.id)}: ${f.refusesNow ? 'refuses it now' : `refuses ${f.deny.join(' or ')} after ${f.after.join(' and ')}`}`);
  for (const l of e.rateLimits) out.push(`rate limit ${JSON.stringify(l.id)} applies: ${l.limit} per ${l.window} per ${l.per.length === 0 ? 'everybody' : l.per.join(' and ')} (burst ${l.burst})`);
  return out.join('\n');
}
