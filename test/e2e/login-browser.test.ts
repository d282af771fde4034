/**
 * The real-browser login path: `mcp-airlock login <url>` with $BROWSER naming a script that drives
 * Debian's Chromium (playwright-core). airlock launches it the way it launches any browser (argv,
 * no shell); Chromium signs in at the authorization server (oidc-provider) and follows the
 * redirect to airlock's loopback callback, whose page it reads.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthFixture } from '../../fixtures/auth/protected-server.mjs';
import { startAirlock, waitFor } from '../helpers/airlock-process.js';
import { chromiumBrowserScript, requireChromium } from '../helpers/chromium.js';
import { leaks, storedTokens } from '../helpers/stored-secrets.js';

interface BrowserReport {
  argv: string[];
  pages: Array<{ url: string; title: string }>;
  final?: { url: string; title: string; heading: string; text: string };
  error?: string;
}

let fixture: Awaited<ReturnType<typeof startAuthFixture>>;
let dir: string;
beforeAll(async () => {
  fixture = await startAuthFixture();
  dir = mkdtempSync(join(tmpdir(), 'airlock-chromium-login-'));
});
afterAll(async () => {
  await fixture?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('login in a real browser (Chromium through $BROWSER)', () => {
  it('Chromium signs in, reaches the loopback callback and shows success; the grant is stored; no token is printed', async (ctx) => {
    requireChromium(ctx);
    const configDir = join(dir, 'config');
    const reportPath = join(dir, 'browser-report.json');
    const env = {
      ...process.env,
      MCP_AIRLOCK_CONFIG_DIR: configDir,
      BROWSER: `${process.execPath} ${chromiumBrowserScript}`,
      AIRLOCK_TEST_BROWSER_REPORT: reportPath,
      AIRLOCK_TEST_BROWSER_LOGIN: 'erin',
    };
    const login = startAirlock(['login', fixture.url, '--storage', 'file', '--allow-http', '--auth-timeout', '60'], { env, stdin: 'ignore' });
    expect(await login.exited, login.stderr()).toBe(0);
    // login probes first and asks for the scope of the server's 401 (mcp:read), as connect would.
    expect(login.stdout()).toMatch(new RegExp(`^logged in to ${fixture.url}: issuer ${fixture.issuer}, client \\S+, scopes mcp:read, expires in \\d+ min\\n$`));
    expect(login.stderr()).toContain('Opening your browser; if it does not open, visit:\n');

    // The browser script finishes on its own (airlock does not wait for the browser).
    await waitFor(() => existsSync(reportPath), 'the browser report', 20_000);
    const report = JSON.parse(readFileSync(reportPath, 'utf8')) as BrowserReport;
    expect(report.error).toBeUndefined();
    // One argv element: the authorization URL, exactly as airlock printed it.
    expect(report.argv).toHaveLength(1);
    expect(login.stderr()).toContain(`\n  ${report.argv[0]}\n`);
    expect(new URL(report.argv[0]!).origin).toBe(fixture.issuer);
    expect(report.pages.map((p) => new URL(p.url).origin)).toEqual([fixture.issuer, fixture.issuer]);
    expect(report.final).toEqual({
      url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/callback$/),
      title: 'Logged in',
      heading: 'Logged in',
      text: 'mcp-airlock received the authorization. You can close this tab.',
    });

    const status = startAirlock(['status', '--storage', 'file', '--json'], { env, stdin: 'ignore' });
    expect(await status.exited).toBe(0);
    expect(JSON.parse(status.stdout())).toEqual([
      expect.objectContaining({ server: fixture.url, issuer: fixture.issuer, subject: 'erin', scopes: ['mcp:read'], refreshable: true, storage: 'file' }),
    ]);

    const secrets = storedTokens(configDir);
    expect(secrets).toHaveLength(2);
    expect(leaks(secrets, { 'login stdout': login.stdout(), 'login stderr': login.stderr(), 'status stdout': status.stdout(), 'status stderr': status.stderr(), report: JSON.stringify(report) })).toEqual([]);
  }, 60_000);
});
