import { describe, expect, it } from 'vitest';
import { createMemoryGrantStore } from '../../../src/store/memory-store.js';
import { lazyGrantStore } from '../../../src/store/lazy-store.js';

describe('lazyGrantStore', () => {
  it('opens the store once, on first use, and only then knows its backend', async () => {
    let opened = 0;
    const store = lazyGrantStore(async () => {
      opened++;
      return createMemoryGrantStore();
    });
    expect(opened).toBe(0);
    expect(() => store.backend).toThrow('backend read before the store was opened');
    await Promise.all([store.loadTokens('https://a/mcp'), store.listTokens(), store.loadClient('https://as')]);
    expect(opened).toBe(1);
    expect(store.backend).toBe('memory');
  });
});
