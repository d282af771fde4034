import { describe, expect, it } from 'vitest';
import { secretStore } from '../../../src/config/secret-store.js';
import { MemoryGrantStore } from '../../helpers/memory-grant-store.js';

describe('secretStore', () => {
  it('keeps each value in a key record of its own, and the names (never the values) in one more', async () => {
    const grants = new MemoryGrantStore();
    const secrets = secretStore(grants);
    await Promise.all([secrets.set('github', 'ghp_1'), secrets.set('db.password', 'pw')]);
    expect(await secrets.get('github')).toBe('ghp_1');
    expect(await secrets.list()).toEqual(['db.password', 'github']);
    expect(grants.keys.get('secret-names')!.privateJwk).toBe('["db.password","github"]');
    expect(grants.lockLog).toEqual(['secrets', 'secrets']);
    expect(await secrets.delete('github')).toBe(true);
    expect(await secrets.delete('github')).toBe(false);
    expect(await secrets.get('github')).toBeUndefined();
    expect(await secrets.list()).toEqual(['db.password']);
  });

  it('refuses a name a reference cannot carry', async () => {
    await expect(secretStore(new MemoryGrantStore()).set('my secret', 'x')).rejects.toMatchObject({ code: 'AIRLOCK_USAGE', message: '"my secret" is not a secret name' });
  });
});
