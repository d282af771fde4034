/**
 * OTLP/HTTP export with the JSON encoding (OTLP specification, "OTLP/HTTP": POST of an
 * ExportTraceServiceRequest to /v1/traces and an ExportMetricsServiceRequest to /v1/metrics, in the
 * protobuf JSON mapping with the OTLP exceptions: trace and span ids as hex, 64-bit integers as
 * strings, enums as numbers). No OpenTelemetry SDK: docs/team.md says why.
 *
 * Never in the way of a call: spans go into a bounded queue and leave in batches (every
 * `scheduleDelayMs`, or at once when a batch is full) from a timer that does not keep the process
 * alive; a full queue drops new spans, and a failed POST drops its batch (no retries piling up
 * behind a dead collector). What was dropped is counted and said, one warning line per interval.
 */
import { randomBytes } from 'node:crypto';
import { describeError } from '../errors.js';
import { RepeatedWarning, type Logger } from '../log.js';
import type { OtlpConfig } from './otlp-config.js';

/** An attribute value as OTLP/JSON writes it (common.proto AnyValue). */
export type OtlpValue = { stringValue: string } | { intValue: string } | { boolValue: boolean } | { doubleValue: number };
export interface OtlpAttribute {
  key: string;
  value: OtlpValue;
}

/** trace.proto Span, the members airlock fills. */
export interface OtlpSpan {
  traceId: string;
  spanId: string;
  name: string;
  /** SPAN_KIND_SERVER = 2. */
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: OtlpAttribute[];
  /** STATUS_CODE_UNSET = 0, OK = 1, ERROR = 2. */
  status: { code: number; message?: string };
}

export type Attributes = Record<string, string | number | boolean | undefined>;

/** Attributes in OTLP form: integers as intValue strings, undefined left out. */
export function otlpAttributes(attributes: Attributes): OtlpAttribute[] {
  const out: OtlpAttribute[] = [];
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined) continue;
    if (typeof value === 'string') out.push({ key, value: { stringValue: value } });
    else if (typeof value === 'boolean') out.push({ key, value: { boolValue: value } });
    else if (Number.isInteger(value)) out.push({ key, value: { intValue: String(value) } });
    else out.push({ key, value: { doubleValue: value } });
  }
  return out;
}

export function newTraceId(): string {
  return randomBytes(16).toString('hex');
}

export function newSpanId(): string {
  return randomBytes(8).toString('hex');
}

/** Milliseconds since the epoch (fractions kept to the microsecond) as OTLP's fixed64 nanoseconds string. */
export function unixNano(ms: number): string {
  return (BigInt(Math.round(ms * 1000)) * 1000n).toString();
}

export interface ExporterOptions {
  config: OtlpConfig;
  log: Logger;
  /** The metrics to send each interval (metrics.ts), as OTLP Metric objects. */
  collectMetrics?: () => unknown[];
  /** Injected for tests; global fetch by default. */
  fetch?: typeof fetch;
}

/** POSTs waiting for an answer at most; past this a batch is dropped rather than queued behind them. */
const MAX_IN_FLIGHT = 4;

export class OtlpExporter {
  private queue: OtlpSpan[] = [];
  /** One warning line per interval and endpoint (traces and metrics fail apart). */
  private readonly warnings = new Map<string, RepeatedWarning>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private readonly resource: { attributes: OtlpAttribute[] };
  private readonly scope: { name: string; version: string };
  /** Spans dropped since the last line that said so. */
  private droppedSpans = 0;
  private closed = false;

  constructor(private readonly options: ExporterOptions) {
    const { config } = options;
    this.resource = { attributes: otlpAttributes(config.resource) };
    this.scope = { name: 'mcp-airlock', version: config.resource['service.version'] ?? '' };
    if (config.tracesUrl !== undefined) this.every(config.scheduleDelayMs, () => this.sendSpans());
    if (config.metricsUrl !== undefined && options.collectMetrics) this.every(config.metricIntervalMs, () => this.sendMetrics());
  }

