/**
 * `serve`'s inbound authentication flags, turned into the checks the HTTP server runs: a static
 * bearer token, or an OAuth resource server with RFC 9728 metadata. Tokens are read from a file
 * or the environment, never from argv.
 */
import { HelpGroup } from './help-groups.js';
import { InvalidArgumentError, type Command } from 'commander';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import envPaths from 'env-paths';
import { AirlockError, describeError, quote } from '../errors.js';
import type { Logger } from '../log.js';
import type { IdentityClaimNames } from '../audit/principal.js';
import type { InboundAuth } from '../policy/inbound-auth.js';
import { canonicalResourceUri } from '../auth/resource-uri.js';
import { isLoopbackHost } from '../transports/http-guard.js';
import { collect } from './options.js';
import { tlsSource, type TlsFlags } from './tls-options.js';
import { outboundFetch } from '../transports/http-request.js';

export interface ServeAuthFlags {
  authTokenFile?: string;
  authTokenEnv?: string;
  authTokenGenerate: boolean;
  oauthIssuer?: string;
  oauthJwks?: string;
  oauthAudience: string[];
  oauthScopes?: string;
  toolScope: string[];
  resourceUrl?: string;
  /** Accept `typ: JWT` access tokens (RFC 9068 wants at+jwt). */
  oauthAllowPlainJwt?: boolean;
  /** --oauth-require-dpop: only DPoP-bound tokens (RFC 9449). */
  oauthRequireDpop?: boolean;
  /** --oauth-dpop-nonce: DPoP proofs must carry a nonce serve issued (RFC 9449 §9). */
  oauthDpopNonce?: boolean;
  /** serve --upstream-token-exchange (its other checks are serve.ts's). */
  upstreamTokenExchange?: boolean;
  /** Where --upstream-token-exchange exchanges callers' tokens (default: --oauth-issuer). */
  tokenExchangeIssuer?: string;
}

function parseToolScope(value: string, previous: string[] = []): string[] {
  if (!/^[^=\s]+=[^=\s]+$/.test(value)) throw new InvalidArgumentError("use 'pattern=scope', e.g. 'delete_*=files:write'.");
  return [...previous, value];
}

export function addServeAuthOptions(command: Command): Command {
  return command
    .optionsGroup(HelpGroup.inboundAuth)
    .option('--auth-token-file <path>', 'require this bearer token (read from the file) on every request')
    .option('--auth-token-env <name>', 'require the bearer token held in this environment variable')
    .option('--auth-token-generate', 'create a random token (printed once to stderr, kept 0600 in --auth-token-file or the config directory) and require it', false)
    .option('--oauth-issuer <url>', 'act as an OAuth resource server for this authorization server (JWT access tokens)')
    .option('--oauth-jwks <url>', "the issuer's JWKS URL (default: its jwks_uri from discovery)")
    .option('--oauth-audience <value>', 'accepted token audience (default: the resource URL) (repeatable)', collect, [])
    .option('--oauth-scopes <a,b>', 'scopes every request needs')
    .option('--oauth-allow-plain-jwt', 'accept access tokens whose typ is JWT (or absent), for providers that do not send RFC 9068 at+jwt', false)
    .option('--oauth-require-dpop', 'accept DPoP-bound access tokens only (RFC 9449): Bearer tokens are refused', false)
    .option('--oauth-dpop-nonce', 'DPoP proofs must carry a nonce serve issued (RFC 9449 §9): a proof without one gets 401 use_dpop_nonce and a DPoP-Nonce header; nonces rotate every 5 min', false)
    .option('--tool-scope <pattern=scope>', 'calling tools matching the pattern also needs the scope (repeatable)', parseToolScope, [])
    .option('--resource-url <url>', 'the public URL of the MCP endpoint, when airlock sits behind a proxy (default: http://HOST:PORT/mcp)')
    .option('--token-exchange-issuer <url>', "with --upstream-token-exchange: the authorization server that exchanges callers' tokens (default: --oauth-issuer); never taken from the upstream's metadata");
}

export interface InboundAuthSetup {
  /** Build the checks once the listening address is known. */
  build(baseUrl: string, paths: { mcp: string; sse: string }): { auth: InboundAuth; resourceMetadata?: { paths: string[]; document: Record<string, unknown> } };
  describe: string;
}

/** What the policy needs from the inbound checks. */
export interface InboundIdentityOptions {
  /** Where groups and roles are in callers' tokens, when the policy matches them. */
  identityClaims?: IdentityClaimNames;
}

