import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AirlockError } from '../../../src/errors.js';
import { checkPolicy, displayPath, parsePolicy, readPolicyFile } from '../../../src/policy/policy-file.js';
import { thrownAirlockError } from '../../helpers/thrown.js';

const HINT = 'Run `mcp-airlock policy check FILE` to see every problem; the format is in docs/policy.md, "Policy file".';
const KNOWN = 'known: $schema, allowTools, denyTools, readOnly, claims, rules, rateLimits, labels, labelsFromAnnotations, flows';

/** The message parsePolicy fails with for this text. */
function refusal(text: string): string {
  const error = thrownAirlockError(() => parsePolicy(text, 'policy.json'));
  expect(error.code).toBe('AIRLOCK_POLICY_FILE');
  expect(error.hint).toBe(HINT);
  return error.message;
}

/** Every issue checkPolicy finds, as "line:column message". */
function issues(text: string): string[] {
  const { policy, issues: found } = checkPolicy(text);
  if (found.length > 0) expect(policy).toBeUndefined();
  return found.map((i) => `${i.line}:${i.column} ${i.message}`);
}

describe('parsePolicy: the flat members keep working as before', () => {
  it('reads the three members', () => {
    expect(parsePolicy('{"allowTools": ["read_*", "search"], "denyTools": ["*delete*"], "readOnly": true}', 'p.json').tools).toEqual({
      allow: ['read_*', 'search'],
      deny: ['*delete*'],
      readOnly: true,
    });
  });

  it('defaults what is left out; a flat policy has no rules, limits or flows', () => {
    const policy = parsePolicy('{}', 'p.json');
    expect(policy).toEqual({
      tools: { allow: [], deny: [], readOnly: false },
      claims: { groups: ['groups'], roles: ['roles'] },
      rules: [],
      rateLimits: [],
      labels: {},
      labelsFromAnnotations: true,
      flows: [],
    });
    expect(parsePolicy('{"denyTools": []}', 'p.json').tools).toEqual({ allow: [], deny: [], readOnly: false });
  });

  it('refuses an unknown member with its line and column, naming the known ones', () => {
    expect(refusal('{"denyTool": ["x"]}')).toBe(`policy file "policy.json" line 1, column 2: unknown member "denyTool" (${KNOWN})`);
    expect(refusal('{\n  "readOnly": true,\n    "constructor": true}')).toBe(`policy file "policy.json" line 3, column 5: unknown member "constructor" (${KNOWN})`);
    expect(refusal('{"__proto__": ["x"]}')).toBe(`policy file "policy.json" line 1, column 2: unknown member "__proto__" (${KNOWN})`);
  });

  it('quotes an untrusted member name, so it cannot break the message', () => {
    expect(refusal('{"a\\nb": 1}')).toBe(`policy file "policy.json" line 1, column 2: unknown member "a\\nb" (${KNOWN})`);
  });

  it('refuses wrong types at the offending key', () => {
    expect(refusal('{"readOnly": "yes"}')).toBe('policy file "policy.json" line 1, column 2: readOnly must be true or false');
    expect(refusal('{"readOnly": null}')).toBe('policy file "policy.json" line 1, column 2: readOnly must be true or false');
    for (const value of ['"read_*"', '[1]', '[""]', '["ok", null]', '{}', 'null']) {
      expect(refusal(`{"allowTools": ${value}}`)).toBe('policy file "policy.json" line 1, column 2: allowTools must be a list of non-empty glob patterns');
    }
    expect(refusal('{"denyTools": [true]}')).toBe('policy file "policy.json" line 1, column 2: denyTools must be a list of non-empty glob patterns');
  });

  it('refuses anything but an object', () => {
    for (const text of ['[]', 'null', '3', '"rules"', 'true']) expect(refusal(text)).toBe('policy file "policy.json" line 1, column 1: the policy must be a JSON object');
  });

  it('refuses invalid JSON, with the position of the problem', () => {
    expect(refusal('{"allowTools": [')).toBe('policy file "policy.json" line 1, column 17: not valid JSON: unexpected end of the text: a value is missing');
    expect(refusal('')).toBe('policy file "policy.json" line 1, column 1: not valid JSON: unexpected end of the text: a value is missing');
    expect(refusal("{'readOnly': true}")).toBe('policy file "policy.json" line 1, column 2: not valid JSON: expected a member name in double quotes, found "\'"');
    expect(refusal('{"readOnly": true,\n "readOnly": false}')).toBe('policy file "policy.json" line 2, column 2: not valid JSON: duplicate member "readOnly"');
  });

  it('says how many more problems there are', () => {
    expect(refusal('{"a": 1, "b": 2, "readOnly": 3}')).toBe(`policy file "policy.json" line 1, column 2: unknown member "a" (${KNOWN}) (and 2 more problems)`);
  });
});

