/**
 * `mcp-airlock policy check` and `policy explain` through the real CLI: what a person writing a
 * policy sees, and the exit codes scripts rely on.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAirlock } from '../helpers/airlock-process.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'airlock-policy-command-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const POLICY = `{
  "rules": [
    { "id": "support", "effect": "allow", "tools": "read_*", "principal": { "groups": ["support"] } },
    { "id": "no-purge", "effect": "deny", "tools": "*_purge", "reason": "never" }
  ],
  "rateLimits": [{ "id": "reads", "tools": "read_*", "limit": 10, "window": "1m" }],
  "flows": [{ "id": "no-exfiltration", "deny": "external-communication", "after": ["private-data", "untrusted-content"] }]
}
`;

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = startAirlock(args, { stdin: 'ignore' });
  const code = await proc.exited;
  return { code, stdout: proc.stdout(), stderr: proc.stderr() };
}

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('policy check', () => {
  it('a valid file: exit 0 and a summary', async () => {
    const path = file('ok.json', POLICY);
    expect(await run(['policy', 'check', path])).toEqual({ code: 0, stdout: `${path}: valid: 2 rules, 1 rate limit, 1 flow rule, 0 labels; tools no rule allows are refused\n`, stderr: '' });
    const json = await run(['policy', 'check', path, '--json']);
    expect(JSON.parse(json.stdout)).toEqual({ file: path, valid: true, rules: 2, rateLimits: 1, flows: 1, labels: 0, flat: 0, allowTools: 0, denyTools: 0, readOnly: false });
  });

  it('a file of flat members only names them, not just "0 rules" (regression: a denyTools file was summarised as 0 rules)', async () => {
    const path = file('flat.json', '{ "denyTools": ["delete_*", "drop_*"], "readOnly": true }');
    expect(await run(['policy', 'check', path])).toEqual({ code: 0, stdout: `${path}: valid: 2 denyTools patterns, readOnly, 0 rules, 0 rate limits, 0 flow rules, 0 labels\n`, stderr: '' });
    const json = await run(['policy', 'check', path, '--json']);
    expect(JSON.parse(json.stdout)).toEqual({ file: path, valid: true, rules: 0, rateLimits: 0, flows: 0, labels: 0, flat: 3, allowTools: 0, denyTools: 2, readOnly: true });
  });

  it('an invalid file: every problem as FILE:LINE:COLUMN, exit 2', async () => {
    const path = file('bad.json', POLICY.replace('"effect": "deny"', '"effect": "refuse"').replace('"limit": 10', '"limit": 0').replace('"window": "1m"', '"window": "1m", "windw": 1'));
    const result = await run(['policy', 'check', path]);
    expect(result.code).toBe(2);
    expect(result.stdout.split('\n')).toEqual([
      `${path}:4:25: rules[1].effect must be "allow" or "deny"`,
      `${path}:6:54: rateLimits[0].limit must be a whole number of at least 1`,
      `${path}:6:82: unknown member "windw" in rateLimits[0] (known: id, tools, per, limit, window, burst, principal)`,
      `${path}: 3 problems`,
      '',
    ]);
    const json = JSON.parse((await run(['policy', 'check', path, '--json'])).stdout) as { valid: boolean; issues: Array<{ line: number; column: number; pointer: string }> };
    expect(json.valid).toBe(false);
    expect(json.issues.map((i) => [i.line, i.column, i.pointer])).toEqual([[4, 25, '/rules/1/effect'], [6, 54, '/rateLimits/0/limit'], [6, 82, '/rateLimits/0/windw']]);
  });

  it('not JSON: where the text stops being JSON; a missing file: exit 3 with a hint', async () => {
    const broken = await run(['policy', 'check', file('broken.json', '{\n  "rules": [\n    { "effect": "allow" }\n  \n}\n')]);
    expect(broken.code).toBe(2);
    expect(broken.stdout).toContain('broken.json:5:1: not valid JSON: expected "," or "]" after an element, found "}"');
    const missing = await run(['policy', 'check', join(dir, 'nope.json')]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('mcp-airlock: error: cannot read the policy file');
  });
});

describe('policy explain', () => {
  it('names the deciding rule and why the others do not match', async () => {
    const path = file('explain.json', POLICY);
    const allowed = await run(['policy', 'explain', path, '--tool', 'read_ticket', '--sub', 'sam', '--group', 'support', '--annotation', 'readOnlyHint=true', '--annotation', 'openWorldHint=false']);
    expect(allowed.code).toBe(0);
    expect(allowed.stdout).toBe(
      [
        `${path}: tool "read_ticket" called by subject "sam" (groups: "support")`,
        '  annotations: readOnlyHint=true destructiveHint=false idempotentHint=true openWorldHint=false',
        '  labels: private-data (from the annotations)',
        '',
        'rules (deny wins; without a matching rule, deny):',
        '  line 3    allow "support": MATCHES',
        '  line 4    deny  "no-purge": no: the tool is not one of "*_purge"',
        '',
        'verdict: ALLOWED (line 3): allowed by policy rule "support", and no deny rule matches',
        'flow rule "no-exfiltration": refuses external-communication after private-data and untrusted-content',
        'rate limit "reads" applies: 10 per 1m per caller (burst 10)',
        '',
      ].join('\n'),
    );
    const denied = JSON.parse((await run(['policy', 'explain', path, '--tool', 'read_ticket', '--sub', 'bob', '--group', 'billing', '--json'])).stdout) as Record<string, unknown>;
    expect(denied).toMatchObject({ verdict: 'deny', decidedBy: { kind: 'default', id: '(default deny)' }, rules: [{ id: 'support', matches: false, because: 'groups "billing" include none of "support"' }, { id: 'no-purge', matches: false }] });
  });

  it('a flow rule refuses once the session has seen its labels (--seen)', async () => {
    const path = file('flow.json', '{"flows": [{"id": "no-exfiltration", "deny": "external-communication", "after": ["private-data", "untrusted-content"]}]}');
    const result = JSON.parse((await run(['policy', 'explain', path, '--tool', 'send_mail', '--seen', 'private-data', '--seen', 'untrusted-content', '--json'])).stdout) as Record<string, unknown>;
    expect(result).toMatchObject({ verdict: 'deny', decidedBy: { kind: 'flow', id: 'no-exfiltration', line: 1 }, labels: ['external-communication'] });
    const before = JSON.parse((await run(['policy', 'explain', path, '--tool', 'send_mail', '--seen', 'private-data', '--json'])).stdout) as Record<string, unknown>;
    expect(before).toMatchObject({ verdict: 'allow', decidedBy: { kind: 'none' } });
  });

  it('refuses a bad --annotation as a usage error', async () => {
    const result = await run(['policy', 'explain', file('any.json', '{}'), '--tool', 'x', '--annotation', 'readonly=true']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'mcp-airlock: error: invalid value "readonly=…" for --annotation\n' +
        'mcp-airlock: hint: Use HINT=true or HINT=false, with HINT one of readOnlyHint, destructiveHint, idempotentHint, openWorldHint.\n',
    );
  });
});
