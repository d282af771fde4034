/**
 * The audit stage: watches one bridge (one session) and turns what crosses it into audit
 * events: one per request/response pair, in either direction, and one per notification. It pairs
 * a request with its answer by id and direction, so it sees the answer the client actually got:
 * a filtered tools/list, a policy denial made by airlock, or airlock's error when the upstream
 * failed. Requests still open when the session ends are recorded as cancelled or unanswered:
 * nothing that reached airlock goes unrecorded.
 */
import { performance } from 'node:perf_hooks';
import { messageTextOnce } from '../bridge/message-text.js';
import type { JSONRPCMessage, RequestId } from '../bridge/json-rpc.js';
import type { MessageTap, Side } from '../bridge/stage.js';
import type { AuditDirection, AuditEvent, AuditHost, AuditOutcome, AuditPrincipal } from './audit-record.js';
import { FLOW_DENIED, POLICY_DENIED } from '../policy/policy-stage.js';
import { RATE_LIMITED } from '../policy/rate-limit.js';
import { PendingDigest, recordArguments, redactString, type AuditArgsMode } from '../redact.js';
import { claimedVersion } from '../eras/mcp-headers.js';

/**
 * What a sink may want besides the record (telemetry: the span's protocol version); never in the
 * audit record itself.
 */
export interface CallContext {
  /** The MCP version the call was made under: its own `_meta` claim (2026-07-28), else the session's. */
  protocolVersion?: string;
}

/**
 * Where the tap's events go: the audit writer (a promise in sync mode), telemetry (call-telemetry.ts),
 * or both through `fanOut`.
 */
export interface AuditSink {
  append(event: AuditEvent, context?: CallContext): Promise<void> | undefined;
}

/**
 * One sink that hands each event to every one of `sinks`, in order: the tap's pairing and
 * redaction are done once, whoever reads the result. The promise (if any) settles when every
 * sink's has (the audit writer's in --audit-sync mode; telemetry never makes one).
 */
export function fanOut(sinks: readonly AuditSink[]): AuditSink {
  if (sinks.length === 1) return sinks[0]!;
  return {
    append(event, context) {
      const waits = sinks.map((sink) => sink.append(event, context)).filter((p): p is Promise<void> => p !== undefined);
      return waits.length === 0 ? undefined : waits.length === 1 ? waits[0] : Promise.all(waits).then(() => undefined);
    },
  };
}

export interface AuditTapOptions {
  sink: AuditSink;
  session: string;
  /** The upstream, already without secrets. */
  server: string;
  /** "stdio->streamable-http": read when a record is written, since auto mode decides late. */
  transport: () => string;
  args: AuditArgsMode;
  /**
   * Keys `--audit-args digest` (redact.ts argumentDigestKey); without it, plain SHA-256. A function
   * while the audit key loads: undefined from it means "not yet", and the digest is left to the
   * writer (PendingDigest), which seals records only once the key is there.
   */
  digestKey?: Buffer | (() => Buffer | undefined);
  version: string;
  principal?: () => AuditPrincipal | null | undefined;
  /** The host process behind the session (the hub's clients). */
  host?: AuditHost;
  /**
   * The id the client itself gave a request, when the inbound side renumbers them (a 2026 lane
   * of serve carries many callers on one connection): the record shows the caller's id.
   */
  clientIdOf?: (id: RequestId) => RequestId | undefined;
}

interface OpenCall {
  direction: AuditDirection;
  time: string;
  started: number;
  method: string;
  /** The id the calls map knows it by (the bridge's view). */
  id: RequestId;
  /** The id the record shows: the caller's own. */
  recordId: RequestId;
  name: string | undefined;
  args: unknown;
  bytes: number;
  protocolVersion: string | undefined;
}

/** The member that names what a call acts on: a tool, a prompt or a resource. */
function targetOf(method: string, params: Record<string, unknown> | undefined): string | undefined {
  if (!params) return undefined;
  if (method === 'tools/call' || method === 'prompts/get') return nameOf(params.name);
  // A resource URI can carry credentials (`postgres://admin:PASS@db`, `?access_token=`): recorded without them, in every mode.
  if (method.startsWith('resources/')) return typeof params.uri === 'string' ? redactString(params.uri) : undefined;
  if (method === 'completion/complete') {
    const ref = params.ref as { name?: unknown; uri?: unknown } | undefined;
    const value = ref?.name ?? ref?.uri;
    return typeof value === 'string' ? redactString(value) : undefined;
  }
  return undefined;
}

