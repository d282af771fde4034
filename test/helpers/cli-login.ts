/**
 * `mcp-airlock login` as a user runs it, with the test as the browser: airlock prints the URL
 * (--no-browser) and the headless browser submits oidc-provider's login and consent forms.
 */
import { expect } from 'vitest';
import { startAirlock, type AirlockProcess } from './airlock-process.js';
import { HeadlessBrowser } from './headless-browser.js';

/** The authorization URL airlock prints on stderr (oidc-provider's is `<issuer>/auth?...`). */
export const AUTHORIZATION_URL = /(http:\/\/127\.0\.0\.1:\d+\/[^\s]*auth\?[^\s]*)/;

/** Wait for the login URL on stderr of `proc` and log in as `login`. */
export async function completeLogin(proc: AirlockProcess, login = 'alice'): Promise<string> {
  const match = await proc.waitForStderr(AUTHORIZATION_URL);
  const page = await new HeadlessBrowser({ login }).navigate(match[1]!);
  expect(page.status).toBe(200);
  return match[1]!;
}

/** Run `login <url> --storage file --allow-http --no-browser ...extra` to success; returns the process. */
export async function cliLogin(url: string, env: NodeJS.ProcessEnv, extra: string[] = [], login = 'alice'): Promise<AirlockProcess> {
  const proc = startAirlock(['login', url, '--storage', 'file', '--allow-http', '--no-browser', ...extra], { env, stdin: 'ignore' });
  await completeLogin(proc, login);
  expect(await proc.exited, proc.stderr()).toBe(0);
  return proc;
}
