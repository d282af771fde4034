/**
 * The auth flags that are pure parsing: which grant, the identity provider of cross-app access,
 * and mcp-remote's spellings (--host, --static-oauth-client-info, --static-oauth-client-metadata,
 * --authorize-param), accepted or refused with a precise message.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { addAuthOptions, addIdentityProviderOptions, addMcpRemoteAuthOptions, clientSecret, grantOf, identityProvider, mcpRemoteAuth, workloadToken, type AuthFlags } from '../../../src/cli/auth-options.js';
import { AirlockError } from '../../../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'airlock-auth-options-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const base: AuthFlags = { auth: true, authTimeout: 300, browser: true, storage: 'file', assumeS256: false, allowHttp: false };

function refusal(fn: () => unknown): AirlockError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(AirlockError);
    return error as AirlockError;
  }
  throw new Error('expected a refusal');
}

function parse(argv: string[]): AuthFlags {
  const command = addMcpRemoteAuthOptions(addIdentityProviderOptions(addAuthOptions(new Command('t').exitOverride(), { optional: true })));
  command.parse(argv, { from: 'user' });
  return command.opts<AuthFlags>();
}

describe('grantOf', () => {
  it('one grant flag picks the grant; none is the authorization code flow; two are refused', () => {
    expect(grantOf({})).toBeUndefined();
    expect(grantOf({ device: true })).toBe('device_code');
    expect(grantOf({ deviceCode: true })).toBe('device_code');
    expect(grantOf({ clientCredentials: true })).toBe('client_credentials');
    expect(grantOf({ idpIssuer: 'https://idp.example.com' })).toBe('jwt_bearer');
    expect(refusal(() => grantOf({ deviceCode: true, idpIssuer: 'https://idp.example.com' })).message).toBe('give only one of --device, --idp-issuer');
    expect(grantOf({ workloadTokenFile: '/var/run/secrets/token' })).toBe('jwt_bearer');
    expect(refusal(() => grantOf({ workloadTokenEnv: 'T', idpIssuer: 'https://idp.example.com' })).message).toBe('give only one of --idp-issuer, --workload-token-file/-env');
  });

  it('a workload token is read anew for every grant, and needs a client id', async () => {
    const file = join(dir, 'workload.jwt');
    writeFileSync(file, 'first.jwt\n');
    const read = workloadToken({ ...base, clientId: 'workload', workloadTokenFile: file })!;
    expect(await read()).toBe('first.jwt');
    writeFileSync(file, 'rotated.jwt');
    expect(await read()).toBe('rotated.jwt');
    expect(workloadToken(base)).toBeUndefined();
    expect(refusal(() => workloadToken({ ...base, workloadTokenFile: file })).message).toBe('a workload token was given without --client-id');
    expect(refusal(() => workloadToken({ ...base, clientId: 'w', workloadTokenFile: join(dir, 'missing.jwt') })).message).toMatch(/^cannot read the --workload-token-file ".*missing\.jwt"/);
  });
});

describe('clientSecret', () => {
  it('reads the secret from the variable or the (trimmed) file, never both, never empty', () => {
    const file = join(dir, 'client.secret');
    writeFileSync(file, 's3cret\n');
    expect(clientSecret(base)).toBeUndefined();
    expect(clientSecret({ ...base, clientSecretFile: file })).toBe('s3cret');
    process.env['AIRLOCK_TEST_CLIENT_SECRET'] = 'from-env';
    try {
      expect(clientSecret({ ...base, clientSecretEnv: 'AIRLOCK_TEST_CLIENT_SECRET' })).toBe('from-env');
    } finally {
      delete process.env['AIRLOCK_TEST_CLIENT_SECRET'];
    }
    expect(refusal(() => clientSecret({ ...base, clientSecretEnv: 'AIRLOCK_TEST_CLIENT_SECRET' })).message).toBe('--client-secret-env: AIRLOCK_TEST_CLIENT_SECRET is not set or empty');
    expect(refusal(() => clientSecret({ ...base, clientSecretEnv: 'X', clientSecretFile: file })).message).toBe('give --client-secret-env or --client-secret-file, not both');
    const empty = join(dir, 'empty.secret');
    writeFileSync(empty, '  \n');
    expect(refusal(() => clientSecret({ ...base, clientSecretFile: empty })).code).toBe('AIRLOCK_HEADER_FILE');
    expect(refusal(() => clientSecret({ ...base, clientSecretFile: join(dir, 'missing.secret') })).code).toBe('AIRLOCK_HEADER_FILE');
  });
});

describe('identityProvider', () => {
  it('reads the ID token and the IdP secret from the environment or a file, never argv', () => {
    process.env['TEST_ID_TOKEN'] = 'id.token.value';
    const secretFile = join(dir, 'idp-secret');
    writeFileSync(secretFile, 'idp-secret-value\n');
    expect(identityProvider({ ...base, idpIssuer: 'https://idp.example.com', idpClientId: 'airlock', idpIdTokenEnv: 'TEST_ID_TOKEN', idpClientSecretFile: secretFile }))
      .toEqual({ issuer: 'https://idp.example.com', clientId: 'airlock', idToken: 'id.token.value', clientSecret: 'idp-secret-value' });
    expect(identityProvider(base)).toBeUndefined();
    expect(refusal(() => identityProvider({ ...base, idpIssuer: 'https://idp.example.com', idpIdTokenEnv: 'TEST_ID_TOKEN' })).message).toBe('cross-app access needs --idp-client-id');
    // No ID token given: airlock will log in at the IdP itself.
    expect(identityProvider({ ...base, idpIssuer: 'https://idp.example.com', idpClientId: 'airlock' })).toEqual({ issuer: 'https://idp.example.com', clientId: 'airlock' });
    expect(refusal(() => identityProvider({ ...base, idpClientId: 'airlock' })).message).toBe('an --idp-* option was given without --idp-issuer');
    expect(refusal(() => identityProvider({ ...base, idpIssuer: 'https://idp.example.com', idpClientId: 'a', idpIdTokenEnv: 'NOT_SET_ANYWHERE_42' })).message).toBe('--idp-id-token-env: NOT_SET_ANYWHERE_42 is not set or empty');
  });
});

describe("mcp-remote's OAuth flags", () => {
  it('--host is the callback host; --static-oauth-client-info gives the client (a secret only from @file); metadata gives the scope', () => {
    const info = join(dir, 'client.json');
    writeFileSync(info, JSON.stringify({ client_id: 'registered-client', client_secret: 'from-a-file' }));
    const flags = parse(['--host', 'localhost', '--static-oauth-client-info', `@${info}`, '--static-oauth-client-metadata', '{"scope": "openid offline_access"}']);
    expect(mcpRemoteAuth(flags)).toEqual({ callbackHost: 'localhost', clientId: 'registered-client', clientSecret: 'from-a-file', scope: 'openid offline_access' });
    expect(mcpRemoteAuth(parse(['--static-oauth-client-info', '{"client_id": "public-client"}']))).toEqual({ clientId: 'public-client' });
    // --scope wins over the metadata's.
    expect(mcpRemoteAuth(parse(['--scope', 'a', '--static-oauth-client-metadata', '{"scope": "b"}']))).toEqual({});
  });

  it('refuses an inline secret, unknown metadata, invalid JSON and two client ids, each precisely', () => {
    const inline = refusal(() => mcpRemoteAuth(parse(['--static-oauth-client-info', '{"client_id": "c", "client_secret": "s3cr3t"}'])));
    expect(inline.message).toBe('--static-oauth-client-info puts a client secret in the process list, where any local user can read it');
    expect(inline.hint).toBe('Put the JSON in a file and pass @path, or use --client-id with --client-secret-env.');
    expect(refusal(() => mcpRemoteAuth(parse(['--static-oauth-client-metadata', '{"scope": "x", "client_name": "n", "logo_uri": "u"}']))).message)
      .toBe('--static-oauth-client-metadata: mcp-airlock takes only "scope" from it, not "client_name", "logo_uri"');
    const broken = refusal(() => mcpRemoteAuth(parse(['--static-oauth-client-info', '{"client_id": "c", "client_secret": "leak'])));
    expect(broken.message).toBe('--static-oauth-client-info is not valid JSON');
    expect(refusal(() => mcpRemoteAuth(parse(['--client-id', 'a', '--static-oauth-client-info', '{"client_id": "b"}']))).message).toBe('give --client-id or --static-oauth-client-info, not both');
  });

  it('--authorize-param collects name=value pairs and refuses the protocol\'s own', () => {
    expect(parse(['--authorize-param', 'access_type=offline', '--authorize-param', 'prompt=consent']).authorizeParam).toEqual({ access_type: 'offline', prompt: 'consent' });
    expect(() => parse(['--authorize-param', 'redirect_uri=https://evil.example'])).toThrow('--authorize-param "redirect_uri" is set by mcp-airlock itself');
    expect(() => parse(['--authorize-param', 'scope=x'])).toThrow('Use --scope.');
    expect(() => parse(['--authorize-param', 'novalue'])).toThrow('use name=value');
  });
});
