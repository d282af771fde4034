import { describe, expect, it } from 'vitest';
import { ChildStderr } from '../../../src/transports/child-stderr.js';

describe('ChildStderr', () => {
  it('passes each line on behind the label, across chunks and line endings, redacted', () => {
    const written: string[] = [];
    const stderr = new ChildStderr('session 1a2b3c4d', (text) => written.push(text));
    stderr.push('starting\r\nAuthorization: Bearer abc.def');
    stderr.push('.ghi\nhalf a ');
    stderr.push('line');
    stderr.end();
    expect(written).toEqual(['[session 1a2b3c4d] starting\n', '[session 1a2b3c4d] Authorization: [REDACTED]\n', '[session 1a2b3c4d] half a line\n']);
  });

  it('keeps the last 5 lines that are not blank, at most 2 KiB of them', () => {
    const stderr = new ChildStderr('server 1', undefined);
    stderr.push(['one', 'two', '', 'three', 'four', 'five', 'six', '   '].join('\n') + '\n');
    expect(stderr.lastLines()).toBe('two\nthree\nfour\nfive\nsix');
    stderr.push(`${'a'.repeat(1500)}\n${'b'.repeat(1500)}\n`);
    expect(stderr.lastLines()).toBe('b'.repeat(1500));
    stderr.push(`${'c'.repeat(5000)}\n`);
    expect(stderr.lastLines()).toBe(`…${'c'.repeat(2047)}`);
  });

  it('does not hold an endless line: it is passed on in pieces', () => {
    const written: string[] = [];
    const stderr = new ChildStderr('server 1', (text) => written.push(text));
    for (let i = 0; i < 10; i++) stderr.push('x'.repeat(4096));
    expect(written.length).toBeGreaterThanOrEqual(4);
    expect(written.every((line) => line.length <= 8192 + '[server 1] \n'.length)).toBe(true);
  });
});