/** Read and check the flags (and discover the JWKS) before listening; undefined without auth flags. */
/** `allowHttp`: serve's --allow-http, which also lets a non-loopback JWKS be plain http. */
export async function prepareInboundAuth(flags: ServeAuthFlags & TlsFlags & { allowHttp?: boolean }, log: Logger, identity: InboundIdentityOptions = {}): Promise<InboundAuthSetup | undefined> {
  const staticChoices = [flags.authTokenFile !== undefined && !flags.authTokenGenerate, flags.authTokenEnv !== undefined, flags.authTokenGenerate].filter(Boolean).length;
  if (staticChoices > 1) throw usage('give one of --auth-token-file, --auth-token-env and --auth-token-generate');
  if (staticChoices > 0 && flags.oauthIssuer !== undefined) throw usage('a static token (--auth-token-*) and --oauth-issuer exclude each other');
  if (flags.oauthIssuer === undefined && (flags.oauthJwks || flags.oauthAudience.length || flags.oauthScopes || flags.toolScope.length || flags.resourceUrl || flags.oauthRequireDpop || flags.oauthDpopNonce)) {
    throw usage('--oauth-jwks, --oauth-audience, --oauth-scopes, --tool-scope, --resource-url, --oauth-require-dpop and --oauth-dpop-nonce need --oauth-issuer');
  }
  if (flags.tokenExchangeIssuer !== undefined && !flags.upstreamTokenExchange) throw usage('--token-exchange-issuer names where --upstream-token-exchange exchanges tokens; give both');
  // jose loads only when serve is protected.
  const { checkJwksUri, oauthResourceAuth, staticTokenAuth } = await import('../policy/inbound-auth.js');
  const { DPOP_PROOF_ALGORITHMS, inboundDpop } = await import('../policy/inbound-dpop.js');
  if (staticChoices > 0) {
    const token = readStaticToken(flags, log);
    return { build: () => ({ auth: staticTokenAuth(token) }), describe: 'a static bearer token' };
  }
  if (flags.oauthIssuer === undefined) return undefined;
  const issuer = flags.oauthIssuer;
  // The issuer's metadata and keys over the same CAs, client certificate and proxy as every other connection.
  const fetchImpl = outboundFetch(process.env, tlsSource(flags));
  const jwksUri = flags.oauthJwks ?? (await discoverJwksUri(issuer, log, fetchImpl));
  checkJwksUri(jwksUri, flags.allowHttp === true, flags.oauthJwks === undefined ? `--oauth-issuer: the jwks_uri of ${quote(issuer)}` : '--oauth-jwks');
  const requiredScopes = (flags.oauthScopes ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const toolScopes = flags.toolScope.map((rule) => {
    const [pattern, scope] = rule.split('=') as [string, string];
    return { pattern, scope };
  });
  return {
    describe: `OAuth access tokens from ${issuer}`,
    build(baseUrl, paths) {
      const resource = canonicalResourceUri(flags.resourceUrl ?? `${baseUrl}${paths.mcp}`, '--resource-url');
      const origin = new URL(resource).origin;
      const resourcePath = new URL(resource).pathname;
      const metadataPath = (path: string): string => `/.well-known/oauth-protected-resource${path === '/' ? '' : path}`;
      const sseResource = flags.resourceUrl === undefined ? canonicalResourceUri(`${baseUrl}${paths.sse}`) : undefined;
      const document = {
        resource,
        authorization_servers: [issuer],
        scopes_supported: [...new Set([...requiredScopes, ...toolScopes.map((t) => t.scope)])],
        bearer_methods_supported: ['header'],
        resource_name: 'mcp-airlock serve',
        // RFC 9728 §2: DPoP proofs are taken (and, with --oauth-require-dpop, needed).
        dpop_signing_alg_values_supported: DPOP_PROOF_ALGORITHMS,
        ...(flags.oauthRequireDpop ? { dpop_bound_access_tokens_required: true } : {}),
      };
      // RFC 9449 §4.3 check 9: a proof names the URL the client sent the request to: the public one
      // (--resource-url's origin and path prefix), or, without --resource-url, the Host it used.
      const prefix = flags.resourceUrl !== undefined && resourcePath.endsWith(paths.mcp) ? resourcePath.slice(0, resourcePath.length - paths.mcp.length) : '';
      const dpop = inboundDpop({
        required: flags.oauthRequireDpop === true,
        ...(flags.oauthDpopNonce ? { nonce: {} } : {}),
        expectedUrls: (req, path) => [`${origin}${prefix}${path}`, ...(flags.resourceUrl === undefined && req.headers.host ? [`${new URL(baseUrl).protocol}//${req.headers.host}${path}`] : [])],
      });
      return {
        auth: oauthResourceAuth({
          issuer,
          jwksUri,
          audiences: flags.oauthAudience.length > 0 ? flags.oauthAudience : [resource, ...(sseResource ? [sseResource] : [])],
          requiredScopes,
          toolScopes,
          resourceMetadataUrl: `${origin}${metadataPath(resourcePath)}`,
          identityClaims: identity.identityClaims,
          allowPlainJwtTyp: flags.oauthAllowPlainJwt === true,
          dpop,
          fetch: fetchImpl,
          log,
        }),
        resourceMetadata: { paths: [...new Set(['/.well-known/oauth-protected-resource', metadataPath(resourcePath), metadataPath(paths.mcp), metadataPath(paths.sse)])], document },
      };
    },
  };
}

/**
 * The authorization server of `serve --upstream-token-exchange`: --token-exchange-issuer, else the
 * inbound --oauth-issuer (whose tokens callers present). Named by the operator, never discovered
 * from the upstream: every exchange sends it a caller's token and airlock's client secret.
 */
export function tokenExchangeIssuer(flags: ServeAuthFlags): string {
  const issuer = flags.tokenExchangeIssuer ?? flags.oauthIssuer;
  if (issuer === undefined) throw usage('--upstream-token-exchange needs the authorization server to exchange at: --token-exchange-issuer <url>, or --oauth-issuer');
  let url: URL | undefined;
  try {
    url = new URL(issuer);
  } catch {
    url = undefined;
  }
  const flag = flags.tokenExchangeIssuer !== undefined ? '--token-exchange-issuer' : '--oauth-issuer';
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) throw usage(`${flag}: ${quote(issuer)} is not an http(s) URL`);
  return issuer;
}

