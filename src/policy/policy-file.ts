/**
 * The tool policy in a file, for rules too long for a config line or shared between servers:
 *
 *     { "allowTools": ["read_*", "search"], "denyTools": ["*delete*"], "readOnly": false }
 *
 * Strict on purpose: an unknown member or a wrong type is an error, never ignored, because a typo
 * in a deny rule would otherwise let the tool through.
 */
import { readFile } from 'node:fs/promises';
import { AirlockError, describeError, quote } from '../errors.js';
import type { ToolPolicyOptions } from './tool-policy.js';

const members: Record<string, 'patterns' | 'boolean'> = { allowTools: 'patterns', denyTools: 'patterns', readOnly: 'boolean' };

export async function readPolicyFile(path: string): Promise<ToolPolicyOptions> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new AirlockError('AIRLOCK_POLICY_FILE', `cannot read the policy file ${quote(path)}: ${describeError(error)}`, {
      hint: 'Check the path given to --policy-file.',
      cause: error,
    });
  }
  return parsePolicy(text, path);
}

export function parsePolicy(text: string, where: string): ToolPolicyOptions {
  const fail = (message: string): never => {
    throw new AirlockError('AIRLOCK_POLICY_FILE', `policy file ${quote(where)}: ${message}`, {
      hint: 'Expected JSON like {"allowTools": ["read_*"], "denyTools": ["*delete*"], "readOnly": false}.',
    });
  };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return fail(`not valid JSON (${describeError(error)})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail('must be a JSON object');
  const policy: ToolPolicyOptions = { allow: [], deny: [], readOnly: false };
  for (const [key, item] of Object.entries(value)) {
    const type = Object.hasOwn(members, key) ? members[key] : undefined;
    if (type === undefined) return fail(`unknown member ${quote(key)} (known: ${Object.keys(members).join(', ')})`);
    if (type === 'boolean') {
      if (typeof item !== 'boolean') return fail(`${quote(key)} must be true or false`);
      policy.readOnly = item;
    } else {
      if (!Array.isArray(item) || item.some((p) => typeof p !== 'string' || p === '')) return fail(`${quote(key)} must be a list of non-empty glob patterns`);
      if (key === 'allowTools') policy.allow = item as string[];
      else policy.deny = item as string[];
    }
  }
  return policy;
}
