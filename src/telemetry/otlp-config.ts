/**
 * Where OpenTelemetry data goes, from the variables the OpenTelemetry specification defines for
 * every SDK ("OTLP Exporter Configuration", "Environment Variable Specification"), so that airlock
 * is configured like any other instrumented program: OTEL_EXPORTER_OTLP_ENDPOINT (a base URL: the
 * signal paths /v1/traces and /v1/metrics are appended), OTEL_EXPORTER_OTLP_TRACES_ENDPOINT and
 * ..._METRICS_ENDPOINT (used as they are), OTEL_EXPORTER_OTLP_HEADERS (and the per-signal ones),
 * OTEL_EXPORTER_OTLP_TIMEOUT, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_SDK_DISABLED,
 * OTEL_TRACES_EXPORTER / OTEL_METRICS_EXPORTER=none, OTEL_BSP_SCHEDULE_DELAY,
 * OTEL_BSP_MAX_QUEUE_SIZE, OTEL_BSP_MAX_EXPORT_BATCH_SIZE, OTEL_METRIC_EXPORT_INTERVAL.
 *
 * Only OTLP/HTTP with the JSON encoding is spoken (docs/team.md says why): a protocol variable
 * asking for another is answered with a warning, and JSON is sent (collectors take both on 4318).
 */
import { AirlockError, quote } from '../errors.js';

export interface OtlpConfig {
  /** Full URL of the traces endpoint (…/v1/traces), or undefined when traces are off. */
  tracesUrl?: string;
  metricsUrl?: string;
  tracesHeaders: Record<string, string>;
  metricsHeaders: Record<string, string>;
  /** service.name and the OTEL_RESOURCE_ATTRIBUTES pairs. */
  resource: Record<string, string>;
  timeoutMs: number;
  /** Spans wait at most this long before they are sent. */
  scheduleDelayMs: number;
  /** Spans kept at most while waiting; past this, new ones are dropped (and counted). */
  maxQueueSize: number;
  maxBatchSize: number;
  metricIntervalMs: number;
  /** What the configuration asked that airlock does not do, to say once at start. */
  notes: string[];
}

/** What `--otel [url]` gave: true without a URL, the URL, or undefined without the flag. */
export type OtelFlag = string | boolean | undefined;

/** The OTLP/HTTP default endpoint (OTLP spec, "OTLP/HTTP Default Port": 4318). */
export const DEFAULT_OTLP_ENDPOINT = 'http://localhost:4318';

/** Base URL + signal path, as the spec says for OTEL_EXPORTER_OTLP_ENDPOINT (keeping a base path). */
function signalUrl(base: string, signal: 'traces' | 'metrics'): string {
  return `${base.replace(/\/+$/, '')}/v1/${signal}`;
}

function checkedUrl(value: string, name: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch (error) {
    throw new AirlockError('AIRLOCK_USAGE', `${name} is not a URL: ${quote(value)}`, { hint: `Give the collector's OTLP/HTTP address, e.g. ${DEFAULT_OTLP_ENDPOINT}.`, cause: error });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new AirlockError('AIRLOCK_USAGE', `${name} must be an http:// or https:// URL, not ${quote(url.protocol)}`, { hint: 'airlock exports OTLP over HTTP (JSON); a gRPC collector listens for HTTP on 4318 too.' });
  }
  return value;
}

/** "k1=v1,k2=v2" with percent-encoded values (W3C Baggage form, as the spec says for both variables). */
export function parseKeyValueList(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!text) return out;
  for (const item of text.split(',')) {
    const at = item.indexOf('=');
    if (at <= 0) continue;
    const key = item.slice(0, at).trim();
    let value = item.slice(at + 1).trim();
    try {
      value = decodeURIComponent(value);
    } catch {
      // Left as written.
    }
    if (key) out[key] = value;
  }
  return out;
}

function positive(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const value = Number(env[name]);
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

/**
 * The export the flag and the environment ask for, or undefined when nothing asks for one (no
 * --otel and no endpoint variable) or OTEL_SDK_DISABLED=true says no.
 */
export function otlpConfig(flag: OtelFlag, env: NodeJS.ProcessEnv, version: string): OtlpConfig | undefined {
  if (flag === false || env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return undefined;
  const base = typeof flag === 'string' ? flag : env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || undefined;
  const tracesEnv = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() || undefined;
  const metricsEnv = env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT?.trim() || undefined;
  if (flag === undefined && base === undefined && tracesEnv === undefined && metricsEnv === undefined) return undefined;
  const notes: string[] = [];
  const fallbackBase = base ?? (flag !== undefined ? DEFAULT_OTLP_ENDPOINT : undefined);
  const urlFor = (signal: 'traces' | 'metrics', specific: string | undefined, variable: string): string | undefined => {
    if ((env[`OTEL_${signal.toUpperCase()}_EXPORTER`] ?? '').trim().toLowerCase() === 'none') return undefined;
    // --otel URL wins over the environment; then the signal's own variable; then the base.
    if (typeof flag === 'string') return checkedUrl(signalUrl(flag, signal), '--otel');
    if (specific !== undefined) return checkedUrl(specific, variable);
    return fallbackBase === undefined ? undefined : checkedUrl(signalUrl(fallbackBase, signal), base === undefined ? '--otel' : 'OTEL_EXPORTER_OTLP_ENDPOINT');
  };
  for (const name of ['OTEL_EXPORTER_OTLP_PROTOCOL', 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'OTEL_EXPORTER_OTLP_METRICS_PROTOCOL']) {
    const protocol = env[name]?.trim();
    if (protocol && protocol !== 'http/json') notes.push(`${name}=${protocol}: airlock exports OTLP/HTTP with the JSON encoding only (http/json), and sends that`);
  }
  const shared = parseKeyValueList(env.OTEL_EXPORTER_OTLP_HEADERS);
  const resource: Record<string, string> = {
    'service.name': 'mcp-airlock',
    'service.version': version,
    'telemetry.sdk.name': 'mcp-airlock',
    'telemetry.sdk.language': 'nodejs',
    'telemetry.sdk.version': version,
    ...parseKeyValueList(env.OTEL_RESOURCE_ATTRIBUTES),
  };
  const serviceName = env.OTEL_SERVICE_NAME?.trim();
  if (serviceName) resource['service.name'] = serviceName;
  return {
    tracesUrl: urlFor('traces', tracesEnv, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'),
    metricsUrl: urlFor('metrics', metricsEnv, 'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT'),
    tracesHeaders: { ...shared, ...parseKeyValueList(env.OTEL_EXPORTER_OTLP_TRACES_HEADERS) },
    metricsHeaders: { ...shared, ...parseKeyValueList(env.OTEL_EXPORTER_OTLP_METRICS_HEADERS) },
    resource,
    timeoutMs: positive(env, 'OTEL_EXPORTER_OTLP_TIMEOUT', 10_000),
    scheduleDelayMs: positive(env, 'OTEL_BSP_SCHEDULE_DELAY', 5000),
    maxQueueSize: positive(env, 'OTEL_BSP_MAX_QUEUE_SIZE', 2048),
    maxBatchSize: positive(env, 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE', 512),
    metricIntervalMs: positive(env, 'OTEL_METRIC_EXPORT_INTERVAL', 60_000),
    notes,
  };
}