function usage(message: string): AirlockError {
  return new AirlockError('AIRLOCK_USAGE', message, { hint: 'See mcp-airlock serve --help, "Inbound authentication".' });
}

function readStaticToken(flags: ServeAuthFlags, log: Logger): string {
  if (flags.authTokenEnv !== undefined) {
    const value = process.env[flags.authTokenEnv]?.trim();
    if (!value) throw new AirlockError('AIRLOCK_MISSING_ENV', `--auth-token-env: the environment variable ${flags.authTokenEnv} is not set or empty`, { hint: `Set ${flags.authTokenEnv} in the environment that starts mcp-airlock.` });
    return value;
  }
  const file = flags.authTokenFile ?? join(envPaths('mcp-airlock', { suffix: '' }).config, 'serve-token');
  let existing: string | undefined;
  try {
    existing = readFileSync(file, 'utf8').trim();
    warnIfShared(file, log);
  } catch (error) {
    if (!flags.authTokenGenerate || (error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new AirlockError('AIRLOCK_HEADER_FILE', `cannot read the token file ${quote(file)}: ${describeError(error)}`, { hint: 'Check the path, or use --auth-token-generate to create one.', cause: error });
    }
  }
  if (existing) {
    if (flags.authTokenGenerate) log.info(`using the token already in ${file}`);
    return existing;
  }
  if (!flags.authTokenGenerate) throw new AirlockError('AIRLOCK_HEADER_FILE', `the token file ${quote(file)} is empty`, { hint: 'Put the token in the file, or use --auth-token-generate.' });
  const token = randomBytes(32).toString('base64url');
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
  // Printed once, on stderr (never stdout, never a log file), so the user can configure a client.
  process.stderr.write(`mcp-airlock: generated a bearer token for serve, stored in ${file} (0600):\n${token}\n`);
  return token;
}

/** A token file others can read is a token others have: say so (the token still works). */
function warnIfShared(file: string, log: Logger): void {
  if (process.platform === 'win32') return;
  const mode = statSync(file).mode & 0o777;
  if ((mode & 0o077) === 0) return;
  const who = mode & 0o004 ? 'everyone' : 'its group';
  log.warn(`the token file ${quote(file)} is readable by ${who} (mode ${mode.toString(8).padStart(4, '0')}); run chmod 600 ${JSON.stringify(file)}`);
}

/**
 * The issuer's jwks_uri, from its metadata found the way the login flow finds it (RFC 8414 path
 * insertion, then OpenID discovery; the document's `issuer` must be identical). Plain http only
 * for a loopback issuer.
 */
async function discoverJwksUri(issuer: string, log: Logger, fetchImpl: typeof fetch): Promise<string> {
  const { discoverAuthorizationServer } = await import('../auth/server-metadata.js');
  const allowHttp = isLoopbackHost(new URL(issuer).hostname);
  let metadata: { jwks_uri?: unknown };
  try {
    metadata = await discoverAuthorizationServer(issuer, { fetch: fetchImpl, allowHttp, log });
  } catch (error) {
    const failure = error as AirlockError;
    throw new AirlockError(failure.code ?? 'AIRLOCK_AUTH_DISCOVERY', `--oauth-issuer: ${describeError(error)}`, {
      hint: 'Check --oauth-issuer (it must equal the issuer in its metadata), or give the keys directly with --oauth-jwks <url>.',
      cause: error,
    });
  }
  if (typeof metadata.jwks_uri !== 'string') {
    throw new AirlockError('AIRLOCK_AUTH_DISCOVERY', `--oauth-issuer: the metadata of ${quote(issuer)} names no jwks_uri`, { hint: 'Give the keys directly with --oauth-jwks <url>.' });
  }
  return metadata.jwks_uri;
}
