/**
 * The doctor's report as text: the detail lines under each step (checks, then exchanges; with
 * --verbose their headers and bodies) that the step reporter shows, and the summary line. Built
 * from the same report object as the JSON document, so both always agree.
 */
import type { DoctorExchange, DoctorReport, DoctorStep } from './doctor-report.js';
import { describeCounts } from './doctor-report.js';

const marks = { pass: 'ok  ', warn: 'WARN', fail: 'FAIL', skipped: 'skip' } as const;

function exchangeLines(exchange: DoctorExchange, verbose: boolean): string[] {
  const lines = [`${exchange.method} ${exchange.url} -> ${exchange.status ?? exchange.error ?? 'no answer'}`];
  if (!verbose) return lines;
  const headerLines = (prefix: string, headers: Record<string, string> | undefined): void => {
    for (const [name, value] of Object.entries(headers ?? {})) lines.push(`  ${prefix} ${name}: ${value}`);
  };
  headerLines('>', exchange.requestHeaders);
  if (exchange.requestBody) lines.push(`  > ${exchange.requestBody}`);
  headerLines('<', exchange.responseHeaders);
  if (exchange.body) lines.push(`  < ${exchange.body}`);
  return lines;
}

/** The lines under a step: one per check (with its spec), hints of other failing checks, then the exchanges. */
export function stepDetailLines(step: DoctorStep, verbose: boolean): string[] {
  const lines: string[] = [];
  for (const c of step.checks) {
    lines.push(`${marks[c.status]} ${c.id}: ${c.message} [${c.spec}]`);
    if (c.hint && c.hint !== step.hint) lines.push(`     hint: ${c.hint}`);
  }
  for (const exchange of step.exchanges) lines.push(...exchangeLines(exchange, verbose));
  return lines;
}

/** The last line: the verdict and the counts. */
export function summaryLine(report: DoctorReport): string {
  const verdict = report.result === 'pass' ? 'all checks passed' : report.result === 'warn' ? 'warnings only' : 'FAILED';
  return `doctor ${report.target}: ${verdict} (${describeCounts(report.steps)})`;
}
