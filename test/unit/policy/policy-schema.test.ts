/**
 * schemas/policy.schema.json and the reader (policy-file.ts) describe one format: the schema is
 * what editors use, the reader what airlock enforces. These tests fail when one changes alone.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ANNOTATION_HINTS } from '../../../src/policy/policy-document.js';
import { CLAIMS_MEMBERS, FLOW_MEMBERS, ID, LABEL, PRINCIPAL_MEMBERS, RATE_LIMIT_MEMBERS, RULE_MEMBERS, TOP_MEMBERS, checkPolicy } from '../../../src/policy/policy-file.js';

type Schema = { properties?: Record<string, Schema>; $defs?: Record<string, Schema>; required?: string[]; pattern?: string; additionalProperties?: unknown; enum?: unknown[]; oneOf?: Schema[] };
const schema = JSON.parse(readFileSync(new URL('../../../schemas/policy.schema.json', import.meta.url), 'utf8')) as Schema;
const defs = schema.$defs!;
const names = (s: Schema | undefined) => Object.keys(s?.properties ?? {});

describe('schemas/policy.schema.json', () => {
  it('names the same members as the reader, everywhere, and allows no others', () => {
    expect(names(schema)).toEqual([...TOP_MEMBERS]);
    expect(names(defs.rule)).toEqual([...RULE_MEMBERS]);
    expect(names(defs.principal)).toEqual([...PRINCIPAL_MEMBERS]);
    expect(names(defs.rateLimit)).toEqual([...RATE_LIMIT_MEMBERS]);
    expect(names(defs.flow)).toEqual([...FLOW_MEMBERS]);
    expect(names(schema.properties!.claims)).toEqual([...CLAIMS_MEMBERS]);
    expect(names(defs.rule!.properties!.annotations)).toEqual([...ANNOTATION_HINTS]);
    for (const s of [schema, defs.rule, defs.principal, defs.rateLimit, defs.flow, schema.properties!.claims, defs.rule!.properties!.annotations]) {
      expect(s!.additionalProperties).toBe(false);
    }
  });

  it('has the reader\'s patterns and required members', () => {
    expect(defs.id!.pattern).toBe(ID.source);
    expect(defs.labelName!.pattern).toBe(LABEL.source);
    expect(defs.rule!.required).toEqual(['effect']);
    expect(defs.flow!.required).toEqual(['deny', 'after']);
    expect(defs.rateLimit!.required).toEqual(['limit', 'window']);
    expect(defs.rule!.properties!.effect!.enum).toEqual(['allow', 'deny']);
  });

  it('the reader refuses a rule without the members the schema requires', () => {
    expect(checkPolicy('{"rules": [{}]}').issues.map((i) => i.message)).toEqual(['rules[0].effect must be "allow" or "deny"']);
    expect(checkPolicy('{"rateLimits": [{}]}').issues.map((i) => i.message)).toEqual([
      'rateLimits[0].limit must be a whole number of at least 1',
      'rateLimits[0].window must be a duration such as "30s", "1m", "1h" or "1d" (or seconds as a number)',
    ]);
  });

  it('the example policy of docs/policy.md is valid', () => {
    const page = readFileSync(new URL('../../../docs/policy.md', import.meta.url), 'utf8');
    const example = /<!-- policy-example -->\s*```json\n([\s\S]*?)```/.exec(page);
    expect(example, 'docs/policy.md has a policy example marked <!-- policy-example -->').not.toBeNull();
    expect(checkPolicy(example![1]!).issues).toEqual([]);
  });
});
