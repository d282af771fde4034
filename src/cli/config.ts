/**
 * `mcp-airlock config check [FILE]` and `config show [--json]`: for people writing the servers
 * file (docs/servers-file.md). `check` lists every problem with its line and column as `policy
 * check` does (exit 0 valid, warnings included; 2 invalid; 3 no file); `show` prints the servers
 * that apply here, merged, with the file each comes from: references as written, never resolved.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { AirlockError, ExitCode } from '../errors.js';
import { looksLikeSecret } from '../config/secret-references.js';
import type { ServerEntry } from '../config/servers-file.js';
import { trustProject, trustState } from '../config/project-trust.js';
import { checkServersFile } from '../config/servers-file.js';
import { configDir, findProjectFile, loadServers, readServersText, serversFiles, userServersPath, PROJECT_FILE, type ServersFileRef, type UntrustedFile } from '../config/servers-location.js';
import { count, printIssues } from './file-issues.js';
import { commandNames } from './usage-errors.js';
import type { CommandResult } from './program.js';

const out = (text: string): void => void process.stdout.write(`${text}\n`);

/** Values that look like secrets written in clear text are not printed. */
function shownMap(map: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!map) return undefined;
  return Object.fromEntries(Object.entries(map).map(([k, v]) => [k, looksLikeSecret(k, v) ? '<hidden: a secret in clear text>' : v]));
}

function shownEntry(entry: ServerEntry): ServerEntry {
  const env = shownMap(entry.env);
  const headers = shownMap(entry.headers);
  return { ...entry, ...(env ? { env } : {}), ...(headers ? { headers } : {}) };
}

function describeEntry(entry: ServerEntry): string[] {
  const lines = [entry.command !== undefined ? `  command: ${[entry.command, ...(entry.args ?? [])].map((a) => (/[\s"']/.test(a) ? JSON.stringify(a) : a)).join(' ')}` : `  url: ${entry.url} (${entry.type})`];
  for (const [name, map] of [['env', entry.env], ['headers', entry.headers]] as const) {
    if (map && Object.keys(map).length > 0) lines.push(`  ${name}: ${Object.entries(map).map(([k, v]) => `${k}=${v}`).join(', ')}`);
  }
  const rest = Object.entries(entry).filter(([k]) => !['type', 'command', 'args', 'env', 'url', 'headers'].includes(k));
  for (const [key, value] of rest) lines.push(`  ${key}: ${typeof value === 'object' ? JSON.stringify(value) : String(value)}`);
  return lines;
}

const noFileError = (cwd: string, env: NodeJS.ProcessEnv): AirlockError =>
  new AirlockError('AIRLOCK_SERVERS_FILE', `no servers file here: neither ${PROJECT_FILE} in ${cwd} or a folder above, nor ${userServersPath(env)}`, {
    hint: 'Write one (docs/servers-file.md), or take the servers of your MCP hosts with `mcp-airlock import`.',
  });

