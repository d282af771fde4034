import { afterEach, describe, expect, it } from 'vitest';
import { fetchMetadataDocument, firstMetadataDocument } from '../../../src/auth/metadata-fetch.js';
import { AirlockError } from '../../../src/errors.js';
import { createLogger } from '../../../src/log.js';
import { startRecordingServer, type RecordingServer } from '../../helpers/recording-server.js';

let server: RecordingServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('fetchMetadataDocument: documents come from the network', () => {
  it('takes a JSON object from a 200 answer and asks for JSON', async () => {
    server = await startRecordingServer(() => ({ json: { a: 1 } }));
    const { outcome, body } = await fetchMetadataDocument(new URL(`${server.origin}/doc`), fetch);
    expect(body).toEqual({ a: 1 });
    expect(outcome).toEqual({ url: `${server.origin}/doc`, status: 200 });
    expect(server.requests[0]!.headers.accept).toBe('application/json');
  });

  it('does not follow redirects', async () => {
    server = await startRecordingServer((req) => (req.path === '/doc' ? { status: 302, headers: { location: '/elsewhere' } } : { json: { a: 1 } }));
    const { outcome, body } = await fetchMetadataDocument(new URL(`${server.origin}/doc`), fetch);
    expect(body).toBeUndefined();
    expect(outcome.status).toBe(302);
    expect(server.paths()).toEqual(['/doc']);
  });

  it('reports non-JSON, JSON that is not an object, and oversized documents', async () => {
    server = await startRecordingServer((req) => {
      if (req.path === '/text') return { text: 'hello' };
      if (req.path === '/array') return { json: [1, 2] };
      return { text: `{"x":"${'a'.repeat(1024 * 1024)}"}` };
    });
    expect((await fetchMetadataDocument(new URL(`${server.origin}/text`), fetch)).outcome.error).toBe('not JSON');
    expect((await fetchMetadataDocument(new URL(`${server.origin}/array`), fetch)).outcome.error).toBe('not a JSON object');
    // Reported as too large (firstMetadataDocument then stops: see bounded-body.test.ts), never as absent.
    expect((await fetchMetadataDocument(new URL(`${server.origin}/big`), fetch)).outcome).toEqual({ url: `${server.origin}/big`, status: 200, error: 'larger than the 1048576 bytes accepted', tooLarge: true });
  });

  it('reports a network failure instead of throwing', async () => {
    const closed = await startRecordingServer(() => undefined);
    await closed.close();
    const { outcome } = await fetchMetadataDocument(new URL(`${closed.origin}/doc`), fetch);
    expect(outcome.error).toContain('ECONNREFUSED');
  });
});

describe('firstMetadataDocument', () => {
  it('goes through the injected fetch only', async () => {
    const asked: string[] = [];
    const fake = (async (url: string) => {
      asked.push(url);
      return new Response(JSON.stringify({ ok: true }), { status: url.endsWith('/b') ? 200 : 404 });
    }) as typeof fetch;
    const found = await firstMetadataDocument([new URL('https://x.example/a'), new URL('https://x.example/b')], {
      fetch: fake,
      log: createLogger('silent'),
      what: 'thing',
      accept: (body) => body,
    });
    expect(asked).toEqual(['https://x.example/a', 'https://x.example/b']);
    expect(found).toEqual({ url: 'https://x.example/b', value: { ok: true }, tried: [{ url: 'https://x.example/a', status: 404 }, { url: 'https://x.example/b', status: 200 }] });
  });

  it('stops with the error accept returns', async () => {
    const fake = (async () => new Response('{}', { status: 200 })) as unknown as typeof fetch;
    const refusal = new AirlockError('AIRLOCK_AUTH_DISCOVERY', 'no');
    await expect(
      firstMetadataDocument([new URL('https://x.example/a'), new URL('https://x.example/b')], { fetch: fake, log: createLogger('silent'), what: 'thing', accept: () => refusal }),
    ).rejects.toBe(refusal);
  });
});
