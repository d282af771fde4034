/**
 * The ink view rendered into a fake terminal (a Writable with isTTY and 80 columns), asserting the
 * text it draws. ink decides at import whether it runs in CI (then it draws only the last frame),
 * so the CI variables are cleared before the view is imported.
 */
import { stripVTControlCharacters } from 'node:util';
import { Writable } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import type { StepReporter } from '../../../src/ui/step-reporter.js';

let inkStepReporter: (out: NodeJS.WriteStream) => StepReporter;
let spinnerFrames: readonly string[];
beforeAll(async () => {
  for (const name of ['CI', 'CONTINUOUS_INTEGRATION']) delete process.env[name];
  ({ inkStepReporter, spinnerFrames } = await import('../../../src/ui/ink-step-view.js'));
});

function terminal() {
  const writes: string[] = [];
  const out = new Writable({
    write(chunk, _encoding, callback) {
      writes.push(String(chunk));
      callback();
    },
  }) as unknown as NodeJS.WriteStream;
  Object.assign(out, { isTTY: true, columns: 80, rows: 24 });
  const visible = (chunk: string) => stripVTControlCharacters(chunk);
  return {
    out,
    /** Everything drawn, without escape sequences. */
    all: () => writes.map(visible).join(''),
    /** The last write that drew text: the current frame of the live region. */
    frame: () => writes.map(visible).filter((w) => w.trim() !== '').at(-1) ?? '',
  };
}

const tick = (ms = 60) => new Promise((resolve) => setTimeout(resolve, ms));

describe('inkStepReporter', () => {
  it('shows a running step with a spinner frame, then a pass with ✔ and its summary', async () => {
    const t = terminal();
    const r = inkStepReporter(t.out);
    r.step('a', { title: 'Resource metadata', status: 'running' });
    await tick();
    const running = t.frame();
    expect(running).toContain('Resource metadata');
    expect(spinnerFrames.some((f) => running.startsWith(`${f} Resource metadata`))).toBe(true);
    // The spinner turns.
    await tick(200);
    expect(new Set(t.all().match(new RegExp(`[${spinnerFrames.join('')}]`, 'g'))).size).toBeGreaterThan(1);

    r.step('a', { status: 'pass', summary: 'found', details: ['at http://x/.well-known'] });
    await tick();
    expect(t.all()).toContain('✔ Resource metadata  found\n    at http://x/.well-known');
    await r.finish('logged in', 'pass');
  });

  it('shows a failed step with ✖, its message and hint, and a warning with ⚠', async () => {
    const t = terminal();
    const r = inkStepReporter(t.out);
    r.step('s', { title: 'Authorization server metadata', status: 'running' });
    r.step('s', { status: 'fail', summary: 'issuer mismatch', hint: 'check the URL' });
    r.step('w', { title: 'Odd', status: 'warn', summary: 'strange' });
    r.step('k', { title: 'Skipped one', status: 'skipped' });
    await r.finish('login failed', 'fail');
    const all = t.all();
    expect(all).toContain('✖ Authorization server metadata  issuer mismatch\n    hint: check the URL');
    expect(all).toContain('⚠ Odd  strange');
    expect(all).toContain('– Skipped one');
    expect(t.frame()).toContain('✖ login failed');
  });

  it('keeps a notice, unwrapped however long, above the steps still running', async () => {
    const t = terminal();
    const r = inkStepReporter(t.out);
    r.step('auth', { title: 'Authorization', status: 'running' });
    const url = `http://127.0.0.1:1234/auth?${'q'.repeat(150)}`;
    r.notice(`Open this URL to log in:\n  ${url}`);
    await tick();
    expect(t.all()).toContain(`Open this URL to log in:\n  ${url}\n`);
    expect(t.frame()).toContain('Authorization');
    r.step('auth', { status: 'pass', summary: 'approved' });
    await r.finish('logged in', 'pass');
    // Written once: later frames do not draw it again.
    expect(t.all().split(url)).toHaveLength(2);
  });

  it('finish draws the last line, unmounts, resolves; later calls change nothing', async () => {
    const t = terminal();
    const r = inkStepReporter(t.out);
    r.step('a', { title: 'Step', status: 'running' });
    const finished = r.finish('all done', 'pass');
    await expect(finished).resolves.toBeUndefined();
    expect(t.frame()).toContain('✔ all done');
    const length = t.all().length;
    r.step('a', { status: 'pass' });
    r.notice('too late');
    await r.finish('again', 'pass');
    await tick(150);
    // Unmounted: no spinner redraws and no updates after finish.
    expect(t.all().length).toBe(length);
  });

  it('throws for a step updated before it was declared', async () => {
    const t = terminal();
    const r = inkStepReporter(t.out);
    expect(() => r.step('x', { status: 'pass' })).toThrow('declared with a title');
    await r.finish('done');
  });
});
