/**
 * Outbound header injection: `--header "Name: value"` (repeatable) and `--header-file path`.
 * Values may reference `${ENV_NAME}` (mcp-remote's convention, so that a secret lives in the
 * client's env block rather than in argv). Values are never printed: errors name the header only.
 */
import { readFile } from 'node:fs/promises';
import { AirlockError, quote } from '../errors.js';

const tokenPattern = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Headers that belong to the transport itself; setting them would break the connection. */
const reserved = new Set(['host', 'content-length', 'connection', 'transfer-encoding', 'keep-alive', 'upgrade', 'te', 'trailer', 'mcp-session-id', 'mcp-protocol-version', 'mcp-method', 'mcp-name', 'last-event-id']);

export interface HeaderSources {
  headers: string[];
  headerFiles: string[];
}

/** Expand `${NAME}` from env; a missing variable is an error (sending "Bearer " silently is worse). */
export function expandEnv(value: string, env: NodeJS.ProcessEnv, where: string): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_match, name: string) => {
    const found = env[name];
    if (found === undefined) {
      throw new AirlockError('AIRLOCK_MISSING_ENV', `environment variable ${name} used in ${where} is not set`, {
        hint: `Set ${name} in the environment of mcp-airlock (for Claude Desktop or Cursor: the "env" block of the server entry).`,
      });
    }
    return found;
  });
}

/** Parse one `Name: value` line (mcp-remote also accepts `Name:value`, for Windows quoting). */
export function parseHeaderLine(line: string, env: NodeJS.ProcessEnv, where: string): [string, string] {
  const colon = line.indexOf(':');
  const name = colon > 0 ? line.slice(0, colon).trim() : '';
  if (!tokenPattern.test(name)) {
    throw new AirlockError('AIRLOCK_BAD_HEADER', `${where}: expected "Name: value", got a line without a valid header name`, {
      hint: 'Write headers as --header "Authorization: Bearer ${TOKEN}" (quote the whole pair).',
    });
  }
  if (reserved.has(name.toLowerCase())) {
    throw new AirlockError('AIRLOCK_BAD_HEADER', `${where}: header ${quote(name)} is managed by the transport and cannot be set`, {
      hint: 'Remove it; mcp-airlock sets it itself.',
    });
  }
  const value = expandEnv(line.slice(colon + 1).trim(), env, where.startsWith('--header') ? `header ${name}` : `header ${name} (${where})`);
  if (/[\r\n\0]/.test(value)) {
    throw new AirlockError('AIRLOCK_BAD_HEADER', `${where}: the value of header ${quote(name)} contains a line break or NUL`, {
      hint: 'Header values must be one line; check the environment variable it expands.',
    });
  }
  return [name, value];
}

export async function resolveHeaders(sources: HeaderSources, env: NodeJS.ProcessEnv = process.env): Promise<Record<string, string>> {
  const result: Record<string, string> = {};
  for (const path of sources.headerFiles) {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      throw new AirlockError('AIRLOCK_HEADER_FILE', `cannot read header file ${quote(path)}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, {
        hint: 'Check the path given to --header-file and that the file is readable.',
        cause: error,
      });
    }
    text.split(/\r?\n/).forEach((raw, index) => {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) return;
      const [name, value] = parseHeaderLine(line, env, `${path}:${index + 1}`);
      result[name.toLowerCase()] = value;
    });
  }
  // Flags come after files, so a flag overrides a file entry of the same name.
  sources.headers.forEach((line, index) => {
    const [name, value] = parseHeaderLine(line, env, `--header #${index + 1}`);
    result[name.toLowerCase()] = value;
  });
  return result;
}