/**
 * A tool or prompt name as recorded: a string as it is; anything else (issue 20: `["delete_file"]`
 * reached a server that read it as a name) as its JSON text, redacted and cut at 256 characters,
 * so the record still shows what was called.
 */
function nameOf(name: unknown): string | undefined {
  if (typeof name === 'string' || name === undefined) return name;
  const text = redactString(JSON.stringify(name) ?? String(name));
  return text.length <= 256 ? text : `${text.slice(0, 255)}\u2026`;
}

/** What a call's arguments are, per method: tool arguments, prompt arguments, else the params. */
function argumentsOf(method: string, params: Record<string, unknown> | undefined): unknown {
  if (params === undefined) return undefined;
  if (method === 'tools/call' || method === 'prompts/get') return params.arguments;
  const { _meta: _ignored, ...rest } = params;
  return Object.keys(rest).length === 0 ? undefined : rest;
}

/**
 * Airlock's refusals of a call: the tool policy (access rules, flow rules, rate limits), and
 * serve's per-tool scope (403 insufficient_scope).
 */
const DENIALS: ReadonlySet<string> = new Set([POLICY_DENIED, FLOW_DENIED, RATE_LIMITED, 'AIRLOCK_INSUFFICIENT_SCOPE']);

/**
 * Records that nobody waits for (a client notification, a cancelled call) in --audit-sync mode:
 * a failed write is already logged by the writer and must not become an unhandled rejection.
 */
function observe(pending: Promise<void> | undefined): void {
  pending?.catch(() => undefined);
}

/** The message's size on the wire; its text is remembered, so the transport does not serialise it again. */
function byteLength(message: JSONRPCMessage): number {
  return Buffer.byteLength(messageTextOnce(message));
}

export class AuditTap implements MessageTap {
  /** Calls made by the client, waiting for the server's answer. */
  private readonly clientCalls = new Map<RequestId, OpenCall>();
  /** Calls made by the server (sampling, elicitation, roots), waiting for the client's answer. */
  private readonly serverCalls = new Map<RequestId, OpenCall>();
  /** The version initialize settled on (2025 sessions), for calls that claim none themselves. */
  private sessionVersion: string | undefined;

  constructor(private readonly options: AuditTapOptions) {}

  fromClient(message: JSONRPCMessage): void {
    if ('method' in message) {
      if ('id' in message) this.open(this.clientCalls, 'client->server', message);
      else {
        observe(this.notification('client->server', message));
        if (message.method === 'notifications/cancelled') this.cancelled(message);
      }
    } else {
      observe(this.answer(this.serverCalls, message, false));
    }
  }

  sending(message: JSONRPCMessage, to: Side, byAirlock: boolean): Promise<void> | undefined {
    if (to !== 'client') return undefined;
    if ('method' in message) {
      if ('id' in message) {
        this.open(this.serverCalls, 'server->client', message);
        return undefined;
      }
      return this.notification('server->client', message);
    }
    return this.answer(this.clientCalls, message, byAirlock);
  }

  closed(reason: string): Promise<void> | undefined {
    const pending: Array<Promise<void> | undefined> = [];
    for (const calls of [this.clientCalls, this.serverCalls]) {
      for (const call of calls.values()) pending.push(this.write(call, 'unanswered', 0, { detail: reason }));
      calls.clear();
    }
    const waits = pending.filter((p): p is Promise<void> => p !== undefined);
    return waits.length > 0 ? Promise.all(waits).then(() => undefined) : undefined;
  }

  private open(calls: Map<RequestId, OpenCall>, direction: AuditDirection, message: JSONRPCMessage & { method: string; id: RequestId }): void {
    const params = (message as { params?: Record<string, unknown> }).params;
    // A peer that reuses the id of a call still open breaks JSON-RPC; the first call is still recorded.
    const reused = calls.get(message.id);
    if (reused) observe(this.write(reused, 'unanswered', 0, { detail: 'its request id was reused before an answer came' }));
    calls.set(message.id, {
      direction,
      time: new Date().toISOString(),
      started: performance.now(),
      method: message.method,
      id: message.id,
      recordId: (direction === 'client->server' ? this.options.clientIdOf?.(message.id) : undefined) ?? message.id,
      name: targetOf(message.method, params),
      args: this.arguments(message.method, params),
      bytes: byteLength(message),
      protocolVersion: claimedVersion(message) ?? this.sessionVersion,
    });
  }