const FULL = `{
  "$schema": "../schemas/policy.schema.json",
  "claims": { "groups": ["groups", "/realm_access/roles"] },
  "rules": [
    { "id": "support-reads", "effect": "allow", "tools": "read_*", "principal": { "groups": ["support"] } },
    { "effect": "deny", "tools": ["refund_*", "delete_*"], "annotations": { "destructiveHint": true }, "reason": "needs a human" },
    { "id": "agents", "effect": "allow", "labels": ["private-data"], "principal": { "actor": "agent-*", "delegated": true, "scopes": ["mcp:read", "mcp:write"] } }
  ],
  "rateLimits": [
    { "id": "search", "tools": "search_*", "per": "caller", "limit": 60, "window": "1m" },
    { "tools": "*", "per": ["caller", "tool"], "limit": 5, "window": 10, "burst": 2 },
    { "id": "all", "per": "global", "limit": 1000, "window": "1h", "principal": { "clientId": "ci-*" } }
  ],
  "labels": { "private-data": ["read_*", "query"], "pii": "crm_*" },
  "labelsFromAnnotations": false,
  "flows": [
    { "id": "no-exfiltration", "deny": "external-communication", "after": ["private-data", "untrusted-content"] },
    { "deny": ["external-communication"], "after": "pii", "reason": "customer data stays in" }
  ]
}`;

