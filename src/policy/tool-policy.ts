/**
 * The flat tool rules: `--allow-tool` and `--deny-tool` take glob patterns (`*` any run of
 * characters, `?` one character, matched against the whole name); deny wins over allow; with any
 * allow pattern, a tool must match one. `--read-only` keeps only tools the server marks
 * `readOnlyHint: true` (MCP 2025-11-25 server/tools, "Tool annotations").
 *
 * A matcher only: the bridge stage that hides tools from tools/list and answers calls to them is
 * policy-stage.ts, which asks `refusal` first, before the policy file's rules.
 */

export interface ToolPolicyOptions {
  allow: string[];
  deny: string[];
  readOnly: boolean;
}

/**
 * A glob as an anchored RegExp. `s` (dotAll): `*` and `?` match any character, line breaks too, so
 * a name with a newline in it cannot slip past `delete_*` (issue 20).
 */
export function globToRegExp(pattern: string): RegExp {
  const source = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${source}$`, 's');
}

export class ToolPolicy {
  private readonly allow: Array<[string, RegExp]>;
  private readonly deny: Array<[string, RegExp]>;

  constructor(private readonly options: ToolPolicyOptions) {
    this.allow = options.allow.map((p) => [p, globToRegExp(p)]);
    this.deny = options.deny.map((p) => [p, globToRegExp(p)]);
  }

  /** True when the rules change anything. */
  get active(): boolean {
    return this.allow.length > 0 || this.deny.length > 0 || this.options.readOnly;
  }

  /** Why this tool is hidden, naming the rule; undefined when it is visible. */
  refusal(name: string, readOnlyHint: boolean | undefined): string | undefined {
    const denied = this.deny.find(([, re]) => re.test(name));
    if (denied) return `denied by ${JSON.stringify(denied[0])} (--deny-tool, or denyTools in the policy file)`;
    if (this.allow.length > 0 && !this.allow.some(([, re]) => re.test(name))) {
      return `not matched by any allow pattern (${this.allow.map(([p]) => JSON.stringify(p)).join(', ')}: --allow-tool, or allowTools in the policy file)`;
    }
    if (this.options.readOnly && readOnlyHint !== true) return '--read-only (or readOnly in the policy file), and no tools/list from the server marked it readOnlyHint';
    return undefined;
  }
}
