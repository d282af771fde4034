/**
 * `mcp-airlock audit path | verify | seal | tail | show`: where the audit log is, whether it is
 * intact (with the installation's audit key, and against seals kept elsewhere), and what is in it.
 * Reads only; never changes a record (`seal` appends to a file of the user's choosing).
 */
import type { Command } from 'commander';
import { appendFile, readFile, stat } from 'node:fs/promises';
import { auditFiles, followLines, parseRecord, readLines, verifyAudit, type SealedHead, type VerifyReport } from '../audit/audit-reader.js';
import { loadAuditKey } from '../audit/audit-key.js';
import { createLogger } from '../log.js';
import type { StorageMode } from '../store/storage-mode.js';
import { formatLine, formatTable, parseOutcome, parseSince, recordMatcher, type AuditFilter } from '../audit/audit-query.js';
import type { AuditRecord } from '../audit/audit-record.js';
import { AirlockError, ExitCode, quote } from '../errors.js';
import { auditFileFor } from './audit-options.js';
import { parseStorage } from './auth-options.js';
import { parsePositiveInt } from './options.js';
import type { CommandResult } from './program.js';

interface FileFlag {
  auditFile?: string;
}

interface KeyFlags {
  storage: StorageMode;
}

/** The installation's audit key, read only (verify never makes one). */
async function readKey(flags: KeyFlags): Promise<Awaited<ReturnType<typeof loadAuditKey>>> {
  return loadAuditKey({ storage: flags.storage, log: createLogger('warn'), create: false });
}

/** Every head in a seal file (one JSON object per line, as `audit seal` writes them). */
async function readSeals(path: string): Promise<SealedHead[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new AirlockError('AIRLOCK_AUDIT_READ', `cannot read the seal file ${quote(path)}: ${(error as Error).message}`, { cause: error });
  }
  const heads: SealedHead[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const seal = (() => {
      try {
        return JSON.parse(line) as { heads?: unknown };
      } catch {
        return undefined;
      }
    })();
    if (!seal || !Array.isArray(seal.heads)) throw new AirlockError('AIRLOCK_AUDIT_READ', `${quote(path)} is not a seal file (a line is not a seal)`, { hint: 'Pass the file `mcp-airlock audit seal` wrote.' });
    for (const head of seal.heads as SealedHead[]) {
      if (typeof head?.chain === 'string' && Number.isInteger(head.seq) && typeof head.hash === 'string') heads.push(head);
    }
  }
  return heads;
}

const out = (text: string): void => void process.stdout.write(`${text}\n`);

async function filesOf(flags: FileFlag): Promise<string[]> {
  const live = auditFileFor(flags);
  const files = await auditFiles(live);
  if (files.length === 0) {
    throw new AirlockError('AIRLOCK_AUDIT_READ', `no audit log at ${quote(live)}`, {
      hint: 'Nothing has been recorded there yet. Pass --audit-file if the log was written elsewhere.',
    });
  }
  return files;
}

