import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { authorizationCodeFlow, requireS256, verifyAuthorizationResponse, type AuthorizationCodeOptions } from '../../../src/auth/authorization-code.js';
import { startCallbackServer, type CallbackServer } from '../../../src/auth/callback-server.js';
import { oauthConfiguration } from '../../../src/auth/oauth-client.js';
import type { ServerMetadata } from '../../../src/auth/server-metadata.js';
import { AirlockError } from '../../../src/errors.js';
import { createLogger } from '../../../src/log.js';
import { startRecordingServer, type RecordingServer, type Reply } from '../../helpers/recording-server.js';
import { thrownAirlockError } from '../../helpers/thrown.js';

const issuer = 'https://as.example';
const base = { issuer, authorization_endpoint: `${issuer}/authorize`, token_endpoint: `${issuer}/token` } as ServerMetadata;

describe('requireS256 (MCP 2025-11-25: refuse without advertised PKCE)', () => {
  it('accepts a server that lists S256', () => {
    expect(() => requireS256({ ...base, code_challenge_methods_supported: ['plain', 'S256'] }, false, createLogger('silent'))).not.toThrow();
  });

  it('refuses a server that does not advertise code_challenge_methods_supported, with a hint naming the opt-out', () => {
    const error = thrownAirlockError(() => requireS256(base, false, createLogger('silent')));
    expect(error.code).toBe('AIRLOCK_AUTH_NO_PKCE');
    expect(error.message).toBe('the authorization server "https://as.example" does not advertise code_challenge_methods_supported, so PKCE cannot be relied on');
    expect(error.hint).toContain('--assume-s256');
  });

  it('refuses a server that lists only plain', () => {
    const error = thrownAirlockError(() => requireS256({ ...base, code_challenge_methods_supported: ['plain'] }, false, createLogger('silent')));
    expect(error.message).toContain('lists code_challenge_methods_supported "plain" without S256');
  });

  it('with assumeS256, goes on and says so in a warning', () => {
    const lines: string[] = [];
    requireS256(base, true, createLogger('warn', (l) => lines.push(l)));
    expect(lines).toEqual(['[mcp-airlock] warn: the authorization server "https://as.example" does not advertise code_challenge_methods_supported; using S256 anyway as asked (--assume-s256)\n']);
  });
});

