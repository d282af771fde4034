/**
 * The flags of provider profiles (src/auth/provider-profiles.ts) and of the registration's initial
 * access token, shared by `login`, `connect`, `serve --upstream` and `doctor`. Checked when parsed,
 * so a misspelt profile fails before any request. The token comes from the environment or a file,
 * never from argv.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { ADJUSTMENTS, checkAdjustmentNames, isProviderProfile, PROVIDER_PROFILES, type ProfileSettings, type ProviderProfileChoice } from '../auth/provider-profiles.js';
import { AirlockError } from '../errors.js';

export interface ProviderFlags {
  providerProfile?: ProviderProfileChoice;
  skipAdjustment?: string[];
  appIdUri?: string;
  registrationTokenEnv?: string;
  registrationTokenFile?: string;
}

function parseProfile(value: string): ProviderProfileChoice {
  if (value === 'auto' || isProviderProfile(value)) return value;
  throw new InvalidArgumentError(`use auto, ${PROVIDER_PROFILES.join(', ')}.`);
}

function parseAdjustment(value: string, previous: string[] | undefined): string[] {
  try {
    checkAdjustmentNames([value]);
  } catch (error) {
    throw new InvalidArgumentError(error instanceof AirlockError ? `${error.message}. ${error.hint ?? ''}`.trim() : String(error));
  }
  return [...(previous ?? []), value];
}

function parseAppIdUri(value: string): string {
  if (!/^[a-z][a-z0-9+.-]*:\/\/[^/\s]+/i.test(value)) throw new InvalidArgumentError('give the application ID URI, e.g. api://00000000-0000-0000-0000-000000000000.');
  return value;
}

/** Add the flags to `command` (in whatever help group is current: the auth one). */
export function addProviderOptions(command: Command): Command {
  return command
    .option('--provider-profile <name>', `identity provider adjustments: auto (recognise it) | ${PROVIDER_PROFILES.join(' | ')} (generic: none)`, parseProfile, 'auto')
    .option('--skip-adjustment <name>', `switch off one adjustment of the profile: ${ADJUSTMENTS.join(', ')} (repeatable)`, parseAdjustment)
    .option('--app-id-uri <uri>', 'Entra ID: the application ID URI for the <app-id-uri>/.default scope (default: from the scopes, else the resource)', parseAppIdUri)
    .option('--registration-token-env <name>', 'dynamic registration: read an initial access token (RFC 7591 §3; Okta) from this environment variable')
    .option('--registration-token-file <path>', 'dynamic registration: read the initial access token from this file');
}

/** The profile settings of the flags. */
export function profileSettings(flags: ProviderFlags): ProfileSettings {
  const settings: ProfileSettings = { choice: flags.providerProfile ?? 'auto' };
  if (flags.skipAdjustment !== undefined) settings.skip = flags.skipAdjustment;
  if (flags.appIdUri !== undefined) settings.appIdUri = flags.appIdUri;
  return settings;
}
