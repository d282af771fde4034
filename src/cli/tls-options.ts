/**
 * The corporate-network flags of every command that reaches a server (connect, login, serve
 * --upstream, doctor): which certificate authorities to trust, and a client certificate for mutual
 * TLS. The key's passphrase comes from an environment variable or the OS keychain, never argv.
 */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { collect } from './options.js';
import { HelpGroup } from './help-groups.js';
import type { TlsSource } from '../transports/http-request.js';

export interface TlsFlags {
  /** false with --no-system-ca. */
  systemCa?: boolean;
  caFile?: string[];
  clientCert?: string;
  clientKey?: string;
  clientKeyPassphraseEnv?: string;
}

/** The keychain account of a client key's passphrase: `tls-passphrase:<absolute path of --client-cert or --client-key>`. */
export function passphraseAccount(keyPath: string): string {
  return `tls-passphrase:${resolve(keyPath)}`;
}

export function addTlsOptions(command: Command): Command {
  return command
    .optionsGroup(HelpGroup.network)
    .option('--no-system-ca', "trust only Node's own certificate authorities, not the OS trust store")
    .option('--ca-file <path>', 'also trust the certificate authorities in this PEM file (repeatable)', collect, [])
    .option('--client-cert <path>', 'client certificate for mutual TLS to the MCP and authorization servers: PEM, or PKCS#12 (.p12/.pfx)')
    .option('--client-key <path>', 'the PEM private key of --client-cert')
    .option('--client-key-passphrase-env <name>', 'read the key passphrase from this environment variable (else from the OS keychain)');
}

const sources = new Map<string, TlsSource>();

/**
 * The TLS options these flags ask for, read once per process (on the first https connection) and
 * shared by the MCP traffic and the authorization traffic.
 */
export function tlsSource(flags: TlsFlags, env: NodeJS.ProcessEnv = process.env): TlsSource {
  const key = JSON.stringify([flags.systemCa !== false, flags.caFile ?? [], flags.clientCert, flags.clientKey, flags.clientKeyPassphraseEnv]);
  let source = sources.get(key);
  if (!source) {
    let loaded: ReturnType<TlsSource> | undefined;
    source = () => (loaded ??= load(flags, env).catch((error: unknown) => {
      loaded = undefined;
      throw error;
    }));
    sources.set(key, source);
  }
  return source;
}

async function load(flags: TlsFlags, env: NodeJS.ProcessEnv): ReturnType<TlsSource> {
  const { loadOutboundTls } = await import('../transports/outbound-tls.js');
  const keyPath = flags.clientKey ?? flags.clientCert;
  return loadOutboundTls({
    systemCa: flags.systemCa !== false,
    caFiles: flags.caFile ?? [],
    ...(flags.clientCert !== undefined ? { clientCert: flags.clientCert } : {}),
    ...(flags.clientKey !== undefined ? { clientKey: flags.clientKey } : {}),
    env,
    passphrase: async () => {
      if (flags.clientKeyPassphraseEnv !== undefined) {
        const value = env[flags.clientKeyPassphraseEnv];
        if (value === undefined || value === '') {
          const { AirlockError } = await import('../errors.js');
          throw new AirlockError('AIRLOCK_MISSING_ENV', `--client-key-passphrase-env: the environment variable ${flags.clientKeyPassphraseEnv} is not set or empty`, { hint: `Set ${flags.clientKeyPassphraseEnv} in the environment that starts mcp-airlock.` });
        }
        return value;
      }
      return keyPath === undefined ? undefined : keychainPassphrase(keyPath);
    },
  });
}

/** The passphrase stored in the OS keychain (service mcp-airlock, account passphraseAccount), if any. */
async function keychainPassphrase(keyPath: string): Promise<string | undefined> {
  try {
    const { AsyncEntry } = await import('@napi-rs/keyring');
    const { KEYCHAIN_ENTRY_OPTIONS, KEYCHAIN_SERVICE } = await import('../store/keychain-store.js');
    return (await new AsyncEntry(KEYCHAIN_SERVICE, passphraseAccount(keyPath), KEYCHAIN_ENTRY_OPTIONS).getPassword()) ?? undefined;
  } catch {
    return undefined; // no keychain here: the caller says that no passphrase was given
  }
}
