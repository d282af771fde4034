/**
 * The doctor (issue 5): runs the six steps of the MCP authorization chain in order against the
 * real server, never stopping at the first failure (a step that cannot run is `skipped` with the
 * reason), reports progress through a StepReporter, and returns the report object that the text
 * and JSON outputs are both made from.
 */
import { describeError } from '../errors.js';
import { canonicalResourceUri } from '../auth/resource-uri.js';
import type { StepReporter } from '../ui/step-reporter.js';
import { authenticatedStep } from './authenticated-step.js';
import { authorizationServerStep } from './authorization-server-step.js';
import { clientStep } from './client-step.js';
import type { DoctorOptions, DoctorState, StepOutput } from './doctor-context.js';
import { check } from './doctor-context.js';
import { DOCTOR_SCHEMA, reportResult, stepHint, stepStatus, type DoctorReport, type DoctorStep, type DoctorStepId } from './doctor-report.js';
import { ExchangeRecorder } from './http-exchange.js';
import { loginStep } from './login-step.js';
import { resourceMetadataStep } from './resource-metadata-step.js';
import { stepDetailLines, summaryLine } from './text-report.js';
import { unauthenticatedStep } from './unauthenticated-step.js';

interface StepDefinition {
  id: DoctorStepId;
  title: string;
  run: (state: DoctorState) => Promise<StepOutput>;
  /** An OAuth step: skipped when the server answered without credentials. */
  oauth?: true;
}

/** The steps, in order, with their stable ids (doctor-report.ts) and titles. */
export const doctorSteps: readonly StepDefinition[] = [
  { id: 'unauthenticated', title: 'Unauthenticated request', run: unauthenticatedStep },
  { id: 'resource-metadata', title: 'Protected resource metadata', run: resourceMetadataStep, oauth: true },
  { id: 'authorization-server', title: 'Authorization server metadata', run: authorizationServerStep, oauth: true },
  { id: 'client', title: 'Client registration', run: clientStep, oauth: true },
  { id: 'login', title: 'Login and token', run: loginStep, oauth: true },
  { id: 'authenticated', title: 'Authenticated initialize and tools/list', run: authenticatedStep },
];

export interface RunDoctorOptions extends DoctorOptions {
  /** Progress; none for --json. */
  reporter?: StepReporter;
}

/** Run every step and return the report. Never throws for what the server does; only for bugs. */
export async function runDoctor(options: RunDoctorOptions): Promise<DoctorReport> {
  const now = options.now ?? Date.now;
  const recorder = new ExchangeRecorder({ fetch: options.fetch ?? globalThis.fetch, verbose: options.verbose });
  const state: DoctorState = {
    options,
    serverUrl: canonicalResourceUri(options.url, 'the server URL'),
    fetch: recorder.fetch,
    now,
    challenge: {},
    checks: [],
  };
  const report: DoctorReport = { schema: DOCTOR_SCHEMA, target: options.url.href, startedAt: new Date(now()).toISOString(), result: 'pass', steps: [] };
  const { reporter } = options;
  for (const definition of doctorSteps) {
    reporter?.step(definition.id, { title: definition.title, status: 'running' });
    let output: StepOutput;
    try {
      const skipped = !definition.oauth ? undefined
        : state.requiresAuth === false ? 'the server needs no authorization'
        // Its metadata is on the same host: four more lines of the same network failure say nothing new.
        : state.unreachable ? 'the server cannot be reached (see unauthenticated)'
        : undefined;
      output = skipped !== undefined ? { summary: '', checks: [], skipped } : await definition.run(state);
    } catch (error) {
      output = {
        summary: 'the step stopped with an unexpected error',
        checks: [check(`${definition.id}.error`, 'fail', describeError(error), 'mcp-airlock', 'This may be a bug in mcp-airlock: rerun with --verbose and report it with the JSON output (--json).')],
      };
    }
    state.checks.push(...output.checks);
    const exchanges = await recorder.take();
    const step: DoctorStep = {
      id: definition.id,
      title: definition.title,
      status: output.skipped !== undefined ? 'skipped' : stepStatus(output.checks),
      summary: output.skipped ?? output.summary,
      checks: output.checks,
      exchanges,
    };
    const hint = stepHint(output.checks);
    if (hint !== undefined) step.hint = hint;
    if (output.facts) step.facts = output.facts;
    report.steps.push(step);
    reporter?.step(step.id, { status: step.status, summary: step.summary, details: stepDetailLines(step, options.verbose), ...(hint !== undefined ? { hint } : {}) });
  }
  report.result = reportResult(report.steps);
  await reporter?.finish(summaryLine(report), report.result);
  return report;
}
