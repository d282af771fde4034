/**
 * The Markdown files a reader of the repository meets: README.md and every page in docs/. The
 * table and link checks run over all of them.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The repository root, as a directory path ending in `/`. */
export const repositoryRoot = fileURLToPath(new URL('../../', import.meta.url));

/** README.md and docs/*.md, as paths relative to the repository root, README first. */
export function markdownFiles(): string[] {
  const docs = readdirSync(new URL('docs/', `file://${repositoryRoot}`))
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => `docs/${name}`);
  return ['README.md', ...docs];
}

/** The text of one of those files. */
export function readMarkdown(path: string): string {
  return readFileSync(`${repositoryRoot}${path}`, 'utf8');
}