describe('verifyAuthorizationResponse (state, RFC 9207 iss, errors)', () => {
  const expected = { state: 'the-state', issuer, issRequired: true };
  const verify = (query: string, e = expected) => verifyAuthorizationResponse(new URLSearchParams(query), e);

  it('accepts a response with the right iss, state and a code', () => {
    expect(() => verify(`code=c&state=the-state&iss=${encodeURIComponent(issuer)}`)).not.toThrow();
  });

  it('rejects a missing or different state (fail closed)', () => {
    expect(thrownAirlockError(() => verify(`code=c&iss=${issuer}`))).toMatchObject({ code: 'AIRLOCK_AUTH_STATE_MISMATCH', message: 'the authorization response has no state' });
    expect(thrownAirlockError(() => verify(`code=c&state=other&iss=${issuer}`)).code).toBe('AIRLOCK_AUTH_STATE_MISMATCH');
    expect(thrownAirlockError(() => verify(`code=c&state=the-stat&iss=${issuer}`)).code).toBe('AIRLOCK_AUTH_STATE_MISMATCH');
  });

  it('rejects a missing iss when the server advertises authorization_response_iss_parameter_supported', () => {
    const error = thrownAirlockError(() => verify('code=c&state=the-state'));
    expect(error.code).toBe('AIRLOCK_AUTH_ISS_MISMATCH');
    expect(error.message).toBe('the authorization response carries no iss, although "https://as.example" advertises authorization_response_iss_parameter_supported');
  });

  it('accepts a missing iss when the server does not advertise it', () => {
    expect(() => verify('code=c&state=the-state', { ...expected, issRequired: false })).not.toThrow();
  });

  it('rejects a different iss (plain string comparison) without showing the error fields', () => {
    const error = thrownAirlockError(() => verify('state=the-state&iss=https%3A%2F%2Fas.example%2F&error=access_denied&error_description=Call%20us%20at%20555'));
    expect(error.code).toBe('AIRLOCK_AUTH_ISS_MISMATCH');
    expect(error.message).toBe('the authorization response names issuer "https://as.example/", expected "https://as.example"');
    expect(`${error.message} ${error.hint}`).not.toMatch(/access_denied|555/);
  });

  it('checks iss even when the server does not advertise it, if present', () => {
    expect(thrownAirlockError(() => verify('code=c&state=the-state&iss=https://evil.example', { ...expected, issRequired: false })).code).toBe('AIRLOCK_AUTH_ISS_MISMATCH');
  });

  it('reports an error from the verified issuer, quoted, as AIRLOCK_AUTH_DENIED', () => {
    const error = thrownAirlockError(() => verify(`state=the-state&iss=${issuer}&error=access_denied&error_description=no%0Aforged: line`));
    expect(error.code).toBe('AIRLOCK_AUTH_DENIED');
    expect(error.message).toBe('the authorization server refused the authorization: "access_denied" ("no\\nforged: line")');
  });

  it('rejects repeated parameters and a missing code', () => {
    expect(thrownAirlockError(() => verify(`code=a&code=b&state=the-state&iss=${issuer}`)).code).toBe('AIRLOCK_AUTH_CALLBACK');
    expect(thrownAirlockError(() => verify(`state=the-state&state=the-state&iss=${issuer}`)).code).toBe('AIRLOCK_AUTH_CALLBACK');
    expect(thrownAirlockError(() => verify(`state=the-state&iss=${issuer}`))).toMatchObject({ code: 'AIRLOCK_AUTH_CALLBACK', message: 'the authorization response has no code' });
  });
});

