/**
 * The steps of `mcp-airlock login` as the user watches them: the AuthSession's LoginProgress
 * events mapped onto a StepReporter (ink on a terminal, plain lines elsewhere). Each event ends
 * one step and starts the next, so whichever step is running when an error arrives is the one
 * that failed, and it is marked so with the error's message and hint.
 */
import type { AuthGrant } from '../auth/auth-session.js';
import type { LoginProgress } from '../auth/login-progress.js';
import { quote, toAirlockError } from '../errors.js';
import type { TokenRecord } from '../store/grant-store.js';
import type { StepReporter } from '../ui/step-reporter.js';
import { describeExpiry } from './status.js';

export const loginStepTitles = {
  resource: 'Protected resource metadata',
  server: 'Authorization server metadata',
  client: 'Client',
  authorize: 'Authorization',
  tokens: 'Tokens',
  login: 'Login',
} as const;
export type LoginStepId = keyof typeof loginStepTitles;

export interface LoginStepsOptions {
  grant: AuthGrant;
  /** --no-browser: the URL is only shown, not opened. */
  noBrowser: boolean;
  now?: () => number;
}

function clientSummary(event: Extract<LoginProgress, { step: 'client' }>): string {
  const id = quote(event.clientId);
  switch (event.method) {
    case 'pre-registered':
      return `pre-registered client ${id}`;
    case 'metadata-document':
      return `client ID metadata document ${id}`;
    default:
      return event.reused ? `reusing the registered client ${id}` : `registered dynamically as ${id}`;
  }
}

/** Drives the login's steps on `reporter`; `onProgress` goes to AuthOptions.onProgress. */
export class LoginSteps {
  private running: LoginStepId | undefined;
  /** The resource had no metadata: the MCP 2025-03-26 fallback is in use. */
  private legacy = false;
  private progressed = false;
  private finished = false;

  constructor(
    private readonly reporter: StepReporter,
    private readonly options: LoginStepsOptions,
  ) {}

  /** The login begins: discovery is the first step. */
  start(): void {
    this.begin('resource');
  }

  readonly onProgress = (event: LoginProgress): void => {
    this.progressed = true;
    switch (event.step) {
      case 'resource-metadata':
        // No document anywhere (404s): not a pass, though the MCP 2025-03-26 fallback goes on.
        if (event.legacy) this.finish('resource', 'warn', `none found (RFC 9728; last tried ${event.url}); MCP 2025-03-26 fallback: the server's origin ${event.authorizationServer} is taken as the authorization server`);
        else this.finish('resource', 'pass', `${event.resource} names the authorization server ${event.authorizationServer}`, [`found at ${event.url}`]);
        this.legacy = event.legacy === true;
        this.begin('server');
        break;
      case 'server-metadata':
        // After the fallback the origin's RFC 8414 document may be absent too (default endpoints): the log line says which.
        if (this.legacy) this.finish('server', 'warn', `issuer ${event.issuer}, the server's origin (MCP 2025-03-26 fallback: its metadata there, else /authorize, /token and /register)`);
        else this.finish('server', 'pass', `issuer ${event.issuer}`);
        this.begin('client');
        break;
      case 'client':
        this.pass('client', clientSummary(event));
        if (this.options.grant === 'client_credentials') {
          this.reporter.step('authorize', { title: loginStepTitles.authorize, status: 'skipped', summary: 'client credentials: no user involved' });
          this.begin('tokens');
        } else {
          this.begin('authorize');
        }
        break;
      case 'authorization':
        if (event.via === 'browser') {
          this.reporter.step('authorize', { title: loginStepTitles.authorize, summary: this.options.noBrowser ? 'waiting for you to open the URL and log in' : 'waiting for you to log in in the browser' });
          this.reporter.notice(`${this.options.noBrowser ? 'Open this URL to log in' : 'Opening your browser; if it does not open, visit'}:\n  ${event.url}`);
        } else {
          this.reporter.step('authorize', { title: loginStepTitles.authorize, summary: `waiting for you to enter the code (valid ${Math.round(event.expiresIn / 60)} min)` });
          const complete = event.verificationUriComplete ? `\n  or open ${event.verificationUriComplete}, which carries the code` : '';
          this.reporter.notice(`To log in, open ${event.verificationUri} and enter the code ${event.userCode}${complete}`);
        }
        break;
      case 'tokens': {
        // Cross-app access: the IdP vouched for the user (after a login there, or with the ID token given).
        if (this.running === 'authorize') this.pass('authorize', this.options.grant === 'jwt_bearer' ? 'the identity provider vouched for you (cross-app access)' : 'approved');
        if (this.running !== 'tokens') this.begin('tokens');
        const parts = [event.scope ? `scopes ${event.scope}` : 'no scope named', describeExpiry(event.expiresAt, this.options.now?.())];
        if (event.subject) parts.unshift(`as ${quote(event.subject)}`);
        this.pass('tokens', `received and stored: ${parts.join(', ')}`);
        break;
      }
    }
  };

  /** A log line while the view is up goes through it (a notice), so it cannot tear the drawing. */
  readonly logLine = (line: string): void => {
    if (this.finished) process.stderr.write(line);
    else this.reporter.notice(line.replace(/\n$/, ''));
  };

  /** The login ended well; `record` is the stored token (a valid stored one when no step ran). */
  async succeeded(record: TokenRecord): Promise<void> {
    if (!this.progressed && this.running === 'resource') {
      this.reporter.step('resource', { status: 'skipped', summary: 'a valid token is stored; --force logs in again' });
      this.running = undefined;
    }
    this.finished = true;
    await this.reporter.finish(this.progressed ? `logged in to ${record.resource}` : `already logged in to ${record.resource}`, 'pass');
  }

  /**
   * The server answered without credentials: nothing to log in to. The view closes without a
   * line of its own: login's result line on stdout already says so, and once is enough.
   */
  async notNeeded(): Promise<void> {
    this.finished = true;
    await this.reporter.finish('', 'pass');
  }

  /** Mark the running step (else a "Login" step) failed with the error's message and hint. */
  async failed(error: unknown): Promise<void> {
    const failure = toAirlockError(error);
    const update = { status: 'fail' as const, summary: failure.message, ...(failure.hint ? { hint: failure.hint } : {}) };
    if (this.running) this.reporter.step(this.running, update);
    else this.reporter.step('login', { title: loginStepTitles.login, ...update });
    this.running = undefined;
    this.finished = true;
    await this.reporter.finish('login failed', 'fail');
  }

  private begin(id: LoginStepId): void {
    this.reporter.step(id, { title: loginStepTitles[id], status: 'running' });
    this.running = id;
  }

  private pass(id: LoginStepId, summary: string, details?: string[]): void {
    this.finish(id, 'pass', summary, details);
  }

  private finish(id: LoginStepId, status: 'pass' | 'warn', summary: string, details?: string[]): void {
    this.reporter.step(id, { title: loginStepTitles[id], status, summary, ...(details ? { details } : {}) });
    if (this.running === id) this.running = undefined;
  }
}
