/**
 * Protected MCP fixture servers (fixtures/auth/protected-server.mjs, each with its own
 * oidc-provider) started per test and closed after it.
 */
import { afterEach } from 'vitest';
import { startAuthFixture } from '../../fixtures/auth/protected-server.mjs';

export type AuthFixture = Awaited<ReturnType<typeof startAuthFixture>>;

/** Registers the afterEach that closes them; returns the function that starts one. */
export function useAuthFixtures(): (options?: Parameters<typeof startAuthFixture>[0]) => Promise<AuthFixture> {
  const started: AuthFixture[] = [];
  afterEach(async () => {
    await Promise.all(started.splice(0).map((f) => f.close()));
  });
  return async (options = {}) => {
    const f = await startAuthFixture(options);
    started.push(f);
    return f;
  };
}
