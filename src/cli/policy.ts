/**
 * `mcp-airlock policy check FILE` and `mcp-airlock policy explain FILE --tool NAME ...`: for people
 * writing policies. `check` lists every problem with its line and column (exit 0 valid, 2 invalid);
 * `explain` says which rule decides a call for a caller described by flags, and why the others
 * do not match.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { ExitCode } from '../errors.js';
import type { Caller } from '../policy/caller.js';
import { ANNOTATION_HINTS, type AnnotationHint, type PolicyDocument, type ToolAnnotations } from '../policy/policy-document.js';
import { explainCall, formatExplanation } from '../policy/policy-explain.js';
import { checkPolicy, readPolicyText, type PolicyIssue } from '../policy/policy-file.js';
import { count, printIssues } from './file-issues.js';
import { collect } from './options.js';
import type { CommandResult } from './program.js';

const out = (text: string): void => void process.stdout.write(`${text}\n`);

interface ExplainFlags {
  tool: string;
  sub?: string;
  issuer?: string;
  clientId?: string;
  group: string[];
  role: string[];
  scope: string[];
  actor: string[];
  annotation: ToolAnnotations;
  seen: string[];
  json?: boolean;
}

/** `--annotation readOnlyHint=true` (repeatable) into one annotations object. */
function parseAnnotation(value: string, previous: ToolAnnotations = {}): ToolAnnotations {
  const match = /^([A-Za-z]+)=(true|false)$/.exec(value.trim());
  if (!match || !(ANNOTATION_HINTS as readonly string[]).includes(match[1]!)) {
    throw new InvalidArgumentError(`use HINT=true or HINT=false, with HINT one of ${ANNOTATION_HINTS.join(', ')}.`);
  }
  return { ...previous, [match[1] as AnnotationHint]: match[2] === 'true' };
}

/** The file's problems, or its policy; prints the problems itself. */
async function load(file: string, json: boolean): Promise<{ policy?: PolicyDocument; issues: PolicyIssue[] }> {
  const result = checkPolicy(await readPolicyText(file));
  if (result.issues.length > 0) printIssues(file, result.issues, json, out);
  return result;
}

export function registerPolicy(program: Command, result: CommandResult): void {
  const policy = program
    .command('policy')
    .summary('check a policy file, or explain what it decides')
    .description('Check a --policy-file, or explain which of its rules decides a call for a given caller and tool.');

  policy
    .command('check')
    .description('validate a policy file: every problem with its line and column (exit 0 valid, 2 invalid)')
    .argument('<file>', 'the policy file (JSON)')
    .option('--json', 'print the result as JSON')
    .exitOverride()
    .action(async (file: string, flags: { json?: boolean }) => {
      const { policy: checked } = await load(file, flags.json === true);
      if (!checked) {
        result.exitCode = ExitCode.usage;
        return;
      }
      const summary = {
        rules: checked.rules.length,
        rateLimits: checked.rateLimits.length,
        flows: checked.flows.length,
        labels: Object.keys(checked.labels).length,
        flat: checked.tools.allow.length + checked.tools.deny.length + (checked.tools.readOnly ? 1 : 0),
        allowTools: checked.tools.allow.length,
        denyTools: checked.tools.deny.length,
        readOnly: checked.tools.readOnly,
      };
      if (flags.json) out(JSON.stringify({ file, valid: true, ...summary }, null, 2));
      else {
        // The flat members first, when there are any: a file of denyTools alone is not "0 rules" and nothing else.
        const flat = [
          summary.allowTools > 0 ? count(summary.allowTools, 'allowTools pattern') : undefined,
          summary.denyTools > 0 ? count(summary.denyTools, 'denyTools pattern') : undefined,
          summary.readOnly ? 'readOnly' : undefined,
        ].filter((part): part is string => part !== undefined);
        const parts = [...flat, count(summary.rules, 'rule'), count(summary.rateLimits, 'rate limit'), count(summary.flows, 'flow rule'), count(summary.labels, 'label')];
        out(`${file}: valid: ${parts.join(', ')}${summary.rules > 0 ? '; tools no rule allows are refused' : ''}`);
      }
    });

  policy
    .command('explain')
    .description('which rule decides a call, for a caller described by the flags, and why the others do not match')
    .argument('<file>', 'the policy file (JSON)')
    .requiredOption('--tool <name>', 'the tool called')
    .option('--sub <subject>', "the caller's subject (sub)")
    .option('--issuer <url>', "the token's issuer (iss)")
    .option('--client-id <id>', "the token's client (client_id)")
    .option('--group <name>', 'a group the caller is in (repeatable)', collect, [])
    .option('--role <name>', 'a role the caller holds (repeatable)', collect, [])
    .option('--scope <scope>', 'a scope the token holds (repeatable)', collect, [])
    .option('--actor <subject>', 'an actor of a delegated token, current one first (repeatable)', collect, [])
    .option('--annotation <hint=bool>', `a tool annotation, e.g. readOnlyHint=true (repeatable; ${ANNOTATION_HINTS.join(', ')})`, parseAnnotation, {})
    .option('--seen <label>', 'a label the session has already called (flow rules; repeatable)', collect, [])
    .option('--json', 'print the explanation as JSON')
    .exitOverride()
    .action(async (file: string, flags: ExplainFlags) => {
      const { policy: checked } = await load(file, flags.json === true);
      if (!checked) {
        result.exitCode = ExitCode.usage;
        return;
      }
      const caller: Caller = {
        key: 'explain',
        ...(flags.issuer === undefined ? {} : { issuer: flags.issuer }),
        ...(flags.sub === undefined ? {} : { subject: flags.sub }),
        ...(flags.clientId === undefined ? {} : { clientId: flags.clientId }),
        scopes: flags.scope,
        groups: flags.group,
        roles: flags.role,
        actors: flags.actor,
        delegated: flags.actor.length > 0,
      };
      const explanation = explainCall(checked, { tool: flags.tool, caller, annotations: flags.annotation, seen: flags.seen });
      out(flags.json ? JSON.stringify(explanation, null, 2) : formatExplanation(explanation, file));
    });
}
