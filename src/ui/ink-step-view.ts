/**
 * The step list on an interactive terminal, drawn with ink: running steps spin, finished ones get
 * a coloured mark and stay. Loaded only through `createStepReporter` (a dynamic import), so piped
 * runs and the bridge commands never load React.
 *
 * Finished steps and notices go to ink's <Static> region: written once, in the order they happened
 * (as the plain renderer does), never redrawn. That matters for the login URL: a <Static> line is
 * laid out as wide as its text, so the terminal wraps it softly and it can be copied in one piece,
 * where the redrawn region would hard-wrap it at the terminal width. Plain `React.createElement`
 * (no JSX) keeps the build to tsc with the repository's tsconfig.
 */
import { Box, render, Static, Text } from 'ink';
import { createElement as h, Fragment, useEffect, useState, type ReactElement } from 'react';
import { isFinal, StepList, type StepOutcome, type StepReporter, type StepState } from './step-reporter.js';

export const spinnerFrames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'] as const;
const SPINNER_INTERVAL_MS = 80;

/** Marks and colours for finished steps; `–` for skipped, as the doctor view will use. */
export const stepMarks: Record<StepOutcome, { mark: string; color: string }> = {
  pass: { mark: '✔', color: 'green' },
  warn: { mark: '⚠', color: 'yellow' },
  fail: { mark: '✖', color: 'red' },
  skipped: { mark: '–', color: 'gray' },
};

type StaticItem = { key: string; kind: 'step'; state: StepState } | { key: string; kind: 'notice'; text: string };

interface ViewProps {
  /** Finished steps and notices, in the order they happened; only appended to. */
  written: readonly StaticItem[];
  /** Steps still pending or running, in declaration order. */
  live: readonly StepState[];
  result?: { summary: string; outcome: StepOutcome | undefined };
}

function Spinner(): ReactElement {
  const [frame, setFrame] = useState(0);
  useEffect(() => {
    const timer = setInterval(() => setFrame((f) => (f + 1) % spinnerFrames.length), SPINNER_INTERVAL_MS);
    // The spinner alone must not keep the process alive.
    timer.unref();
    return () => clearInterval(timer);
  }, []);
  return h(Text, { color: 'cyan' }, spinnerFrames[frame]);
}

function Mark({ status }: { status: StepState['status'] }): ReactElement {
  if (status === 'running') return h(Spinner);
  if (!isFinal(status)) return h(Text, { color: 'gray' }, '·');
  const { mark, color } = stepMarks[status];
  return h(Text, { color }, mark);
}

function StepLines({ state }: { state: StepState }): ReactElement {
  const summaryColor = state.status === 'fail' ? 'red' : state.status === 'warn' ? 'yellow' : undefined;
  return h(
    Box,
    { flexDirection: 'column' },
    h(
      Text,
      null,
      h(Mark, { status: state.status }),
      ' ',
      h(Text, { bold: true }, state.title),
      state.summary ? h(Text, summaryColor ? { color: summaryColor } : { dimColor: true }, `  ${state.summary}`) : null,
    ),
    ...state.details.map((detail, i) => h(Text, { key: `d${i}`, dimColor: true }, `    ${detail}`)),
    state.hint ? h(Text, { key: 'hint', color: 'yellow' }, `    hint: ${state.hint}`) : null,
  );
}

/** A notice as wide as its longest line: the terminal wraps it softly, so a URL copies whole. */
function Notice({ text }: { text: string }): ReactElement {
  const width = Math.max(...text.split('\n').map((line) => line.length));
  return h(Box, { width: width + 1, flexShrink: 0, paddingY: 0 }, h(Text, { bold: true, color: 'cyan' }, text));
}

function StepView({ written, live, result }: ViewProps): ReactElement {
  return h(
    Fragment,
    null,
    h(Static<StaticItem>, {
      items: [...written],
      children: (item: StaticItem) =>
        item.kind === 'notice' ? h(Notice, { key: item.key, text: item.text }) : h(StepLines, { key: item.key, state: item.state }),
    }),
    ...live.map((state) => h(StepLines, { key: state.id, state })),
    result ? h(ResultLine, { key: 'result', ...result }) : null,
  );
}

function ResultLine({ summary, outcome }: { summary: string; outcome: StepOutcome | undefined }): ReactElement {
  const mark = outcome ? stepMarks[outcome] : undefined;
  return h(Text, { bold: true, color: mark?.color }, mark ? `${mark.mark} ${summary}` : summary);
}

/**
 * A StepReporter that draws on `out` (stderr for login: stdout keeps its one result line), which
 * must be a TTY. ink is told not to patch the console and not to handle Ctrl+C: the command owns
 * both. `finish` draws the last line, unmounts, and resolves once ink's last write has gone out,
 * so the command can exit at once.
 */
export function inkStepReporter(out: NodeJS.WriteStream): StepReporter {
  const list = new StepList();
  const written: StaticItem[] = [];
  /** A step is written (static) once it reaches a final status; the rest are drawn live. */
  const isWritten = (id: string): boolean => written.some((item) => item.kind === 'step' && item.state.id === id);
  let result: ViewProps['result'];
  let notices = 0;
  let finishing: Promise<void> | undefined;

  const view = (): ReactElement =>
    h(StepView, { written: [...written], live: list.steps.filter((s) => !isWritten(s.id)).map((s) => ({ ...s })), result });
  // stdout and stderr both `out`: ink writes nothing anywhere else (stdin is untouched: no input hooks).
  const instance = render(view(), { stdout: out, stderr: out, patchConsole: false, exitOnCtrlC: false });
  // Subscribed before any unmount: ink resolves only promises asked for before it unmounts.
  const exited = instance.waitUntilExit();
  exited.catch(() => undefined);

  return {
    step(id, update) {
      if (finishing) return;
      const state = list.apply(id, update);
      if (isFinal(state.status) && !isWritten(id)) {
        written.push({ key: `step:${id}`, kind: 'step', state: { ...state } });
      }
      instance.rerender(view());
    },
    notice(text) {
      if (finishing) return;
      written.push({ key: `notice:${notices++}`, kind: 'notice', text });
      instance.rerender(view());
    },
    finish(summary, outcome) {
      if (finishing) return finishing;
      if (summary !== '') result = { summary, outcome };
      instance.rerender(view());
      instance.unmount();
      finishing = exited.then(() => undefined, () => undefined);
      return finishing;
    },
  };
}
