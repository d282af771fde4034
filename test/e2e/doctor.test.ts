/**
 * `mcp-airlock doctor` as a real process against the real authorization server fixture
 * (oidc-provider) and the protected MCP server, healthy and broken one rule at a time: each broken
 * variant must produce the exact failing step, check and hint in the JSON output (issue 5). The
 * login runs with --no-browser; the test's headless browser opens the URL doctor prints on stderr.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthorizationServer } from '../../fixtures/auth/authorization-server.mjs';
import { startAuthFixture } from '../../fixtures/auth/protected-server.mjs';
import type { DoctorReport, DoctorStep } from '../../src/doctor/doctor-report.js';
import { startAirlock, startServe, stdioFixture, type AirlockProcess } from '../helpers/airlock-process.js';
import { HeadlessBrowser } from '../helpers/headless-browser.js';
import { closedPort } from '../helpers/loopback.js';

type Fixture = Awaited<ReturnType<typeof startAuthFixture>>;

interface Run {
  code: number;
  report: DoctorReport;
  proc: AirlockProcess;
  browser?: HeadlessBrowser;
}

const base = ['--json', '--allow-http', '--no-browser'];

/** Run doctor --json; with `login`, log in through the URL it prints on stderr. */
async function doctor(url: string, args: string[] = [], login = false): Promise<Run> {
  const proc = startAirlock(['doctor', url, ...base, ...args], { stdin: 'ignore' });
  let browser: HeadlessBrowser | undefined;
  if (login) {
    const match = await proc.waitForStderr(/Open this URL to log in: (\S+)/);
    browser = new HeadlessBrowser({ login: 'dana' });
    await browser.navigate(match[1]!);
  }
  const code = await proc.exited;
  let report: DoctorReport;
  try {
    report = JSON.parse(proc.stdout()) as DoctorReport;
  } catch {
    throw new Error(`doctor printed no JSON (exit ${code}); stderr:\n${proc.stderr()}\nstdout:\n${proc.stdout()}`);
  }
  return { code, report, proc, ...(browser ? { browser } : {}) };
}

function step(report: DoctorReport, id: string): DoctorStep {
  const found = report.steps.find((s) => s.id === id);
  if (!found) throw new Error(`no step ${id}`);
  return found;
}

function checkOf(report: DoctorReport, stepId: string, checkId: string) {
  const found = step(report, stepId).checks.find((c) => c.id === checkId);
  if (!found) throw new Error(`no check ${checkId} in ${stepId}: ${JSON.stringify(step(report, stepId))}`);
  return found;
}

/** The steps that did not pass, as "id:status". */
function notPassed(report: DoctorReport): string[] {
  return report.steps.filter((s) => s.status !== 'pass').map((s) => `${s.id}:${s.status}`);
}

