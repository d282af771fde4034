import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AirlockError } from '../../../src/errors.js';
import { parsePolicy, readPolicyFile } from '../../../src/policy/policy-file.js';
import { thrownAirlockError } from '../../helpers/thrown.js';

const HINT = 'Expected JSON like {"allowTools": ["read_*"], "denyTools": ["*delete*"], "readOnly": false}.';

/** The message parsePolicy fails with for this text. */
function refusal(text: string): string {
  const error = thrownAirlockError(() => parsePolicy(text, 'policy.json'));
  expect(error.code).toBe('AIRLOCK_POLICY_FILE');
  expect(error.hint).toBe(HINT);
  return error.message;
}

describe('parsePolicy', () => {
  it('reads the three members', () => {
    expect(parsePolicy('{"allowTools": ["read_*", "search"], "denyTools": ["*delete*"], "readOnly": true}', 'p.json')).toEqual({
      allow: ['read_*', 'search'],
      deny: ['*delete*'],
      readOnly: true,
    });
  });

  it('defaults what is left out', () => {
    expect(parsePolicy('{}', 'p.json')).toEqual({ allow: [], deny: [], readOnly: false });
    expect(parsePolicy('{"denyTools": []}', 'p.json')).toEqual({ allow: [], deny: [], readOnly: false });
  });

  it('refuses an unknown member, naming the known ones, so a typo in a rule is never ignored', () => {
    expect(refusal('{"denyTool": ["x"]}')).toBe('policy file "policy.json": unknown member "denyTool" (known: allowTools, denyTools, readOnly)');
    // Inherited names are not members either.
    expect(refusal('{"constructor": true}')).toBe('policy file "policy.json": unknown member "constructor" (known: allowTools, denyTools, readOnly)');
    expect(refusal('{"__proto__": ["x"]}')).toBe('policy file "policy.json": unknown member "__proto__" (known: allowTools, denyTools, readOnly)');
  });

  it('quotes an untrusted member name, so it cannot break the message', () => {
    expect(refusal('{"a\\nb": 1}')).toBe('policy file "policy.json": unknown member "a\\nb" (known: allowTools, denyTools, readOnly)');
  });

  it('refuses wrong types', () => {
    expect(refusal('{"readOnly": "yes"}')).toBe('policy file "policy.json": "readOnly" must be true or false');
    expect(refusal('{"readOnly": null}')).toBe('policy file "policy.json": "readOnly" must be true or false');
    for (const value of ['"read_*"', '[1]', '[""]', '["ok", null]', '{}', 'null']) {
      expect(refusal(`{"allowTools": ${value}}`)).toBe('policy file "policy.json": "allowTools" must be a list of non-empty glob patterns');
    }
    expect(refusal('{"denyTools": [true]}')).toBe('policy file "policy.json": "denyTools" must be a list of non-empty glob patterns');
  });

  it('refuses anything but an object', () => {
    for (const text of ['[]', 'null', '3', '"rules"', 'true']) expect(refusal(text)).toBe('policy file "policy.json": must be a JSON object');
  });

  it('refuses invalid JSON, with the parser message', () => {
    for (const text of ['{"allowTools": [', '', "{'readOnly': true}"]) {
      let parserMessage = '';
      try {
        JSON.parse(text);
      } catch (error) {
        parserMessage = (error as Error).message;
      }
      expect(parserMessage).not.toBe('');
      expect(refusal(text)).toBe(`policy file "policy.json": not valid JSON (${parserMessage})`);
    }
  });
});

describe('readPolicyFile', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'airlock-policy-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads and parses a file, and names it in errors', async () => {
    const file = join(dir, 'policy.json');
    writeFileSync(file, '{"denyTools": ["rm_*"]}\n');
    expect(await readPolicyFile(file)).toEqual({ allow: [], deny: ['rm_*'], readOnly: false });
    writeFileSync(file, '{"denyTools": "rm_*"}');
    await expect(readPolicyFile(file)).rejects.toMatchObject({
      code: 'AIRLOCK_POLICY_FILE',
      message: `policy file ${JSON.stringify(file)}: "denyTools" must be a list of non-empty glob patterns`,
    });
  });

  it('fails with AIRLOCK_POLICY_FILE when the file is missing', async () => {
    const file = join(dir, 'missing.json');
    const error = await readPolicyFile(file).then(
      () => undefined,
      (e: unknown) => e as AirlockError,
    );
    expect(error).toBeInstanceOf(AirlockError);
    expect(error!.code).toBe('AIRLOCK_POLICY_FILE');
    expect(error!.message).toBe(`cannot read the policy file ${JSON.stringify(file)}: ENOENT: no such file or directory, open '${file}'`);
    expect(error!.hint).toBe('Check the path given to --policy-file.');
    expect((error!.cause as NodeJS.ErrnoException).code).toBe('ENOENT');
  });
});
