/**
 * The steps `mcp-airlock login` shows, driven by a real AuthSession's LoginProgress events against
 * the real authorization server fixture (oidc-provider) and protected MCP server. The reporter
 * records every update, so the tests see the actual sequence of step ids and statuses.
 */
import { describe, expect, it } from 'vitest';
import { startAuthFixture } from '../../../fixtures/auth/protected-server.mjs';
import { AuthSession, type AuthOptions } from '../../../src/auth/auth-session.js';
import type { LoginProgress } from '../../../src/auth/login-progress.js';
import { LoginSteps } from '../../../src/cli/login-steps.js';
import { createLogger } from '../../../src/log.js';
import type { StepReporter, StepUpdate } from '../../../src/ui/step-reporter.js';
import { HeadlessBrowser } from '../../helpers/headless-browser.js';
import { MemoryGrantStore } from '../../helpers/memory-grant-store.js';
import { useAuthFixtures } from '../../helpers/auth-fixtures.js';

type Fixture = Awaited<ReturnType<typeof startAuthFixture>>;

const fixture = useAuthFixtures();

/** A reporter that keeps every call, in order. */
function recordingReporter() {
  const calls: Array<{ id: string; update: StepUpdate } | { notice: string } | { finish: string; outcome?: string }> = [];
  const reporter: StepReporter = {
    step: (id, update) => calls.push({ id, update }),
    notice: (text) => calls.push({ notice: text }),
    finish: async (summary, outcome) => {
      calls.push({ finish: summary, outcome });
    },
  };
  /** "id:status" for each update that sets a status. */
  const statuses = () => calls.flatMap((c) => ('id' in c && c.update.status ? [`${c.id}:${c.update.status}`] : []));
  return { reporter, calls, statuses };
}

async function run(f: Fixture, { onEvent, ...options }: Partial<AuthOptions> & { onEvent?: (event: LoginProgress) => void } = {}) {
  const events: LoginProgress[] = [];
  const { reporter, calls, statuses } = recordingReporter();
  const steps = new LoginSteps(reporter, { grant: options.grant ?? 'authorization_code', noBrowser: true });
  const browser = new HeadlessBrowser();
  const session = new AuthSession({
    serverUrl: f.url,
    store: new MemoryGrantStore(),
    log: createLogger('silent'),
    openUrl: browser.open,
    allowHttp: true,
    authTimeoutMs: 10_000,
    onProgress: (event) => {
      events.push(event);
      steps.onProgress(event);
      onEvent?.(event);
    },
    ...options,
  });
  steps.start();
  try {
    await steps.succeeded(await session.login());
  } catch (error) {
    await steps.failed(error);
  }
  return { events, calls, statuses, browser, session };
}

