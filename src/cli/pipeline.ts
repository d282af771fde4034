/**
 * What sits between the two transports of every session: the tool policy (a stage) and the audit
 * log (a tap), built from the flags connect, serve and run share. One audit writer and one rate
 * limiter per process, and a fresh policy stage and tap per session (a stage remembers the tools'
 * annotations and what the session has called, for flow rules).
 */
import { HelpGroup } from './help-groups.js';
import type { Command } from 'commander';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '../bridge/json-rpc.js';
import type { MessageTap, Stage } from '../bridge/stage.js';
import type { AuditHost, AuditPrincipal } from '../audit/audit-record.js';
import { withTokenClaims, type IdentityClaimNames } from '../audit/principal.js';
import type { Logger } from '../log.js';
import { ANONYMOUS, callerFromPrincipal, callerSource, type Caller } from '../policy/caller.js';
import { emptyPolicy } from '../policy/policy-document.js';
import { readPolicyFile } from '../policy/policy-file.js';
import { compilePolicy } from '../policy/policy-stage.js';
import { gateInbound } from '../policy/admission-gate.js';
import type { SharedPolicyState } from '../policy/shared-state.js';
import { randomUUID } from 'node:crypto';
import { rateLimitRefusal, type HttpPolicyRefusal } from '../policy/rate-limit.js';
import { addAuditOptions, openAuditLog, tapWithoutAudit, type AuditFlags, type AuditLog } from './audit-options.js';
import { addTelemetryOptions, openTelemetry, type TelemetryFlags } from './telemetry-options.js';
import { collect } from './options.js';

export interface PolicyFlags {
  allowTool: string[];
  denyTool: string[];
  readOnly: boolean;
  policyFile?: string;
}

export type PipelineFlags = PolicyFlags & AuditFlags & TelemetryFlags;

export function addPipelineOptions(command: Command): Command {
  command
    .optionsGroup(HelpGroup.policy)
    .option('--allow-tool <glob>', 'only tools matching this pattern are visible and callable (* and ?; repeatable)', collect, [])
    .option('--deny-tool <glob>', 'hide and refuse tools matching this pattern; wins over --allow-tool (repeatable)', collect, [])
    .option('--read-only', 'only tools the server marks readOnlyHint are visible and callable', false)
    .option('--policy-file <path>', 'a JSON policy: allowTools / denyTools / readOnly (added to the flags), rules per caller, rate limits, flow rules (see `mcp-airlock policy check`)');
  return addTelemetryOptions(addAuditOptions(command));
}

export interface SessionPipeline {
  stages: Stage[];
  tap: MessageTap | undefined;
}

/** One session's two ends and who is behind it. */
export interface SessionSpec {
  session: string;
  inbound: Transport;
  outbound: Transport;
  /** Who the calls are made as, for the audit record; overrides the context's (serve with inbound auth). */
  principal?: () => AuditPrincipal | null | undefined;
  /** Who calls, for the policy: serve's inbound caller only, never the upstream's login. Default: `principal`. */
  caller?: () => AuditPrincipal | null | undefined;
}

export interface Pipeline {
  forSession(spec: SessionSpec): SessionPipeline;
  /**
   * serve: the policy's look at one POST before its session sees it (429 for a call over a rate
   * limit); `principal` is the inbound caller's.
   */
  httpRefusal(messages: readonly JSONRPCMessage[], principal: AuditPrincipal | null): HttpPolicyRefusal | undefined;
  /** Where groups and roles are in tokens, when the policy matches them: serve's inbound checks read them. */
  identityClaims: IdentityClaimNames | undefined;
  /** Whether the policy has rules or limits for particular callers. */
  namesPrincipals: boolean;
  /**
   * Rejects when the command must stop because nothing could be recorded (the audit key could not
   * be loaded); never settles otherwise. Race it against the command's own end.
   */
  failed: Promise<never>;
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
  /**
   * The claims of the token the calls are made with (connect: the login's access token, or a JWT
   * in --header), for its delegation chain and the groups and roles the policy matches.
   */
  claims?: () => Record<string, unknown> | undefined;
  /** The policy's caller when no principal says who: run's local OS user, serve's static-token holder. */
  defaultCaller?: Caller;
  /** The rate limiter's clock (tests). */
  now?: () => number;
  /** The host process behind the command (the hub's clients): in every audit record. */
  host?: AuditHost;
  /** serve --state: rate limits and flow history shared with other replicas; closed with the pipeline. */
  state?: SharedPolicyState;
}

