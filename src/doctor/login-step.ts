/**
 * Step 5 (--login): the whole login as `mcp-airlock login` runs it (the same AuthSession:
 * discovery, client, PKCE S256, state, RFC 9207 iss, RFC 8707 resource), with a memory store so
 * the user's stored login is never changed, and the token examined (token-checks.ts). Runs only
 * when discovery passed the checks airlock's login enforces; otherwise it is skipped with the
 * checks that block it.
 */
import { AirlockError, describeError, quote } from '../errors.js';
import { selectScopes } from '../auth/scopes.js';
import { createMemoryGrantStore } from '../store/memory-store.js';
import { check, loginBlockers, type DoctorState, type StepOutput } from './doctor-context.js';
import { loginFailedHint, providerOf } from './quirks.js';
import { decodeAccessToken, shownClaims, tokenChecks } from './token-checks.js';

const SPEC = 'OAuth 2.1 §4.1; RFC 7636; RFC 8707 §2; RFC 9207';

/** Step 5: log in with the user's flags (memory store) and check the JWT access token (RFC 9068, RFC 8707). */
export async function loginStep(state: DoctorState): Promise<StepOutput> {
  const { options } = state;
  if (!options.login) return { summary: '', checks: [], skipped: 'pass --login to log in and check the token' };
  const blockers = loginBlockers(state);
  if (blockers.length) return { summary: '', checks: [], skipped: `airlock's login would refuse: ${blockers.join(', ')} failed` };
  const issuer = state.issuer;
  if (!issuer || !state.serverMetadata) return { summary: '', checks: [], skipped: 'discovery found no usable authorization server (see the steps above)' };
  const provider = providerOf(issuer);
  const grant = options.device ? 'device_code' : 'authorization_code';
  let session;
  let record;
  try {
    session = await options.openSession({
      fetch: state.fetch,
      store: createMemoryGrantStore(),
      grant,
      // Only the authorization is shown: the other login steps are doctor's own checks.
      onProgress: (event) => {
        if (event.step !== 'authorization') return;
        options.notice(event.via === 'browser'
          ? `Open this URL to log in: ${event.url}`
          : `To log in, open ${event.verificationUriComplete ?? event.verificationUri} and enter the code ${event.userCode}`);
      },
    });
    // As connect does on a 401: the session takes the resource metadata URL and the scope from
    // the challenge step 1 saw, then logs in; login() then returns the fresh record.
    if (state.wwwAuthenticate !== undefined) await session.onUnauthorized(state.wwwAuthenticate);
    record = await session.login();
  } catch (error) {
    const e = error instanceof AirlockError ? error : undefined;
    return {
      summary: 'login failed',
      checks: [check('login.authorization', 'fail', e ? e.message : describeError(error), SPEC, loginFailedHint(provider, e?.hint ?? 'Rerun with --verbose to see each exchange.'))],
    };
  }
  state.accessToken = record.accessToken;
  state.tokenType = record.tokenType;
  state.dpopProofs = session;
  state.grantedScope = record.scope;
  const how = grant === 'device_code' ? 'the device grant' : 'the browser';
  const checks = [check('login.authorization', 'pass', `authorized with ${how} as client ${quote(record.clientId)}${record.subject ? `, subject ${quote(record.subject)}` : ''}`, SPEC)];
  const facts: Record<string, unknown> = { grant, clientId: record.clientId, tokenType: record.tokenType, refreshable: record.refreshToken !== undefined };
  if (record.expiresAt !== undefined) facts['expiresIn'] = Math.round((record.expiresAt - record.obtainedAt) / 1000);
  if (record.scope !== undefined) facts['scope'] = record.scope;
  const claims = decodeAccessToken(record.accessToken);
  const requested = selectScopes({ requested: options.scope, challenge: state.challenge.scope, supported: state.scopesSupported });
  if (!claims) {
    for (const id of ['token.audience', 'token.issuer', 'token.expiry', 'token.scopes']) {
      checks.push(check(id, 'skipped', 'opaque access token (not a JWT): the authenticated request is the test', 'RFC 9068'));
    }
  } else {
    facts['claims'] = shownClaims(claims);
    const verdicts = tokenChecks(claims, {
      resource: state.resourceIndicator ?? state.serverUrl,
      issuer,
      requestedScopes: requested,
      grantedScope: record.scope,
      now: state.now(),
      provider,
    });
    checks.push(...verdicts);
  }
  const expiry = facts['expiresIn'] === undefined ? 'no expiry given' : `expires in ${String(facts['expiresIn'])} s`;
  const kind = record.tokenType === 'DPoP' ? 'DPoP-bound' : 'Bearer';
  return { summary: `${kind} token from ${quote(issuer)}, ${expiry}${record.scope ? `, scope ${quote(record.scope)}` : ''}`, checks, facts };
}