/** No JWT, and no secret field with a value, anywhere in what doctor printed. */
function expectNoSecrets(run: Run, extra: string[] = []): void {
  const all = run.proc.stdout() + run.proc.stderr();
  expect(all).not.toMatch(/eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}/);
  expect(all).not.toMatch(/"(access_token|refresh_token|id_token|client_secret|code_verifier|registration_access_token)":"(?!\[REDACTED\])/);
  expect(all).not.toMatch(/(^|[?&\s])(code|code_verifier|refresh_token|client_secret)=(?!%5BREDACTED%5D|\[REDACTED\])[^&\s"]+/);
  for (const secret of extra) expect(all).not.toContain(secret);
}


describe('doctor against a healthy server', () => {
  let fixture: Fixture;
  beforeAll(async () => {
    fixture = await startAuthFixture();
  });
  afterAll(async () => fixture?.close());

  it('--register --login --verbose: every step passes, exit 0, and no token, code or secret is printed', async () => {
    const run = await doctor(fixture.url, ['--register', '--login', '--verbose'], true);
    expect(run.code).toBe(0);
    const { report } = run;
    expect(report.schema).toBe('mcp-airlock/doctor/1');
    expect(report.result).toBe('pass');
    expect(report.steps.map((s) => `${s.id}:${s.status}`)).toEqual([
      'unauthenticated:pass', 'resource-metadata:pass', 'authorization-server:pass', 'client:pass', 'login:pass', 'authenticated:pass',
    ]);
    expect(checkOf(report, 'login', 'token.audience').message).toBe(`aud "${fixture.url}" includes the resource "${fixture.url}"`);
    expect(step(report, 'authenticated').facts).toMatchObject({ protocolVersion: '2025-11-25', tools: expect.any(Number) });
    expect(step(report, 'authenticated').facts!['tools']).toBeGreaterThan(0);
    // Exchanges are recorded, masked: the token request and the bearer header.
    const token = step(report, 'login').exchanges.find((e) => e.url.endsWith('/token'))!;
    expect(token.requestBody).toMatch(/code=%5BREDACTED%5D/);
    expect(token.requestBody).toMatch(/code_verifier=%5BREDACTED%5D/);
    expect(token.body).toMatch(/"access_token":"\[REDACTED\]"/);
    expect(token.body).toMatch(/"refresh_token":"\[REDACTED\]"/);
    const init = step(report, 'authenticated').exchanges[0]!;
    expect(init.requestHeaders?.['authorization']).toBe('Bearer [REDACTED]');
    const code = run.browser!.visited.map((u) => new URL(u).searchParams.get('code')).find((c) => c !== null)!;
    expect(code).toBeTruthy();
    expectNoSecrets(run, [code]);
  });

  it('text output: one line per step, the checks under it, and the summary line; auth debug is the same command', async () => {
    const proc = startAirlock(['doctor', fixture.url, '--allow-http'], { stdin: 'ignore' });
    expect(await proc.exited).toBe(0);
    const lines = proc.stdout().split('\n');
    expect(lines.filter((l) => /^(PASS|WARN|FAIL|SKIP) {2}/.test(l))).toEqual([
      expect.stringMatching(/^PASS {2}Unauthenticated request: HTTP 401, Bearer challenge, resource_metadata, scope "mcp:read"$/),
      expect.stringMatching(/^PASS {2}Protected resource metadata: /),
      expect.stringMatching(/^PASS {2}Authorization server metadata: /),
      expect.stringMatching(/^PASS {2}Client registration: dynamic registration at ".*\/reg" \(not tried; --register tries it\)$/),
      'SKIP  Login and token: pass --login to log in and check the token',
      'SKIP  Authenticated initialize and tools/list: no access token: pass --login',
    ]);
    expect(lines).toContain(`      GET ${fixture.url.replace('/mcp', '/.well-known/oauth-protected-resource/mcp')} -> 200`);
    expect(lines.at(-2)).toBe(`doctor ${fixture.url}: all checks passed (4 passed, 0 warnings, 0 failed, 2 skipped)`);

    const alias = await doctor(fixture.url, [], false);
    const viaAuthDebug = startAirlock(['auth', 'debug', fixture.url, ...base], { stdin: 'ignore' });
    expect(await viaAuthDebug.exited).toBe(0);
    const aliased = JSON.parse(viaAuthDebug.stdout()) as DoctorReport;
    expect(aliased.steps.map((s) => [s.id, s.status])).toEqual(alias.report.steps.map((s) => [s.id, s.status]));
  });
});

describe('doctor against broken servers: the exact failing step, check and hint', () => {
  const started: Fixture[] = [];
  async function fixture(options: Parameters<typeof startAuthFixture>[0]): Promise<Fixture> {
    const f = await startAuthFixture(options);
    started.push(f);
    return f;
  }
  afterAll(async () => {
    await Promise.all(started.map((f) => f.close()));
  });

  it('no protected resource metadata: resource-metadata fails with every URL tried in spec order; later steps are skipped', async () => {
    const f = await fixture({ prm: 'none' });
    // --login too: the login must be skipped, not attempted, once discovery has failed.
    const { code, report } = await doctor(f.url, ['--login']);
    expect(code).toBe(1);
    const origin = new URL(f.url).origin;
    // The spec's two URLs, then the MCP 2025-03-26 fallback's: authorization server metadata at the origin.
    expect(step(report, 'resource-metadata').exchanges.map((e) => `${e.method} ${e.url} ${e.status}`)).toEqual([
      `GET ${origin}/.well-known/oauth-protected-resource/mcp 404`,
      `GET ${origin}/.well-known/oauth-protected-resource 404`,
      `GET ${origin}/.well-known/oauth-authorization-server 404`,
      `GET ${origin}/.well-known/openid-configuration 404`,
    ]);
    expect(checkOf(report, 'resource-metadata', 'prm.found')).toEqual({
      id: 'prm.found',
      status: 'fail',
      message: `no protected resource metadata; tried "${origin}/.well-known/oauth-protected-resource/mcp" (404); "${origin}/.well-known/oauth-protected-resource" (404); nor authorization server metadata at the server's origin (the MCP 2025-03-26 fallback); tried "${origin}/.well-known/oauth-authorization-server" (404); "${origin}/.well-known/openid-configuration" (404)`,
      spec: 'RFC 9728 §3; MCP 2025-11-25 Protected Resource Metadata Discovery',
      hint: `The server must publish RFC 9728 metadata at ${origin}/.well-known/oauth-protected-resource/mcp (or name its URL in WWW-Authenticate resource_metadata); if it takes an API key instead, pass it with --header "Authorization: Bearer \${TOKEN}". (A 2025-03-26 server with only /authorize, /token and /register at its origin is still tried by connect and login.)`,
    });
    expect(notPassed(report)).toEqual(['resource-metadata:fail', 'authorization-server:skipped', 'client:skipped', 'login:skipped', 'authenticated:skipped']);
    expect(step(report, 'authorization-server').summary).toBe('no authorization server is known (see resource-metadata)');
    expect(step(report, 'login').summary).toBe("airlock's login would refuse: prm.found failed");
  });

  it('a 2025-03-26 server (no resource metadata, its origin is the authorization server): a warning, then the login connect would do', async () => {
    const f = await fixture({ prm: 'none', legacyAuthorizationServer: 'metadata' });
    const run = await doctor(f.url, ['--login'], true);
    const origin = new URL(f.url).origin;
    expect(notPassed(run.report)).toEqual(['resource-metadata:warn']);
    expect(run.code).toBe(2);
    expect(checkOf(run.report, 'resource-metadata', 'prm.found')).toMatchObject({
      status: 'warn',
      message: expect.stringContaining(`airlock falls back to MCP 2025-03-26: the server's origin "${origin}" publishes authorization server metadata, and is used as the authorization server`),
      hint: `It works, but clients of MCP 2025-06-18 and later need RFC 9728 metadata: publish it at ${origin}/.well-known/oauth-protected-resource/mcp.`,
    });
    expect(checkOf(run.report, 'authorization-server', 'as.issuer-matches').message).toBe(`issuer "${origin}" is the one named`);
    expect(step(run.report, 'authenticated').facts).toMatchObject({ protocolVersion: '2025-11-25' });
  });

  it('issuer mismatch: authorization-server fails on as.issuer-matches, and --login is skipped because the login would refuse', async () => {
    const f = await fixture({ metadataIssuer: 'http://127.0.0.1:1/impostor' });
    const { code, report } = await doctor(f.url, ['--login']);
    expect(code).toBe(1);
    const c = checkOf(report, 'authorization-server', 'as.issuer-matches');
    expect(c.status).toBe('fail');
    expect(c.message).toBe(`the metadata at "${f.issuer}/.well-known/oauth-authorization-server" names issuer "http://127.0.0.1:1/impostor", expected "${f.issuer}"`);
    expect(c.hint).toBe('List exactly "http://127.0.0.1:1/impostor" in the server\'s authorization_servers (if that is the right server), or fix the issuer the authorization server publishes; airlock will not use metadata whose issuer differs (mix-up protection).');
    expect(step(report, 'authorization-server').hint).toBe(c.hint);
    expect(notPassed(report)).toEqual(['authorization-server:fail', 'login:skipped', 'authenticated:skipped']);
    expect(step(report, 'login').summary).toBe("airlock's login would refuse: as.issuer-matches failed");
  });

  it('no S256 advertised: as.pkce-s256 fails with the --assume-s256 hint naming Cognito and Entra; with --assume-s256 it is a warning and exit 2', async () => {
    const f = await fixture({ advertiseS256: false });
    const { code, report } = await doctor(f.url);
    expect(code).toBe(1);
    expect(checkOf(report, 'authorization-server', 'as.pkce-s256')).toMatchObject({
      status: 'fail',
      message: 'code_challenge_methods_supported is absent: airlock refuses to log in without PKCE S256',
      hint: 'AWS Cognito and some Entra ID configurations omit code_challenge_methods_supported while supporting S256: if this server does, pass --assume-s256; otherwise enable PKCE S256 on the authorization server and advertise it in its metadata.',
    });
    const assumed = await doctor(f.url, ['--assume-s256']);
    expect(assumed.code).toBe(2);
    expect(assumed.report.result).toBe('warn');
    expect(notPassed(assumed.report)).toEqual(['authorization-server:warn', 'login:skipped', 'authenticated:skipped']);
    expect(checkOf(assumed.report, 'authorization-server', 'as.pkce-s256')).toMatchObject({ status: 'warn', message: 'code_challenge_methods_supported is absent; S256 is used anyway (--assume-s256)' });
  });

  it('a trailing-slash resource: prm.resource-canonical warns with the Entra hint; warnings only exit 2', async () => {
    const port = await closedPort();
    const f = await fixture({ port, prmResource: `http://127.0.0.1:${port}/mcp/` });
    const { code, report } = await doctor(f.url);
    expect(code).toBe(2);
    expect(notPassed(report)).toEqual(['resource-metadata:warn', 'login:skipped', 'authenticated:skipped']);
    expect(checkOf(report, 'resource-metadata', 'prm.resource-canonical')).toEqual({
      id: 'prm.resource-canonical',
      status: 'warn',
      message: `resource "${f.url}/" has a trailing slash; airlock sends "${f.url}"`,
      spec: 'RFC 8707 §2; MCP 2025-11-25 Canonical Server URI',
      hint: `Entra ID, for one, rejects a resource that differs by a trailing slash (AADSTS9010010): publish "resource": "${f.url}" in the server's protected resource metadata (airlock sends that form), or, if the authorization server only knows "${f.url}/", pass --resource "${f.url}/".`,
    });
  });

  it('a Keycloak-style path issuer: the metadata is found at the third URL in spec order, and everything passes', async () => {
    const f = await fixture({ issuerPath: '/realms/dev' });
    const { code, report } = await doctor(f.url);
    expect(code).toBe(0);
    const origin = new URL(f.issuer).origin;
    expect(step(report, 'authorization-server').exchanges.map((e) => `${e.url} ${e.status}`)).toEqual([
      `${origin}/.well-known/oauth-authorization-server/realms/dev 404`,
      `${origin}/.well-known/openid-configuration/realms/dev 404`,
      `${origin}/realms/dev/.well-known/openid-configuration 200`,
    ]);
    expect(checkOf(report, 'authorization-server', 'as.found').message).toBe(`found at "${origin}/realms/dev/.well-known/openid-configuration" (URL 3 of 3 in spec order)`);
  });

  it('registration answers 400: client fails on client.registration with the refusal quoted and the Keycloak policy hint for a realm issuer', async () => {
    const f = await fixture({ registrationError: 'invalid_client_metadata', issuerPath: '/realms/dev' });
    const { code, report } = await doctor(f.url, ['--register', '--verbose']);
    expect(code).toBe(1);
    expect(notPassed(report)).toEqual(['client:fail', 'login:skipped', 'authenticated:skipped']);
    expect(checkOf(report, 'client', 'client.registration')).toEqual({
      id: 'client.registration',
      status: 'fail',
      message: `client registration at "${f.issuer}/reg" was refused (HTTP 400) "invalid_client_metadata": "registration refused by the test fixture"`,
      spec: 'RFC 7591 §3.2.2',
      hint: "Keycloak's client registration policies refused the anonymous registration (Trusted Hosts, Allowed Client Scopes, Consent Required): in the realm's Clients → Client registration → Anonymous access policies, allow 127.0.0.1 and the scopes, or register a client and pass --client-id.",
    });
    const exchange = step(report, 'client').exchanges[0]!;
    expect(exchange).toMatchObject({ method: 'POST', url: `${f.issuer}/reg`, status: 400 });
    expect(JSON.parse(exchange.requestBody!)).toMatchObject({ application_type: 'native', redirect_uris: ['http://127.0.0.1/callback'] });
  });

  it('a token for another audience: login fails on token.audience, authenticated on mcp.token-accepted, both with the audience hint', async () => {
    const f = await fixture({ tokenAudience: 'https://other.example/mcp' });
    const run = await doctor(f.url, ['--login'], true);
    expect(run.code).toBe(1);
    const { report } = run;
    expect(notPassed(report)).toEqual(['login:fail', 'authenticated:fail']);
    const hint = `Configure the authorization server to issue tokens for the resource indicator (RFC 8707) "${f.url}", or pass --resource with the audience the MCP server expects.`;
    expect(checkOf(report, 'login', 'token.audience')).toEqual({
      id: 'token.audience',
      status: 'fail',
      message: `the access token is for audience "https://other.example/mcp", not for the resource "${f.url}"`,
      spec: 'RFC 8707 §2; RFC 9068 §4; MCP 2025-11-25 Token Audience Binding',
      hint,
    });
    expect(checkOf(report, 'authenticated', 'mcp.token-accepted')).toMatchObject({
      status: 'fail',
      message: 'the server rejected the access token on initialize (HTTP 401: "invalid_token" ("the access token is not valid"))',
      hint,
    });
    expectNoSecrets(run);
  });

  it('a server that needs a scope it never asks for: authenticated fails on mcp.scope-sufficient, the hint names the --scope to pass', async () => {
    const f = await fixture({ requiredScope: 'mcp:write' });
    const run = await doctor(f.url, ['--login'], true);
    expect(run.code).toBe(1);
    const { report } = run;
    expect(notPassed(report)).toEqual(['authenticated:fail']);
    expect(checkOf(report, 'login', 'token.scopes').message).toBe('scopes "mcp:read"');
    expect(checkOf(report, 'authenticated', 'mcp.scope-sufficient')).toEqual({
      id: 'mcp.scope-sufficient',
      status: 'fail',
      message: 'the server needs scope "mcp:write" for initialize; the token has "mcp:read"',
      spec: 'RFC 6750 §3.1; MCP 2025-11-25 Step-Up Authorization Flow',
      hint: 'Pass --scope "mcp:read mcp:write"; server side, name the scope in the 401 challenge (scope="mcp:write") or in scopes_supported so clients ask for it up front.',
    });
    expect(step(report, 'authenticated').hint).toBe(checkOf(report, 'authenticated', 'mcp.scope-sufficient').hint);
    // With the scope the hint names, the same server passes.
    const fixed = await doctor(f.url, ['--login', '--scope', 'mcp:read mcp:write'], true);
    expect(fixed.code).toBe(0);
    expect(step(fixed.report, 'authenticated').status).toBe('pass');
  });
});

describe('doctor: metadata it must not read whole', () => {
  it('an endless resource metadata document fails prm.found at the 1 MiB limit, without the 2025-03-26 fallback', async () => {
    const { startOversizedServer } = await import('../helpers/oversized-server.js');
    const server = await startOversizedServer((req, res, origin) => {
      if (req.url === '/mcp') {
        res.writeHead(401, { 'www-authenticate': `Bearer resource_metadata="${origin}/.well-known/oauth-protected-resource/mcp"` }).end();
        return;
      }
      if (req.url === '/.well-known/oauth-protected-resource/mcp') return 'endless';
      res.writeHead(404).end();
    });
    try {
      const { report } = await doctor(`${server.origin}/mcp`);
      const found = checkOf(report, 'resource-metadata', 'prm.found');
      expect(found.status).toBe('fail');
      expect(found.message).toContain('larger than the 1 MiB accepted');
      // Nothing past the limit was wanted: the fallback's origin metadata was never asked for.
      expect(server.requests.filter((r) => r.includes('oauth-authorization-server'))).toEqual([]);
    } finally {
      await server.close();
    }
  });
});

describe('doctor: servers that need no OAuth step at all', () => {
  it('a closed port: the refusal is said once, and the OAuth steps are skipped instead of repeating it (regression: ECONNREFUSED four times)', async () => {
    const port = await closedPort();
    const url = `http://127.0.0.1:${port}/mcp`;
    const { code, report, proc } = await doctor(url);
    expect(code).toBe(1);
    expect(report.steps.map((s) => `${s.id}:${s.status}`)).toEqual([
      'unauthenticated:fail', 'resource-metadata:skipped', 'authorization-server:skipped', 'client:skipped', 'login:skipped', 'authenticated:skipped',
    ]);
    for (const later of report.steps.slice(1)) expect(later.summary).toBe('the server cannot be reached (see unauthenticated)');
    expect(proc.stdout().match(/connection refused/g)).toHaveLength(2); // the step's summary and its one check
    const plain = startAirlock(['doctor', url, '--plain'], { stdin: 'ignore' });
    expect(await plain.exited).toBe(1);
    expect(plain.stdout().split('\n').filter((line) => /ECONNREFUSED|connection refused/.test(line)).length).toBeLessThanOrEqual(3);
  });

  it('a working legacy SSE endpoint without auth passes: the server needs no authorization (regression: a FAIL about RFC 9728 metadata)', async () => {
    const { startFixtureHttpServer } = await import('../../fixtures/lib/http-fixture.mjs');
    const server = await startFixtureHttpServer({ only: 'sse' });
    try {
      const { code, report } = await doctor(`${server.url}/sse`);
      expect(code).toBe(0);
      expect(report.result).toBe('pass');
      expect(report.steps.map((s) => `${s.id}:${s.status}`)).toEqual([
        'unauthenticated:pass', 'resource-metadata:skipped', 'authorization-server:skipped', 'client:skipped', 'login:skipped', 'authenticated:skipped',
      ]);
      expect(step(report, 'unauthenticated').summary).toBe('a legacy HTTP+SSE endpoint: its event stream opened without credentials (HTTP 200); this server needs no authorization');
      expect(step(report, 'unauthenticated').exchanges.map((e) => `${e.method} ${e.status}`)).toEqual(['POST 405', 'GET 200']);
      expect(step(report, 'resource-metadata').summary).toBe('the server needs no authorization');
    } finally {
      await server.close();
    }
  });
});

describe('doctor --login with a DPoP-bound token (oidc-provider features.dPoP, serve as the resource server)', () => {
  let as: Awaited<ReturnType<typeof startAuthorizationServer>>;
  const resources: string[] = [];
  const serves: AirlockProcess[] = [];
  beforeAll(async () => {
    as = await startAuthorizationServer({ resources, dpop: {} });
  });
  afterAll(async () => {
    await Promise.all(serves.map((s) => s.stop()));
    await as?.close();
  });

  async function serveDpop(extra: string[] = []): Promise<string> {
    const serve = await startServe(['--oauth-issuer', as.issuer, '--oauth-scopes', 'mcp:read', '--oauth-require-dpop', ...extra, '--no-audit', '--', process.execPath, stdioFixture]);
    serves.push(serve);
    resources.push(`${serve.url}/mcp`);
    return `${serve.url}/mcp`;
  }

  it('sends the token as "Authorization: DPoP" with a proof per request (regression: Bearer, refused as a downgrade)', async () => {
    const mcp = await serveDpop();
    const run = await doctor(mcp, ['--login', '--verbose'], true);
    const { report } = run;
    expect(notPassed(report), JSON.stringify(step(report, 'authenticated'), null, 2)).toEqual([]);
    expect(run.code).toBe(0);
    expect(step(report, 'login').facts).toMatchObject({ tokenType: 'DPoP' });
    expect(step(report, 'login').summary).toMatch(/^DPoP-bound token from "/);
    const requests = step(report, 'authenticated').exchanges;
    expect(requests.map((e) => `${e.method} ${e.status}`)).toEqual(['POST 200', 'POST 202', 'POST 200', 'DELETE 200']);
    for (const e of requests) {
      expect(e.requestHeaders?.['authorization']).toBe('DPoP [REDACTED]');
      expect(e.requestHeaders?.['dpop']).toBe('[REDACTED]');
    }
    expectNoSecrets(run);
  });

  it('answers serve --oauth-dpop-nonce\'s use_dpop_nonce once, then sends the nonce with every proof', async () => {
    const mcp = await serveDpop(['--oauth-dpop-nonce']);
    const run = await doctor(mcp, ['--login'], true);
    expect(notPassed(run.report), JSON.stringify(step(run.report, 'authenticated'), null, 2)).toEqual([]);
    expect(step(run.report, 'authenticated').exchanges.map((e) => `${e.method} ${e.status}`)).toEqual(['POST 401', 'POST 200', 'POST 202', 'POST 200', 'DELETE 200']);
  });
});
