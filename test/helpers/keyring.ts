/**
 * When may a test use a real Secret Service? Only inside the private D-Bus session with an
 * unlocked gnome-keyring that test/run-tests.mjs starts (MCP_AIRLOCK_TEST_KEYRING=1): never the
 * developer's own keyring. Without it the keychain tests skip with a reason, except under CI,
 * where a skipped keychain test would hide a broken setup: there they fail.
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { TestContext } from 'vitest';

/** True inside the session test/run-tests.mjs prepared. */
export const testKeyringReady = process.env.MCP_AIRLOCK_TEST_KEYRING === '1';

/** True when the commands needed to start extra private sessions (locked keyring cases) exist. */
export const keyringToolsInstalled =
  process.platform === 'linux' && ['dbus-run-session', 'gnome-keyring-daemon', 'dbus-send'].every((command) => onPath(command));

function onPath(command: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

const installHint = 'install gnome-keyring libsecret-tools dbus-x11 (apt-get) and run the suite with `npm test`';

/** Skip the current test (or fail it under CI) unless `ready`. */
function demand(ctx: TestContext, ready: boolean, what: string): void {
  if (ready) return;
  if (process.env.CI) throw new Error(`CI is set, but ${what}: ${installHint}. A skipped keychain test in CI is a defect.`);
  ctx.skip(`${what}: ${installHint}`);
}

/** For tests that use the Secret Service of the test session. */
export function requireTestKeyring(ctx: TestContext): void {
  demand(ctx, testKeyringReady, 'no private gnome-keyring session (MCP_AIRLOCK_TEST_KEYRING is not 1)');
}

/** For tests that start their own D-Bus session and gnome-keyring (locked keyring cases). */
export function requireKeyringTools(ctx: TestContext): void {
  demand(ctx, keyringToolsInstalled, 'dbus-run-session, gnome-keyring-daemon or dbus-send is not installed');
}