export async function createPipeline(flags: PipelineFlags, context: PipelineContext): Promise<Pipeline> {
  const document = flags.policyFile === undefined ? emptyPolicy() : await readPolicyFile(flags.policyFile);
  document.tools = {
    allow: [...flags.allowTool, ...document.tools.allow],
    deny: [...flags.denyTool, ...document.tools.deny],
    readOnly: flags.readOnly || document.tools.readOnly,
  };
  const policy = compilePolicy(document, { now: context.now, state: context.state });
  /** Names this process's sessions in the shared flow history (a session id is only unique in its process). */
  const instance = randomUUID();
  const fallback = context.defaultCaller ?? ANONYMOUS;
  const principal = withClaims(context.principal, context.claims, policy.identityClaims);
  const audit: AuditLog | undefined = await openAuditLog(flags, context);
  const telemetry = await openTelemetry(flags, context.log, context.version);
  const failed: Promise<never> = audit ? audit.failed.then((failure) => Promise.reject(failure)) : new Promise<never>(() => undefined);
  // Handled where the command races it; until then it must not count as an unhandled rejection.
  failed.catch(() => undefined);
  return {
    forSession: ({ session, inbound, outbound, principal: own, caller }) => {
      const stage = policy.stageFor(callerSource(caller ?? own ?? principal, fallback), context.state ? flowKeyFor(inbound, instance, session) : undefined);
      // A shared store answers later than the bridge's stages may: its calls are decided before the bridge sees them.
      if (stage && context.state) gateInbound(inbound, (message) => stage.prepare(message));
      const observed = telemetry?.session();
      const who = own ?? principal;
      const tap = audit?.tapFor(session, inbound, outbound, who, observed?.sink) ?? (observed ? tapWithoutAudit(context, session, inbound, outbound, who, observed.sink) : undefined);
      return { stages: stage ? [stage] : [], tap: tap && observed ? closingWith(tap, observed.closed) : tap };
    },
    // Every POST of serve comes here: no Caller is built for it without a limit to check.
    httpRefusal: (messages, caller) => (policy.limiter ? rateLimitRefusal(policy.limiter, messages, caller ? callerFromPrincipal(caller) : fallback) : undefined),
    identityClaims: policy.identityClaims,
    namesPrincipals: policy.namesPrincipals,
    failed,
    close: async () => {
      await Promise.all([audit?.close(), context.state?.close(), telemetry?.close()]);
    },
  };
}

/** The tap, also telling `closed` when its session ends (telemetry's open sessions). */
function closingWith(tap: MessageTap, closed: () => void): MessageTap {
  return {
    fromClient: (message) => tap.fromClient(message),
    sending: (message, to, byAirlock) => tap.sending(message, to, byAirlock),
    closed: (reason) => {
      closed();
      return tap.closed(reason);
    },
  };
}

/**
 * Where a session's flow history lives in the shared store. A 2026-07-28 lane of serve carries one
 * caller identity and no protocol session: its history is the caller's (its owner, client and
 * actors, as the lane is keyed), so calls that land on other replicas count too. A 2025 session
 * lives in one process (a load balancer keeps it there by its Mcp-Session-Id): this process and
 * session.
 */
function flowKeyFor(inbound: Transport, instance: string, session: string): (caller: Caller) => string {
  const lane = typeof (inbound as { callerIdOf?: unknown }).callerIdOf === 'function';
  return lane
    ? (caller) => JSON.stringify(['lane', caller.key, caller.clientId ?? '', caller.actors])
    : (caller) => JSON.stringify(['session', instance, session, caller.key]);
}

/**
 * The principal with what its token's claims add (connect): the delegation chain, and groups and
 * roles when the policy matches them. The same object is returned while neither side changes, so
 * the audit record and the policy do not redo the work per message.
 */
function withClaims(
  principal: (() => AuditPrincipal | null | undefined) | undefined,
  claims: (() => Record<string, unknown> | undefined) | undefined,
  names: IdentityClaimNames | undefined,
): (() => AuditPrincipal | null | undefined) | undefined {
  if (principal === undefined || claims === undefined) return principal;
  let last: [AuditPrincipal | null | undefined, Record<string, unknown> | undefined, AuditPrincipal | null | undefined] | undefined;
  return () => {
    const base = principal();
    const current = claims();
    if (last === undefined || last[0] !== base || last[1] !== current) last = [base, current, base ? withTokenClaims(base, current, names) : base];
    return last[2];
  };
}