  get tracing(): boolean {
    return this.options.config.tracesUrl !== undefined;
  }

  /** Queue a span; never waits. A full queue drops it (counted). */
  addSpan(span: OtlpSpan): void {
    if (this.closed || !this.tracing) return;
    if (this.queue.length >= this.options.config.maxQueueSize) {
      this.droppedSpans += 1;
      this.warn(this.options.config.tracesUrl!, `OpenTelemetry: the span queue is full (${this.options.config.maxQueueSize}, OTEL_BSP_MAX_QUEUE_SIZE): new spans are dropped until the collector at ${this.options.config.tracesUrl} takes them`);
      return;
    }
    this.queue.push(span);
    if (this.queue.length >= this.options.config.maxBatchSize) this.sendSpans();
  }

  /** Send what is queued and the metrics once more, then stop (the command is ending). */
  async close(): Promise<void> {
    if (this.closed) return;
    for (const timer of this.timers) clearInterval(timer);
    this.sendSpans();
    this.sendMetrics();
    this.closed = true;
    await Promise.allSettled([...this.inFlight]);
  }

  private every(ms: number, task: () => void): void {
    const timer = setInterval(task, ms);
    timer.unref();
    this.timers.push(timer);
  }

  private sendSpans(): void {
    const url = this.options.config.tracesUrl;
    if (url === undefined || this.queue.length === 0) return;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.options.config.maxBatchSize);
      const body = { resourceSpans: [{ resource: this.resource, scopeSpans: [{ scope: this.scope, spans: batch }] }] };
      this.post(url, this.options.config.tracesHeaders, body, `${batch.length} span${batch.length === 1 ? '' : 's'}`);
    }
  }

  private sendMetrics(): void {
    const url = this.options.config.metricsUrl;
    if (url === undefined || this.closed) return;
    const metrics = this.options.collectMetrics?.() ?? [];
    if (metrics.length === 0) return;
    const body = { resourceMetrics: [{ resource: this.resource, scopeMetrics: [{ scope: this.scope, metrics }] }] };
    this.post(url, this.options.config.metricsHeaders, body, `${metrics.length} metric${metrics.length === 1 ? '' : 's'}`);
  }

  /** One POST, never awaited by a call; a failure drops the batch and says so. */
  private post(url: string, headers: Record<string, string>, body: unknown, what: string): void {
    const doFetch = this.options.fetch ?? fetch;
    if (this.inFlight.size >= MAX_IN_FLIGHT) {
      // A collector that takes its time: batches are not piled up behind it.
      const text = `OpenTelemetry: ${MAX_IN_FLIGHT} exports to ${url} are still waiting for an answer: dropped ${what}`;
      this.options.log.debug(text);
      this.warn(url, text);
      return;
    }
    const sending = (async () => {
      try {
        const response = await doFetch(url, {
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/json' },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(this.options.config.timeoutMs),
        });
        // The body may hold a partial-success note (ExportTracePartialSuccess); it is not needed.
        await response.arrayBuffer().catch(() => undefined);
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        this.options.log.debug(`OpenTelemetry: sent ${what} to ${url}`);
      } catch (error) {
        const text = `OpenTelemetry: cannot export to ${url} (${describeError(error)}): dropped ${what}${this.droppedNote()}`;
        this.options.log.debug(text);
        this.warn(url, text);
      }
    })();
    this.inFlight.add(sending);
    void sending.finally(() => this.inFlight.delete(sending));
  }

  private warn(url: string, text: string): void {
    let warning = this.warnings.get(url);
    if (warning === undefined) {
      warning = new RepeatedWarning((line) => this.options.log.warn(line));
      this.warnings.set(url, warning);
    }
    warning.report(text);
  }

  private droppedNote(): string {
    if (this.droppedSpans === 0) return '';
    const note = `, and ${this.droppedSpans} span${this.droppedSpans === 1 ? '' : 's'} the full queue refused`;
    this.droppedSpans = 0;
    return note;
  }
}
