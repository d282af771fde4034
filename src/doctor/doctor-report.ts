/**
 * The doctor's result: one report object, built by the engine and rendered as text or as one JSON
 * document from the same data. The JSON shape is versioned by `schema` and documented in
 * docs/doctor.md ("The JSON document"); ids of steps and checks are stable, so CI scripts and bug reports can rely
 * on them. Renaming one is a new schema version.
 */
import type { StepOutcome } from '../ui/step-reporter.js';

/** The schema identifier of the JSON document. */
export const DOCTOR_SCHEMA = 'mcp-airlock/doctor/1';

/** Steps, in the order they run. */
export const doctorStepIds = ['unauthenticated', 'resource-metadata', 'authorization-server', 'client', 'login', 'authenticated'] as const;
export type DoctorStepId = (typeof doctorStepIds)[number];

export type DoctorOutcome = StepOutcome;

/** One HTTP request and its answer, secrets masked (see exchange-masking.ts). */
export interface DoctorExchange {
  method: string;
  url: string;
  /** Absent when the request failed before an answer. */
  status?: number;
  /** The network error, when there was no answer. */
  error?: string;
  /** With --verbose: headers, secrets masked. */
  requestHeaders?: Record<string, string>;
  responseHeaders?: Record<string, string>;
  /** With --verbose: the request body, secrets masked, trimmed. */
  requestBody?: string;
  /** With --verbose: the response body, secrets masked, trimmed. */
  body?: string;
}

/** One verdict inside a step. */
export interface DoctorCheck {
  /** Stable id, e.g. `as.pkce-s256`. */
  id: string;
  status: DoctorOutcome;
  message: string;
  /** Where the rule comes from: "RFC 9728 §3.3", "MCP 2025-11-25 authorization". */
  spec: string;
  /** For warn and fail: the flag to pass or the server setting to change. */
  hint?: string;
}

export interface DoctorStep {
  id: DoctorStepId;
  title: string;
  status: DoctorOutcome;
  summary: string;
  checks: DoctorCheck[];
  exchanges: DoctorExchange[];
  /** The hint of the first failing (else warning) check. */
  hint?: string;
  /** Facts the step found, for people and scripts: the parsed challenge, the document, token claims. */
  facts?: Record<string, unknown>;
}

export interface DoctorReport {
  schema: typeof DOCTOR_SCHEMA;
  /** The MCP server URL as given. */
  target: string;
  /** ISO 8601. */
  startedAt: string;
  result: 'pass' | 'warn' | 'fail';
  steps: DoctorStep[];
}

const rank: Record<DoctorOutcome, number> = { skipped: 0, pass: 1, warn: 2, fail: 3 };

/** The worst of several outcomes (`skipped` only when all are); `pass` for none. */
export function worstOutcome(outcomes: readonly DoctorOutcome[]): DoctorOutcome {
  let worst: DoctorOutcome | undefined;
  for (const outcome of outcomes) if (worst === undefined || rank[outcome] > rank[worst]) worst = outcome;
  return worst ?? 'pass';
}

/** A step's status from its checks: the worst one; a step without checks passes. */
export function stepStatus(checks: readonly DoctorCheck[]): DoctorOutcome {
  return worstOutcome(checks.map((c) => c.status));
}

/** The hint a step shows: that of its first failing check, else of its first warning. */
export function stepHint(checks: readonly DoctorCheck[]): string | undefined {
  return (checks.find((c) => c.status === 'fail' && c.hint) ?? checks.find((c) => c.status === 'warn' && c.hint))?.hint;
}

/** The overall result: fail if a step failed, warn if one warned, else pass (skipped steps do not count). */
export function reportResult(steps: readonly DoctorStep[]): DoctorReport['result'] {
  const worst = worstOutcome(steps.map((s) => s.status));
  return worst === 'fail' ? 'fail' : worst === 'warn' ? 'warn' : 'pass';
}

/** Process exit code for a result (issue 5): 0 all passed, 1 a failure, 2 warnings only. */
export function doctorExitCode(result: DoctorReport['result']): 0 | 1 | 2 {
  return result === 'fail' ? 1 : result === 'warn' ? 2 : 0;
}

/** "4 passed, 1 warning, 1 failed, 0 skipped". */
export function describeCounts(steps: readonly DoctorStep[]): string {
  const count = (status: DoctorOutcome): number => steps.filter((s) => s.status === status).length;
  const warnings = count('warn');
  return `${count('pass')} passed, ${warnings} warning${warnings === 1 ? '' : 's'}, ${count('fail')} failed, ${count('skipped')} skipped`;
}