  /** The record's `args` member; with --audit-args none the params are not looked at (no copy without `_meta`). */
  private arguments(method: string, params: Record<string, unknown> | undefined): unknown {
    const { args: mode, digestKey } = this.options;
    if (mode === 'none') return undefined;
    const args = argumentsOf(method, params);
    const key = typeof digestKey === 'function' ? digestKey() : digestKey;
    if (mode === 'digest' && key === undefined && typeof digestKey === 'function' && args !== undefined) return new PendingDigest(args);
    return recordArguments(args, mode, key);
  }

  private answer(calls: Map<RequestId, OpenCall>, message: JSONRPCMessage, byAirlock: boolean): Promise<void> | undefined {
    const id = (message as { id?: RequestId }).id;
    const call = id === undefined || id === null ? undefined : calls.get(id);
    if (!call) return undefined; // an answer to nothing we saw (already cancelled): the peer's business
    calls.delete(call.id);
    if (call.method === 'initialize') {
      const version = (message as { result?: { protocolVersion?: unknown } }).result?.protocolVersion;
      if (typeof version === 'string') this.sessionVersion = call.protocolVersion = version;
    }
    const error = (message as { error?: { code?: unknown; data?: { airlock?: unknown; rule?: unknown } } }).error;
    let outcome: AuditOutcome = 'ok';
    let extra: Partial<AuditEvent> = {};
    if (error) {
      const airlockCode = byAirlock && typeof error.data?.airlock === 'string' ? error.data.airlock : undefined;
      const denial = airlockCode !== undefined && DENIALS.has(airlockCode);
      outcome = denial ? 'denied' : byAirlock ? 'upstream-failure' : 'error';
      // Which policy rule refused it: only from airlock's own denials, never from a server's error.
      const rule = denial && typeof error.data?.rule === 'string' ? error.data.rule : undefined;
      extra = { errorCode: typeof error.code === 'number' ? error.code : undefined, airlockCode, rule };
    }
    return this.write(call, outcome, byteLength(message), extra);
  }

  private cancelled(message: JSONRPCMessage): void {
    const id = (message as { params?: { requestId?: RequestId } }).params?.requestId;
    const call = id === undefined ? undefined : this.clientCalls.get(id);
    if (!call) return;
    this.clientCalls.delete(call.id);
    observe(this.write(call, 'cancelled', 0, {}));
  }

  private notification(direction: AuditDirection, message: JSONRPCMessage & { method: string }): Promise<void> | undefined {
    const params = (message as { params?: Record<string, unknown> }).params;
    const bytes = byteLength(message);
    const { options } = this;
    // One literal in record order; members left undefined are dropped by JSON.stringify.
    return options.sink.append({
      time: new Date().toISOString(),
      session: options.session,
      server: options.server,
      transport: options.transport(),
      direction,
      kind: 'notification',
      method: message.method,
      name: targetOf(message.method, params),
      outcome: 'delivered',
      bytesIn: direction === 'client->server' ? bytes : 0,
      bytesOut: direction === 'server->client' ? bytes : 0,
      principal: options.principal?.() ?? null,
      ...(options.host ? { host: options.host } : {}),
      airlock: options.version,
    });
  }

  private write(call: OpenCall, outcome: AuditOutcome, answerBytes: number, extra: Partial<AuditEvent>): Promise<void> | undefined {
    const fromClient = call.direction === 'client->server';
    const { options } = this;
    return options.sink.append({
      time: call.time,
      session: options.session,
      server: options.server,
      transport: options.transport(),
      direction: call.direction,
      kind: 'request',
      method: call.method,
      id: call.recordId,
      name: call.name,
      args: call.args,
      outcome,
      errorCode: extra.errorCode,
      airlockCode: extra.airlockCode,
      rule: extra.rule,
      detail: extra.detail,
      latencyMs: Math.round((performance.now() - call.started) * 100) / 100,
      bytesIn: fromClient ? call.bytes : answerBytes,
      bytesOut: fromClient ? answerBytes : call.bytes,
      principal: options.principal?.() ?? null,
      ...(options.host ? { host: options.host } : {}),
      airlock: options.version,
    }, { protocolVersion: call.protocolVersion });
  }
}
