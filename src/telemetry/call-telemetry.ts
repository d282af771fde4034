/**
 * Spans and metrics for the calls airlock carries, made from the audit tap's records: the tap
 * already pairs each request with the answer the client got (a policy denial, a rate-limit
 * refusal, an upstream failure) and knows its size and latency, so telemetry is one more sink of
 * the same events (audit-tap.ts `fanOut`), not a second tap.
 *
 * A span per request (SPAN_KIND_SERVER: airlock answers the client), named and attributed after
 * the OpenTelemetry semantic conventions for MCP (open-telemetry/semantic-conventions-genai,
 * docs/gen-ai/mcp.md, Development status): `mcp.method.name`, `mcp.session.id`,
 * `mcp.protocol.version`, `mcp.resource.uri`, `gen_ai.tool.name`, `gen_ai.prompt.name`,
 * `gen_ai.operation.name` (execute_tool), `jsonrpc.request.id`, `rpc.response.status_code`,
 * `error.type`, and `enduser.id` for the caller's subject; what the conventions have no name for is
 * under `airlock.*` (docs/team.md lists them). Never arguments, results or tokens: the record's
 * `args` is not read, and a principal holds no token.
 *
 * Metrics: `mcp.server.operation.duration` (the conventions' histogram, seconds) and
 * `mcp.server.session.duration`, and airlock's counters of calls, errors, policy denials,
 * rate-limit refusals, and open sessions.
 */
import type { AuditEvent } from '../audit/audit-record.js';
import type { AuditSink, CallContext } from '../audit/audit-tap.js';
import { isModernVersion } from '../eras/mcp-headers.js';
import type { Logger } from '../log.js';
import { RATE_LIMITED } from '../policy/rate-limit.js';
import { DURATION_BOUNDS, Histogram, MetricSet, Sum } from './metrics.js';
import type { OtlpConfig } from './otlp-config.js';
import { newSpanId, newTraceId, OtlpExporter, otlpAttributes, unixNano, type Attributes, type OtlpSpan } from './otlp-exporter.js';

/** SPAN_KIND_SERVER. */
const SERVER = 2;
/** STATUS_CODE_ERROR. */
const ERROR = 2;

export interface SessionTelemetry {
  sink: AuditSink;
  /** The session ended: it no longer counts as open, and its duration is recorded. */
  closed(): void;
}

export interface CallTelemetry {
  /** A session opened: the sink its tap feeds. */
  session(): SessionTelemetry;
  /** Send what is left, then stop. */
  close(): Promise<void>;
}

/** What the call's answer says went wrong, for `error.type`: airlock's code, the JSON-RPC code, or the outcome. */
function errorType(event: AuditEvent): string | undefined {
  if (event.outcome === 'ok' || event.outcome === 'delivered') return undefined;
  return event.airlockCode ?? (event.errorCode !== undefined ? String(event.errorCode) : event.outcome);
}

export function spanOf(event: AuditEvent, context: CallContext | undefined): OtlpSpan {
  const start = Date.parse(event.time);
  const tool = event.method === 'tools/call' ? event.name : undefined;
  const prompt = event.method === 'prompts/get' ? event.name : undefined;
  const uri = event.method.startsWith('resources/') ? event.name : undefined;
  const target = tool ?? prompt;
  const failure = errorType(event);
  const version = context?.protocolVersion;
  const attributes: Attributes = {
    'mcp.method.name': event.method,
    'mcp.session.id': event.session,
    'mcp.protocol.version': version,
    'mcp.resource.uri': uri,
    'gen_ai.tool.name': tool,
    'gen_ai.prompt.name': prompt,
    'gen_ai.operation.name': tool !== undefined ? 'execute_tool' : undefined,
    'jsonrpc.request.id': event.id === undefined ? undefined : String(event.id),
    'rpc.response.status_code': event.errorCode === undefined ? undefined : String(event.errorCode),
    'error.type': failure,
    'enduser.id': event.principal?.subject,
    'airlock.client.id': event.principal?.clientId || undefined,
    'airlock.server': event.server,
    'airlock.transport': event.transport,
    'airlock.direction': event.direction,
    'airlock.era': version === undefined ? undefined : isModernVersion(version) ? '2026-07-28' : '2025',
    'airlock.outcome': event.outcome,
    'airlock.policy.verdict': event.outcome === 'denied' ? 'denied' : event.direction === 'client->server' ? 'allowed' : undefined,
    'airlock.policy.rule': event.rule,
    'airlock.code': event.airlockCode,
    'airlock.rate_limited': event.airlockCode === RATE_LIMITED ? true : undefined,
    'airlock.bytes_in': event.bytesIn,
    'airlock.bytes_out': event.bytesOut,
  };
  return {
    traceId: newTraceId(),
    spanId: newSpanId(),
    name: target === undefined ? event.method : `${event.method} ${target}`,
    kind: SERVER,
    startTimeUnixNano: unixNano(start),
    endTimeUnixNano: unixNano(start + (event.latencyMs ?? 0)),
    attributes: otlpAttributes(attributes),
    status: failure === undefined ? { code: 0 } : { code: ERROR, message: failure },
  };
}

