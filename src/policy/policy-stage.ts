/**
 * The policy as a bridge stage, one per session: every tools/call passes, in this order, the flat
 * rules (--allow-tool, --deny-tool, --read-only and their file members, unchanged), the access
 * rules for this caller, the session flow rules, and the rate limits; the first that refuses
 * answers the call here with a JSON-RPC error naming it, and the call never reaches the server.
 * tools/list answers are filtered to what this caller may call (flow rules and rate limits depend
 * on the moment, so they hide nothing).
 *
 * With a shared state store (serve --state, shared-state.ts) the flow history and the rate-limit
 * buckets answer later: `prepare` then decides a call before the bridge sees it (an admission gate
 * holds the session's messages in order meanwhile, admission-gate.ts), and `fromClient` gives that
 * decision.
 *
 * Tool annotations are learned from the session's tools/list answers. A tool called without being
 * listed first gets the spec's default hints for the access rules, the cautious reading
 * (policy-document.ts), and counts as every label for the flow rules (session-flow.ts).
 */
import { errorResponse, type JSONRPCMessage, type RequestId } from '../bridge/json-rpc.js';
import { describeError } from '../errors.js';
import type { AnsweredRequest, Stage } from '../bridge/stage.js';
import type { IdentityClaimNames } from '../audit/principal.js';
import type { Caller } from './caller.js';
import { ANNOTATION_HINTS, type FlowRule, type PolicyDocument, type ToolAnnotations } from './policy-document.js';
import { AccessRules, DEFAULT_DENY, type Decision } from './policy-rules.js';
import { rateLimitAnswer, RateLimiter } from './rate-limit.js';
import { flowRelevant, SessionFlow, ToolLabeler, UNLISTED_LABELS, type FlowHistory } from './session-flow.js';
import { stateUnavailableAnswer, type SharedPolicyState } from './shared-state.js';
import { ToolPolicy } from './tool-policy.js';

/** Invalid params: how MCP answers a call to a tool that does not exist (server/tools, "Error Handling"). */
export const POLICY_DENIED_CODE = -32602;
/** JSON-RPC server-error range: the tool exists and this caller may use it, but not now. */
export const FLOW_DENIED_CODE = -32000;
export const POLICY_DENIED = 'AIRLOCK_POLICY_DENIED';
export const FLOW_DENIED = 'AIRLOCK_FLOW_DENIED';

export interface PolicyStageOptions {
  /** The flat rules; undefined when they change nothing. */
  legacy: ToolPolicy | undefined;
  /** The access rules; undefined without any. */
  rules: AccessRules | undefined;
  labeler: ToolLabeler;
  flows: readonly FlowRule[];
  /** Shared by every session of the process. */
  limiter: RateLimiter | undefined;
  /** Who calls, asked at each message (a token may be refreshed mid-session). */
  caller: () => Caller;
  /** The shared state (serve --state); undefined keeps everything in this process's memory. */
  state?: SharedPolicyState;
  /** With `state`: the key of this session's flow history for a caller (pipeline.ts). */
  flowKey?: (caller: Caller) => string;
}

interface Tool {
  name: string;
  annotations?: Record<string, unknown>;
}

/** What `prepare` decides for a call it lets through. */
const PASS = Symbol('pass');

const NO_ANNOTATIONS: ToolAnnotations = Object.freeze({});
const NO_LABELS: readonly string[] = Object.freeze([]);

export class PolicyStage implements Stage {
  private readonly annotations = new Map<string, ToolAnnotations>();
  private readonly labels = new Map<string, readonly string[]>();
  private readonly flow: SessionFlow | undefined;
  /** Decisions `prepare` made, for `fromClient` to give (shared state only). */
  private readonly prepared = new WeakMap<JSONRPCMessage, JSONRPCMessage | typeof PASS>();
  private readonly needsLabels: boolean;
  /** The rules' decision per listed tool, for `decidedFor`: they change only with the caller or the tools/list. */
  private readonly decisions = new Map<string, Decision>();
  private decidedFor: Caller | undefined;

