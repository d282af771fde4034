/**
 * How a multi-step command (login, doctor) shows its progress. One interface, two renderers: the
 * plain one here (lines, for pipes, CI and logs) and an ink one for interactive terminals, loaded
 * only there, so that piped runs and the bridge commands never pay for React.
 *
 * A step is declared and updated by id; steps render in the order they were first declared. The
 * plain renderer writes a step once, when it reaches a final status, so its output is the same
 * whatever the timing.
 */

export const stepOutcomes = ['pass', 'warn', 'fail', 'skipped'] as const;
export type StepOutcome = (typeof stepOutcomes)[number];
export type StepStatus = 'pending' | 'running' | StepOutcome;

export interface StepUpdate {
  /** Required the first time a step is seen. */
  title?: string;
  status?: StepStatus;
  /** One line after the title: what happened. */
  summary?: string;
  /** Further lines under the step (checks, URLs tried). Replaces earlier details. */
  details?: readonly string[];
  /** For warn and fail: what to do about it. */
  hint?: string;
}

export interface StepState {
  id: string;
  title: string;
  status: StepStatus;
  summary?: string;
  details: readonly string[];
  hint?: string;
}

export interface StepReporter {
  step(id: string, update: StepUpdate): void;
  /** Something the user must see now and that stays (a URL to open, a device code). */
  notice(text: string): void;
  /** The last line (none when `summary` is empty); afterwards the reporter ignores updates. Safe to call twice. */
  finish(summary: string, outcome?: StepOutcome): Promise<void>;
}

export function isFinal(status: StepStatus): status is StepOutcome {
  return (stepOutcomes as readonly string[]).includes(status);
}

/** Keeps the step list; both renderers build on it. */
export class StepList {
  readonly steps: StepState[] = [];

  apply(id: string, update: StepUpdate): StepState {
    let state = this.steps.find((s) => s.id === id);
    if (state === undefined) {
      if (update.title === undefined) throw new Error(`step ${id} was updated before it was declared with a title`);
      state = { id, title: update.title, status: 'pending', details: [] };
      this.steps.push(state);
    }
    if (update.title !== undefined) state.title = update.title;
    if (update.status !== undefined) state.status = update.status;
    if (update.summary !== undefined) state.summary = update.summary;
    if (update.details !== undefined) state.details = [...update.details];
    if (update.hint !== undefined) state.hint = update.hint;
    return state;
  }
}

const plainMarks: Record<StepOutcome, string> = { pass: 'PASS', warn: 'WARN', fail: 'FAIL', skipped: 'SKIP' };

/** Text lines for one finished step, shared by the plain renderer and tests. */
export function plainStepLines(state: StepState): string[] {
  const mark = isFinal(state.status) ? plainMarks[state.status] : '....';
  const lines = [`${mark}  ${state.title}${state.summary ? `: ${state.summary}` : ''}`];
  for (const detail of state.details) lines.push(`      ${detail}`);
  if (state.hint) lines.push(`      hint: ${state.hint}`);
  return lines;
}

export function plainStepReporter(out: NodeJS.WritableStream): StepReporter {
  const list = new StepList();
  const written = new Set<string>();
  let finished = false;
  return {
    step(id, update) {
      if (finished) return;
      const state = list.apply(id, update);
      if (isFinal(state.status) && !written.has(id)) {
        written.add(id);
        out.write(`${plainStepLines(state).join('\n')}\n`);
      }
    },
    notice(text) {
      if (!finished) out.write(`${text}\n`);
    },
    async finish(summary) {
      if (finished) return;
      finished = true;
      if (summary !== '') out.write(`${summary}\n`);
    },
  };
}

/** What decides between the ink view and plain lines. */
export interface StepReporterChoice {
  /** --plain: lines even on a terminal. */
  plain?: boolean;
  /** Default: process.env. */
  env?: NodeJS.ProcessEnv;
}

/**
 * Whether `out` gets the interactive view: a terminal that can redraw (not CI, whose logs keep
 * every redraw, and not TERM=dumb) and that knows its width (a pseudo-terminal without a size, as
 * `script` makes, would get one character per line), unless plain lines were asked for.
 */
export function wantsInteractiveView(out: NodeJS.WriteStream, choice: StepReporterChoice = {}): boolean {
  const env = choice.env ?? process.env;
  return out.isTTY === true && (out.columns ?? 0) > 0 && !env.CI && env.TERM !== 'dumb' && !choice.plain;
}

/**
 * The reporter for `out`: the ink view on an interactive terminal, else plain lines. The ink
 * module (and React with it) is imported here and nowhere else, so a piped run never loads it.
 */
export async function createStepReporter(out: NodeJS.WriteStream, choice: StepReporterChoice = {}): Promise<StepReporter> {
  if (!wantsInteractiveView(out, choice)) return plainStepReporter(out);
  const { inkStepReporter } = await import('./ink-step-view.js');
  return inkStepReporter(out);
}
