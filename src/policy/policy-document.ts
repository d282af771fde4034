/**
 * What a policy file says, once read and checked (policy-file.ts reads it; policy-rules.ts,
 * session-flow.ts and rate-limit.ts act on it). The format is small on purpose: JSON with a
 * JSON Schema (schemas/policy.schema.json), no expression language, so the package stays small
 * and a policy can be reviewed line by line. The member names here are the schema's.
 */
import type { JsonLocation } from './json-locations.js';
import type { ToolPolicyOptions } from './tool-policy.js';

/**
 * The boolean tool annotations a rule can match (MCP 2025-11-25 server/tools, "ToolAnnotations").
 * Annotations are hints from the server, not guarantees: a rule trusts them as far as the server.
 */
export const ANNOTATION_HINTS = ['readOnlyHint', 'destructiveHint', 'idempotentHint', 'openWorldHint'] as const;
export type AnnotationHint = (typeof ANNOTATION_HINTS)[number];
export type ToolAnnotations = Partial<Record<AnnotationHint, boolean>>;

/**
 * The value a hint has when the server leaves it out, as the spec defines it. They are the
 * cautious reading (not read-only, destructive, open world), so a tool nobody described, or one a
 * client calls without listing first, gets the strictest treatment.
 */
export const HINT_DEFAULTS: Readonly<Record<AnnotationHint, boolean>> = { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true };

/**
 * The value a rule sees for a hint. The spec says destructiveHint and idempotentHint are
 * "meaningful only when readOnlyHint == false": a read-only tool changes nothing, so it is neither
 * destructive nor anything but idempotent, whatever the other hints say or default to.
 */
export function hintValue(annotations: ToolAnnotations, hint: AnnotationHint): boolean {
  if (hint === 'destructiveHint' || hint === 'idempotentHint') {
    if ((annotations.readOnlyHint ?? HINT_DEFAULTS.readOnlyHint) === true) return hint === 'idempotentHint';
  }
  return annotations[hint] ?? HINT_DEFAULTS[hint];
}

/** The labels session flow rules reason about; a policy may add its own names. */
export const FLOW_LABELS = ['private-data', 'untrusted-content', 'external-communication'] as const;

export const PER_KEYS = ['caller', 'tool'] as const;
export type PerKey = (typeof PER_KEYS)[number];

/** Who a rule applies to: every member given must match (lists: see each member). */
export interface PrincipalCondition {
  /** Globs over `sub`; any may match. */
  subject?: string[];
  /** Globs over `iss`; any may match. */
  issuer?: string[];
  /** Globs over `client_id` (or `azp`); any may match. */
  clientId?: string[];
  /** Globs; the caller must be in at least one of these groups. */
  groups?: string[];
  /** Globs; the caller must hold at least one of these roles. */
  roles?: string[];
  /** Exact scopes; the token must hold every one (as a scope requirement reads in OAuth). */
  scopes?: string[];
  /** Globs over the current actor's `sub` (RFC 8693 §4.1 `act`); any may match. */
  actor?: string[];
  /** true: only delegated tokens (with an `act` claim); false: only tokens without one. */
  delegated?: boolean;
}

interface Located {
  /** The rule's `id`, or its place in the file (`rules[2]`) when it has none. */
  id: string;
  /** Where the rule starts in the file, for `policy explain` and error messages. */
  location: JsonLocation;
}

export interface AccessRule extends Located {
  effect: 'allow' | 'deny';
  /** Tool name globs; any may match. `["*"]` when the rule gives none. */
  tools: string[];
  /** Hints the tool must have, with the spec's defaults for hints the server left out. */
  annotations: ToolAnnotations;
  /** The tool must carry at least one of these labels. */
  labels?: string[];
  principal?: PrincipalCondition;
  /** Shown in the refusal instead of the generic text. */
  reason?: string;
}

export interface RateLimitRule extends Located {
  tools: string[];
  /** One bucket per caller, per tool, per both, or (empty) one for everybody. */
  per: PerKey[];
  /** Calls allowed per window, on average. */
  limit: number;
  /** The window as written ("1m"), for messages. */
  window: string;
  windowSeconds: number;
  /** Calls that may come at once (the bucket's size); `limit` by default. */
  burst: number;
  principal?: PrincipalCondition;
}

export interface FlowRule extends Located {
  /** Refuse a call to a tool with any of these labels... */
  deny: string[];
  /** ...once the session has called tools with every one of these labels. */
  after: string[];
  reason?: string;
}

/** Where in a token's claims the groups and roles are: claim names, or JSON Pointers (`/realm_access/roles`). */
export interface ClaimNames {
  groups: string[];
  roles: string[];
}

export const DEFAULT_CLAIM_NAMES: ClaimNames = { groups: ['groups'], roles: ['roles'] };

export interface PolicyDocument {
  /** allowTools, denyTools, readOnly: the flat rules that predate this format, unchanged. */
  tools: ToolPolicyOptions;
  claims: ClaimNames;
  rules: AccessRule[];
  rateLimits: RateLimitRule[];
  /** Label name -> tool name globs. */
  labels: Record<string, string[]>;
  /** Label tools the policy does not label from their annotations (see session-flow.ts). */
  labelsFromAnnotations: boolean;
  flows: FlowRule[];
}

export function emptyPolicy(): PolicyDocument {
  return {
    tools: { allow: [], deny: [], readOnly: false },
    claims: DEFAULT_CLAIM_NAMES,
    rules: [],
    rateLimits: [],
    labels: {},
    labelsFromAnnotations: true,
    flows: [],
  };
}