describe('authorizationCodeFlow against a loopback token endpoint', () => {
  let as: RecordingServer | undefined;
  let callback: CallbackServer | undefined;
  afterEach(async () => {
    await callback?.close();
    await as?.close();
    as = undefined;
    callback = undefined;
  });

  const tokens = { access_token: 'at-1', token_type: 'Bearer', expires_in: 60, refresh_token: 'rt-1' };

  /** A token endpoint that answers `reply`, the callback server, and the flow's options with their defaults. */
  async function setup(reply: Reply = { json: tokens }) {
    as = await startRecordingServer((req) => (req.path === '/token' ? reply : undefined));
    const origin = as.origin;
    const metadata = {
      issuer: origin,
      authorization_endpoint: `${origin}/authorize`,
      token_endpoint: `${origin}/token`,
      code_challenge_methods_supported: ['S256'],
      authorization_response_iss_parameter_supported: true,
    } as ServerMetadata;
    const config = oauthConfiguration(metadata, { issuer: origin, clientId: 'client-1', method: 'dynamic', tokenEndpointAuthMethod: 'none', registeredAt: 0 }, { fetch, allowHttp: true });
    const cb = (callback = await startCallbackServer({ log: createLogger('silent') }));
    const options = (overrides: Partial<AuthorizationCodeOptions> = {}): AuthorizationCodeOptions => ({
      config,
      callback: cb,
      scopes: [],
      resourceIndicator: 'https://mcp.example/mcp',
      noBrowser: false,
      timeoutMs: 5000,
      log: createLogger('silent'),
      openUrl: async () => undefined,
      ...overrides,
    });
    /** The "browser" comes back to the callback as the authorization server would send it. */
    const comeBack = (authorizationUrl: string, code = 'c', state = new URL(authorizationUrl).searchParams.get('state')!) =>
      fetch(`${cb.redirectUri}?code=${code}&state=${state}&iss=${encodeURIComponent(origin)}`);
    /** onAuthorizationUrl, and the URL it was given. */
    const shownUrl = () => {
      let show!: (url: string) => void;
      const shown = new Promise<string>((resolve) => (show = resolve));
      return { show, shown };
    };
    return { callback: cb, origin, options, comeBack, shownUrl };
  }

  it('sends S256, state, resource and scope, then the code with its verifier and the resource', async () => {
    const { callback, origin, options, comeBack } = await setup();
    const shown: string[] = [];
    let opened = '';
    const result = await authorizationCodeFlow(options({
      scopes: ['mcp:read', 'mcp:write'],
      onAuthorizationUrl: (url) => shown.push(url),
      openUrl: async (url) => {
        opened = url;
        void comeBack(url, 'the-code');
      },
    }));
    expect(shown).toEqual([opened]);
    const request = new URL(opened);
    expect(`${request.origin}${request.pathname}`).toBe(`${origin}/authorize`);
    const params = Object.fromEntries(request.searchParams);
    expect(params).toMatchObject({
      response_type: 'code',
      client_id: 'client-1',
      redirect_uri: callback.redirectUri,
      code_challenge_method: 'S256',
      resource: 'https://mcp.example/mcp',
      scope: 'mcp:read mcp:write',
    });
    expect(params['state']).toMatch(/^[\w-]{43}$/);
    expect(params['code_challenge']).toMatch(/^[\w-]{43}$/);

    const body = Object.fromEntries(new URLSearchParams(as!.requests.at(-1)!.body));
    expect(body).toMatchObject({ grant_type: 'authorization_code', code: 'the-code', redirect_uri: callback.redirectUri, resource: 'https://mcp.example/mcp', client_id: 'client-1' });
    expect(createHash('sha256').update(body['code_verifier']!).digest('base64url')).toBe(params['code_challenge']);
    expect(result.access_token).toBe('at-1');
  });

  it('omits scope when there is none to ask for, and never opens a browser with noBrowser', async () => {
    const { options, comeBack, shownUrl } = await setup();
    const { show, shown } = shownUrl();
    const flow = authorizationCodeFlow(options({
      onAuthorizationUrl: show,
      noBrowser: true,
      openUrl: async () => {
        throw new Error('must not be called');
      },
    }));
    const url = await shown;
    expect(new URL(url).searchParams.has('scope')).toBe(false);
    await comeBack(url);
    await expect(flow).resolves.toMatchObject({ access_token: 'at-1' });
  });

  it('does not exchange the code of a response with a forged state', async () => {
    const { options, comeBack } = await setup();
    const error = await authorizationCodeFlow(options({
      openUrl: async (url) => {
        void comeBack(url, 'stolen', 'attacker');
      },
    })).catch((e: unknown) => e as AirlockError);
    expect(error.code).toBe('AIRLOCK_AUTH_STATE_MISMATCH');
    expect(as!.paths()).not.toContain('/token');
  });

  it('goes on waiting (the URL was shown) when the browser cannot be opened', async () => {
    const { options, comeBack, shownUrl } = await setup();
    const lines: string[] = [];
    const { show, shown } = shownUrl();
    const flow = authorizationCodeFlow(options({
      onAuthorizationUrl: show,
      log: createLogger('warn', (l) => lines.push(l)),
      openUrl: async () => {
        throw new Error('no display');
      },
    }));
    await comeBack(await shown);
    await expect(flow).resolves.toMatchObject({ access_token: 'at-1' });
    expect(lines).toEqual(['[mcp-airlock] warn: could not open a browser (no display); open the URL by hand\n']);
  });

  it('turns a token endpoint error into AIRLOCK_AUTH_TOKEN naming the OAuth error', async () => {
    const { options, comeBack } = await setup({ status: 400, json: { error: 'invalid_grant', error_description: 'code expired' } });
    const error = await authorizationCodeFlow(options({
      openUrl: async (url) => {
        void comeBack(url);
      },
    })).catch((e: unknown) => e as AirlockError);
    expect(error.code).toBe('AIRLOCK_AUTH_TOKEN');
    expect(error.message).toBe('exchanging the authorization code failed: the authorization server answered "invalid_grant": "code expired"');
  });
});

