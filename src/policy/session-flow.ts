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
 */
import { HINT_DEFAULTS, type FlowRule, type ToolAnnotations } from './policy-document.js';
import { globsToRegExp } from './policy-rules.js';

/** Gives each tool its labels, from the policy's globs or the tool's annotations. */
export class ToolLabeler {
  private readonly explicit: Array<[string, RegExp]>;

  constructor(
    labels: Readonly<Record<string, readonly string[]>>,
    private readonly fromAnnotations: boolean,
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

export interface FlowRefusal {
  rule: FlowRule;
  message: string;
}

/**
 * One session's history: the first tool called with each label. The rules are the policy's,
 * shared; the history is per session (per inbound session in serve, the process in run/connect).
 */
export class SessionFlow {
  private readonly seen = new Map<string, string>();

  constructor(private readonly rules: readonly FlowRule[]) {}

  /** A refusal when calling `tool` (with these labels) now breaks a flow rule. */
  check(tool: string, labels: readonly string[]): FlowRefusal | undefined {
    for (const rule of this.rules) {
      const denied = rule.deny.find((l) => labels.includes(l));
      if (denied === undefined || !rule.after.every((l) => this.seen.has(l))) continue;
      const before = rule.after.map((l) => `${JSON.stringify(this.seen.get(l))} (${l})`);
      const history = before.length > 1 ? `${before.slice(0, -1).join(', ')} and ${before.at(-1)}` : before[0] ?? 'nothing';
      const why = rule.reason ?? 'data those calls returned could leave through this one';
      return {
        rule,
        message: `refused by flow rule ${JSON.stringify(rule.id)}: this session already called ${history}, and ${JSON.stringify(tool)} is ${denied}; ${why}`,
      };
    }
    return undefined;
  }

  /** The call was forwarded: remember its labels. */
  record(tool: string, labels: readonly string[]): void {
    for (const label of labels) if (!this.seen.has(label)) this.seen.set(label, tool);
  }

  /** Labels used so far, with the first tool that used each (for tests and `policy explain`). */
  history(): ReadonlyMap<string, string> {
    return this.seen;
  }
}
