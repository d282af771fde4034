/**
 * The access rules of a policy file, compiled once and evaluated on every tools/call and for
 * every tool of a tools/list answer. A rule matches when every condition it states matches:
 * tool name globs, tool annotations, tool labels, and the caller (principal.*). Among the rules
 * that match, a `deny` wins over any `allow`, whatever their order; with no matching `deny`, the
 * first matching `allow` decides. A policy with rules is deny-by-default: a tool no rule allows is
 * refused (and hidden from tools/list). Without rules, everything the flat members let through
 * is allowed, as before.
 *
 * Every condition compiles to one RegExp or a set lookup, so a 50-rule file costs a few
 * microseconds per call (measured by `npm run bench`).
 */
import type { Caller } from './caller.js';
import { hintValue, type AccessRule, type AnnotationHint, type PrincipalCondition, type ToolAnnotations } from './policy-document.js';
import { globToRegExp } from './tool-policy.js';

/** The `rule` an audit record names when no rule allowed the call (never a valid rule id). */
export const DEFAULT_DENY = '(default deny)';

/** What a call is checked against: the tool as the server described it, and who calls. */
export interface CallContext {
  tool: string;
  annotations: ToolAnnotations;
  labels: readonly string[];
  caller: Caller;
}

export type Decision =
  | { allowed: true; rule: AccessRule | undefined }
  | { allowed: false; rule: AccessRule | undefined; why: string };

/** Which condition of a rule did not match (a constant, so evaluation allocates nothing). */
export type Mismatch = 'tools' | AnnotationHint | 'labels' | `principal.${keyof PrincipalCondition}`;

/** Globs joined into one anchored RegExp: `["read_*", "search"]` -> /^(?:read_.*|search)$/. */
export function globsToRegExp(globs: readonly string[]): RegExp {
  if (globs.length === 1) return globToRegExp(globs[0]!);
  return new RegExp(`^(?:${globs.map((g) => globToRegExp(g).source.slice(1, -1)).join('|')})$`, 's');
}

interface CompiledPrincipal {
  subject?: RegExp;
  issuer?: RegExp;
  clientId?: RegExp;
  groups?: RegExp;
  roles?: RegExp;
  scopes?: readonly string[];
  actor?: RegExp;
  delegated?: boolean;
}

export interface CompiledRule {
  rule: AccessRule;
  tools: RegExp | undefined;
  annotations: Array<[AnnotationHint, boolean]>;
  labels: readonly string[] | undefined;
  principal: CompiledPrincipal | undefined;
}

export function compilePrincipal(condition: PrincipalCondition | undefined): CompiledPrincipal | undefined {
  if (condition === undefined) return undefined;
  const compiled: CompiledPrincipal = {};
  for (const member of ['subject', 'issuer', 'clientId', 'groups', 'roles', 'actor'] as const) {
    const globs = condition[member];
    if (globs) compiled[member] = globsToRegExp(globs);
  }
  if (condition.scopes) compiled.scopes = condition.scopes;
  if (condition.delegated !== undefined) compiled.delegated = condition.delegated;
  return compiled;
}

/** The first condition of `p` the caller fails, or undefined when it matches. */
export function principalMismatch(p: CompiledPrincipal, caller: Caller): Mismatch | undefined {
  if (p.subject && !(caller.subject !== undefined && p.subject.test(caller.subject))) return 'principal.subject';
  if (p.issuer && !(caller.issuer !== undefined && p.issuer.test(caller.issuer))) return 'principal.issuer';
  if (p.clientId && !(caller.clientId !== undefined && p.clientId.test(caller.clientId))) return 'principal.clientId';
  if (p.groups && !caller.groups.some((g) => p.groups!.test(g))) return 'principal.groups';
  if (p.roles && !caller.roles.some((r) => p.roles!.test(r))) return 'principal.roles';
  if (p.scopes && !p.scopes.every((s) => caller.scopes.includes(s))) return 'principal.scopes';
  if (p.actor && !(caller.actors.length > 0 && p.actor.test(caller.actors[0]!))) return 'principal.actor';
  if (p.delegated !== undefined && p.delegated !== caller.delegated) return 'principal.delegated';
  return undefined;
}

export class AccessRules {
  readonly rules: readonly CompiledRule[];
  private readonly denies: readonly CompiledRule[];
  private readonly allows: readonly CompiledRule[];

  constructor(rules: readonly AccessRule[]) {
    this.rules = rules.map((rule) => ({
      rule,
      tools: rule.tools.length === 1 && rule.tools[0] === '*' ? undefined : globsToRegExp(rule.tools),
      annotations: Object.entries(rule.annotations) as Array<[AnnotationHint, boolean]>,
      labels: rule.labels,
      principal: compilePrincipal(rule.principal),
    }));
    this.denies = this.rules.filter((r) => r.rule.effect === 'deny');
    this.allows = this.rules.filter((r) => r.rule.effect === 'allow');
  }

  decide(call: CallContext): Decision {
    for (const compiled of this.denies) {
      if (mismatch(compiled, call) === undefined) {
        const reason = compiled.rule.reason === undefined ? '' : `: ${compiled.rule.reason}`;
        return { allowed: false, rule: compiled.rule, why: `denied by policy rule ${JSON.stringify(compiled.rule.id)}${reason}` };
      }
    }
    for (const compiled of this.allows) {
      if (mismatch(compiled, call) === undefined) return { allowed: true, rule: compiled.rule };
    }
    if (this.rules.length === 0) return { allowed: true, rule: undefined };
    return { allowed: false, rule: undefined, why: 'no policy rule allows it for this caller (a policy with rules denies by default)' };
  }

  /** Every rule with what kept it from matching, in file order (for `policy explain`). */
  trace(call: CallContext): Array<{ rule: AccessRule; mismatch: Mismatch | undefined }> {
    return this.rules.map((compiled) => ({ rule: compiled.rule, mismatch: mismatch(compiled, call) }));
  }
}

/** The first condition of the rule the call fails, or undefined when the rule matches. */
export function mismatch(compiled: CompiledRule, call: CallContext): Mismatch | undefined {
  if (compiled.tools && !compiled.tools.test(call.tool)) return 'tools';
  for (const [hint, wanted] of compiled.annotations) {
    if (hintValue(call.annotations, hint) !== wanted) return hint;
  }
  if (compiled.labels && !compiled.labels.some((l) => call.labels.includes(l))) return 'labels';
  return compiled.principal ? principalMismatch(compiled.principal, call.caller) : undefined;
}