describe('parsePolicy: rules, rate limits, labels, flows', () => {
  it('reads a full policy, giving rules without an id their place in the file', () => {
    const policy = parsePolicy(FULL, 'p.json');
    expect(policy.claims).toEqual({ groups: ['groups', '/realm_access/roles'], roles: ['roles'] });
    expect(policy.rules).toEqual([
      { id: 'support-reads', location: { line: 5, column: 5 }, effect: 'allow', tools: ['read_*'], annotations: {}, principal: { groups: ['support'] } },
      { id: 'rules[1]', location: { line: 6, column: 5 }, effect: 'deny', tools: ['refund_*', 'delete_*'], annotations: { destructiveHint: true }, reason: 'needs a human' },
      { id: 'agents', location: { line: 7, column: 5 }, effect: 'allow', tools: ['*'], annotations: {}, labels: ['private-data'], principal: { actor: ['agent-*'], delegated: true, scopes: ['mcp:read', 'mcp:write'] } },
    ]);
    expect(policy.rateLimits).toEqual([
      { id: 'search', location: { line: 10, column: 5 }, tools: ['search_*'], per: ['caller'], limit: 60, window: '1m', windowSeconds: 60, burst: 60 },
      { id: 'rateLimits[1]', location: { line: 11, column: 5 }, tools: ['*'], per: ['caller', 'tool'], limit: 5, window: '10s', windowSeconds: 10, burst: 2 },
      { id: 'all', location: { line: 12, column: 5 }, tools: ['*'], per: [], limit: 1000, window: '1h', windowSeconds: 3600, burst: 1000, principal: { clientId: ['ci-*'] } },
    ]);
    expect(policy.labels).toEqual({ 'private-data': ['read_*', 'query'], pii: ['crm_*'] });
    expect(policy.labelsFromAnnotations).toBe(false);
    expect(policy.flows).toEqual([
      { id: 'no-exfiltration', location: { line: 17, column: 5 }, deny: ['external-communication'], after: ['private-data', 'untrusted-content'] },
      { id: 'flows[1]', location: { line: 18, column: 5 }, deny: ['external-communication'], after: ['pii'], reason: 'customer data stays in' },
    ]);
  });

  it('finds every problem at once, each at its key', () => {
    const text = `{
  "rules": [
    { "id": "a", "efect": "allow" },
    { "id": "a", "effect": "permit", "annotations": { "readOnly": true, "openWorldHint": "no" } },
    { "id": "has space", "effect": "deny", "tools": [], "labels": ["secret"], "principal": { "group": ["x"], "delegated": 1 } }
  ],
  "rateLimits": [ { "limit": 0, "window": "soon", "per": "session" }, { "tools": "x" } ],
  "labels": { "Bad Name": ["x"] },
  "flows": [ { "deny": "external-communication" } ]
}`;
    expect(issues(text)).toEqual([
      '3:5 rules[0].effect must be "allow" or "deny"',
      '3:18 unknown member "efect" in rules[0] (known: id, effect, tools, annotations, labels, principal, reason)',
      '4:7 duplicate id "a": rules[0] already has it',
      '4:18 rules[1].effect must be "allow" or "deny"',
      '4:55 unknown member "readOnly" in rules[1].annotations (known: readOnlyHint, destructiveHint, idempotentHint, openWorldHint)',
      '4:73 rules[1].annotations.openWorldHint must be true or false',
      '5:7 rules[2].id must be 1-100 letters, digits and . _ : @ / - (starting with a letter or digit)',
      '5:44 rules[2].tools must be a non-empty string or a non-empty list of them',
      '5:57 rules[2].labels: unknown label "secret" (known: private-data, untrusted-content, external-communication; define others under "labels")',
      '5:94 unknown member "group" in rules[2].principal (known: subject, issuer, clientId, groups, roles, scopes, actor, delegated)',
      '5:110 rules[2].principal.delegated must be true or false',
      '7:21 rateLimits[0].limit must be a whole number of at least 1',
      '7:33 rateLimits[0].window must be a duration such as "30s", "1m", "1h" or "1d" (or seconds as a number)',
      '7:51 rateLimits[0].per must be "caller", "tool", ["caller", "tool"] or "global"',
      '7:71 rateLimits[1].limit must be a whole number of at least 1',
      '7:71 rateLimits[1].window must be a duration such as "30s", "1m", "1h" or "1d" (or seconds as a number)',
      '8:15 label name "Bad Name" must be lowercase letters, digits and dashes, starting with a letter',
      '9:14 flows[0] needs "deny" (labels refused) and "after" (labels the session has used)',
    ]);
  });

  it('refuses a flow with a label name that is not one, at its key', () => {
    expect(issues('{"flows": [{"deny": "external-communication", "after": ["Private"]}]}')).toEqual([
      '1:47 flows[0].after: "Private" is not a label name (lowercase letters, digits and dashes)',
    ]);
  });
});

describe('displayPath', () => {
  it('names members plainly and quotes odd keys', () => {
    expect(displayPath('')).toBe('the policy');
    expect(displayPath('/rules/3/principal')).toBe('rules[3].principal');
    expect(displayPath('/labels/a~1b')).toBe('labels["a/b"]');
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
    expect((await readPolicyFile(file)).tools).toEqual({ allow: [], deny: ['rm_*'], readOnly: false });
    writeFileSync(file, '{\n  "denyTools": "rm_*"\n}');
    await expect(readPolicyFile(file)).rejects.toMatchObject({
      code: 'AIRLOCK_POLICY_FILE',
      message: `policy file ${JSON.stringify(file)} line 2, column 3: denyTools must be a list of non-empty glob patterns`,
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
    expect(error!.hint).toBe('Check the path of the policy file (--policy-file, or the argument of `mcp-airlock policy`).');
    expect((error!.cause as NodeJS.ErrnoException).code).toBe('ENOENT');
  });
});
