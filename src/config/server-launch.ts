/**
 * `mcp-airlock NAME`: one server of the servers file as the command line that runs it, exactly
 * what a person would type: `mcp-airlock run [flags] -- command args` for a spawned server,
 * `mcp-airlock URL [flags]` for a remote one. Secrets never enter that command line: header values
 * and a client secret that hold references go through variables of airlock's own environment
 * (`--header "Authorization: ${MCP_AIRLOCK_HEADER_1}"`, `--client-secret-env`), which connect
 * reads and never passes on; a spawned server's `env` is set in the environment `run` gives it.
 * Only `args` are resolved in place: a server that takes a secret as an argument gets it there.
 */
import { dirname } from 'node:path';
import { findReferences, referencedPath, resolveReferences, type ReferenceSources } from './secret-references.js';
import type { ServerEntry } from './servers-file.js';
import type { LocatedServer } from './servers-location.js';

export interface ServerLaunch {
  /** The equivalent command line, without `mcp-airlock`. */
  argv: string[];
  /** Variables to add to airlock's environment (resolved: secrets among them). */
  env: Record<string, string>;
  /** The spawned server's working directory, when the entry sets one. */
  cwd?: string;
}

/** The flags both forms share, from the entry's own members. */
function commonFlags(entry: ServerEntry, baseDir: string): string[] {
  const flags: string[] = [];
  if (entry.protocol !== undefined) flags.push('--protocol', entry.protocol);
  if (entry.policyFile !== undefined) flags.push('--policy-file', referencedPath(entry.policyFile, baseDir));
  if (entry.maxMessage !== undefined) flags.push('--max-message', String(entry.maxMessage));
  return flags;
}

/**
 * The launch of `server`, references resolved from `sources` (keychain and files read only when
 * the entry refers to them). `extra` are flags typed after the name, added after the entry's.
 */
export async function serverLaunch(server: LocatedServer, extra: readonly string[], sources: Omit<ReferenceSources, 'baseDir'>): Promise<ServerLaunch> {
  const { entry, name } = server;
  const baseDir = dirname(server.file.path);
  const refs: ReferenceSources = { ...sources, baseDir };
  const where = (member: string): string => `server ${JSON.stringify(name)} (${server.file.path}): ${member}`;
  const env: Record<string, string> = {};

  if (entry.command !== undefined) {
    for (const [key, value] of Object.entries(entry.env ?? {})) env[key] = await resolveReferences(value, refs, where(`env.${key}`));
    const args: string[] = [];
    for (const [i, arg] of (entry.args ?? []).entries()) args.push(await resolveReferences(arg, refs, where(`args[${i}]`)));
    // In the hub (--hub auto): one process of the server for every host that allows it, and stopped when idle.
    const hub = [...(entry.share === true ? ['--share'] : []), ...(entry.idleTimeout ? ['--idle-stop', String(entry.idleTimeout)] : [])];
    return {
      argv: ['run', ...commonFlags(entry, baseDir), ...hub, ...extra, '--', entry.command, ...args],
      env,
      ...(entry.cwd === undefined ? {} : { cwd: referencedPath(entry.cwd, baseDir) }),
    };
  }

  const flags = commonFlags(entry, baseDir);
  if (entry.type === 'sse') flags.push('--transport', 'sse');
  else if (entry.type === 'http' && entry.url !== undefined) flags.push('--transport', 'http');
  let n = 0;
  for (const [header, value] of Object.entries(entry.headers ?? {})) {
    if (findReferences(value).references.length === 0) {
      flags.push('--header', `${header}: ${value}`);
      continue;
    }
    const variable = `MCP_AIRLOCK_HEADER_${++n}`;
    env[variable] = await resolveReferences(value, refs, where(`headers.${header}`));
    flags.push('--header', `${header}: \${${variable}}`);
  }
  const auth = entry.auth ?? {};
  if (auth.account !== undefined) flags.push('--account', auth.account);
  if (auth.clientId !== undefined) flags.push('--client-id', auth.clientId);
  if (auth.clientSecret !== undefined) {
    env.MCP_AIRLOCK_CLIENT_SECRET = await resolveReferences(auth.clientSecret, refs, where('auth.clientSecret'));
    flags.push('--client-secret-env', 'MCP_AIRLOCK_CLIENT_SECRET');
  }
  if (auth.scopes !== undefined) flags.push('--scope', auth.scopes.join(' '));
  if (auth.providerProfile !== undefined) flags.push('--provider-profile', auth.providerProfile);
  if (auth.grant === 'device') flags.push('--device');
  if (auth.grant === 'client-credentials') flags.push('--client-credentials');
  if (entry.storage !== undefined) flags.push('--storage', entry.storage);
  return { argv: [entry.url!, ...flags, ...extra], env };
}
