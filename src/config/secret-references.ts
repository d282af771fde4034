/**
 * Secrets in the servers file are written by reference, never by value: `${env:NAME}` (a variable
 * of the environment airlock runs in), `${keychain:NAME}` (a value stored with `mcp-airlock secret
 * set NAME`), `${file:PATH}` (a file's content, its last newline dropped). A reference may stand
 * alone or inside a longer value (`"Bearer ${keychain:github}"`). References are resolved when a
 * server is started, never earlier: `config show` prints them as they are written.
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { AirlockError, describeError, quote } from '../errors.js';

export type ReferenceKind = 'env' | 'keychain' | 'file';

export interface SecretReference {
  kind: ReferenceKind;
  /** The variable, the keychain name or the path, as written. */
  name: string;
  /** The whole `${...}` text. */
  text: string;
}

/** `${...}`: any reference-like text, well formed or not (a bad one is reported, never passed on). */
const ANY_REFERENCE = /\$\{([^}]*)\}/g;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Names of `${keychain:NAME}` secrets (also for `mcp-airlock secret set NAME`). */
export const SECRET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/**
 * The references in `value`, or the problem with the first bad one: an unknown kind, a bad name,
 * or a bare `${NAME}` (hosts' spelling; ours says where the value comes from).
 */
export function findReferences(value: string): { references: SecretReference[]; problem?: string } {
  const references: SecretReference[] = [];
  for (const match of value.matchAll(ANY_REFERENCE)) {
    const inner = match[1]!;
    const colon = inner.indexOf(':');
    const kind = colon === -1 ? '' : inner.slice(0, colon);
    const name = colon === -1 ? inner : inner.slice(colon + 1);
    if (kind === '' && ENV_NAME.test(inner)) return { references, problem: `${quote(match[0])} names no source: write \${env:${inner}} for an environment variable, or \${keychain:${inner}} for a stored secret` };
    if (kind !== 'env' && kind !== 'keychain' && kind !== 'file') {
      return { references, problem: `${quote(match[0])} is not a reference: use \${env:NAME}, \${keychain:NAME} or \${file:PATH}` };
    }
    if (kind === 'env' && !ENV_NAME.test(name)) return { references, problem: `${quote(match[0])}: an environment variable's name is letters, digits and _ (not starting with a digit)` };
    if (kind === 'keychain' && !SECRET_NAME.test(name)) return { references, problem: `${quote(match[0])}: a secret's name is 1-100 letters, digits and . _ - (starting with a letter or digit)` };
    if (kind === 'file' && name.trim() === '') return { references, problem: `${quote(match[0])} names no file` };
    references.push({ kind, name, text: match[0] });
  }
  return { references };
}

/** Names of env variables and headers whose plain-text value is most likely a secret. */
const SECRET_NAMES = /authorization|token|secret|passw(or)?d|credential|(^|[-_])(api[-_]?)?key($|[-_])|apikey|cookie/i;

/** True when `name: value` looks like a secret written in clear text (no reference in it). */
export function looksLikeSecret(name: string, value: string): boolean {
  return SECRET_NAMES.test(name) && value.trim() !== '' && !value.includes('${');
}

/** Where references are looked up; injected so that tests and `config check` never touch a keychain. */
export interface ReferenceSources {
  env: NodeJS.ProcessEnv;
  /** A stored secret, or undefined when there is none by that name. */
  keychain(name: string): Promise<string | undefined>;
  /** Relative `${file:...}` paths are relative to this directory (the servers file's). */
  baseDir: string;
}

/** `~/x` and relative paths of `${file:...}`, as a path. */
export function referencedPath(path: string, baseDir: string): string {
  if (path === '~' || path.startsWith('~/')) return resolve(homedir(), path.slice(2));
  return isAbsolute(path) ? path : resolve(baseDir, path);
}

/**
 * `value` with each reference replaced by what it names. `where` says which member holds it, for
 * errors (never the value: it may be a secret).
 */
export async function resolveReferences(value: string, sources: ReferenceSources, where: string): Promise<string> {
  const { references, problem } = findReferences(value);
  if (problem) throw new AirlockError('AIRLOCK_SERVERS_FILE', `${where}: ${problem}`, { hint: 'Run `mcp-airlock config check` to see every problem (docs/servers-file.md, "References").' });
  // No problem: every `${...}` is a reference, in the order findReferences gave them.
  let out = '';
  let last = 0;
  let index = 0;
  for (const match of value.matchAll(ANY_REFERENCE)) {
    out += value.slice(last, match.index) + (await resolveOne(references[index++]!, sources, where));
    last = match.index + match[0].length;
  }
  return out + value.slice(last);
}

async function resolveOne(reference: SecretReference, sources: ReferenceSources, where: string): Promise<string> {
  switch (reference.kind) {
    case 'env': {
      const value = sources.env[reference.name];
      if (value === undefined) {
        throw new AirlockError('AIRLOCK_MISSING_ENV', `${where} refers to ${reference.text}, which is not set`, { hint: `Set ${reference.name} in the environment airlock runs in (the MCP host's "env" for this server), or store the value with \`mcp-airlock secret set\` and write \${keychain:NAME}.` });
      }
      return value;
    }
    case 'keychain': {
      const value = await sources.keychain(reference.name);
      if (value === undefined) {
        throw new AirlockError('AIRLOCK_MISSING_SECRET', `${where} refers to ${reference.text}, and no secret ${quote(reference.name)} is stored`, { hint: `Store it with \`mcp-airlock secret set ${reference.name}\` (the value is read from stdin); \`mcp-airlock secret list\` shows what is stored.` });
      }
      return value;
    }
    case 'file': {
      const path = referencedPath(reference.name, sources.baseDir);
      try {
        return (await readFile(path, 'utf8')).replace(/\r?\n$/, '');
      } catch (error) {
        throw new AirlockError('AIRLOCK_MISSING_SECRET', `${where} refers to ${reference.text}, which cannot be read: ${describeError(error)}`, { hint: `Check the path (${quote(path)}); a relative path is relative to the servers file's folder.`, cause: error });
      }
    }
  }
}