  constructor(private readonly options: PolicyStageOptions) {
    this.flow = options.flows.length > 0 ? new SessionFlow(options.flows) : undefined;
    this.needsLabels = this.flow !== undefined || (options.rules?.rules.some((r) => r.labels !== undefined) ?? false);
  }

  fromClient(message: JSONRPCMessage): { reply: JSONRPCMessage } | undefined {
    if (!('method' in message) || message.method !== 'tools/call' || !('id' in message)) return undefined;
    const id = message.id as RequestId;
    const tool = (message.params as { name?: unknown } | undefined)?.name;
    // Refused here, not left to the server: no rule can match what is not a name, and a server that
    // dispatches by `handlers[name]` reads ["delete_file"] as "delete_file" (issue 20).
    if (typeof tool !== 'string') return notAName(id, tool);
    const { legacy, rules, limiter } = this.options;
    const annotations = this.annotations.get(tool) ?? NO_ANNOTATIONS;
    const flat = legacy?.refusal(tool, annotations.readOnlyHint);
    if (flat !== undefined) return denied(id, tool, flat, undefined);
    const labels = this.needsLabels ? this.labelsOf(tool, annotations) : NO_LABELS;
    const caller = this.options.caller();
    if (rules) {
      const decision = this.decide(rules, tool, annotations, labels, caller);
      if (!decision.allowed) return denied(id, tool, decision.why, decision.rule?.id ?? DEFAULT_DENY);
    }
    if (this.options.state !== undefined) {
      const decided = this.prepared.get(message);
      this.prepared.delete(message);
      return decided === undefined || decided === PASS ? undefined : { reply: decided };
    }
    const unlisted = this.flow !== undefined && this.unlistedForFlows(tool, annotations);
    const flowLabels = unlisted ? UNLISTED_LABELS : labels;
    const flowRefusal = this.flow?.check(tool, flowLabels, unlisted);
    if (flowRefusal) {
      const text = `mcp-airlock policy: tool ${JSON.stringify(tool)} ${flowRefusal.message}`;
      return { reply: errorResponse(id, FLOW_DENIED_CODE, text, { airlock: FLOW_DENIED, tool, rule: flowRefusal.rule.id }) };
    }
    const limited = limiter?.admit(caller, tool, true);
    if (limited) return { reply: rateLimitAnswer(id, tool, limited) };
    this.flow?.record(tool, flowLabels, unlisted);
    return undefined;
  }

  /**
   * With a shared state store: decide a tools/call that needs it (a flow rule reads or refuses its
   * labels, or a rate limit counts it) before the bridge sees it. Undefined when there is nothing
   * to wait for: the call needs no store, or the flat or access rules refuse it (`fromClient` does).
   */
  prepare(message: JSONRPCMessage): Promise<void> | undefined {
    const { state, rules, legacy, limiter } = this.options;
    if (state === undefined || !('method' in message) || message.method !== 'tools/call' || !('id' in message)) return undefined;
    const tool = (message.params as { name?: unknown } | undefined)?.name;
    if (typeof tool !== 'string') return undefined;
    const annotations = this.annotations.get(tool) ?? NO_ANNOTATIONS;
    if (legacy?.refusal(tool, annotations.readOnlyHint) !== undefined) return undefined;
    const labels = this.needsLabels ? this.labelsOf(tool, annotations) : NO_LABELS;
    const caller = this.options.caller();
    if (rules && !this.decide(rules, tool, annotations, labels, caller).allowed) return undefined;
    const unlisted = this.flow !== undefined && this.unlistedForFlows(tool, annotations);
    const flowLabels = unlisted ? UNLISTED_LABELS : labels;
    const flowRuled = this.flow !== undefined && flowRelevant(this.options.flows, flowLabels);
    const rateLimited = limiter !== undefined && limiter.applicable(caller, tool).length > 0;
    if (!flowRuled && !rateLimited) return undefined;
    const id = message.id as RequestId;
    const flow = flowRuled ? state.flowFor(this.options.flows, this.options.flowKey?.(caller) ?? caller.key) : undefined;
    return this.decideShared(id, tool, caller, flow, flowLabels, unlisted, rateLimited).then((decided) => {
      this.prepared.set(message, decided);
    });
  }

