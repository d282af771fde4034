/**
 * --authorize-param: extra parameters of the authorization request (RFC 6749 §3.1 lets a server
 * define its own, e.g. Google's `access_type=offline`, `prompt=consent`). The protocol's own are
 * set by airlock and cannot be replaced. Kept apart from authorization-code.ts so that the CLI can
 * check the flag without loading the OAuth client.
 */
import { AirlockError, quote } from '../errors.js';

/** Parameters of the authorization request that airlock sets itself and --authorize-param must not replace. */
const RESERVED_AUTHORIZE_PARAMS = ['response_type', 'client_id', 'redirect_uri', 'state', 'code_challenge', 'code_challenge_method', 'scope', 'resource', 'request', 'request_uri', 'dpop_jkt'];

/** Refuse an --authorize-param that would replace one of the protocol's own parameters. */
export function checkAuthorizeParams(params: Record<string, string>): void {
  for (const name of Object.keys(params)) {
    if (RESERVED_AUTHORIZE_PARAMS.includes(name)) {
      throw new AirlockError('AIRLOCK_USAGE', `--authorize-param ${quote(name)} is set by mcp-airlock itself`, {
        hint: name === 'scope' ? 'Use --scope.' : name === 'resource' ? 'Use --resource, or --omit-resource for providers that refuse it.' : 'Only parameters the protocol does not define can be added (e.g. access_type=offline, prompt=consent).',
      });
    }
  }
}
