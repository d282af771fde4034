/**
 * Counters and histograms for OTLP export: cumulative (the OTLP default temporality), kept per
 * attribute set. The attribute sets per metric are bounded, as the OpenTelemetry SDKs bound them
 * ("cardinality limit"): past the limit, values go to one set marked `otel.metric.overflow`, so a
 * client calling made-up tool names cannot grow memory without end.
 */
import { otlpAttributes, unixNano, type Attributes } from './otlp-exporter.js';

const CARDINALITY_LIMIT = 2000;
const OVERFLOW: Attributes = { 'otel.metric.overflow': true };

/** AGGREGATION_TEMPORALITY_CUMULATIVE. */
const CUMULATIVE = 2;

/** Seconds: the bucket bounds the MCP semantic conventions advise for mcp.server.operation.duration. */
export const DURATION_BOUNDS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300];

abstract class Instrument<T> {
  protected readonly points = new Map<string, { attributes: Attributes; value: T }>();

  constructor(
    readonly name: string,
    readonly description: string,
    readonly unit: string,
  ) {}

  protected point(attributes: Attributes, initial: () => T): { attributes: Attributes; value: T } {
    const key = JSON.stringify(Object.entries(attributes).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : 1)));
    let point = this.points.get(key);
    if (point === undefined) {
      if (this.points.size >= CARDINALITY_LIMIT) return this.point(OVERFLOW, initial);
      point = { attributes, value: initial() };
      this.points.set(key, point);
    }
    return point;
  }

  /** Whether anything was recorded (an instrument without points is not sent). */
  get recorded(): boolean {
    return this.points.size > 0;
  }

  abstract toOtlp(start: string, now: string): unknown;
}

/** A sum: monotonic (a counter) or not (an up-down counter, such as open sessions). */
export class Sum extends Instrument<number> {
  constructor(name: string, description: string, unit: string, private readonly monotonic: boolean) {
    super(name, description, unit);
  }

  add(value: number, attributes: Attributes = {}): void {
    this.point(attributes, () => 0).value += value;
  }

  toOtlp(start: string, now: string): unknown {
    return {
      name: this.name,
      description: this.description,
      unit: this.unit,
      sum: {
        aggregationTemporality: CUMULATIVE,
        isMonotonic: this.monotonic,
        dataPoints: [...this.points.values()].map(({ attributes, value }) => ({ attributes: otlpAttributes(attributes), startTimeUnixNano: start, timeUnixNano: now, asInt: String(value) })),
      },
    };
  }
}

interface HistogramValue {
  count: number;
  sum: number;
  min: number;
  max: number;
  buckets: number[];
}

export class Histogram extends Instrument<HistogramValue> {
  constructor(name: string, description: string, unit: string, private readonly bounds: readonly number[]) {
    super(name, description, unit);
  }

  record(value: number, attributes: Attributes = {}): void {
    const point = this.point(attributes, () => ({ count: 0, sum: 0, min: Number.POSITIVE_INFINITY, max: Number.NEGATIVE_INFINITY, buckets: new Array<number>(this.bounds.length + 1).fill(0) })).value;
    point.count += 1;
    point.sum += value;
    point.min = Math.min(point.min, value);
    point.max = Math.max(point.max, value);
    // Bucket i holds values in (bounds[i-1], bounds[i]] (metrics.proto HistogramDataPoint).
    let index = this.bounds.findIndex((bound) => value <= bound);
    if (index === -1) index = this.bounds.length;
    point.buckets[index]! += 1;
  }

  toOtlp(start: string, now: string): unknown {
    return {
      name: this.name,
      description: this.description,
      unit: this.unit,
      histogram: {
        aggregationTemporality: CUMULATIVE,
        dataPoints: [...this.points.values()].map(({ attributes, value }) => ({
          attributes: otlpAttributes(attributes),
          startTimeUnixNano: start,
          timeUnixNano: now,
          count: String(value.count),
          sum: value.sum,
          min: value.min,
          max: value.max,
          bucketCounts: value.buckets.map(String),
          explicitBounds: [...this.bounds],
        })),
      },
    };
  }
}

/** The instruments of one process, and their OTLP form for an export. */
export class MetricSet {
  private readonly instruments: Array<Sum | Histogram> = [];
  private readonly start = unixNano(Date.now());

  add<T extends Sum | Histogram>(instrument: T): T {
    this.instruments.push(instrument);
    return instrument;
  }

  collect(): unknown[] {
    const now = unixNano(Date.now());
    return this.instruments.filter((i) => i.recorded).map((i) => i.toOtlp(this.start, now));
  }
}
