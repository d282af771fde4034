/** Removes the per-run home directory the config made (test/vitest.config.ts). */
import { rmSync } from 'node:fs';

export default function setup(): () => void {
  return () => {
    const home = process.env.AIRLOCK_TEST_HOME;
    if (home && home.includes('airlock-test-home-')) rmSync(home, { recursive: true, force: true });
  };
}
