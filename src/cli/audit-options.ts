/**
 * The audit flags, shared by connect, serve and run, and the audit log they open: one writer per
 * process (one hash chain), one tap per session.
 */
import { HelpGroup } from './help-groups.js';
import { InvalidArgumentError, type Command } from 'commander';
import { dirname } from 'node:path';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { AuditHost, AuditPrincipal } from '../audit/audit-record.js';
import type { RequestId } from '../bridge/json-rpc.js';
import { defaultAuditFile, prepareDefaultDirectory } from '../audit/audit-location.js';
import { AuditTap, fanOut, type AuditSink } from '../audit/audit-tap.js';
import { AuditWriter } from '../audit/audit-writer.js';
import { loadAuditKey } from '../audit/audit-key.js';
import type { AuditArgsMode } from '../redact.js';
import type { StorageMode } from '../store/storage-mode.js';
import { transportNameOf } from '../bridge/stage.js';
import { AirlockError, describeError, quote, toAirlockError } from '../errors.js';
import type { Logger } from '../log.js';
import { parseSize } from './options.js';

export interface AuditFlags {
  /** false with --no-audit. */
  audit: boolean;
  auditFile?: string;
  auditArgs: AuditArgsMode;
  auditSync: boolean;
  auditMaxSize: number;
}

/** Where the audit key lives: the command's --storage when it has one (credentials and key live together), else auto. */
export type AuditKeyFlags = AuditFlags & { storage?: StorageMode };

const DEFAULT_AUDIT_MAX_SIZE = 10 * 1024 * 1024;

function parseArgsMode(value: string): AuditArgsMode {
  if (value === 'none' || value === 'digest' || value === 'full') return value;
  throw new InvalidArgumentError('use none, digest or full.');
}

export function addAuditOptions(command: Command): Command {
  return command
    .optionsGroup(HelpGroup.audit)
    .option('--no-audit', 'do not write the audit log')
    .option('--audit-file <path>', 'write the audit log here (default: the platform log directory; see `mcp-airlock audit path`)')
    .option('--audit-args <mode>', 'record tool arguments as: none | digest (HMAC-SHA256 under the audit key) | full (secrets redacted)', parseArgsMode, 'digest')
    .option('--audit-sync', 'write and sync each record to disk before the answer is forwarded', false)
    .option('--audit-max-size <size>', 'rotate the audit file past this size (0: never)', (v: string) => (v.trim() === '0' ? 0 : parseSize(v)), DEFAULT_AUDIT_MAX_SIZE);
}

/** The file the flags point at: --audit-file, else the platform default. */
export function auditFileFor(flags: Pick<AuditFlags, 'auditFile'>): string {
  return flags.auditFile ?? defaultAuditFile();
}

export interface AuditContext {
  /** The upstream, already without secrets. */
  server: string;
  version: string;
  log: Logger;
  /** The host process behind the command (the hub's clients), put in every record. */
  host?: AuditHost;
}

/** An open audit log: make a tap for each session, close once when the process ends. */
export interface AuditLog {
  /** A session's tap; `also` gets every record too (telemetry). */
  tapFor(session: string, inbound: Transport, outbound: Transport, principal?: () => AuditPrincipal | null | undefined, also?: AuditSink): AuditTap;
  /**
   * Settles only if the audit key cannot be loaded: nothing can be recorded, so the command
   * must stop with this error (the key loads while traffic already flows, see openAuditLog).
   */
  failed: Promise<AirlockError>;
  close(): Promise<void>;
}

/** A transport that renumbers its callers' requests (serve's 2026 lane) tells the audit tap their own ids. */
function callerIds(inbound: Transport): ((id: RequestId) => RequestId | undefined) | undefined {
  const lane = inbound as Transport & { callerIdOf?: (id: RequestId) => RequestId | undefined };
  return lane.callerIdOf ? (id) => lane.callerIdOf!(id) : undefined;
}

/** What every tap of a session is told, whichever sinks it feeds. */
function tapBasics(context: AuditContext, session: string, inbound: Transport, outbound: Transport, principal: (() => AuditPrincipal | null | undefined) | undefined) {
  return {
    session,
    server: context.server,
    transport: () => `${transportNameOf(inbound)}->${transportNameOf(outbound)}`,
    version: context.version,
    principal,
    ...(context.host ? { host: context.host } : {}),
    clientIdOf: callerIds(inbound),
  };
}

/**
 * A tap that feeds only `sink` (telemetry with --no-audit): the same pairing of requests and
 * answers, and no arguments looked at.
 */
export function tapWithoutAudit(context: AuditContext, session: string, inbound: Transport, outbound: Transport, principal: (() => AuditPrincipal | null | undefined) | undefined, sink: AuditSink): AuditTap {
  return new AuditTap({ ...tapBasics(context, session, inbound, outbound, principal), sink, args: 'none' });
}

/**
 * Open the audit log the flags ask for (undefined with --no-audit), with the installation's audit
 * key (made on first use; see audit-key.ts). A bad file or directory fails here, before any
 * traffic flows. The key loads in the background (a keychain read costs a probe process and a
 * D-Bus round trip): records wait for it in the writer, so start-up does not; if it cannot be
 * loaded, `failed` settles and the command stops.
 */
export async function openAuditLog(flags: AuditKeyFlags, context: AuditContext): Promise<AuditLog | undefined> {
  if (!flags.audit) return undefined;
  const file = auditFileFor(flags);
  if (flags.auditFile === undefined) {
    try {
      prepareDefaultDirectory(dirname(file));
    } catch (error) {
      throw new AirlockError('AIRLOCK_AUDIT_WRITE', `cannot create the audit directory ${quote(dirname(file))}: ${describeError(error)}`, {
        hint: 'Choose a writable location with --audit-file <path>, or switch the audit log off with --no-audit.',
        cause: error,
      });
    }
  }
  const keyLoad = loadAuditKey({ storage: flags.storage ?? 'auto', log: context.log, create: true }).then((key) => {
    if (!key) throw new AirlockError('AIRLOCK_AUDIT_KEY', 'no audit key could be made');
    context.log.debug(`audit key ${key.id} (${key.backend})`);
    return key;
  });
  const failed = keyLoad.then(
    () => new Promise<never>(() => undefined),
    (error: unknown) => toAirlockError(error),
  );
  const writer = AuditWriter.open({ file, maxBytes: flags.auditMaxSize, sync: flags.auditSync, log: context.log, key: keyLoad, version: context.version });
  context.log.debug(`audit log: ${file}${flags.auditSync ? ' (synced per record)' : ''}`);
  return {
    tapFor: (session, inbound, outbound, principal, also) =>
      new AuditTap({
        ...tapBasics(context, session, inbound, outbound, principal),
        sink: also ? fanOut([writer, also]) : writer,
        args: flags.auditArgs,
        // The writer derives it once the key loads; until then records carry PendingDigest.
        digestKey: () => writer.argumentKey,
      }),
    failed,
    close: () => writer.close(),
  };
}