  private async decideShared(
    id: RequestId,
    tool: string,
    caller: Caller,
    flow: FlowHistory | undefined,
    flowLabels: readonly string[],
    unlisted: boolean,
    rateLimited: boolean,
  ): Promise<JSONRPCMessage | typeof PASS> {
    const state = this.options.state!;
    try {
      const flowRefusal = await flow?.check(tool, flowLabels, unlisted);
      if (flowRefusal) {
        const text = `mcp-airlock policy: tool ${JSON.stringify(tool)} ${flowRefusal.message}`;
        return errorResponse(id, FLOW_DENIED_CODE, text, { airlock: FLOW_DENIED, tool, rule: flowRefusal.rule.id });
      }
      const limited = rateLimited ? await this.options.limiter!.take(caller, tool) : undefined;
      if (limited) return rateLimitAnswer(id, tool, limited);
      await flow?.record(tool, flowLabels, unlisted);
      return PASS;
    } catch (error) {
      state.failed(error);
      if (state.failureMode === 'open') return PASS;
      return stateUnavailableAnswer(id, tool, state.name, { rateLimited, flowRuled: flow !== undefined }, describeError(error));
    }
  }

  /**
   * Whether the flow rules must take `tool` as unknown: no tools/list of this session named it, its
   * labels would come from its annotations, and the policy's own labels do not name it.
   */
  private unlistedForFlows(tool: string, annotations: ToolAnnotations): boolean {
    const { labeler } = this.options;
    if (this.annotations.has(tool) || !labeler.fromAnnotations) return false;
    return labeler.labelsOf(tool, annotations).source !== 'policy';
  }

  fromServer(message: JSONRPCMessage, answers: AnsweredRequest | undefined): JSONRPCMessage | undefined {
    if (answers?.method !== 'tools/list' || !('result' in message)) return undefined;
    const result = message.result as { tools?: unknown };
    if (!Array.isArray(result.tools)) return undefined;
    const tools = result.tools as Tool[];
    for (const tool of tools) if (typeof tool?.name === 'string') this.learn(tool);
    // Listed tools get a rate-limit bucket of their own; others share one (rate-limit.ts).
    this.options.limiter?.learnTools(this.annotations.keys());
    this.decisions.clear(); // annotations may have changed
    const caller = this.options.caller();
    const visible = tools.filter((tool) => typeof tool?.name !== 'string' || this.visible(tool.name, caller));
    if (visible.length === tools.length) return undefined;
    // A new object: the original text must not be forwarded for a changed message.
    return { ...message, result: { ...result, tools: visible } } as JSONRPCMessage;
  }

  /** Whether this session's caller may call `tool` at all (flow rules and limits aside). */
  private visible(tool: string, caller: Caller): boolean {
    const annotations = this.annotations.get(tool) ?? NO_ANNOTATIONS;
    if (this.options.legacy?.refusal(tool, annotations.readOnlyHint) !== undefined) return false;
    const rules = this.options.rules;
    if (!rules) return true;
    const labels = this.needsLabels ? this.labelsOf(tool, annotations) : NO_LABELS;
    return this.decide(rules, tool, annotations, labels, caller).allowed;
  }

  private decide(rules: AccessRules, tool: string, annotations: ToolAnnotations, labels: readonly string[], caller: Caller): Decision {
    if (caller !== this.decidedFor) {
      this.decisions.clear();
      this.decidedFor = caller;
    }
    let decision = this.decisions.get(tool);
    if (decision === undefined) {
      decision = rules.decide({ tool, annotations, labels, caller });
      // Only for tools the server listed: a client cannot grow the map with made-up names.
      if (this.annotations.has(tool)) this.decisions.set(tool, decision);
    }
    return decision;
  }

  /** Keep the boolean hints the server gives this tool now (a later list replaces them). */
  private learn(tool: Tool): void {
    const hints: ToolAnnotations = {};
    const given = tool.annotations;
    if (typeof given === 'object' && given !== null) {
      for (const hint of ANNOTATION_HINTS) if (typeof given[hint] === 'boolean') hints[hint] = given[hint] as boolean;
    }
    this.annotations.set(tool.name, hints);
    this.labels.delete(tool.name);
  }

