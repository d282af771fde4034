/**
 * What sits between the two transports of every session: the tool policy (stages) and the audit
 * log (a tap), built from the flags connect, serve and run share. One audit writer per process,
 * and a fresh policy and tap per session (a policy remembers which tools the server marked
 * read-only).
 */
import type { Command } from 'commander';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { MessageTap, Stage } from '../bridge/stage.js';
import type { AuditPrincipal } from '../audit/audit-record.js';
import type { Logger } from '../log.js';
import { readPolicyFile } from '../policy/policy-file.js';
import { ToolPolicy, type ToolPolicyOptions } from '../policy/tool-policy.js';
import { addAuditOptions, openAuditLog, type AuditFlags, type AuditLog } from './audit-options.js';
import { collect } from './options.js';

export interface PolicyFlags {
  allowTool: string[];
  denyTool: string[];
  readOnly: boolean;
  policyFile?: string;
}

export type PipelineFlags = PolicyFlags & AuditFlags;

export function addPipelineOptions(command: Command): Command {
  command
    .option('--allow-tool <glob>', 'only tools matching this pattern are visible and callable (* and ?; repeatable)', collect, [])
    .option('--deny-tool <glob>', 'hide and refuse tools matching this pattern; wins over --allow-tool (repeatable)', collect, [])
    .option('--read-only', 'only tools the server marks readOnlyHint are visible and callable', false)
    .option('--policy-file <path>', 'read allowTools / denyTools / readOnly from a JSON file (added to the flags)');
  return addAuditOptions(command);
}

export interface SessionPipeline {
  stages: Stage[];
  tap: MessageTap | undefined;
}

export interface Pipeline {
  /** `principal` overrides the context's: who calls this session (serve with inbound auth). */
  forSession(session: string, inbound: Transport, outbound: Transport, principal?: () => AuditPrincipal | null | undefined): SessionPipeline;
  /** Flush and close the audit log: call once, after every session has closed. */
  close(): Promise<void>;
}

export interface PipelineContext {
  /** The upstream without secrets, for the audit record. */
  server: string;
  version: string;
  log: Logger;
  /** Who the calls are made as, when known (an OAuth login, a bearer JWT header). */
  principal?: () => AuditPrincipal | null | undefined;
}

export async function createPipeline(flags: PipelineFlags, context: PipelineContext): Promise<Pipeline> {
  const policy: ToolPolicyOptions = { allow: [...flags.allowTool], deny: [...flags.denyTool], readOnly: flags.readOnly };
  if (flags.policyFile !== undefined) {
    const fromFile = await readPolicyFile(flags.policyFile);
    policy.allow.push(...fromFile.allow);
    policy.deny.push(...fromFile.deny);
    policy.readOnly ||= fromFile.readOnly;
  }
  const policyActive = new ToolPolicy(policy).active;
  const audit: AuditLog | undefined = openAuditLog(flags, context);
  return {
    forSession: (session, inbound, outbound, principal) => ({
      stages: policyActive ? [new ToolPolicy(policy)] : [],
      tap: audit?.tapFor(session, inbound, outbound, principal ?? context.principal),
    }),
    close: async () => audit?.close(),
  };
}
