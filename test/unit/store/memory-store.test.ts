import { describe, expect, it } from 'vitest';
import { AirlockError } from '../../../src/errors.js';
import { createMemoryGrantStore } from '../../../src/store/memory-store.js';
import { sampleClient, sampleTokens } from '../../helpers/grant-records.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('memory store', () => {
  it('round-trips, lists sorted by resource and deletes, like the real stores', async () => {
    const store = createMemoryGrantStore();
    expect(store.backend).toBe('memory');
    await store.saveTokens(sampleTokens('https://b.example/mcp'));
    await store.saveTokens(sampleTokens('https://a.example/mcp'));
    await store.saveClient(sampleClient('https://as.example'));
    expect((await store.listTokens()).map((r) => r.resource)).toEqual(['https://a.example/mcp', 'https://b.example/mcp']);
    expect(await store.loadClient('https://as.example')).toEqual(sampleClient('https://as.example'));
    expect(await store.deleteTokens('https://a.example/mcp')).toBe(true);
    expect(await store.deleteTokens('https://a.example/mcp')).toBe(false);
    expect(await store.deleteClient('https://as.example')).toBe(true);
    expect(await store.loadClient('https://as.example')).toBeUndefined();
  });

  it('stores copies: changing a saved or loaded object changes nothing stored', async () => {
    const store = createMemoryGrantStore();
    const record = sampleTokens('https://a.example/mcp', 'one');
    await store.saveTokens(record);
    record.accessToken = 'changed after save';
    const loaded = (await store.loadTokens('https://a.example/mcp'))!;
    loaded.accessToken = 'changed after load';
    expect((await store.loadTokens('https://a.example/mcp'))!.accessToken).toBe('at-SECRET-one');
  });

  it('serialises withLock callers of one name, but not of different names', async () => {
    const store = createMemoryGrantStore();
    const events: string[] = [];
    const run = (name: string, id: string) =>
      store.withLock(name, async () => {
        events.push(`enter ${id}`);
        await sleep(10);
        events.push(`leave ${id}`);
      });
    await Promise.all([run('x', '1'), run('x', '2'), run('y', '3')]);
    expect(events.filter((e) => !e.endsWith('3'))).toEqual(['enter 1', 'leave 1', 'enter 2', 'leave 2']);
    expect(events.indexOf('enter 3')).toBeLessThan(events.indexOf('leave 1'));
  });

  it('times out with AIRLOCK_LOCK_TIMEOUT, and a waiter that gave up does not let the next one in early', async () => {
    const store = createMemoryGrantStore();
    const events: string[] = [];
    const first = store.withLock('x', async () => {
      events.push('enter first');
      await sleep(120);
      events.push('leave first');
    });
    const impatient = store.withLock('x', async () => events.push('impatient ran'), 20).catch((error: unknown) => error);
    await sleep(40); // the impatient waiter has given up by now
    const third = store.withLock('x', async () => events.push('third ran'));
    const error = await impatient;
    expect(error).toBeInstanceOf(AirlockError);
    expect((error as AirlockError).code).toBe('AIRLOCK_LOCK_TIMEOUT');
    expect((error as AirlockError).message).toBe('timed out after 20 ms waiting for the lock "x", held in this process');
    await Promise.all([first, third]);
    expect(events).toEqual(['enter first', 'leave first', 'third ran']);
  });
});
