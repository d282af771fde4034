/**
 * The tokens a test knows about, so that it can assert none of them shows up where it must not
 * (stdout, stderr, logs, URLs). Read from the 0600 file store the CLI wrote under a config dir.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Every access and refresh token in the token files below `dir` (recursively). */
export function storedTokens(dir: string): string[] {
  const secrets: string[] = [];
  const walk = (path: string): void => {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      const full = join(path, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (/^tokens-[0-9a-f]{32}\.json$/.test(entry.name)) {
        const { record } = JSON.parse(readFileSync(full, 'utf8')) as { record: Record<string, unknown> };
        for (const key of ['accessToken', 'refreshToken']) {
          const value = record[key];
          if (typeof value === 'string') secrets.push(value);
        }
      }
    }
  };
  walk(dir);
  return secrets;
}

/** The texts (labelled) that contain any of `secrets`; [] when none does. */
export function leaks(secrets: readonly string[], texts: Record<string, string>): string[] {
  return Object.entries(texts).flatMap(([label, text]) => secrets.filter((s) => s && text.includes(s)).map(() => label));
}
