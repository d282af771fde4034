/**
 * Selecting and printing audit records for `audit show` and `audit tail`: filters by time,
 * server, tool, outcome and principal, and a table a person can read (or JSON lines for scripts).
 */
import { AirlockError, quote } from '../errors.js';
import { globToRegExp } from '../policy/tool-policy.js';
import type { AuditOutcome, AuditRecord } from './audit-record.js';

export interface AuditFilter {
  /** Records at or after this epoch ms. */
  since?: number;
  /** Substring of the server (URL or command). */
  server?: string;
  /** Glob over the tool, prompt or resource name. */
  tool?: string;
  outcome?: AuditOutcome;
  /** Substring of the principal's subject, client id or issuer, or of an actor's subject (RFC 8693 `act`). */
  principal?: string;
  session?: string;
  method?: string;
}

export const outcomes: readonly AuditOutcome[] = ['ok', 'error', 'denied', 'upstream-failure', 'cancelled', 'unanswered', 'delivered'];

const units: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** "15m", "2h", "7d" before `now`, or an ISO 8601 date/time. */
export function parseSince(value: string, now = Date.now()): number {
  const relative = /^(\d+(?:\.\d+)?)\s*([smhdw])$/i.exec(value.trim());
  if (relative) return now - Number(relative[1]) * units[relative[2]!.toLowerCase()]!;
  // A bare number has no unit; Date.parse would read "5" as May 2001.
  const time = /^\s*\d+(\.\d+)?\s*$/.test(value) ? NaN : Date.parse(value);
  if (Number.isNaN(time)) {
    throw new AirlockError('AIRLOCK_USAGE', `--since: cannot read ${quote(value)} as a time`, { hint: 'Use a duration such as 15m, 2h or 7d, or a date such as 2026-11-23T09:00.' });
  }
  return time;
}

export function parseOutcome(value: string): AuditOutcome {
  if ((outcomes as readonly string[]).includes(value)) return value as AuditOutcome;
  throw new AirlockError('AIRLOCK_USAGE', `--outcome: unknown outcome ${quote(value)}`, { hint: `Use one of: ${outcomes.join(', ')}.` });
}

/** A predicate for the filter; built once, applied to every record. */
export function recordMatcher(filter: AuditFilter): (record: AuditRecord) => boolean {
  const tool = filter.tool === undefined ? undefined : globToRegExp(filter.tool);
  return (record) => {
    if (filter.since !== undefined && Date.parse(record.time) < filter.since) return false;
    if (filter.server !== undefined && !record.server?.includes(filter.server)) return false;
    if (tool && !(typeof record.name === 'string' && tool.test(record.name))) return false;
    if (filter.outcome !== undefined && record.outcome !== filter.outcome) return false;
    if (filter.session !== undefined && !record.session?.startsWith(filter.session)) return false;
    if (filter.method !== undefined && record.method !== filter.method) return false;
    if (filter.principal !== undefined) {
      const p = record.principal;
      const actors = Array.isArray(p?.actors) ? p.actors.map((a) => a?.subject) : [];
      if (!p || ![p.subject, p.clientId, p.issuer, ...actors].some((v) => typeof v === 'string' && v.includes(filter.principal!))) return false;
    }
    return true;
  };
}

const columns = ['TIME', 'SESSION', 'DIR', 'METHOD', 'NAME', 'OUTCOME', 'MS', 'PRINCIPAL', 'SERVER'] as const;

/** A record as table cells. Untrusted text (names come from clients) loses control characters. */
function cells(record: AuditRecord): string[] {
  const outcome = record.outcome === 'error' && record.errorCode !== undefined ? `error ${record.errorCode}` : record.airlockCode && record.outcome !== 'denied' ? `${record.outcome} (${record.airlockCode})` : record.outcome;
  return [
    record.time,
    record.session,
    record.direction === 'server->client' ? 'S→C' : 'C→S',
    record.method,
    record.name ?? '',
    outcome,
    record.latencyMs === undefined ? '' : record.latencyMs.toFixed(1),
    record.principal ? principalCell(record.principal) : '',
    record.server,
  ].map((cell) => String(cell ?? '').replace(/[\u0000-\u001f\u007f-\u009f]/g, '?'));
}

/** "alice", or "alice via agent-7" for a delegated token (the current actor). */
function principalCell(principal: NonNullable<AuditRecord['principal']>): string {
  const who = principal.subject ?? principal.clientId;
  const actor = Array.isArray(principal.actors) ? principal.actors[0]?.subject : undefined;
  return typeof actor === 'string' ? `${who} via ${actor}` : who;
}

/**
 * Records as an aligned table. `width` (a terminal's) truncates the last column so rows stay on
 * one line; without it nothing is cut.
 */
export function formatTable(records: AuditRecord[], width?: number): string {
  const rows = [columns.slice() as string[], ...records.map(cells)];
  const widths = columns.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows
    .map((row) => {
      let line = row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ');
      if (width !== undefined && line.length > width) line = `${line.slice(0, Math.max(width - 1, 0))}…`;
      return line;
    })
    .join('\n');
}

/** One record on one line, for `tail`. */
export function formatLine(record: AuditRecord): string {
  return cells(record).filter((cell) => cell !== '').join('  ');
}
