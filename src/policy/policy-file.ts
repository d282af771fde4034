/**
 * The policy file (`--policy-file`, `mcp-airlock policy check`): JSON, described by
 * schemas/policy.schema.json. The flat members of the first format still work as they did:
 *
 *     { "allowTools": ["read_*", "search"], "denyTools": ["*delete*"], "readOnly": false }
 *
 * and identity-bound rules, rate limits, labels and flow rules come on top (see docs/policy.md, "Policy
 * file"). Strict on purpose: an unknown member, a wrong type or a duplicate member is an error
 * with the line and column of the offending key, never ignored, because a typo in a deny rule
 * would otherwise let the tool through.
 */
import { readFile } from 'node:fs/promises';
import { AirlockError, describeError, quote } from '../errors.js';
import { JsonSyntaxError, parseLocatedJson, type JsonLocation, type LocatedJson } from './json-locations.js';
import {
  ANNOTATION_HINTS,
  DEFAULT_CLAIM_NAMES,
  emptyPolicy,
  FLOW_LABELS,
  PER_KEYS,
  type AccessRule,
  type FlowRule,
  type PerKey,
  type PolicyDocument,
  type PrincipalCondition,
  type RateLimitRule,
  type ToolAnnotations,
} from './policy-document.js';

/** One problem in a policy file, where it is and what is wrong. */
export interface PolicyIssue extends JsonLocation {
  /** JSON Pointer (RFC 6901) of the offending member. */
  pointer: string;
  message: string;
}

export const TOP_MEMBERS = ['$schema', 'allowTools', 'denyTools', 'readOnly', 'claims', 'rules', 'rateLimits', 'labels', 'labelsFromAnnotations', 'flows'] as const;
export const RULE_MEMBERS = ['id', 'effect', 'tools', 'annotations', 'labels', 'principal', 'reason'] as const;
export const PRINCIPAL_MEMBERS = ['subject', 'issuer', 'clientId', 'groups', 'roles', 'scopes', 'actor', 'delegated'] as const;
export const RATE_LIMIT_MEMBERS = ['id', 'tools', 'per', 'limit', 'window', 'burst', 'principal'] as const;
export const FLOW_MEMBERS = ['id', 'deny', 'after', 'reason'] as const;
export const CLAIMS_MEMBERS = ['groups', 'roles'] as const;

/** Rule ids and label names (schemas/policy.schema.json has the same patterns). */
export const ID = /^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,99}$/;
export const LABEL = /^[a-z][a-z0-9-]{0,63}$/;
const WINDOW = /^(\d+(?:\.\d+)?)\s*(s|m|h|d)$/;
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };
const HINT = 'Run `mcp-airlock policy check FILE` to see every problem; the format is in docs/policy.md, "Policy file".';

export async function readPolicyFile(path: string): Promise<PolicyDocument> {
  return parsePolicy(await readPolicyText(path), path);
}

export async function readPolicyText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new AirlockError('AIRLOCK_POLICY_FILE', `cannot read the policy file ${quote(path)}: ${describeError(error)}`, {
      hint: 'Check the path of the policy file (--policy-file, or the argument of `mcp-airlock policy`).',
      cause: error,
    });
  }
}

/** The policy in `text`, or an AirlockError naming the first problem and its position. */
export function parsePolicy(text: string, where: string): PolicyDocument {
  const { policy, issues } = checkPolicy(text);
  const first = issues[0];
  if (policy && !first) return policy;
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more problem${issues.length > 2 ? 's' : ''})` : '';
  throw new AirlockError('AIRLOCK_POLICY_FILE', `policy file ${quote(where)} line ${first!.line}, column ${first!.column}: ${first!.message}${more}`, { hint: HINT });
}

/**
 * Parse `text` and hand it to `read`, which checks it member by member: what it read and its
 * issues, in file order. Text that is not JSON is one issue, and nothing is read. For every file
 * checked with line and column (the policy file, the servers file).
 */
export function readLocated<T, I extends PolicyIssue>(text: string, read: (json: LocatedJson) => { value: T; issues: I[] }): { value?: T; issues: Array<I | PolicyIssue> } {
  let located: LocatedJson;
  try {
    located = parseLocatedJson(text);
  } catch (error) {
    if (!(error instanceof JsonSyntaxError)) throw error;
    return { issues: [{ pointer: '', ...error.location, message: `not valid JSON: ${error.reason}` }] };
  }
  const { value, issues } = read(located);
  // In file order, as a reader goes through the file (the checks run member by member).
  return { value, issues: issues.sort((a, b) => a.line - b.line || a.column - b.column) };
}

/** Every problem in `text` (for `policy check`), and the policy when there is none. */
export function checkPolicy(text: string): { policy?: PolicyDocument; issues: PolicyIssue[] } {
  const { value: policy, issues } = readLocated(text, (json) => {
    const reader = new PolicyReader(json);
    return { value: reader.read(), issues: reader.issues };
  });
  return issues.length > 0 || !policy ? { issues } : { policy, issues: [] };
}

/** `rules[2].principal`, for messages; keys that are not plain names are quoted. */
export function displayPath(pointer: string): string {
  let out = '';
  for (const token of pointer.split('/').slice(1)) {
    const key = token.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(key)) out += `[${key}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(key)) out += out === '' ? key : `.${key}`;
    else out += `[${JSON.stringify(key)}]`;
  }
  return out === '' ? 'the policy' : out;
}

