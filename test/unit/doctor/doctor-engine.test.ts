import { describe, expect, it } from 'vitest';
import { runDoctor } from '../../../src/doctor/doctor-engine.js';
import type { DoctorOptions } from '../../../src/doctor/doctor-context.js';
import { doctorOptions } from '../../helpers/doctor-options.js';
import { plainStepReporter } from '../../../src/ui/step-reporter.js';

/** A fake network: URL -> response. Real servers are used in test/e2e/doctor.test.ts; these cover answers the fixtures do not give. */
function network(routes: Record<string, (init?: RequestInit) => Response>): typeof fetch {
  return async (input, init) => {
    const url = String(input);
    const route = routes[url];
    return route ? route(init) : new Response('{"error":"not found"}', { status: 404, headers: { 'content-type': 'application/json' } });
  };
}

const json = (body: unknown, status = 200, headers: Record<string, string> = {}) => () => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

function options(fetchImpl: typeof fetch, extra: Partial<DoctorOptions> = {}): DoctorOptions {
  return doctorOptions({ url: new URL('https://mcp.example.com/mcp'), fetch: fetchImpl, now: () => Date.UTC(2026, 0, 1), ...extra });
}

const AS = 'https://as.example.com';
const asMetadata = { issuer: AS, authorization_endpoint: `${AS}/auth`, token_endpoint: `${AS}/token`, code_challenge_methods_supported: ['S256'] };

