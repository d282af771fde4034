import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/**
 * Every test, and every airlock process a test starts, gets its own state and config directories:
 * the default audit log and credential files never land in the developer's home.
 */
const home = mkdtempSync(join(tmpdir(), 'airlock-test-home-'));
process.env.AIRLOCK_TEST_HOME = home;

export default defineConfig({
  test: {
    root: fileURLToPath(new URL('..', import.meta.url)),
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Two cores: the e2e files spawn processes; more workers only add contention.
    maxWorkers: 2,
    pool: 'forks',
    env: {
      XDG_STATE_HOME: join(home, 'state'),
      XDG_CONFIG_HOME: join(home, 'config'),
      AIRLOCK_TEST_HOME: home,
    },
    globalSetup: ['test/global-setup.ts'],
  },
});
