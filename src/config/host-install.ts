/**
 * `mcp-airlock install --host X` and `uninstall --host X`: make each server of the servers file
 * one line in a host's config (`npx -y mcp-airlock NAME`), and take that back. Install edits the
 * host's file in place (only the members of the servers it writes; other settings, comments and
 * servers stay), after copying it byte for byte to `FILE.airlock-backup-<time>` beside it, and
 * records what it wrote in `installs.json` in airlock's config directory. Uninstall puts the
 * backup back, byte for byte, unless the file changed since (then only with --force).
 */
import { createHash } from 'node:crypto';
import { constants, existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, rm } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AirlockError, describeError, quote } from '../errors.js';
import { parseLocatedJson } from '../policy/json-locations.js';
import { writeAtomic } from './atomic-write.js';
import { readCodexServers, setCodexServers } from './codex-toml.js';
import { HOST_FORMATS, type HostId } from './host-formats.js';
import { setMembers } from './json-edit.js';

/** The command a host runs for `mcp-airlock NAME` (NAME appended to `args`). */
export interface AirlockCommand {
  command: string;
  args: string[];
}

/** The folder holding bin/mcp-airlock.js: two levels up in a build (dist/config/), one or two in the bundle (bin/, bin/chunks/). */
function packageRoot(from = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'bin', 'mcp-airlock.js')) && existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return from;
  }
}

/**
 * From a package installed by npm (its folder is inside node_modules): `npx -y mcp-airlock`
 * (`npx.cmd` on Windows, which starts no .cmd without it). From a checkout: this Node and this
 * checkout's bin by absolute path, so that what is being developed is what the host runs.
 */
export function airlockCommand(platform: NodeJS.Platform = process.platform, root = packageRoot(), execPath = process.execPath): AirlockCommand {
  if (root.split(sep).includes('node_modules')) return { command: platform === 'win32' ? 'npx.cmd' : 'npx', args: ['-y', 'mcp-airlock'] };
  return { command: execPath, args: [join(root, 'bin', 'mcp-airlock.js')] };
}

export interface InstallPlan {
  host: HostId;
  file: string;
  /** The file's text before, undefined when it does not exist yet. */
  before: string | undefined;
  after: string;
  added: string[];
  replaced: string[];
}

async function readIfThere(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw hostError(file, `cannot read it: ${describeError(error)}`, 'Check its permissions.', error);
  }
}

function hostError(file: string, problem: string, hint: string, cause?: unknown): AirlockError {
  return new AirlockError('AIRLOCK_HOST_CONFIG', `${quote(file)}: ${problem}`, { hint, ...(cause === undefined ? {} : { cause }) });
}

/** What installing `names` into `host`'s `file` changes; nothing is written. */
export async function planInstall(host: HostId, file: string, names: readonly string[], airlock: AirlockCommand): Promise<InstallPlan> {
  const format = HOST_FORMATS[host];
  const before = await readIfThere(file);
  const lines = Object.fromEntries(names.map((name) => [name, { command: airlock.command, args: [...airlock.args, name] }]));
  let existing: string[] = [];
  let after: string;
  try {
    if (format.syntax === 'toml') {
      existing = Object.keys(readCodexServers(before ?? ''));
      after = setCodexServers(before ?? '', lines);
    } else {
      const value = before === undefined || before.trim() === '' ? {} : parseLocatedJson(before, { jsonc: true }).value;
      const held = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[format.key] : undefined;
      existing = typeof held === 'object' && held !== null ? Object.keys(held) : [];
      after = setMembers(before ?? '', [format.key], Object.fromEntries(Object.entries(lines).map(([name, line]) => [name, format.line(line.command, line.args)])));
      if (before === undefined) after = after.endsWith('\n') ? after : `${after}\n`;
    }
  } catch (error) {
    throw hostError(file, `cannot be edited: ${describeError(error)}`, `Fix the file so that ${format.label} reads it, then run install again.`, error);
  }
  return { host, file, before, after, added: names.filter((n) => !existing.includes(n)), replaced: names.filter((n) => existing.includes(n)) };
}

