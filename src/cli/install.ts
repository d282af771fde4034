/**
 * `mcp-airlock install --host HOST` and `uninstall --host HOST`: each server of the servers file
 * becomes one line in that host's config, `npx -y mcp-airlock NAME` (config/host-install.ts says
 * which command when run from a checkout), and uninstall puts the host's file back as it was.
 */
import type { Command } from 'commander';
import { AirlockError } from '../errors.js';
import { HOST_FORMATS, HOST_IDS, hostPlaces, type HostId } from '../config/host-formats.js';
import { airlockCommand, applyInstall, planInstall, uninstall } from '../config/host-install.js';
import { configDir, loadServers } from '../config/servers-location.js';
import { untrustedNote } from './config.js';
import { parseHost } from './import.js';
import type { CommandResult } from './program.js';

const say = (text: string): void => void process.stdout.write(`${text}\n`);
const oneHost = (value: string): HostId => parseHost(value)[0]!;

export function registerInstall(program: Command, _result: CommandResult): void {
  program
    .command('install')
    .description("write each server of the servers file into a host's config as one line, `npx -y mcp-airlock NAME` (a backup is kept beside it)")
    .requiredOption('--host <host>', HOST_IDS.join(' | '), oneHost)
    .option('--file <path>', "the host's config file (default: where the host keeps it; for claude-code ./.mcp.json)")
    .option('--dry-run', 'show what would change, write nothing')
    .exitOverride()
    .addHelpText('after', `
The host's other settings and the servers not in the servers file are left as
they are. \`mcp-airlock uninstall --host HOST\` puts the file back as it was.

Examples:
  $ mcp-airlock install --host cursor --dry-run
  $ mcp-airlock install --host claude`)
    .action(async (flags: { host: HostId; file?: string; dryRun?: boolean }) => {
      const format = HOST_FORMATS[flags.host];
      const { files, servers, untrusted } = await loadServers(process.cwd(), process.env);
      if (untrusted) process.stderr.write(`${untrustedNote(untrusted)}\n`);
      if (servers.size === 0) {
        throw new AirlockError('AIRLOCK_SERVERS_FILE', `no servers to install: ${files.length === 0 ? 'no servers file here' : `none in ${files.map((f) => f.path).join(', ')}`}`, {
          hint: 'Write the servers file (docs/servers-file.md), or take your hosts\' servers into it with `mcp-airlock import`.',
        });
      }
      const file = flags.file ?? format.installFile(hostPlaces(process.env, process.cwd()));
      const airlock = airlockCommand();
      const plan = await planInstall(flags.host, file, [...servers.keys()], airlock);
      say(`${file} (${format.label}):${plan.added.length ? ` add ${plan.added.join(', ')}` : ''}${plan.replaced.length ? `${plan.added.length ? ';' : ''} replace ${plan.replaced.join(', ')}` : ''}`);
      say(`each as: ${[airlock.command, ...airlock.args, 'NAME'].map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ')}`);
      if (flags.dryRun) {
        say('dry run: nothing written');
        return;
      }
      const backup = await applyInstall(plan, configDir(process.env));
      say(backup ? `backup: ${backup} (\`mcp-airlock uninstall --host ${flags.host}\` puts it back)` : `created ${file} (\`mcp-airlock uninstall --host ${flags.host}\` removes it)`);
      say(`restart ${format.label} to use the new lines`);
    });

  program
    .command('uninstall')
    .description("put a host's config back as it was before `mcp-airlock install` (refused if it changed since, unless --force)")
    .requiredOption('--host <host>', HOST_IDS.join(' | '), oneHost)
    .option('--force', 'put the backup back even though the file changed since install (those changes are lost)')
    .exitOverride()
    .action(async (flags: { host: HostId; force?: boolean }) => {
      const done = await uninstall(flags.host, configDir(process.env), flags.force === true);
      say(done.restored === 'backup' ? `${done.file}: restored from its backup` : `${done.file}: removed (install had created it)`);
    });
}