export function startCallTelemetry(config: OtlpConfig, log: Logger, fetchImpl?: typeof fetch): CallTelemetry {
  const metrics = new MetricSet();
  const duration = metrics.add(new Histogram('mcp.server.operation.duration', 'MCP request duration as airlock saw it, from the request to the answer it sent', 's', DURATION_BOUNDS));
  const sessionDuration = metrics.add(new Histogram('mcp.server.session.duration', 'How long MCP sessions lasted', 's', [1, 5, 30, 60, 300, 900, 1800, 3600, 14400, 86400]));
  const calls = metrics.add(new Sum('airlock.calls', 'MCP requests answered, by method, tool and outcome', '{call}', true));
  const errors = metrics.add(new Sum('airlock.errors', 'MCP requests answered with an error by the server or by airlock for a failed upstream', '{call}', true));
  const denials = metrics.add(new Sum('airlock.policy.denials', 'Calls the tool policy refused (access rules, flow rules, rate limits, scopes)', '{call}', true));
  const refusals = metrics.add(new Sum('airlock.rate_limit.refusals', 'Calls refused by a rate limit', '{call}', true));
  const sessions = metrics.add(new Sum('airlock.sessions', 'Sessions (and 2026-07-28 lanes) open now', '{session}', false));
  const exporter = new OtlpExporter({ config, log, collectMetrics: () => metrics.collect(), ...(fetchImpl ? { fetch: fetchImpl } : {}) });
  for (const note of config.notes) log.warn(`OpenTelemetry: ${note}`);
  log.info(`OpenTelemetry: exporting ${[config.tracesUrl && `traces to ${config.tracesUrl}`, config.metricsUrl && `metrics to ${config.metricsUrl}`].filter(Boolean).join(' and ') || 'nothing (both signals are set to none)'}`);

  const sink: AuditSink = {
    append(event, context) {
      if (event.kind !== 'request') return undefined;
      if (exporter.tracing) exporter.addSpan(spanOf(event, context));
      const tool = event.method === 'tools/call' ? event.name : undefined;
      const failure = errorType(event);
      duration.record((event.latencyMs ?? 0) / 1000, { 'mcp.method.name': event.method, 'gen_ai.tool.name': tool, 'error.type': failure, 'mcp.protocol.version': context?.protocolVersion });
      calls.add(1, { 'mcp.method.name': event.method, 'gen_ai.tool.name': tool, 'airlock.outcome': event.outcome });
      if (event.outcome === 'error' || event.outcome === 'upstream-failure') errors.add(1, { 'mcp.method.name': event.method, 'gen_ai.tool.name': tool, 'error.type': failure });
      if (event.outcome === 'denied') denials.add(1, { 'gen_ai.tool.name': tool, 'airlock.policy.rule': event.rule, 'airlock.code': event.airlockCode });
      if (event.airlockCode === RATE_LIMITED) refusals.add(1, { 'gen_ai.tool.name': tool, 'airlock.policy.rule': event.rule });
      return undefined;
    },
  };
  return {
    session: () => {
      const opened = performance.now();
      sessions.add(1);
      let ended = false;
      return {
        sink,
        closed: () => {
          if (ended) return;
          ended = true;
          sessions.add(-1);
          sessionDuration.record((performance.now() - opened) / 1000);
        },
      };
    },
    close: () => exporter.close(),
  };
}
