/**
 * Where the audit log lives by default: the platform's log/state directory, as env-paths knows
 * it (Linux: $XDG_STATE_HOME/mcp-airlock, else ~/.local/state/mcp-airlock; macOS:
 * ~/Library/Logs/mcp-airlock; Windows: %LOCALAPPDATA%\mcp-airlock\Log).
 */
import envPaths from 'env-paths';
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

export const AUDIT_FILE_NAME = 'audit.jsonl';

export function defaultAuditFile(): string {
  return join(envPaths('mcp-airlock', { suffix: '' }).log, AUDIT_FILE_NAME);
}

/**
 * Create our own default directory 0700, and tighten it if it exists looser. Only for the default:
 * a directory the user chose with --audit-file may be shared on purpose.
 */
export function prepareDefaultDirectory(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (process.platform !== 'win32') chmodSync(dir, 0o700);
}