type Json = Record<string, unknown>;

class PolicyReader {
  readonly issues: PolicyIssue[] = [];
  private readonly ids = new Map<string, string>();
  /** The built-in labels and those the policy defines (read before any rule that names one). */
  private readonly knownLabels = new Set<string>(FLOW_LABELS);

  constructor(private readonly json: LocatedJson) {}

  read(): PolicyDocument {
    const policy = emptyPolicy();
    const top = this.object('', this.json.value, TOP_MEMBERS);
    if (!top) return policy;
    if (top.$schema !== undefined && typeof top.$schema !== 'string') this.issue('/$schema', '$schema must be a string (the schema\'s location)');
    policy.tools.allow = this.globs('/allowTools', top.allowTools, true) ?? [];
    policy.tools.deny = this.globs('/denyTools', top.denyTools, true) ?? [];
    policy.tools.readOnly = this.boolean('/readOnly', top.readOnly) ?? false;
    policy.labelsFromAnnotations = this.boolean('/labelsFromAnnotations', top.labelsFromAnnotations) ?? true;
    const claims = this.object('/claims', top.claims, CLAIMS_MEMBERS, true);
    if (claims) {
      policy.claims = {
        groups: this.claimNames('/claims/groups', claims.groups) ?? DEFAULT_CLAIM_NAMES.groups,
        roles: this.claimNames('/claims/roles', claims.roles) ?? DEFAULT_CLAIM_NAMES.roles,
      };
    }
    const labels = this.object('/labels', top.labels, undefined, true);
    for (const [name, value] of Object.entries(labels ?? {})) {
      const pointer = `/labels/${name.replace(/~/g, '~0').replace(/\//g, '~1')}`;
      const globs = this.globs(pointer, value, false);
      if (!LABEL.test(name)) this.issue(pointer, `label name ${quote(name)} must be lowercase letters, digits and dashes, starting with a letter`);
      else if (globs) {
        policy.labels[name] = globs;
        this.knownLabels.add(name);
      }
    }
    policy.rules = this.list('/rules', top.rules, (p, v, i) => this.rule(p, v, i));
    policy.rateLimits = this.list('/rateLimits', top.rateLimits, (p, v, i) => this.rateLimit(p, v, i));
    policy.flows = this.list('/flows', top.flows, (p, v, i) => this.flow(p, v, i));
    return policy;
  }

  private rule(pointer: string, value: unknown, index: number): AccessRule | undefined {
    const rule = this.object(pointer, value, RULE_MEMBERS);
    if (!rule) return undefined;
    if (rule.effect !== 'allow' && rule.effect !== 'deny') {
      this.issue(rule.effect === undefined ? pointer : `${pointer}/effect`, `${displayPath(pointer)}.effect must be "allow" or "deny"`);
    }
    const annotations: ToolAnnotations = {};
    const hints = this.object(`${pointer}/annotations`, rule.annotations, ANNOTATION_HINTS, true);
    for (const hint of ANNOTATION_HINTS) {
      const flag = hints ? this.boolean(`${pointer}/annotations/${hint}`, hints[hint]) : undefined;
      if (flag !== undefined) annotations[hint] = flag;
    }
    return {
      id: this.id(pointer, rule.id, `rules[${index}]`),
      location: this.where(pointer),
      effect: rule.effect === 'deny' ? 'deny' : 'allow',
      tools: this.globs(`${pointer}/tools`, rule.tools, false) ?? ['*'],
      annotations,
      ...this.optional('labels', this.labelNames(`${pointer}/labels`, rule.labels)),
      ...this.optional('principal', this.principal(`${pointer}/principal`, rule.principal)),
      ...this.optional('reason', this.text(`${pointer}/reason`, rule.reason)),
    };
  }