describe('login steps from the progress events of a real login', () => {
  it('browser login: resource metadata, AS metadata, DCR client, authorization (URL as a notice), tokens, in that order', async () => {
    const f = await fixture();
    const { events, calls, statuses } = await run(f, { noBrowser: false });
    expect(events.map((e) => e.step)).toEqual(['resource-metadata', 'server-metadata', 'client', 'authorization', 'tokens']);
    expect(events[0]).toMatchObject({ step: 'resource-metadata', resource: f.url, authorizationServer: f.issuer, url: `${new URL(f.url).origin}/.well-known/oauth-protected-resource/mcp` });
    expect(events[1]).toEqual({ step: 'server-metadata', issuer: f.issuer });
    expect(events[2]).toMatchObject({ step: 'client', method: 'dynamic', reused: false });
    expect(events[3]).toMatchObject({ step: 'authorization', via: 'browser', url: expect.stringMatching(new RegExp(`^${f.issuer}/auth\\?`)) });
    expect(events[4]).toMatchObject({ step: 'tokens', scope: expect.stringContaining('mcp:read'), subject: 'alice', expiresAt: expect.any(Number) });
    expect(JSON.stringify(events)).not.toMatch(/access_?token|refresh_?token/i);

    expect(statuses()).toEqual([
      'resource:running', 'resource:pass',
      'server:running', 'server:pass',
      'client:running', 'client:pass',
      'authorize:running', 'authorize:pass',
      'tokens:running', 'tokens:pass',
    ]);
    const notice = calls.find((c) => 'notice' in c) as { notice: string };
    expect(notice.notice).toBe(`Open this URL to log in:\n  ${(events[3] as { url: string }).url}`);
    // The notice comes while the authorization step runs, before it passes.
    expect(calls.indexOf(notice)).toBeLessThan(calls.findIndex((c) => 'id' in c && c.id === 'authorize' && c.update.status === 'pass'));
    expect(calls.at(-1)).toEqual({ finish: `logged in to ${f.url}`, outcome: 'pass' });
  });

  it('a second forced login reuses the stored registration and says so', async () => {
    const f = await fixture();
    const store = new MemoryGrantStore();
    await run(f, { store });
    const events: LoginProgress[] = [];
    const browser = new HeadlessBrowser();
    const session = new AuthSession({ serverUrl: f.url, store, log: createLogger('silent'), openUrl: browser.open, allowHttp: true, authTimeoutMs: 10_000, onProgress: (e) => events.push(e) });
    await session.login({ force: true });
    expect(events.find((e) => e.step === 'client')).toMatchObject({ method: 'dynamic', reused: true });
  });

  it('device grant: the user code and verification URI as a notice, then tokens', async () => {
    const f = await fixture();
    let approval: Promise<unknown> | undefined;
    const { events, calls, statuses } = await run(f, {
      grant: 'device_code',
      onEvent: (event) => {
        if (event.step === 'authorization' && event.via === 'device') approval = new HeadlessBrowser({ login: 'bob' }).navigate(event.verificationUriComplete!);
      },
    });
    await approval;
    const device = events.find((e) => e.step === 'authorization');
    expect(device).toMatchObject({ via: 'device', userCode: expect.stringMatching(/^[A-Z]{4}-[A-Z]{4}$/), verificationUri: expect.stringContaining(f.issuer) });
    const { userCode, verificationUri } = device as { userCode: string; verificationUri: string };
    expect(calls).toContainEqual({ notice: expect.stringContaining(`To log in, open ${verificationUri} and enter the code ${userCode}`) });
    expect(statuses()).toEqual(['resource:running', 'resource:pass', 'server:running', 'server:pass', 'client:running', 'client:pass', 'authorize:running', 'authorize:pass', 'tokens:running', 'tokens:pass']);
  });

  it('cross-app access with a given ID token: no browser, the authorize step says the identity provider vouched for you', async () => {
    const grants = await import('../../../fixtures/auth/identity-assertion-grants.mjs');
    const { startAuthorizationServer } = await import('../../../fixtures/auth/authorization-server.mjs');
    const f = await fixture();
    const idp = await startAuthorizationServer({ resources: [] });
    try {
      const keys = await grants.createIdpKeys();
      grants.enableJwtBearer(f.provider, { idpIssuer: idp.issuer, keys, resources: [f.url] });
      const asClient = await grants.registerConfidentialClient(f.issuer, [grants.JWT_BEARER_GRANT]);
      grants.enableIdJagIssuance(idp.provider, { keys, clientMapping: { [f.issuer]: asClient.clientId } });
      const idpClient = await grants.registerConfidentialClient(idp.issuer, [grants.TOKEN_EXCHANGE_GRANT]);
      const idToken = await grants.mintIdToken(keys, { issuer: idp.issuer, sub: 'frank', aud: idpClient.clientId });
      const { events, calls, statuses } = await run(f, {
        grant: 'jwt_bearer',
        clientId: asClient.clientId,
        clientSecret: asClient.clientSecret,
        identityProvider: { issuer: idp.issuer, clientId: idpClient.clientId, clientSecret: idpClient.clientSecret, idToken },
      });
      expect(events.map((e) => e.step)).toEqual(['resource-metadata', 'server-metadata', 'client', 'tokens']);
      expect(statuses()).toEqual(['resource:running', 'resource:pass', 'server:running', 'server:pass', 'client:running', 'client:pass', 'authorize:running', 'authorize:pass', 'tokens:running', 'tokens:pass']);
      expect(calls).toContainEqual({ id: 'authorize', update: expect.objectContaining({ status: 'pass', summary: 'the identity provider vouched for you (cross-app access)' }) });
    } finally {
      await idp.close();
    }
  });

  it('a failure marks the running step failed with message and hint, and finishes once', async () => {
    const f = await fixture({ metadataIssuer: 'http://127.0.0.1:1/impostor' });
    const { events, calls, statuses } = await run(f);
    expect(events.map((e) => e.step)).toEqual(['resource-metadata']);
    expect(statuses()).toEqual(['resource:running', 'resource:pass', 'server:running', 'server:fail']);
    const failed = calls.find((c) => 'id' in c && c.update.status === 'fail') as { update: StepUpdate };
    expect(failed.update.summary).toContain('names issuer "http://127.0.0.1:1/impostor"');
    expect(failed.update.hint).toEqual(expect.any(String));
    expect(calls.filter((c) => 'finish' in c)).toEqual([{ finish: 'login failed', outcome: 'fail' }]);
  });

  it.each(['metadata', 'defaults'] as const)('a server without resource metadata (404s), origin %s: the discovery steps warn, never PASS', async (legacyAuthorizationServer) => {
    // Regression: `login` to a bare 401 server printed PASS for resource metadata that answered 404.
    const f = await fixture({ prm: 'none', legacyAuthorizationServer });
    const { calls, statuses } = await run(f);
    expect(statuses().slice(0, 4)).toEqual(['resource:running', 'resource:warn', 'server:running', 'server:warn']);
    const resource = calls.find((c) => 'id' in c && c.id === 'resource' && c.update.status === 'warn') as { update: StepUpdate };
    expect(resource.update.summary).toBe(`none found (RFC 9728; last tried ${new URL(f.url).origin}/.well-known/oauth-protected-resource); MCP 2025-03-26 fallback: the server's origin ${new URL(f.url).origin} is taken as the authorization server`);
  });

  it('a server that needs no login: the view closes without a line of its own (login prints its one line on stdout)', async () => {
    const { reporter, calls } = recordingReporter();
    await new LoginSteps(reporter, { grant: 'authorization_code', noBrowser: true }).notNeeded();
    expect(calls).toEqual([{ finish: '', outcome: 'pass' }]);
  });

  it('a valid stored token: no progress, the discovery step skipped, "already logged in"', async () => {
    const f = await fixture();
    const store = new MemoryGrantStore();
    await run(f, { store });
    const again = await run(f, { store });
    expect(again.events).toEqual([]);
    expect(again.statuses()).toEqual(['resource:running', 'resource:skipped']);
    expect(again.calls.at(-1)).toEqual({ finish: `already logged in to ${f.url}`, outcome: 'pass' });
  });
});
