/**
 * Every relative link in README.md and docs/*.md leads somewhere: the file (or folder) exists, and
 * a `#anchor`, in the same page or another Markdown file, is the GitHub slug of one of its headings.
 * No network: links with a scheme (https:, mailto:) are not followed. Moving the README's reference
 * into docs/ (issue 21) rewrote dozens of cross-references; this keeps them from breaking again.
 */
import { existsSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, expect, it } from 'vitest';
import { markdownFiles, readMarkdown, repositoryRoot } from '../helpers/markdown-files.js';

/** Markdown lines outside fenced code blocks, with their 1-based numbers. */
function proseLines(markdown: string): Array<{ line: number; text: string }> {
  const out: Array<{ line: number; text: string }> = [];
  let fence = false;
  markdown.split('\n').forEach((text, i) => {
    if (/^\s*(```|~~~)/.test(text)) fence = !fence;
    else if (!fence) out.push({ line: i + 1, text });
  });
  return out;
}

/**
 * The anchor GitHub gives a heading (github-slugger): the rendered text (code spans, links and
 * emphasis reduced to their text), lower-cased, without punctuation and symbols, each space a
 * hyphen; a repeated slug gets `-1`, `-2`, ...
 */
function headingSlugs(markdown: string): Set<string> {
  const slugs = new Set<string>();
  const seen = new Map<string, number>();
  for (const { text } of proseLines(markdown)) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(text);
    if (!heading) continue;
    const rendered = heading[1]!
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .replace(/`([^`]*)`/g, '$1')
      .replace(/[*]/g, '');
    const base = rendered.toLowerCase().replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replace(/ /g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    slugs.add(count === 0 ? base : `${base}-${count}`);
  }
  return slugs;
}

interface LinkProblem {
  line: number;
  link: string;
  problem: string;
}

/** The inline links `[text](target)` of a prose line, leaving out code spans. */
function linkTargets(text: string): string[] {
  const withoutCode = text.replace(/`[^`]*`/g, '');
  return [...withoutCode.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((match) => match[1]!);
}

/**
 * Every broken relative link of one Markdown file. `read` gives the text of another Markdown file
 * by its path from the repository root (undefined when there is none), so tests can pass fakes.
 */
function linkProblems(path: string, markdown: string, exists: (path: string) => boolean, read: (path: string) => string | undefined): LinkProblem[] {
  const problems: LinkProblem[] = [];
  for (const { line, text } of proseLines(markdown)) {
    for (const link of linkTargets(text)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(link)) continue; // https:, mailto:: not followed
      const [file, anchor] = link.split('#', 2) as [string, string | undefined];
      const target = file === '' ? path : normalize(join(dirname(path), decodeURIComponent(file))).replace(/\\/g, '/');
      if (target.startsWith('..')) {
        problems.push({ line, link, problem: 'leaves the repository' });
        continue;
      }
      if (!exists(target.replace(/\/$/, ''))) {
        problems.push({ line, link, problem: `${target} does not exist` });
        continue;
      }
      if (anchor === undefined || !target.endsWith('.md')) continue;
      const text = target === path ? markdown : read(target);
      if (text === undefined) continue;
      if (!headingSlugs(text).has(anchor)) problems.push({ line, link, problem: `${target} has no heading whose anchor is #${anchor}` });
    }
  }
  return problems;
}

const onDisk = (path: string): boolean => existsSync(join(repositoryRoot, path));
const readOnDisk = (path: string): string | undefined => (onDisk(path) ? readMarkdown(path) : undefined);

describe('links in README.md and docs/', () => {
  it('slugs headings as GitHub does', () => {
    const page = [
      '# Both protocol eras: 2025 sessions and 2026-07-28',
      '## The JSON document (`--json`), schema `mcp-airlock/doctor/1`',
      "## Protecting `serve`: a static token or OAuth",
      "## The policy's cost",
      '## Options', '## Options',
      '```', '# not a heading', '```',
    ].join('\n');
    expect([...headingSlugs(page)]).toEqual([
      'both-protocol-eras-2025-sessions-and-2026-07-28',
      'the-json-document---json-schema-mcp-airlockdoctor1',
      'protecting-serve-a-static-token-or-oauth',
      'the-policys-cost',
      'options', 'options-1',
    ]);
  });

  it('finds the broken links it is meant to find', () => {
    const files: Record<string, string> = {
      'docs/a.md': '# Page A\n\n## Exit codes\n',
      'docs/b.md': [
        '# Page B',
        '[fine](a.md#exit-codes) [fine too](#page-b) [folder](../src/) [web](https://example.com/#x)',
        '[gone](missing.md) [no anchor](a.md#exit-code) [no local anchor](#nowhere)',
        '`[in code](missing.md)` [out](../../etc/passwd)',
        '```', '[in a fence](missing.md)', '```',
      ].join('\n'),
    };
    const exists = (path: string): boolean => path in files || path === 'src';
    expect(linkProblems('docs/b.md', files['docs/b.md']!, exists, (path) => files[path])).toEqual([
      { line: 3, link: 'missing.md', problem: 'docs/missing.md does not exist' },
      { line: 3, link: 'a.md#exit-code', problem: 'docs/a.md has no heading whose anchor is #exit-code' },
      { line: 3, link: '#nowhere', problem: 'docs/b.md has no heading whose anchor is #nowhere' },
      { line: 4, link: '../../etc/passwd', problem: 'leaves the repository' },
    ]);
  });

  it.each(markdownFiles())('every relative link and anchor in %s resolves', (path) => {
    expect(linkProblems(path, readMarkdown(path), onDisk, readOnDisk)).toEqual([]);
  });
});
