/**
 * When may a test drive a real Chromium? When Debian's chromium is installed at /usr/bin/chromium
 * (or $CHROMIUM_PATH). Without it the test skips with a reason, except under CI, where a skipped
 * browser test would hide a broken setup: there it fails (the same rule as test/helpers/keyring.ts).
 */
import { accessSync, constants } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'vitest';

export const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/** The script `BROWSER` names for a real-browser login (see the script's header). */
export const chromiumBrowserScript = fileURLToPath(new URL('../../fixtures/auth/chromium-browser.mjs', import.meta.url));

function installed(): boolean {
  try {
    accessSync(chromiumPath, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Skip the current test (or fail it under CI) unless Chromium is installed. */
export function requireChromium(ctx: TestContext): void {
  if (installed()) return;
  const why = `${chromiumPath} is not installed: apt-get install -y --no-install-recommends chromium`;
  if (process.env.CI) throw new Error(`CI is set, but ${why}. A skipped browser test in CI is a defect.`);
  ctx.skip(why);
}