  private rateLimit(pointer: string, value: unknown, index: number): RateLimitRule | undefined {
    const limit = this.object(pointer, value, RATE_LIMIT_MEMBERS);
    if (!limit) return undefined;
    const count = this.positiveInteger(`${pointer}/limit`, limit.limit, pointer);
    const window = this.window(`${pointer}/window`, limit.window, pointer);
    const burst = limit.burst === undefined ? count : this.positiveInteger(`${pointer}/burst`, limit.burst, pointer);
    let per: PerKey[] = ['caller'];
    if (limit.per !== undefined) {
      const names = typeof limit.per === 'string' ? [limit.per] : limit.per;
      const valid = Array.isArray(names) && names.every((n) => (PER_KEYS as readonly unknown[]).includes(n) || n === 'global');
      if (!valid) this.issue(`${pointer}/per`, `${displayPath(pointer)}.per must be "caller", "tool", ["caller", "tool"] or "global"`);
      else per = PER_KEYS.filter((k) => (names as unknown[]).includes(k));
    }
    return {
      id: this.id(pointer, limit.id, `rateLimits[${index}]`),
      location: this.where(pointer),
      tools: this.globs(`${pointer}/tools`, limit.tools, false) ?? ['*'],
      per,
      limit: count ?? 1,
      window: window?.text ?? '1m',
      windowSeconds: window?.seconds ?? 60,
      burst: burst ?? count ?? 1,
      ...this.optional('principal', this.principal(`${pointer}/principal`, limit.principal)),
    };
  }

  private flow(pointer: string, value: unknown, index: number): FlowRule | undefined {
    const flow = this.object(pointer, value, FLOW_MEMBERS);
    if (!flow) return undefined;
    const deny = this.labelNames(`${pointer}/deny`, flow.deny);
    const after = this.labelNames(`${pointer}/after`, flow.after);
    if (flow.deny === undefined || flow.after === undefined) this.issue(pointer, `${displayPath(pointer)} needs "deny" (labels refused) and "after" (labels the session has used)`);
    return {
      id: this.id(pointer, flow.id, `flows[${index}]`),
      location: this.where(pointer),
      deny: deny ?? [],
      after: after ?? [],
      ...this.optional('reason', this.text(`${pointer}/reason`, flow.reason)),
    };
  }

  private principal(pointer: string, value: unknown): PrincipalCondition | undefined {
    const principal = this.object(pointer, value, PRINCIPAL_MEMBERS, true);
    if (!principal) return undefined;
    const condition: PrincipalCondition = {};
    for (const member of ['subject', 'issuer', 'clientId', 'groups', 'roles', 'scopes', 'actor'] as const) {
      const globs = this.globs(`${pointer}/${member}`, principal[member], false);
      if (globs) condition[member] = globs;
    }
    const delegated = this.boolean(`${pointer}/delegated`, principal.delegated);
    if (delegated !== undefined) condition.delegated = delegated;
    return condition;
  }

  // --- member readers: each records an issue and returns undefined when the value is wrong ---

