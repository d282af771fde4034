import { afterEach, describe, expect, it } from 'vitest';
import { startCallbackServer, type CallbackServer } from '../../../src/auth/callback-server.js';
import { AirlockError } from '../../../src/errors.js';
import { createLogger } from '../../../src/log.js';
import { rawRequest } from '../../helpers/http-peer.js';
import { startRecordingServer } from '../../helpers/recording-server.js';

const log = createLogger('silent');
let server: CallbackServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** A verify that accepts state=good only, like the real one. */
function verify(params: URLSearchParams): void {
  if (params.get('state') !== 'good') throw new AirlockError('AIRLOCK_AUTH_STATE_MISMATCH', 'state mismatch');
  if (params.get('error')) throw new AirlockError('AIRLOCK_AUTH_DENIED', `denied ${params.get('error_description')}`);
}

async function rejectionOf(promise: Promise<unknown>): Promise<AirlockError> {
  return promise.then(() => {
    throw new Error('expected a rejection');
  }, (e: AirlockError) => e);
}

describe('callback server: the loopback redirect endpoint is hostile ground', () => {
  it('listens on 127.0.0.1 at an ephemeral port, path /callback, and hands over the verified parameters', async () => {
    server = await startCallbackServer({ log });
    expect(server.redirectUri).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback$/);
    const waiting = server.waitForCallback({ verify, timeoutMs: 5000 });
    const response = await fetch(`${server.redirectUri}?code=abc&state=good`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-security-policy')).toBe("default-src 'none'; style-src 'unsafe-inline'");
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(await response.text()).toContain('You can close this tab');
    expect(Object.fromEntries(await waiting)).toEqual({ code: 'abc', state: 'good' });
  });

  it('ignores other paths and methods, and requests with a foreign Host header, and keeps waiting', async () => {
    server = await startCallbackServer({ log });
    const waiting = server.waitForCallback({ verify, timeoutMs: 5000 });
    const base = new URL(server.redirectUri);
    expect((await fetch(`${base.origin}/favicon.ico`)).status).toBe(404);
    expect((await fetch(`${server.redirectUri}?code=x&state=good`, { method: 'POST' })).status).toBe(405);
    const rebound = await rawRequest(`${server.redirectUri}?code=x&state=good`, { headers: { host: `evil.example:${base.port}` } });
    expect(rebound.status).toBe(400);
    expect((await fetch(`${server.redirectUri}?code=real&state=good`)).status).toBe(200);
    expect((await waiting).get('code')).toBe('real');
  });

  it('fails closed on a wrong state: the login ends, the page shows our verdict only, later requests get 410', async () => {
    server = await startCallbackServer({ log });
    const waiting = rejectionOf(server.waitForCallback({ verify, timeoutMs: 5000 }));
    const response = await fetch(`${server.redirectUri}?code=x&state=forged&error_description=%3Cscript%3Ealert(1)%3C/script%3E`);
    expect(response.status).toBe(400);
    const body = await response.text();
    expect(body).toContain('does not belong to the login');
    expect(body).not.toContain('script');
    expect(body).not.toContain('forged');
    expect((await waiting).code).toBe('AIRLOCK_AUTH_STATE_MISMATCH');
  });

  it('never echoes error_description, even from a response that passed verification', async () => {
    server = await startCallbackServer({ log });
    const waiting = rejectionOf(server.waitForCallback({ verify, timeoutMs: 5000 }));
    const body = await (await fetch(`${server.redirectUri}?state=good&error=access_denied&error_description=Call%20555-SCAM%20now`)).text();
    expect(body).toContain('did not grant access');
    expect(body).not.toContain('SCAM');
    expect((await waiting).code).toBe('AIRLOCK_AUTH_DENIED');
  });

  it('answers 410 after the first response, and closes itself', async () => {
    server = await startCallbackServer({ log });
    const waiting = server.waitForCallback({ verify, timeoutMs: 5000 });
    const url = `${server.redirectUri}?code=a&state=good`;
    const [first, second] = await Promise.all([fetch(url), fetch(url)]);
    expect([first.status, second.status].sort()).toEqual([200, 410]);
    await waiting;
    await new Promise((r) => setTimeout(r, 50));
    await expect(fetch(url)).rejects.toThrow();
  });

  it('gives up after the timeout with AIRLOCK_AUTH_TIMEOUT', async () => {
    server = await startCallbackServer({ log });
    const error = await rejectionOf(server.waitForCallback({ verify, timeoutMs: 50 }));
    expect(error.code).toBe('AIRLOCK_AUTH_TIMEOUT');
    expect(error.message).toBe('no authorization response within 1 s');
  });

  it('rejects a pending wait when closed or aborted', async () => {
    server = await startCallbackServer({ log });
    const waiting = rejectionOf(server.waitForCallback({ verify, timeoutMs: 5000 }));
    await server.close();
    expect((await waiting).message).toBe('the login was cancelled');

    const other = await startCallbackServer({ log });
    const controller = new AbortController();
    const aborted = rejectionOf(other.waitForCallback({ verify, timeoutMs: 5000, signal: controller.signal }));
    controller.abort();
    expect((await aborted).code).toBe('AIRLOCK_AUTH_TIMEOUT');
    await other.close();
  });

  it('listens on the given port, or on the preferred one when it is free, else on any', async () => {
    const probe = await startRecordingServer(() => undefined);
    const busyPort = Number(new URL(probe.origin).port);
    server = await startCallbackServer({ log, preferredPort: busyPort });
    expect(server.port).not.toBe(busyPort);
    await expect(startCallbackServer({ log, port: busyPort })).rejects.toMatchObject({ code: 'AIRLOCK_LISTEN_FAILED' });
    await probe.close();
    const preferred = await startCallbackServer({ log, preferredPort: busyPort });
    expect(preferred.port).toBe(busyPort);
    await preferred.close();
  });

  it('refuses a callback host that is not loopback', async () => {
    await expect(startCallbackServer({ log, host: '0.0.0.0' })).rejects.toMatchObject({ code: 'AIRLOCK_USAGE' });
  });
});
