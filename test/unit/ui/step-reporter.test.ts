import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createStepReporter, plainStepReporter, wantsInteractiveView } from '../../../src/ui/step-reporter.js';

/** A stream that keeps what was written; `tty` makes it look like a terminal of 80 columns. */
function capture(tty = false): { out: NodeJS.WriteStream; text: () => string } {
  const chunks: string[] = [];
  const out = new Writable({
    write(chunk, _encoding, callback) {
      chunks.push(String(chunk));
      callback();
    },
  }) as unknown as NodeJS.WriteStream;
  if (tty) Object.assign(out, { isTTY: true, columns: 80, rows: 24 });
  return { out, text: () => chunks.join('') };
}

describe('plainStepReporter', () => {
  it('writes each step once, at its final status, in the order steps finish, with details and hint', async () => {
    const { out, text } = capture();
    const r = plainStepReporter(out);
    r.step('a', { title: 'First', status: 'running' });
    r.step('b', { title: 'Second', status: 'pending' });
    expect(text()).toBe('');
    r.step('a', { status: 'pass', summary: 'done', details: ['found at x'] });
    r.step('a', { status: 'pass', summary: 'again' });
    r.notice('Open this URL:\n  http://example/auth');
    r.step('b', { status: 'fail', summary: 'broken', hint: 'fix it' });
    await r.finish('it failed', 'fail');
    expect(text()).toBe(
      'PASS  First: done\n      found at x\n' +
      'Open this URL:\n  http://example/auth\n' +
      'FAIL  Second: broken\n      hint: fix it\n' +
      'it failed\n',
    );
  });

  it('finish with an empty summary writes no line', async () => {
    let out = '';
    const r = plainStepReporter({ write: (text: string) => ((out += text), true) } as unknown as NodeJS.WritableStream);
    await r.finish('', 'pass');
    expect(out).toBe('');
  });

  it('finish is idempotent and later updates and notices are ignored', async () => {
    const { out, text } = capture();
    const r = plainStepReporter(out);
    await r.finish('done', 'pass');
    await r.finish('done again', 'pass');
    r.step('late', { title: 'Late', status: 'pass' });
    r.notice('late notice');
    expect(text()).toBe('done\n');
  });

  it('throws for a step updated before it was declared with a title', () => {
    const r = plainStepReporter(capture().out);
    expect(() => r.step('x', { status: 'pass' })).toThrow('step x was updated before it was declared with a title');
  });

  it('marks warn and skipped steps', () => {
    const { out, text } = capture();
    const r = plainStepReporter(out);
    r.step('w', { title: 'W', status: 'warn', summary: 'odd', hint: 'look' });
    r.step('s', { title: 'S', status: 'skipped' });
    expect(text()).toBe('WARN  W: odd\n      hint: look\nSKIP  S\n');
  });
});

describe('createStepReporter', () => {
  it('chooses the terminal view only for a sized TTY outside CI, not TERM=dumb, not --plain', () => {
    expect(wantsInteractiveView(capture(true).out, { env: {} })).toBe(true);
    expect(wantsInteractiveView(capture(false).out, { env: {} })).toBe(false);
    expect(wantsInteractiveView(capture(true).out, { env: { CI: 'true' } })).toBe(false);
    expect(wantsInteractiveView(capture(true).out, { env: { TERM: 'dumb' } })).toBe(false);
    expect(wantsInteractiveView(capture(true).out, { env: {}, plain: true })).toBe(false);
    const sizeless = capture(true).out;
    Object.assign(sizeless, { columns: 0 });
    expect(wantsInteractiveView(sizeless, { env: {} })).toBe(false);
  });

  it('gives plain lines on a pipe and the ink view on a terminal', async () => {
    const pipe = capture();
    const plain = await createStepReporter(pipe.out, { env: {} });
    plain.step('a', { title: 'A', status: 'pass' });
    await plain.finish('ok', 'pass');
    expect(pipe.text()).toBe('PASS  A\nok\n');

    const tty = capture(true);
    const view = await createStepReporter(tty.out, { env: {} });
    view.step('a', { title: 'A', status: 'pass' });
    await view.finish('ok', 'pass');
    expect(tty.text()).toContain('✔');
    expect(tty.text()).not.toContain('PASS');
  });
});