  private object(pointer: string, value: unknown, known: readonly string[] | undefined, optional = false): Json | undefined {
    if (value === undefined && optional) return undefined;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.issue(pointer, `${displayPath(pointer)} must be a JSON object`);
      return undefined;
    }
    for (const key of Object.keys(value)) {
      if (known && !known.includes(key)) {
        const where = pointer === '' ? '' : ` in ${displayPath(pointer)}`;
        this.issue(`${pointer}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`, `unknown member ${quote(key)}${where} (known: ${known.join(', ')})`);
      }
    }
    return value as Json;
  }

  private list<T>(pointer: string, value: unknown, item: (pointer: string, value: unknown, index: number) => T | undefined): T[] {
    if (value === undefined) return [];
    if (!Array.isArray(value)) {
      this.issue(pointer, `${displayPath(pointer)} must be a list`);
      return [];
    }
    return value.flatMap((v, i) => item(`${pointer}/${i}`, v, i) ?? []);
  }

  /** A glob or a non-empty list of them (`listOnly`: the first format's members: a list, maybe empty). */
  private globs(pointer: string, value: unknown, listOnly: boolean): string[] | undefined {
    if (value === undefined) return undefined;
    const list = typeof value === 'string' && !listOnly ? [value] : value;
    if (!Array.isArray(list) || (list.length === 0 && !listOnly) || list.some((p) => typeof p !== 'string' || p === '')) {
      this.issue(pointer, `${displayPath(pointer)} must be ${listOnly ? 'a list of non-empty glob patterns' : 'a non-empty string or a non-empty list of them'}`);
      return undefined;
    }
    return list as string[];
  }

  private labelNames(pointer: string, value: unknown): string[] | undefined {
    const names = this.globs(pointer, value, false);
    const bad = names?.find((n) => !LABEL.test(n));
    if (bad !== undefined) {
      this.issue(pointer, `${displayPath(pointer)}: ${quote(bad)} is not a label name (lowercase letters, digits and dashes)`);
      return undefined;
    }
    const unknown = names?.find((n) => !this.knownLabels.has(n));
    if (unknown !== undefined) {
      this.issue(pointer, `${displayPath(pointer)}: unknown label ${quote(unknown)} (known: ${[...this.knownLabels].join(', ')}; define others under "labels")`);
      return undefined;
    }
    return names;
  }

  private claimNames(pointer: string, value: unknown): string[] | undefined {
    const names = this.globs(pointer, value, false);
    const bad = names?.find((n) => n.startsWith('/') && n.length === 1);
    if (bad !== undefined) this.issue(pointer, `${displayPath(pointer)}: "/" is not a claim; use a name, or a JSON Pointer such as "/realm_access/roles"`);
    return names;
  }

  private boolean(pointer: string, value: unknown): boolean | undefined {
    if (value === undefined) return undefined;
    if (typeof value !== 'boolean') this.issue(pointer, `${displayPath(pointer)} must be true or false`);
    return typeof value === 'boolean' ? value : undefined;
  }

  private text(pointer: string, value: unknown): string | undefined {
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || value === '' || value.length > 500) {
      this.issue(pointer, `${displayPath(pointer)} must be a non-empty string of at most 500 characters`);
      return undefined;
    }
    return value;
  }

  private positiveInteger(pointer: string, value: unknown, parent: string): number | undefined {
    if (Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 1_000_000_000) return value as number;
    this.issue(value === undefined ? parent : pointer, `${displayPath(pointer)} must be a whole number of at least 1`);
    return undefined;
  }

  private window(pointer: string, value: unknown, parent: string): { text: string; seconds: number } | undefined {
    if (typeof value === 'number' && value > 0 && Number.isFinite(value)) return { text: `${value}s`, seconds: value };
    const match = typeof value === 'string' ? WINDOW.exec(value.trim()) : null;
    const seconds = match ? Number(match[1]) * UNIT_SECONDS[match[2]!]! : 0;
    if (seconds > 0) return { text: (value as string).trim(), seconds };
    this.issue(value === undefined ? parent : pointer, `${displayPath(pointer)} must be a duration such as "30s", "1m", "1h" or "1d" (or seconds as a number)`);
    return undefined;
  }

  /** The rule's id, checked and unique across rules, rate limits and flow rules. */
  private id(pointer: string, value: unknown, fallback: string): string {
    if (value !== undefined && (typeof value !== 'string' || !ID.test(value))) {
      this.issue(`${pointer}/id`, `${displayPath(pointer)}.id must be 1-100 letters, digits and . _ : @ / - (starting with a letter or digit)`);
      return fallback;
    }
    const id = (value as string | undefined) ?? fallback;
    const previous = this.ids.get(id);
    if (previous !== undefined) this.issue(value === undefined ? pointer : `${pointer}/id`, `duplicate id ${quote(id)}: ${previous} already has it`);
    else this.ids.set(id, displayPath(pointer));
    return id;
  }

  private optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
    return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
  }

  private where(pointer: string): JsonLocation {
    return this.json.locate(pointer) ?? { line: 1, column: 1 };
  }

  private issue(pointer: string, message: string): void {
    if (this.issues.length < 100) this.issues.push({ pointer, ...this.where(pointer), message });
  }
}
