/**
 * React (and ink) load only when a step view is drawn on a terminal: the bridge commands and a
 * piped `login` never pay for them. React is CommonJS, so once loaded it sits in require.cache,
 * even when imported from ESM; the last check proves the probe sees it when it is loaded.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const dist = fileURLToPath(new URL('../../dist/', import.meta.url));

const probe = `
import { createRequire } from 'node:module';
import { Writable } from 'node:stream';
const loaded = () => Object.keys(createRequire(import.meta.url).cache).filter((k) => /node_modules[\\\\/]react[\\\\/]/.test(k)).length > 0;
const { main } = await import(${JSON.stringify(`${dist}cli/main.js`)});
const seen = {};
await main(['connect', '--help']);
seen.connectHelp = loaded();
// A piped login (stderr is not a terminal here) that cannot reach the server (exit 4): plain lines.
seen.loginExit = await main(['login', 'http://127.0.0.1:1/mcp', '--storage', 'file']);
seen.pipedLogin = loaded();
const { createStepReporter } = await import(${JSON.stringify(`${dist}ui/step-reporter.js`)});
const tty = Object.assign(new Writable({ write: (_c, _e, cb) => cb() }), { isTTY: true, columns: 80, rows: 24 });
await (await createStepReporter(tty, { env: {} })).finish('done');
seen.terminalView = loaded();
process.stdout.write(JSON.stringify(seen));
`;

describe('the step view is loaded lazily', () => {
  it('connect --help and a piped login load no React; a terminal view does', () => {
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { encoding: 'utf8', env: { ...process.env, CI: '' }, timeout: 20_000 });
    expect(run.status, run.stderr).toBe(0);
    const seen = JSON.parse(run.stdout.slice(run.stdout.lastIndexOf('{'))) as Record<string, unknown>;
    expect(seen).toEqual({ connectHelp: false, loginExit: 4, pipedLogin: false, terminalView: true });
  });
});
