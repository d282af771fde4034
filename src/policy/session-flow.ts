/**
 * Session flow rules: what a call may do depends on what the session did before. The pattern they
 * stop is how prompt injection becomes data theft: an agent reads private data, then reads content
 * an attacker controls (a web page, an issue, an email) that tells it to send that data somewhere,
 * then calls a tool that communicates externally. Any one of those calls is fine; all three in one
 * session are the exfiltration. A flow rule refuses the last step:
 *
 *     { "id": "no-exfiltration", "deny": "external-communication", "after": ["private-data", "untrusted-content"] }
 *
 * Tools get labels from the policy's `labels` (name globs), or, for tools the policy does not
 * label, from their annotations (MCP 2025-11-25 "ToolAnnotations"; absent hints take the spec's
 * defaults). This reading is a policy decision of ours, documented in docs/policy.md:
 *
 *     readOnlyHint  openWorldHint   label
 *     true          false           private-data            reads the closed world: files, databases, mail
 *     true          true            untrusted-content       reads the open world: web, search, tickets
 *     false         true            external-communication  acts on the open world: send, post, upload
 *     false         false           (none)                  changes local state only
 *
 * A call counts for the session once airlock forwards it (whether or not it then succeeds: a
 * failed read may still have returned data in its error).
 *
 * A tool this session never saw in a tools/list answer (a 2026 client calls from the list it
 * cached, often without listing again) has unknown annotations. For flow rules it counts as every
 * label annotations can give (UNLISTED_LABELS), as the call to check and as a call made before:
 * reading the spec's default hints instead left it external-communication only, so no unlisted
 * call ever counted as private data or untrusted content and the rules never fired (issue 20).
 * The policy's own `labels` need no list and still win for the tools they name.
 */
import { FLOW_LABELS, HINT_DEFAULTS, type FlowRule, type ToolAnnotations } from './policy-document.js';
import { globsToRegExp } from './policy-rules.js';

/** Gives each tool its labels, from the policy's globs or the tool's annotations. */
export class ToolLabeler {
  private readonly explicit: Array<[string, RegExp]>;

  constructor(
    labels: Readonly<Record<string, readonly string[]>>,
    /** Whether tools the policy does not label get labels from their annotations. */
    readonly fromAnnotations: boolean,
  ) {
    this.explicit = Object.entries(labels).map(([label, globs]) => [label, globsToRegExp(globs)]);
  }

  /** The labels of a tool; `source` says whether the policy or the annotations gave them. */
  labelsOf(tool: string, annotations: ToolAnnotations): { labels: string[]; source: 'policy' | 'annotations' | 'none' } {
    const labels = this.explicit.filter(([, re]) => re.test(tool)).map(([label]) => label);
    if (labels.length > 0) return { labels, source: 'policy' };
    if (!this.fromAnnotations) return { labels, source: 'none' };
    const derived = labelsFromAnnotations(annotations);
    return { labels: derived, source: derived.length > 0 ? 'annotations' : 'none' };
  }
}

export function labelsFromAnnotations(annotations: ToolAnnotations): string[] {
  const readOnly = annotations.readOnlyHint ?? HINT_DEFAULTS.readOnlyHint;
  const openWorld = annotations.openWorldHint ?? HINT_DEFAULTS.openWorldHint;
  if (readOnly) return [openWorld ? 'untrusted-content' : 'private-data'];
  return openWorld ? ['external-communication'] : [];
}

/** What a tool whose annotations are unknown counts as for flow rules: any label annotations give. */
export const UNLISTED_LABELS: readonly string[] = Object.freeze([...FLOW_LABELS]);

export interface FlowRefusal {
  rule: FlowRule;
  message: string;
}

/** What a session has called: the first tool called with each label, and whether it was unlisted. */
export type FlowSeen = ReadonlyMap<string, { tool: string; unlisted: boolean }>;

/**
 * A session's flow history, wherever it lives: `SessionFlow` keeps it in the stage's memory (one
 * per session: what airlock has always done); a shared store (serve --state, redis-state.ts) keeps
 * it keyed by caller and session so that calls landing on other replicas count, and answers with
 * promises.
 */
export interface FlowHistory {
  check(tool: string, labels: readonly string[], unlisted?: boolean): FlowRefusal | undefined | Promise<FlowRefusal | undefined>;
  record(tool: string, labels: readonly string[], unlisted?: boolean): void | Promise<void>;
}

/**
 * A refusal when calling `tool` (with these labels) after the calls in `seen` breaks a flow rule.
 * `unlisted`: the tool's annotations are unknown, and `labels` are UNLISTED_LABELS (said in the
 * message).
 */
export function flowRefusal(rules: readonly FlowRule[], seen: FlowSeen, tool: string, labels: readonly string[], unlisted = false): FlowRefusal | undefined {
  for (const rule of rules) {
    const denied = rule.deny.find((l) => labels.includes(l));
    if (denied === undefined || !rule.after.every((l) => seen.has(l))) continue;
    const before = rule.after.map((l) => {
      const { tool: earlier, unlisted: guessed } = seen.get(l)!;
      return `${JSON.stringify(earlier)} (${l}${guessed ? ', unlisted' : ''})`;
    });
    const history = before.length > 1 ? `${before.slice(0, -1).join(', ')} and ${before.at(-1)}` : before[0] ?? 'nothing';
    const why = rule.reason ?? 'data those calls returned could leave through this one';
    const guessed = unlisted || rule.after.some((l) => seen.get(l)!.unlisted);
    const note = guessed
      ? '. A tool no tools/list of this session named counts as every label: name it in the policy\'s labels, or list the tools first'
      : '';
    return {
      rule,
      message: `refused by flow rule ${JSON.stringify(rule.id)}: this session already called ${history}, and ${JSON.stringify(tool)} is ${denied}${unlisted ? ' (unlisted)' : ''}; ${why}${note}`,
    };
  }
  return undefined;
}

/** Whether any flow rule reads or refuses one of these labels (a call with none of them needs no history). */
export function flowRelevant(rules: readonly FlowRule[], labels: readonly string[]): boolean {
  return labels.length > 0 && rules.some((rule) => rule.deny.some((l) => labels.includes(l)) || rule.after.some((l) => labels.includes(l)));
}

/**
 * One session's history in memory: the first tool called with each label. The rules are the
 * policy's, shared; the history is per session (per inbound session in serve, the process in
 * run/connect).
 */
export class SessionFlow implements FlowHistory {
  private readonly seen = new Map<string, { tool: string; unlisted: boolean }>();

  constructor(private readonly rules: readonly FlowRule[]) {}

  /**
   * A refusal when calling `tool` (with these labels) now breaks a flow rule. `unlisted`: the tool's
   * annotations are unknown, and `labels` are UNLISTED_LABELS (said in the message).
   */
  check(tool: string, labels: readonly string[], unlisted = false): FlowRefusal | undefined {
    return flowRefusal(this.rules, this.seen, tool, labels, unlisted);
  }

  /** The call was forwarded: remember its labels. */
  record(tool: string, labels: readonly string[], unlisted = false): void {
    for (const label of labels) if (!this.seen.has(label)) this.seen.set(label, { tool, unlisted });
  }

  /** Labels used so far, with the first tool that used each (for tests and `policy explain`). */
  history(): ReadonlyMap<string, string> {
    return new Map([...this.seen].map(([label, { tool }]) => [label, tool]));
  }
}