export function registerConfig(program: Command, result: CommandResult): void {
  const config = program
    .command('config')
    .summary('check, show or trust the servers file')
    .description(`Check the servers file (${PROJECT_FILE} in the project, servers.json in the config directory), or show the servers it defines here.`);

  config
    .command('check')
    .description('validate a servers file, or every one that applies here: each problem with its line and column (exit 0 valid, 2 invalid)')
    .argument('[file]', 'the servers file (default: the project\'s and the user\'s)')
    .option('--json', 'print the result as JSON')
    .exitOverride()
    .addHelpText('after', `
Examples:
  $ mcp-airlock config check
  $ mcp-airlock config check ./mcp-airlock.json`)
    .action(async (file: string | undefined, flags: { json?: boolean }, command: Command) => {
      const files: ServersFileRef[] = file ? [{ path: resolve(file), source: 'project' }] : await serversFiles(process.cwd(), process.env);
      if (files.length === 0) throw noFileError(process.cwd(), process.env);
      const reports = [];
      for (const ref of files) {
        const shown = file ?? ref.path;
        const text = await readServersText(ref.path);
        const { servers, issues } = checkServersFile(text, { reserved: commandNames(command) });
        const trust = ref.source === 'project' && !file ? await trustState(ref.path, text, configDir(process.env)) : undefined;
        if (trust && trust !== 'trusted' && servers && !flags.json) process.stderr.write(`${untrustedNote({ file: ref, state: trust, names: Object.keys(servers) })}\n`);
        if (!servers) result.exitCode = ExitCode.usage;
        if (flags.json) reports.push({ file: shown, valid: servers !== undefined, ...(servers ? { servers: Object.keys(servers).length } : {}), ...(trust ? { trusted: trust === 'trusted' } : {}), issues });
        else if (!servers) printIssues(shown, issues, false, out);
        else {
          printIssues(shown, issues, false, out);
          const warnings = issues.length;
          out(`${shown}: valid: ${count(Object.keys(servers).length, 'server')}${warnings > 0 ? `, ${count(warnings, 'warning')}` : ''}`);
        }
      }
      if (flags.json) out(JSON.stringify(file ? reports[0] : reports, null, 2));
    });

  config
    .command('show')
    .description('the servers that apply here, merged (the project\'s entry wins per name), with the file each comes from; references as written')
    .option('--json', 'print them as JSON')
    .exitOverride()
    .action(async (flags: { json?: boolean }) => {
      const { files, servers, untrusted } = await loadServers(process.cwd(), process.env);
      if (files.length === 0) throw noFileError(process.cwd(), process.env);
      if (untrusted) process.stderr.write(`${untrustedNote(untrusted)}\n`);
      if (flags.json) {
        const list = Object.fromEntries(
          [...servers.values()].map((s) => [s.name, { source: s.file.source, file: s.file.path, ...(s.overrides ? { overrides: s.overrides.path } : {}), entry: shownEntry(s.entry) }]),
        );
        out(JSON.stringify({ files, servers: list, ...(untrusted ? { untrusted: { file: untrusted.file.path, state: untrusted.state, servers: untrusted.names } } : {}) }, null, 2));
        return;
      }
      for (const server of servers.values()) {
        out(`${server.name}  (${server.file.source}: ${server.file.path}${server.overrides ? `; hides the entry in ${server.overrides.path}` : ''})`);
        for (const line of describeEntry(shownEntry(server.entry))) out(line);
      }
      if (servers.size === 0) out(`no servers in ${files.map((f) => f.path).join(', ')}`);
    });

  config
    .command('trust')
    .description(`use a project's ${PROJECT_FILE} (it chooses the commands airlock starts); again after it changes`)
    .argument('[file]', `the project's file (default: the ${PROJECT_FILE} that applies here)`)
    .exitOverride()
    .action(async (file: string | undefined) => {
      const path = file ? resolve(file) : await findProjectFile(process.cwd());
      if (!path) throw new AirlockError('AIRLOCK_SERVERS_FILE', `no ${PROJECT_FILE} in ${process.cwd()} or a folder above`, { hint: 'Give its path: mcp-airlock config trust PATH.' });
      const text = await readServersText(path);
      const { servers, issues } = checkServersFile(text, { reserved: commandNames(program) });
      if (!servers) {
        printIssues(path, issues, false, out);
        throw new AirlockError('AIRLOCK_SERVERS_FILE', `${path} is not valid: not trusted`, { hint: 'Fix the problems above, then trust it.' });
      }
      await trustProject(path, text, configDir(process.env));
      out(`trusted ${path} (${count(Object.keys(servers).length, 'server')}: ${Object.keys(servers).join(', ')})`);
    });
}

/** One line for stderr: the project's servers are not used, and how to use them. */
export function untrustedNote(untrusted: UntrustedFile): string {
  return `mcp-airlock: note: ${untrusted.file.path} ${untrusted.state === 'changed' ? 'changed since you trusted it' : 'is not trusted yet'}: its servers (${untrusted.names.join(', ')}) are not used; read it, then \`mcp-airlock config trust\``;
}