export function registerAudit(program: Command, result: CommandResult): void {
  const audit = program
    .command('audit')
    .summary('inspect and verify the audit log')
    .description('Inspect and verify the local audit log: one hash-chained JSON line per MCP call and notification.');
  const withFile = (command: Command): Command => command.option('--audit-file <path>', 'the audit log to read (default: see `mcp-airlock audit path`)').exitOverride();

  withFile(audit.command('path').description('print where the audit log is written')).action((flags: FileFlag) => {
    out(auditFileFor(flags));
  });

  const withKey = (command: Command): Command =>
    command.option('--storage <where>', 'where the audit key is: auto | keychain | file (as for credentials)', parseStorage, 'auto');

  withKey(withFile(audit.command('verify').description('check every keyed hash chain: report the first changed, missing or reordered record or file')))
    .argument('[file]', 'check only this file (chains that began in an earlier file are not checked back)')
    .option('--seal <file>', 'also check the chain heads `audit seal` anchored in this file: none may be missing or changed')
    .option('--require-keyed', 'fail on unkeyed (format 1) records too, which anyone could have rewritten')
    .option('--json', 'print the report as JSON')
    .action(async (file: string | undefined, flags: FileFlag & KeyFlags & { json?: boolean; seal?: string; requireKeyed?: boolean }) => {
      const files = file === undefined ? await filesOf(flags) : [file];
      if (file !== undefined) await stat(file).catch((error: unknown) => {
        throw new AirlockError('AIRLOCK_AUDIT_READ', `cannot read ${quote(file)}: ${(error as Error).message}`, { cause: error });
      });
      const key = await readKey(flags);
      const seals = flags.seal === undefined ? undefined : await readSeals(flags.seal);
      const report = await verifyAudit(files, { partial: file !== undefined, key, requireKeyed: flags.requireKeyed === true, seals });
      printReport(report, flags.json === true);
      result.exitCode = report.problems.length === 0 ? ExitCode.ok : ExitCode.auditBroken;
    });

  withKey(withFile(audit.command('seal').description('verify the log, then print (or append to a file elsewhere) the head of every chain, to check later with `verify --seal`')))
    .option('--append-to <file>', 'append the seal to this file (keep it where whoever can write the audit log cannot: another host, a WORM store)')
    .action(async (flags: FileFlag & KeyFlags & { appendTo?: string }) => {
      const files = await filesOf(flags);
      const key = await readKey(flags);
      // The heads come from the walk that checked them: a record appended since is not sealed unchecked.
      const report = await verifyAudit(files, { key, withHeads: true });
      if (report.problems.length > 0) {
        printReport(report, false);
        process.stderr.write('mcp-airlock: not sealed: the log is broken\n');
        result.exitCode = ExitCode.auditBroken;
        return;
      }
      const heads = report.heads ?? [];
      const seal = JSON.stringify({ sealed: new Date().toISOString(), log: auditFileFor(flags), files: files.length, records: report.records, key: key?.id ?? null, heads });
      if (flags.appendTo === undefined) out(seal);
      else {
        await appendFile(flags.appendTo, `${seal}\n`, { mode: 0o600 });
        out(`sealed ${heads.length} chain${heads.length === 1 ? '' : 's'} (${report.records} records) into ${flags.appendTo}`);
      }
    });

  withFile(audit.command('tail').description('print the newest records; -f keeps printing new ones'))
    .option('-n, --lines <n>', 'how many records', parsePositiveInt, 10)
    .option('-f, --follow', 'keep printing records as they are written (Ctrl-C to stop)')
    .option('--json', 'print records as JSON lines')
    .action(async (flags: FileFlag & { lines: number; follow?: boolean; json?: boolean }) => {
      const files = await filesOf(flags);
      const print = (record: AuditRecord): void => out(flags.json ? JSON.stringify(record) : formatLine(record));
      const last: AuditRecord[] = [];
      for await (const line of readLines(files)) {
        const record = parseRecord(line.text);
        if (!record) continue;
        last.push(record);
        if (last.length > flags.lines) last.shift();
      }
      last.forEach(print);
      if (!flags.follow) return;
      const live = auditFileFor(flags);
      const size = (await stat(live)).size;
      const stop = new AbortController();
      const onSignal = (): void => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        for await (const text of followLines(live, size, stop.signal)) {
          const record = parseRecord(text);
          if (record) print(record);
        }
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });

  withFile(audit.command('show').description('list records, filtered; a table, or JSON lines with --json'))
    .option('--since <time>', 'only records since a time (2026-11-23T09:00) or for a duration back (15m, 2h, 7d)')
    .option('--server <text>', 'only records whose server URL or command contains this')
    .option('--tool <glob>', 'only calls of tools, prompts or resources matching this pattern')
    .option('--outcome <outcome>', 'only: ok | error | denied | upstream-failure | cancelled | unanswered | delivered')
    .option('--principal <text>', 'only records whose subject, client id or issuer contains this')
    .option('--session <id>', 'only records of this session (a prefix is enough)')
    .option('--method <method>', 'only this JSON-RPC method, e.g. tools/call')
    .option('--json', 'print records as JSON lines')
    .action(async (flags: FileFlag & Record<string, string | boolean | undefined>) => {
      const filter: AuditFilter = {
        since: typeof flags.since === 'string' ? parseSince(flags.since) : undefined,
        server: flags.server as string | undefined,
        tool: flags.tool as string | undefined,
        outcome: typeof flags.outcome === 'string' ? parseOutcome(flags.outcome) : undefined,
        principal: flags.principal as string | undefined,
        session: flags.session as string | undefined,
        method: flags.method as string | undefined,
      };
      const matches = recordMatcher(filter);
      const selected: AuditRecord[] = [];
      for await (const line of readLines(await filesOf(flags))) {
        const record = parseRecord(line.text);
        if (!record || !matches(record)) continue;
        if (flags.json) out(JSON.stringify(record));
        else selected.push(record);
      }
      if (flags.json) return;
      if (selected.length === 0) {
        process.stderr.write('mcp-airlock: no records match\n');
        return;
      }
      out(formatTable(selected, process.stdout.isTTY ? process.stdout.columns : undefined));
    });
}

function printReport(report: VerifyReport, json: boolean): void {
  if (json) {
    out(JSON.stringify(report, null, 2));
    return;
  }
  const where = `${report.records} records in ${report.chains} chains across ${report.files.length} file${report.files.length === 1 ? '' : 's'}`;
  if (report.problems.length === 0) {
    out(`ok: ${where}, every chain intact`);
    if (report.unkeyed.records > 0) {
      out(`note: ${report.unkeyed.records} record(s) in ${report.unkeyed.chains} chain(s) are unkeyed (format 1, written before the audit key): they show accidental damage, not a rewrite`);
    }
    if (report.lost > 0) out(`note: ${report.lost} record(s) were lost to failed writes (audit/gap markers)`);
    if (report.sealed > 0) out(`note: ${report.sealed} sealed chain head(s) found unchanged`);
    if (report.continued.length > 0) out(`note: ${report.continued.length} chain(s) began in an earlier file; check all files (without a file argument) to verify those links`);
    return;
  }
  out(`BROKEN: ${where}; ${report.problems.length} problem${report.problems.length === 1 ? '' : 's'}${report.problems.length >= 20 ? ' (stopped at 20)' : ''}:`);
  for (const p of report.problems) out(`  ${p.file}:${p.line}: ${p.message}`);
}
