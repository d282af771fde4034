/**
 * `mcp-airlock import [--from HOST...] [--dry-run] [--yes]`: take the servers every MCP host on
 * this machine defines into the user's servers file. Shows what it takes, what it leaves (names
 * the file has already, a second definition of a name, host-only settings) and why. Secrets found
 * in clear text move to the keychain as `${keychain:NAME}` only with consent (--yes, or a yes on
 * the terminal); otherwise they are kept as they are, with a warning.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { InvalidArgumentError, type Command } from 'commander';
import { closest } from '../closest-word.js';
import { AirlockError, quote } from '../errors.js';
import { HOST_FORMATS, HOST_IDS, hostPlaces, isHostId, type HostId } from '../config/host-formats.js';
import { plainSecrets, readHostFile, type ImportedServer, type SkippedServer } from '../config/host-import.js';
import { writeAtomic } from '../config/atomic-write.js';
import { setMembers } from '../config/json-edit.js';
import { checkServersFile } from '../config/servers-file.js';
import { userServersPath } from '../config/servers-location.js';
import type { StorageMode } from '../store/storage-mode.js';
import { openSecrets, parseStorage } from './secret.js';
import type { CommandResult } from './program.js';

const say = (text: string): void => void process.stdout.write(`${text}\n`);

export function parseHost(value: string, previous: HostId[] = []): HostId[] {
  if (isHostId(value)) return [...previous, value];
  const near = closest(value, HOST_IDS);
  throw new InvalidArgumentError(`use one of ${HOST_IDS.join(', ')}${near ? ` (did you mean ${near}?)` : ''}.`);
}

/** A keychain name for a secret of `server` found in `key`: `github-authorization`. */
function secretName(server: string, key: string): string {
  return `${server}-${key}`.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').slice(0, 100);
}

async function askYes(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

interface ImportFlags {
  from?: HostId[];
  dryRun?: boolean;
  yes?: boolean;
  storage: StorageMode;
}

export function registerImport(program: Command, _result: CommandResult): void {
  program
    .command('import')
    .description("take the servers of your MCP hosts' configs into your servers file (names it has already are skipped)")
    .option('--from <host>', `read only this host's config (repeatable): ${HOST_IDS.join(', ')}`, parseHost)
    .option('--dry-run', 'show what would be taken, write nothing')
    .option('--yes', 'move secrets found in clear text to the keychain without asking')
    .option('--storage <where>', 'where those secrets go: auto (OS keychain, else a 0600 file) | keychain | file', parseStorage, 'auto')
    .exitOverride()
    .addHelpText('after', `
Reads (per OS): Claude Desktop, Claude Code (~/.claude.json, ./.mcp.json),
Cursor (~/.cursor/mcp.json, ./.cursor/mcp.json), VS Code (user mcp.json,
./.vscode/mcp.json), Codex (~/.codex/config.toml), Gemini CLI
(~/.gemini/settings.json), Zed (settings.json), Windsurf
(~/.codeium/windsurf/mcp_config.json). Writes the user's servers.json
(docs/servers-file.md).

Examples:
  $ mcp-airlock import --dry-run
  $ mcp-airlock import --from cursor --from vscode`)
    .action(async (flags: ImportFlags) => {
      const places = hostPlaces(process.env, process.cwd());
      const hosts = flags.from ?? [...HOST_IDS];
      const target = userServersPath(process.env);
      const before = await readFile(target, 'utf8').catch(() => undefined);
      const current = before === undefined ? undefined : checkServersFile(before);
      if (current && !current.servers) {
        throw new AirlockError('AIRLOCK_SERVERS_FILE', `the servers file ${quote(target)} is not valid: nothing imported`, { hint: `Run \`mcp-airlock config check ${target}\` and fix it first.` });
      }
      const taken = new Map<string, ImportedServer>();
      const skipped: SkippedServer[] = [];
      let read = 0;
      for (const host of hosts) {
        for (const file of HOST_FORMATS[host].importFiles(places)) {
          const result = await readHostFile(host, file);
          if (!result) continue;
          read++;
          if (result.problem) {
            process.stderr.write(`mcp-airlock: warning: ${file} (${HOST_FORMATS[host].label}) is skipped: ${result.problem}\n`);
            continue;
          }
          say(`read ${file} (${HOST_FORMATS[host].label}): ${result.servers.length + result.skipped.length} server(s)`);
          skipped.push(...result.skipped);
          for (const server of result.servers) {
            const earlier = taken.get(server.name);
            if (current?.servers?.[server.name]) skipped.push({ ...server, reason: `${target} has a server of that name already` });
            else if (earlier && JSON.stringify(earlier.entry) !== JSON.stringify(server.entry)) skipped.push({ ...server, reason: `a different server of that name comes from ${earlier.file}` });
            else if (!earlier) taken.set(server.name, server);
          }
        }
      }
      if (read === 0) say(`no host config found (looked for ${hosts.map((h) => HOST_FORMATS[h].label).join(', ')})`);
      for (const server of taken.values()) {
        say(`+ ${server.name} (${HOST_FORMATS[server.host].label})${server.dropped.length > 0 ? `; left out: ${server.dropped.join(', ')}` : ''}`);
      }
      for (const skip of skipped) say(`- ${skip.name} (${HOST_FORMATS[skip.host].label}): skipped: ${skip.reason}`);

      const secrets = [...taken.values()].flatMap((server) => plainSecrets(server.entry).map((found) => ({ server, found, name: secretName(server.name, found.key) })));
      if (secrets.length > 0) {
        const list = secrets.map((s) => `${s.server.name} ${s.found.member}.${s.found.key}`).join(', ');
        const consent = flags.dryRun ? false : flags.yes === true || (process.stdin.isTTY && (await askYes(`Move ${secrets.length} secret(s) in clear text (${list}) to the keychain, as \${keychain:NAME}? [y/N] `)));
        if (consent) {
          const store = await openSecrets(flags.storage);
          for (const { server, found, name } of secrets) {
            await store.set(name, found.value);
            (server.entry[found.member] as Record<string, string>)[found.key] = `${found.prefix}\${keychain:${name}}`;
            say(`secret ${server.name} ${found.member}.${found.key} stored as \${keychain:${name}}`);
          }
        } else {
          process.stderr.write(`mcp-airlock: warning: ${secrets.length} secret(s) kept in clear text (${list})${flags.dryRun ? '' : ': run again with --yes to move them to the keychain, or `mcp-airlock secret set NAME` and edit the file'}\n`);
        }
      }
      if (flags.dryRun) {
        say(`dry run: ${taken.size} server(s) would go into ${target}; nothing written`);
        return;
      }
      if (taken.size === 0) {
        say(`nothing to add to ${target}`);
        return;
      }
      const key = before !== undefined && /"mcpServers"\s*:/.test(before) && !/"servers"\s*:/.test(before) ? 'mcpServers' : 'servers';
      const text = setMembers(before ?? '{\n  "servers": {}\n}\n', [key], Object.fromEntries([...taken].map(([name, server]) => [name, server.entry])));
      await mkdir(dirname(target), { recursive: true });
      await writeAtomic(target, text);
      say(`${taken.size} server(s) added to ${target}; check it with \`mcp-airlock config check\`, then \`mcp-airlock install --host HOST\``);
    });
}
