/**
 * Issue 20: an endless auth document took airlock to 2 GiB and a kill. `mcp-airlock login` as a
 * user runs it, against a server whose resource metadata never ends: the run fails at once with
 * an error naming the URL and the limit, and its peak memory (VmHWM, read from /proc while it
 * runs) stays far below what it was offered. The server gives up after 256 MiB, so that an airlock
 * without the limit ends too (it then read all of it, and fell back to the 2025-03-26 discovery).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startAirlock } from '../helpers/airlock-process.js';
import { sendJson, startOversizedServer, type OversizedServer } from '../helpers/oversized-server.js';

const dir = mkdtempSync(join(tmpdir(), 'airlock-doc-limits-'));
let server: OversizedServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Peak resident set size of a running process in KiB (Linux), or undefined once it is gone. */
function peakRssKiB(pid: number): number | undefined {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

describe.runIf(process.platform === 'linux')('an endless resource metadata document', () => {
  it('login stops with an error naming the URL and the limit, and its peak RSS stays small', async () => {
    server = await startOversizedServer((req, res, origin) => {
      if (req.url === '/mcp') {
        res.writeHead(401, { 'www-authenticate': `Bearer resource_metadata="${origin}/.well-known/oauth-protected-resource/mcp"` }).end();
        return;
      }
      if (req.url === '/.well-known/oauth-protected-resource/mcp') return 'endless';
      return sendJson(res, 404, { error: 'not found' });
    }, 256 * 1024 * 1024);
    const proc = startAirlock(['login', `${server.origin}/mcp`, '--storage', 'file', '--allow-http', '--no-browser'], {
      env: { ...process.env, MCP_AIRLOCK_CONFIG_DIR: dir },
      stdin: 'ignore',
    });
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, peakRssKiB(proc.child.pid!) ?? 0)), 20);
    let code: number;
    try {
      code = await proc.exited;
    } finally {
      clearInterval(sampler);
    }
    const sent = server.sent.reduce((sum, s) => sum + s.bytes, 0);
    console.log(`login against an endless resource metadata document: peak RSS ${(peak / 1024).toFixed(1)} MiB, ${(sent / 1024 / 1024).toFixed(1)} MiB sent before airlock stopped reading`);
    const metadataUrl = `${server.origin}/.well-known/oauth-protected-resource/mcp`;
    expect(proc.stderr()).toContain(`the protected resource metadata at "${metadataUrl}" is larger than the 1 MiB accepted; not read further`);
    expect(code).not.toBe(0);
    // No fallback to the 2025-03-26 discovery at the server's origin.
    expect(server.requests.filter((r) => r.includes('oauth-authorization-server') || r.includes('openid-configuration'))).toEqual([]);
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThan(200 * 1024);
    expect(sent).toBeLessThan(32 * 1024 * 1024);
  }, 120_000);
});
