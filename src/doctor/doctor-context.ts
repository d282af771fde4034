/**
 * What the doctor's steps share: the options from the CLI, the recording fetch, and what each step
 * learned for the next ones (the challenge, the documents, the token). The access token lives only
 * here, in memory, for the authenticated probe; it is never put into the report.
 */
import type { AuthGrant, AuthSession } from '../auth/auth-session.js';
import type { LoginProgressListener } from '../auth/login-progress.js';
import type { FetchLike } from '../auth/metadata-fetch.js';
import type { ServerMetadata } from '../auth/server-metadata.js';
import type { BearerChallenge } from '../auth/www-authenticate.js';
import type { Logger } from '../log.js';
import type { GrantStore } from '../store/grant-store.js';
import type { ProfileSettings, ProviderPlan } from '../auth/provider-profiles.js';
import type { DoctorCheck, DoctorOutcome } from './doctor-report.js';
import type { DpopProofSource } from './dpop-fetch.js';

/** How the login step gets an AuthSession: the CLI builds it from its flags (createAuthSession). */
export type SessionFactory = (context: {
  fetch: FetchLike;
  store: GrantStore;
  grant: AuthGrant;
  onProgress: LoginProgressListener;
}) => Promise<AuthSession>;

/** The doctor's own switches plus the auth flags that change what it checks. */
export interface DoctorOptions {
  /** The MCP server URL. */
  url: URL;
  /** --register: perform dynamic client registration. */
  register: boolean;
  /** --login: run the authorization and the authenticated probe. */
  login: boolean;
  /** --device: the device grant for --login. */
  device: boolean;
  /** --verbose: keep headers and bodies of every exchange. */
  verbose: boolean;
  scope?: string;
  clientId?: string;
  /** Only whether one was given: the secret itself stays with the session factory. */
  hasClientSecret: boolean;
  clientMetadataUrl?: string;
  /** --resource. */
  resource?: string;
  assumeS256: boolean;
  /** --provider-profile, --skip-adjustment, --app-id-uri. */
  profile?: ProfileSettings;
  /** Plain http to loopback authorization endpoints. */
  allowHttp: boolean;
  /** Extra headers for the MCP requests (never Authorization from the doctor's own login). */
  headers?: Record<string, string>;
  fetch?: FetchLike;
  log: Logger;
  openSession: SessionFactory;
  /** Things the user must see now (the login URL, a device code). */
  notice: (text: string) => void;
  now?: () => number;
}

/** What a step function returns; the engine adds exchanges and computes the status. */
export interface StepOutput {
  summary: string;
  checks: DoctorCheck[];
  facts?: Record<string, unknown>;
  /** The step could not run: its reason becomes the summary, the status `skipped`. */
  skipped?: string;
}

export interface DoctorState {
  options: DoctorOptions;
  /** The canonical server URL (RFC 8707 §2). */
  serverUrl: string;
  fetch: FetchLike;
  now: () => number;
  /** false when the server answered the unauthenticated request: later auth steps are skipped. */
  requiresAuth?: boolean;
  /** The unauthenticated request got no answer at all (refused, no such host, TLS): the OAuth steps are skipped, not run into the same failure. */
  unreachable?: boolean;
  /** The URL is a legacy HTTP+SSE endpoint (2024-11-05: a GET opens its stream); the streamable HTTP initialize of the last step does not apply. */
  legacySse?: boolean;
  /** The 401's WWW-Authenticate header, as received. */
  wwwAuthenticate?: string;
  challenge: BearerChallenge;
  scopesSupported?: string[];
  /** The first authorization server of the resource metadata. */
  issuer?: string;
  /** The RFC 8707 resource airlock would send. */
  resourceIndicator?: string;
  serverMetadata?: ServerMetadata;
  /** The provider profile the login would apply (authorization-server step). */
  providerPlan?: ProviderPlan;
  /** Every check of the steps run so far (the engine appends each step's). */
  checks: DoctorCheck[];
  accessToken?: string;
  /** The token's type as the token endpoint gave it: `DPoP` for a DPoP-bound token (RFC 9449 §5), else Bearer. */
  tokenType?: string;
  /** The login's proof maker, for the requests with a DPoP-bound token. */
  dpopProofs?: DpopProofSource;
  grantedScope?: string;
}

/** Whether a check of an earlier step failed (token.audience explains a rejected token). */
export function hasFailed(state: DoctorState, id: string): boolean {
  return state.checks.some((c) => c.id === id && c.status === 'fail');
}

/**
 * The failed checks of discovery (resource and authorization server metadata): airlock's own
 * login refuses after any of them, so doctor does not try it.
 */
export function loginBlockers(state: DoctorState): string[] {
  return state.checks.filter((c) => c.status === 'fail' && (c.id.startsWith('prm.') || c.id.startsWith('as.'))).map((c) => c.id);
}

/** A check, with the hint only when there is one. */
export function check(id: string, status: DoctorOutcome, message: string, spec: string, hint?: string): DoctorCheck {
  const result: DoctorCheck = { id, status, message, spec };
  if (hint !== undefined && status !== 'pass' && status !== 'skipped') result.hint = hint;
  return result;
}
