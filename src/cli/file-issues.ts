/**
 * How a checked file's problems are printed (`policy check`, `config check`): one line each,
 * `FILE:LINE:COLUMN: message` as compilers write them (editors jump to them), then a count; or
 * all of it as one JSON object with --json.
 */
import type { PolicyIssue } from '../policy/policy-file.js';

/** A problem; a warning does not make the file invalid. */
export type FileProblem = PolicyIssue & { warning?: true };

export function count(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

/** Print `issues` of an invalid `file` (or, with `valid`, the warnings of a valid one before its summary). */
export function printIssues(file: string, issues: readonly FileProblem[], json: boolean, out: (text: string) => void): void {
  if (json) {
    out(JSON.stringify({ file, valid: false, issues }, null, 2));
    return;
  }
  for (const issue of issues) out(`${file}:${issue.line}:${issue.column}: ${issue.warning ? 'warning: ' : ''}${issue.message}`);
  const errors = issues.filter((i) => !i.warning).length;
  if (errors > 0) out(`${file}: ${count(errors, 'problem')}${issues.length >= 100 ? ' (the first 100)' : ''}`);
}
