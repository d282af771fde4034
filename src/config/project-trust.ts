/**
 * A project's servers file is used only once you have trusted it, as direnv asks for `direnv
 * allow`: a cloned repository's `mcp-airlock.json` chooses commands airlock starts, and its entry
 * would win over yours of the same name (your `github` line would start the repository's command).
 * `mcp-airlock config trust [FILE]` records the file's path and SHA-256 in `trusted-projects.json`
 * in airlock's config directory; a changed file must be trusted again. The user's own servers.json
 * needs no trust.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { writeAtomic } from './atomic-write.js';

export type TrustState = 'trusted' | 'untrusted' | 'changed';

const trustFile = (configDir: string): string => join(configDir, 'trusted-projects.json');

export function contentHash(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

async function readTrust(configDir: string): Promise<Record<string, string>> {
  try {
    const value: unknown = JSON.parse(await readFile(trustFile(configDir), 'utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, string>) : {};
  } catch {
    return {};
  }
}

export async function trustState(path: string, text: string, configDir: string): Promise<TrustState> {
  const recorded = (await readTrust(configDir))[resolve(path)];
  return recorded === undefined ? 'untrusted' : recorded === contentHash(text) ? 'trusted' : 'changed';
}

export async function trustProject(path: string, text: string, configDir: string): Promise<void> {
  const trusted = await readTrust(configDir);
  trusted[resolve(path)] = contentHash(text);
  await mkdir(configDir, { recursive: true });
  await writeAtomic(trustFile(configDir), `${JSON.stringify(trusted, null, 2)}\n`);
}