describe('runDoctor with answers the fixtures do not give', () => {
  it('a server that needs no authorization: step 1 says so and the OAuth steps are skipped with that reason', async () => {
    /** An MCP server without auth: answers each request with its own id. */
    const open = (init?: RequestInit) => {
      const request = JSON.parse(String(init?.body)) as { id?: number; method: string };
      if (request.id === undefined) return new Response(null, { status: 202 });
      const result = request.method === 'initialize' ? { protocolVersion: '2025-11-25', capabilities: { tools: {} } } : { tools: [{ name: 'echo' }] };
      return json({ jsonrpc: '2.0', id: request.id, result })();
    };
    const report = await runDoctor(options(network({ 'https://mcp.example.com/mcp': open })));
    expect(report.steps.map((s) => [s.id, s.status, s.summary])).toEqual([
      ['unauthenticated', 'pass', 'HTTP 200 without credentials: this server needs no authorization'],
      ['resource-metadata', 'skipped', 'the server needs no authorization'],
      ['authorization-server', 'skipped', 'the server needs no authorization'],
      ['client', 'skipped', 'the server needs no authorization'],
      ['login', 'skipped', 'the server needs no authorization'],
      ['authenticated', 'pass', 'protocol 2025-11-25, 1 tool'],
    ]);
    expect(report.result).toBe('pass');
  });

  it('a 401 without a challenge, metadata at the root URL without scopes, and an AS without registration: warnings and a failure, each with its hint; JSON shape', async () => {
    const report = await runDoctor(options(network({
      'https://mcp.example.com/mcp': json({ error: 'unauthorized' }, 401),
      'https://mcp.example.com/.well-known/oauth-protected-resource': json({ resource: 'https://mcp.example.com', authorization_servers: [AS] }),
      [`${AS}/.well-known/oauth-authorization-server`]: json(asMetadata),
    })));
    expect(report).toMatchObject({ schema: 'mcp-airlock/doctor/1', target: 'https://mcp.example.com/mcp', startedAt: '2026-01-01T00:00:00.000Z', result: 'fail' });
    expect(report.steps.map((s) => `${s.id}:${s.status}`)).toEqual(['unauthenticated:warn', 'resource-metadata:warn', 'authorization-server:warn', 'client:fail', 'login:skipped', 'authenticated:skipped']);
    const checks = report.steps.flatMap((s) => s.checks.filter((c) => c.status !== 'pass').map((c) => [c.id, c.status, c.hint]));
    expect(checks).toEqual([
      ['unauth.challenge', 'warn', 'The server should answer 401 with WWW-Authenticate: Bearer resource_metadata="<its RFC 9728 metadata URL>"; airlock falls back to the well-known URLs.'],
      ['prm.scopes', 'warn', 'If the server needs a scope, pass it with --scope "<scope>"; server side, name it in the challenge (WWW-Authenticate: Bearer scope="...") or in scopes_supported.'],
      ['as.registration', 'warn', 'Register a client with the server operator (native app, redirect http://127.0.0.1/callback) and pass --client-id.'],
      ['client.registration', 'fail', 'Register a client with the server operator (native app, redirect http://127.0.0.1/callback) and pass --client-id (and --client-secret-env for a confidential one).'],
    ]);
    expect(report.steps[1]!.exchanges.map((e) => `${e.url} ${e.status}`)).toEqual([
      'https://mcp.example.com/.well-known/oauth-protected-resource/mcp 404',
      'https://mcp.example.com/.well-known/oauth-protected-resource 200',
    ]);
    for (const step of report.steps) expect(Object.keys(step).filter((k) => !['id', 'title', 'status', 'summary', 'checks', 'exchanges', 'hint', 'facts'].includes(k))).toEqual([]);
  });

  it('a same-origin 307 on the MCP URL (Starlette: /mcp to /mcp/) is followed as connect follows it; another origin is not', async () => {
    const challenge = 'Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp/"';
    const moved = (to: string) => () => new Response(null, { status: 307, headers: { location: to } });
    const report = await runDoctor(options(network({
      'https://mcp.example.com/mcp': moved('/mcp/'),
      'https://mcp.example.com/mcp/': json({ error: 'unauthorized' }, 401, { 'www-authenticate': challenge }),
    })));
    expect(report.steps[0]!.exchanges.map((e) => `${e.method} ${e.url} ${e.status}`)).toEqual(['POST https://mcp.example.com/mcp 307', 'POST https://mcp.example.com/mcp/ 401']);
    expect(report.steps[0]!.status).toBe('pass');
    const elsewhere = await runDoctor(options(network({ 'https://mcp.example.com/mcp': moved('https://evil.example/mcp') })));
    expect(elsewhere.steps[0]!.exchanges.map((e) => `${e.url} ${e.status}`)).toEqual(['https://mcp.example.com/mcp 307']);
    expect(elsewhere.steps[0]!.status).toBe('fail');
  });

  it('the client step makes the login\'s own choice: a --client-metadata-url that cannot be a client_id fails there, as the login would', async () => {
    const challenge = 'Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"';
    const report = await runDoctor(options(network({
      'https://mcp.example.com/mcp': json({ error: 'unauthorized' }, 401, { 'www-authenticate': challenge }),
      'https://mcp.example.com/.well-known/oauth-protected-resource/mcp': json({ resource: 'https://mcp.example.com/mcp', authorization_servers: [AS], scopes_supported: ['s'] }),
      [`${AS}/.well-known/oauth-authorization-server`]: json({ ...asMetadata, client_id_metadata_document_supported: true }),
    }), { clientMetadataUrl: 'http://example.com/client.json' }));
    expect(report.steps[3]!.checks).toEqual([{
      id: 'client.registration',
      status: 'fail',
      message: '--client-metadata-url must be an https URL with a path, not "http://example.com/client.json"',
      spec: 'MCP 2025-11-25 Client Registration Approaches; draft-ietf-oauth-client-id-metadata-document §3',
      hint: 'Publish the client metadata document at an https URL such as https://example.com/mcp-airlock/client.json.',
    }]);
  });

  it('metadata for another resource: prm.resource-matches fails, the AS is still examined, and --login is skipped because the login would refuse', async () => {
    const challenge = 'Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"';
    const report = await runDoctor(options(network({
      'https://mcp.example.com/mcp': json({ error: 'unauthorized' }, 401, { 'www-authenticate': challenge }),
      'https://mcp.example.com/.well-known/oauth-protected-resource/mcp': json({ resource: 'https://other.example.com/mcp', authorization_servers: [AS], scopes_supported: ['s'] }),
      [`${AS}/.well-known/oauth-authorization-server`]: json({ ...asMetadata, registration_endpoint: `${AS}/reg` }),
    }), { login: true }));
    expect(report.steps.map((s) => `${s.id}:${s.status}`)).toEqual(['unauthenticated:pass', 'resource-metadata:fail', 'authorization-server:pass', 'client:pass', 'login:skipped', 'authenticated:skipped']);
    expect(report.steps[1]!.checks.find((c) => c.id === 'prm.resource-matches')).toEqual({
      id: 'prm.resource-matches',
      status: 'fail',
      message: 'the metadata at "https://mcp.example.com/.well-known/oauth-protected-resource/mcp" is for "https://other.example.com/mcp", not for "https://mcp.example.com/mcp"',
      spec: 'RFC 9728 §3.3',
      hint: 'Metadata for another resource must not be used: publish "resource": "https://mcp.example.com/mcp" (the URL clients connect to), or check the server URL you gave.',
    });
    expect(report.steps[4]!.summary).toBe("airlock's login would refuse: prm.resource-matches failed");
  });

  it('reports through the StepReporter: one block per step and the summary line', async () => {
    let out = '';
    const reporter = plainStepReporter({ write: (text: string) => ((out += text), true) } as unknown as NodeJS.WritableStream);
    await runDoctor({ ...options(network({ 'https://mcp.example.com/mcp': () => new Response('nope', { status: 404 }) })), reporter });
    expect(out.split('\n').filter((l) => /^(PASS|WARN|FAIL|SKIP) /.test(l) || l.startsWith('doctor '))).toEqual([
      'FAIL  Unauthenticated request: HTTP 404, expected 401',
      'FAIL  Protected resource metadata: not found at 4 URLs',
      'SKIP  Authorization server metadata: no authorization server is known (see resource-metadata)',
      'SKIP  Client registration: no usable authorization server metadata (see authorization-server)',
      'SKIP  Login and token: pass --login to log in and check the token',
      'SKIP  Authenticated initialize and tools/list: no access token: pass --login',
      'doctor https://mcp.example.com/mcp: FAILED (0 passed, 0 warnings, 2 failed, 4 skipped)',
    ]);
    expect(out).toContain('      FAIL unauth.status: HTTP 404 Not Found from https://mcp.example.com/mcp: "nope"');
    expect(out).toContain('      hint: Check the path of the MCP endpoint: often /mcp (streamable HTTP) or /sse (the legacy HTTP+SSE transport); see --transport.');
  });
});
