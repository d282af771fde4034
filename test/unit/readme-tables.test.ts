/**
 * The tables of the README and of every page in docs/ render as tables: every row has the header's
 * number of cells (GitHub splits cells at every `|` not escaped as `\|`, inside code spans too), and
 * no row stands outside a table.
 * Regression: a stray `|` in serve's --allow-origin row, and the exit code row for 129/130/143 cut
 * off below its table.
 */
import { describe, expect, it } from 'vitest';
import { markdownFiles, readMarkdown } from '../helpers/markdown-files.js';

/** The cells of one table row, split as GitHub-flavoured Markdown does. */
function tableCells(line: string): string[] {
  const inner = line.trim().replace(/^\|/, '').replace(/(?<!\\)\|$/, '');
  return inner.split(/(?<!\\)\|/).map((cell) => cell.trim());
}

interface TableProblem {
  line: number;
  problem: string;
}

/** Every problem with the pipe tables of a Markdown text, with its 1-based line number. */
function tableProblems(markdown: string): TableProblem[] {
  const lines = markdown.split('\n');
  const problems: TableProblem[] = [];
  let fence = false;
  for (let i = 0; i < lines.length; i++) {
    if (/^\s*(```|~~~)/.test(lines[i]!)) fence = !fence;
    if (fence || !/^\s*\|/.test(lines[i]!)) continue;
    // A block of table lines: a header, a delimiter row, then rows.
    const start = i;
    while (i + 1 < lines.length && /^\s*\|/.test(lines[i + 1]!)) i++;
    const block = lines.slice(start, i + 1);
    if (block.length < 2 || !/^\s*\|(\s*:?-+:?\s*\|)+\s*$/.test(block[1]!)) {
      problems.push({ line: start + 1, problem: 'table row without a header and delimiter row above it' });
      continue;
    }
    const header = tableCells(block[0]!);
    if (header.some((cell) => cell === '')) problems.push({ line: start + 1, problem: 'empty header cell' });
    block.forEach((row, k) => {
      const count = tableCells(row).length;
      if (count !== header.length) problems.push({ line: start + k + 1, problem: `${count} cells, the header has ${header.length}` });
    });
  }
  return problems;
}

describe('README and docs/ tables', () => {
  it('finds the faults it is meant to find', () => {
    const broken = [
      '| a | b |', '|---|---|', '| `x|y` | z |', '',
      'text', '| 1 | orphan row |', '',
      '| a | |', '|---|---|', '| 1 | 2 |',
      '```', '| not | a | table |', '```',
      '| a | b |', '|---|---|', '| `x\\|y` | z |',
    ].join('\n');
    expect(tableProblems(broken)).toEqual([
      { line: 3, problem: '3 cells, the header has 2' },
      { line: 6, problem: 'table row without a header and delimiter row above it' },
      { line: 8, problem: 'empty header cell' },
    ]);
  });

  it('checks the README and the docs/ pages', () => {
    expect(markdownFiles()).toContain('README.md');
    expect(markdownFiles()).toContain('docs/performance.md');
  });

  it.each(markdownFiles())('every table in %s has a consistent column count', (path) => {
    expect(tableProblems(readMarkdown(path))).toEqual([]);
  });
});