interface InstallRecord {
  file: string;
  /** The copy of the file as it was before the first install; absent when install created the file. */
  backup?: string;
  sha256: string;
  installedAt: string;
}

type Records = Record<string, InstallRecord>;

const sha256 = (text: string | Buffer): string => createHash('sha256').update(text).digest('hex');
const recordsPath = (configDir: string): string => join(configDir, 'installs.json');

async function readRecords(configDir: string): Promise<Records> {
  const text = await readIfThere(recordsPath(configDir));
  if (text === undefined) return {};
  try {
    return JSON.parse(text) as Records;
  } catch (error) {
    throw hostError(recordsPath(configDir), `is not JSON: ${describeError(error)}`, 'It is where install keeps its backups\' names: fix it, or remove it and restore the backups (FILE.airlock-backup-*) by hand.', error);
  }
}

async function writeRecords(configDir: string, records: Records): Promise<void> {
  await mkdir(configDir, { recursive: true });
  await writeAtomic(recordsPath(configDir), `${JSON.stringify(records, null, 2)}\n`);
}

/** Write the plan: backup (first install only), the file, the record. Returns the backup's path. */
export async function applyInstall(plan: InstallPlan, configDir: string, now = new Date()): Promise<string | undefined> {
  const records = await readRecords(configDir);
  const earlier = records[plan.host];
  // Installed before and untouched since: the first backup is still the file as it was before airlock.
  const keepEarlier = earlier !== undefined && earlier.file === plan.file && plan.before !== undefined && sha256(plan.before) === earlier.sha256;
  let backup = keepEarlier ? earlier.backup : undefined;
  try {
    await mkdir(dirname(plan.file), { recursive: true });
    if (!keepEarlier && plan.before !== undefined) {
      backup = `${plan.file}.airlock-backup-${now.toISOString().replace(/[:.]/g, '-')}`;
      await copyFile(plan.file, backup, constants.COPYFILE_EXCL);
    }
    await writeAtomic(plan.file, plan.after);
  } catch (error) {
    throw hostError(plan.file, `cannot be written: ${describeError(error)}`, 'Check the permissions of the file and its folder.', error);
  }
  records[plan.host] = { file: plan.file, ...(backup === undefined ? {} : { backup }), sha256: sha256(plan.after), installedAt: now.toISOString() };
  await writeRecords(configDir, records);
  return backup;
}

/** Put `host`'s config back as it was before install; what was done. */
export async function uninstall(host: HostId, configDir: string, force: boolean): Promise<{ file: string; restored: 'backup' | 'removed' }> {
  const records = await readRecords(configDir);
  const record = records[host];
  const flag = `--host ${host}`;
  if (!record) throw new AirlockError('AIRLOCK_HOST_CONFIG', `nothing to uninstall for ${HOST_FORMATS[host].label}: \`mcp-airlock install ${flag}\` has not written its config`, { hint: `Installs are recorded in ${recordsPath(configDir)}.` });
  const current = await readFile(record.file).catch(() => undefined);
  if (current !== undefined && sha256(current) !== record.sha256 && !force) {
    throw hostError(record.file, `changed since \`mcp-airlock install ${flag}\` (${record.installedAt}): not restored`, record.backup
      ? `Remove the mcp-airlock lines by hand, or run \`mcp-airlock uninstall ${flag} --force\` to put back ${record.backup} (what changed since is lost).`
      : `Remove the mcp-airlock lines by hand, or run \`mcp-airlock uninstall ${flag} --force\` to remove the file install created (what changed since is lost).`);
  }
  try {
    if (record.backup !== undefined) {
      await writeAtomic(record.file, await readFile(record.backup));
      await rm(record.backup);
    } else {
      await rm(record.file, { force: true });
    }
  } catch (error) {
    throw hostError(record.file, `cannot be restored: ${describeError(error)}`, record.backup ? `Copy ${record.backup} over it by hand.` : 'Remove it by hand.', error);
  }
  delete records[host];
  await writeRecords(configDir, records);
  return { file: record.file, restored: record.backup !== undefined ? 'backup' : 'removed' };
}
