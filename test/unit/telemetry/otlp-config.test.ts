import { describe, expect, it } from 'vitest';
import { otlpConfig, parseKeyValueList } from '../../../src/telemetry/otlp-config.js';

describe('otlpConfig: the OTEL_* variables and --otel', () => {
  it('is off without --otel or an endpoint variable, and with OTEL_SDK_DISABLED=true or --no-otel', () => {
    expect(otlpConfig(undefined, {}, '1.0.0')).toBeUndefined();
    expect(otlpConfig(undefined, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' }, '1.0.0')).toBeUndefined();
    expect(otlpConfig(false, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }, '1.0.0')).toBeUndefined();
  });

  it('appends the signal paths to the base endpoint (keeping its path), and takes per-signal endpoints as they are', () => {
    const config = otlpConfig(undefined, { OTEL_EXPORTER_OTLP_ENDPOINT: 'https://c.example/otlp/', OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'https://m.example/custom' }, '1.0.0')!;
    expect(config.tracesUrl).toBe('https://c.example/otlp/v1/traces');
    expect(config.metricsUrl).toBe('https://m.example/custom');
  });

  it('--otel alone uses the default OTLP/HTTP port; --otel URL wins over the variables; a signal set to none is not sent', () => {
    expect(otlpConfig(true, {}, '1.0.0')!.tracesUrl).toBe('http://localhost:4318/v1/traces');
    expect(otlpConfig('http://flag:4318', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://env:4318' }, '1.0.0')!.metricsUrl).toBe('http://flag:4318/v1/metrics');
    const tracesOnly = otlpConfig(true, { OTEL_METRICS_EXPORTER: 'none' }, '1.0.0')!;
    expect([tracesOnly.tracesUrl, tracesOnly.metricsUrl]).toEqual(['http://localhost:4318/v1/traces', undefined]);
  });

  it('reads headers, service name and resource attributes, percent-decoded', () => {
    const config = otlpConfig(true, {
      OTEL_EXPORTER_OTLP_HEADERS: 'api-key=a%20b,x=1',
      OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'x=2',
      OTEL_SERVICE_NAME: 'gateway',
      OTEL_RESOURCE_ATTRIBUTES: 'service.name=ignored,deployment.environment=prod',
    }, '1.2.3')!;
    expect(config.tracesHeaders).toEqual({ 'api-key': 'a b', x: '2' });
    expect(config.metricsHeaders).toEqual({ 'api-key': 'a b', x: '1' });
    expect(config.resource).toMatchObject({ 'service.name': 'gateway', 'service.version': '1.2.3', 'deployment.environment': 'prod' });
  });

  it('says once that only http/json is spoken when another protocol is asked for', () => {
    expect(otlpConfig(true, { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, '1')!.notes).toEqual(['OTEL_EXPORTER_OTLP_PROTOCOL=grpc: airlock exports OTLP/HTTP with the JSON encoding only (http/json), and sends that']);
    expect(otlpConfig(true, { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }, '1')!.notes).toEqual([]);
  });

  it('refuses an endpoint that is not an http(s) URL, naming the variable', () => {
    expect(() => otlpConfig(undefined, { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'grpc://c:4317' }, '1')).toThrow('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT must be an http:// or https:// URL, not "grpc:"');
  });

  it('parseKeyValueList skips items without a key', () => {
    expect(parseKeyValueList('=x,a=1,b')).toEqual({ a: '1' });
  });
});
