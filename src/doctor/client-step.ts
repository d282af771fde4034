/**
 * Step 4: which OAuth client airlock would be, in the order MCP 2025-11-25 "Client Registration
 * Approaches" gives (and `resolveClient` follows): a pre-registered --client-id, a Client ID
 * Metadata Document the server supports, dynamic registration (RFC 7591), else nothing. With
 * --register the dynamic registration is performed (into a memory store, never the user's), and
 * its answer shown with secrets masked.
 */
import type { AirlockError } from '../errors.js';
import { quote } from '../errors.js';
import { clientApproach, registerClient, type ClientApproach } from '../auth/client-registration.js';
import { createMemoryGrantStore } from '../store/memory-store.js';
import { check, type DoctorState, type StepOutput } from './doctor-context.js';
import { providerOf, registrationRefusedHint } from './quirks.js';

const SPEC = 'MCP 2025-11-25 Client Registration Approaches';
/** The loopback redirect registered by --register (RFC 8252 §7.3: any port is allowed at use). */
const PROBE_REDIRECT_URI = 'http://127.0.0.1/callback';

/** Step 4: the registration path that applies (MCP 2025-11-25 order), and with --register an RFC 7591 registration. */
export async function clientStep(state: DoctorState): Promise<StepOutput> {
  const metadata = state.serverMetadata;
  const issuer = state.issuer;
  if (!metadata || !issuer) return { summary: '', checks: [], skipped: 'no usable authorization server metadata (see authorization-server)' };
  const { options } = state;

  // The login's own decision (resolveClient uses it too), so doctor cannot drift from it.
  let approach: ClientApproach;
  try {
    approach = clientApproach({ clientId: options.clientId, clientMetadataUrl: options.clientMetadataUrl }, metadata);
  } catch (error) {
    const e = error as AirlockError;
    return { summary: 'the client choice is refused', checks: [check('client.registration', 'fail', e.message, `${SPEC}; draft-ietf-oauth-client-id-metadata-document §3`, e.hint)], facts: { path: 'none' } };
  }
  if (approach.path === 'pre-registered') {
    const secret = options.hasClientSecret ? 'a confidential client (secret from --client-secret-env/--client-secret-file)' : 'a public client (no secret)';
    return { summary: `pre-registered client ${quote(approach.clientId)}`, checks: [check('client.registration', 'pass', `--client-id ${quote(approach.clientId)} is used as ${secret}`, SPEC)], facts: { path: approach.path } };
  }
  if (approach.path === 'metadata-document') {
    return { summary: `client ID metadata document ${quote(approach.clientId)}`, checks: [check('client.registration', 'pass', `the server supports client ID metadata documents; client_id is ${quote(approach.clientId)}`, `${SPEC}; draft-ietf-oauth-client-id-metadata-document`)], facts: { path: approach.path } };
  }
  const fallback = approach.declined ? ['the server does not support client ID metadata documents, so --client-metadata-url is not used'] : [];
  if (approach.path === 'none') {
    const why = [...fallback, 'no --client-id, and the server offers no registration_endpoint'].join('; ');
    return {
      summary: 'no way to obtain a client',
      checks: [check('client.registration', 'fail', why, SPEC, 'Register a client with the server operator (native app, redirect http://127.0.0.1/callback) and pass --client-id (and --client-secret-env for a confidential one).')],
      facts: { path: 'none' },
    };
  }
  const { endpoint } = approach;
  const why = [...fallback, `no --client-id; dynamic registration at ${quote(endpoint)}`].join('; ');
  if (!options.register) {
    return {
      summary: `dynamic registration at ${quote(endpoint)} (not tried; --register tries it)`,
      checks: [check('client.registration', 'pass', `${why} would be used (RFC 7591, application_type native)`, `${SPEC}; RFC 7591 §3`)],
      facts: { path: 'dynamic' },
    };
  }
  // As the login registers: with the loopback redirect for the browser, without one for --device.
  const redirectUri = options.device ? undefined : PROBE_REDIRECT_URI;
  try {
    const record = await registerClient({
      issuer,
      metadata,
      store: createMemoryGrantStore(),
      choice: {},
      redirectUri,
      fetch: state.fetch,
      log: options.log,
      now: state.now(),
    });
    return {
      summary: `registered client ${quote(record.clientId)}`,
      checks: [check('client.registration', 'pass', `${why}: registered ${quote(record.clientId)} (token_endpoint_auth_method ${record.tokenEndpointAuthMethod ?? 'none'}${record.clientSecret ? ', with a client secret (masked)' : ''})`, 'RFC 7591 §3.2.1')],
      facts: { path: 'dynamic', clientId: record.clientId, tokenEndpointAuthMethod: record.tokenEndpointAuthMethod, ...(redirectUri ? { redirectUri } : {}) },
    };
  } catch (error) {
    const message = (error as Error).message;
    const status = /\(HTTP (\d{3})\)/.exec(message)?.[1];
    return {
      summary: 'dynamic registration failed',
      checks: [check('client.registration', 'fail', message, 'RFC 7591 §3.2.2', registrationRefusedHint(providerOf(issuer), status ? Number(status) : undefined))],
      facts: { path: 'dynamic' },
    };
  }
}