  private labelsOf(tool: string, annotations: ToolAnnotations): readonly string[] {
    // Cached only for tools the server listed: a client cannot grow the cache with made-up names.
    if (!this.annotations.has(tool)) return this.options.labeler.labelsOf(tool, annotations).labels;
    let labels = this.labels.get(tool);
    if (labels === undefined) {
      labels = this.options.labeler.labelsOf(tool, annotations).labels;
      this.labels.set(tool, labels);
    }
    return labels;
  }
}

function denied(id: RequestId, tool: string, why: string, rule: string | undefined): { reply: JSONRPCMessage } {
  const text = `mcp-airlock tool policy: tool ${JSON.stringify(tool)} is not available: ${why}`;
  // The flat rules' answer is what it always was (no `rule`); rule refusals name their rule.
  const data = rule === undefined ? { airlock: POLICY_DENIED, tool } : { airlock: POLICY_DENIED, tool, rule };
  return { reply: errorResponse(id, POLICY_DENIED_CODE, text, data) };
}

/** The `rule` a record names when a tools/call had no string name (never a valid rule id). */
export const NOT_A_NAME = '(tool name not a string)';

/** JSON-RPC -32602 for a tools/call whose `params.name` is not a string; the value quoted, cut short. */
function notAName(id: RequestId, name: unknown): { reply: JSONRPCMessage } {
  const shown = name === undefined ? 'it is missing' : `not ${quotedValue(name)}`;
  const text = `mcp-airlock tool policy: a tools/call needs the tool's name as a string in params.name, ${shown}`;
  return { reply: errorResponse(id, POLICY_DENIED_CODE, text, { airlock: POLICY_DENIED, rule: NOT_A_NAME }) };
}

/** A value as JSON text of at most 100 characters (a name the size of the request must not fill the log). */
function quotedValue(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length <= 100 ? text : `${text.slice(0, 99)}\u2026`;
}

/** A policy file (and the flat flags, merged into `document.tools`) ready to make session stages. */
export interface CompiledPolicy {
  /** False when the policy changes nothing: the bridge then runs without the stage. */
  active: boolean;
  /** Where groups and roles are in tokens, when a rule or limit matches them; else undefined. */
  identityClaims: IdentityClaimNames | undefined;
  /** Whether any rule or limit has a `principal` condition (serve warns when nobody is identified). */
  namesPrincipals: boolean;
  limiter: RateLimiter | undefined;
  /** The shared state store the stages use (serve --state), if any. */
  state: SharedPolicyState | undefined;
  /**
   * A fresh stage for one session; undefined when the policy is not active. `flowKey`: with a shared
   * state store, the key of the session's flow history for a caller.
   */
  stageFor(caller: () => Caller, flowKey?: (caller: Caller) => string): PolicyStage | undefined;
}

export function compilePolicy(document: PolicyDocument, options: { now?: () => number; state?: SharedPolicyState } = {}): CompiledPolicy {
  const legacy = new ToolPolicy(document.tools);
  const rules = document.rules.length > 0 ? new AccessRules(document.rules) : undefined;
  const limiter = document.rateLimits.length > 0 ? new RateLimiter(document.rateLimits, { now: options.now, buckets: options.state?.buckets }) : undefined;
  const labeler = new ToolLabeler(document.labels, document.labelsFromAnnotations);
  const active = legacy.active || rules !== undefined || limiter !== undefined || document.flows.length > 0;
  const principals = [...document.rules.map((r) => r.principal), ...document.rateLimits.map((r) => r.principal)].filter((p) => p !== undefined);
  return {
    active,
    identityClaims: principals.some((p) => p.groups !== undefined || p.roles !== undefined) ? document.claims : undefined,
    namesPrincipals: principals.length > 0,
    limiter,
    state: options.state,
    stageFor: (caller, flowKey) =>
      active ? new PolicyStage({ legacy: legacy.active ? legacy : undefined, rules, labeler, flows: document.flows, limiter, caller, state: options.state, flowKey }) : undefined,
  };
}
