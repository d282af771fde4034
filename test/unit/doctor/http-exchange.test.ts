import { describe, expect, it } from 'vitest';
import { ExchangeRecorder } from '../../../src/doctor/http-exchange.js';

const SECRET = 'opaque-'.concat('s'.repeat(24));

describe('ExchangeRecorder', () => {
  it('records method, URL and status only, unless verbose', async () => {
    const recorder = new ExchangeRecorder({ fetch: async () => new Response('{"a":1}', { status: 404 }), verbose: false });
    await recorder.fetch('https://h/x?code=c1', { method: 'get' });
    expect(await recorder.take()).toEqual([{ method: 'GET', url: 'https://h/x?code=%5BREDACTED%5D', status: 404 }]);
    expect(await recorder.take()).toEqual([]);
  });

  it('with verbose, masks headers and both bodies, and leaves the response readable by the caller', async () => {
    const body = JSON.stringify({ access_token: SECRET, token_type: 'Bearer' });
    const recorder = new ExchangeRecorder({
      fetch: async () => new Response(body, { status: 200, headers: { 'content-type': 'application/json', 'set-cookie': `s=${SECRET}` } }),
      verbose: true,
    });
    const response = await recorder.fetch('https://as/token', {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`c:${SECRET}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: SECRET, code_verifier: SECRET }),
    });
    expect(await response.json()).toEqual({ access_token: SECRET, token_type: 'Bearer' });
    const [exchange] = await recorder.take();
    expect(exchange).toEqual({
      method: 'POST',
      url: 'https://as/token',
      status: 200,
      requestHeaders: { authorization: 'Basic [REDACTED]', 'content-type': 'application/x-www-form-urlencoded' },
      requestBody: 'grant_type=authorization_code&code=%5BREDACTED%5D&code_verifier=%5BREDACTED%5D',
      responseHeaders: { 'content-type': 'application/json', 'set-cookie': '[REDACTED]' },
      body: '{"access_token":"[REDACTED]","token_type":"Bearer"}',
    });
    expect(JSON.stringify(exchange)).not.toContain(SECRET);
  });

  it('records a network failure, and rethrows it', async () => {
    const recorder = new ExchangeRecorder({ fetch: async () => { throw new TypeError('fetch failed'); }, verbose: false });
    await expect(recorder.fetch('https://down/')).rejects.toThrow('fetch failed');
    expect(await recorder.take()).toEqual([{ method: 'GET', url: 'https://down/', error: 'fetch failed' }]);
  });

  it('does not wait for ever on a stream that stays open: keeps what arrived', async () => {
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('event: message\ndata: {"id":1}\n\n'));
      },
    });
    const recorder = new ExchangeRecorder({ fetch: async () => new Response(stream, { headers: { 'content-type': 'text/event-stream' } }), verbose: true });
    await recorder.fetch('https://h/mcp', { method: 'POST' });
    const started = Date.now();
    const [exchange] = await recorder.take();
    expect(Date.now() - started).toBeLessThan(3000);
    expect(exchange!.body).toBe('event: message\ndata: {"id":1}\n\n');
  });
});
