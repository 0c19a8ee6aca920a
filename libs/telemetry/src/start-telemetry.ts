import { hostname } from 'node:os';
import { context, metrics, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, type MetricReader, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor, SimpleSpanProcessor, SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import { platformInstruments } from './metrics';

/** Local mode composes every service in one process, so its traces carry one name. */
export const LOCAL_SERVICE_NAME = 'bctrl-local';

export interface TelemetryOptions {
  /** The app's name (`gateway`, `spaces`, …), or `LOCAL_SERVICE_NAME`; `OTEL_SERVICE_NAME` overrides it. */
  readonly serviceName: string;
  /** Where spans go; defaults to OTLP/HTTP JSON when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, else nowhere. */
  readonly exporter?: SpanExporter;
  /**
   * Batch spans before export. Defaults to true for the OTLP exporter taken from the environment and false for a
   * passed exporter, which is usually a test's in-memory exporter that should see spans as soon as they end.
   */
  readonly batch?: boolean;
  /**
   * Reads the metrics; defaults to a periodic OTLP/HTTP JSON export when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
   * `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`) is set, else metrics are not collected at all. Tests pass a reader of
   * their own and collect from it.
   */
  readonly metricReader?: MetricReader;
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export interface TelemetryHandle {
  readonly serviceName: string;
  readonly provider: NodeTracerProvider;
  /** Undefined when nothing reads metrics (no reader, no OTLP endpoint): the instruments are no-ops then. */
  readonly meterProvider: MeterProvider | undefined;
  /** Exports every ended span and the metrics as they stand now; spans still open are not included. */
  forceFlush(): Promise<void>;
  /** Flushes, stops export and unregisters the globals, so telemetry can be started again (tests do). */
  shutdown(): Promise<void>;
}

let active: TelemetryHandle | undefined;

/**
 * Call from `src/instrumentation.ts`, imported before Nest so that libraries patched or wrapped later see the
 * registered provider and context manager. A second call in the same process returns the first handle: local mode
 * may reach several services' instrumentation, and the process has one provider.
 */
export function startTelemetry(options: TelemetryOptions): TelemetryHandle {
  if (active) return active;
  const env = options.env ?? process.env;
  const serviceName = env.OTEL_SERVICE_NAME?.trim() || options.serviceName;

  const spanProcessors: SpanProcessor[] = [];
  const exporter = options.exporter ?? otlpExporterFromEnv(env);
  if (exporter) {
    const batch = options.batch ?? options.exporter === undefined;
    spanProcessors.push(batch ? new BatchSpanProcessor(exporter) : new SimpleSpanProcessor(exporter));
  }

  const resource = resourceFromAttributes({
    [ATTR_SERVICE_NAME]: serviceName,
    // Replicas of one service must not share a series: the collector's Prometheus exporter keys series by their
    // labels, and two replicas' counters under the same labels would overwrite each other. A pod's hostname is its name.
    'service.instance.id': `${hostname()}/${process.pid}`,
  });
  // Spans are created and sampled even without an exporter: request ids and log lines are built from trace ids.
  const provider = new NodeTracerProvider({ resource, spanProcessors });
  provider.register({
    contextManager: new AsyncLocalStorageContextManager(),
    propagator: new W3CTraceContextPropagator(),
  });

  const metricReader = options.metricReader ?? otlpMetricReaderFromEnv(env);
  let meterProvider: MeterProvider | undefined;
  if (metricReader) {
    meterProvider = new MeterProvider({ resource, readers: [metricReader] });
    metrics.setGlobalMeterProvider(meterProvider);
    // Now, not on first use: the observable instruments (CDP traffic, runtimes by status) have no other first use.
    platformInstruments();
  }

  const handle: TelemetryHandle = {
    serviceName,
    provider,
    meterProvider,
    forceFlush: async () => {
      await Promise.all([provider.forceFlush(), meterProvider?.forceFlush()]);
    },
    shutdown: async () => {
      if (active !== handle) return;
      active = undefined;
      try {
        await Promise.all([provider.shutdown(), meterProvider?.shutdown()]);
      } finally {
        trace.disable();
        context.disable();
        propagation.disable();
        metrics.disable();
      }
    },
  };
  active = handle;
  return handle;
}

/** The running telemetry, if `startTelemetry` was called; logs use its service name. */
export function activeTelemetry(): TelemetryHandle | undefined {
  return active;
}

function otlpExporterFromEnv(env: Readonly<Record<string, string | undefined>>): SpanExporter | undefined {
  const tracesEndpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
  const endpoint = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  if (tracesEndpoint) return new OTLPTraceExporter({ url: tracesEndpoint });
  if (endpoint)
    return new OTLPTraceExporter({
      url: `${endpoint.replace(/\/+$/, '')}/v1/traces`,
    });
  return undefined;
}

/** The SDK's default interval; OTEL_METRIC_EXPORT_INTERVAL shortens it (tests export every few hundred ms). */
const DEFAULT_EXPORT_INTERVAL_MS = 60_000;
const DEFAULT_EXPORT_TIMEOUT_MS = 30_000;

function otlpMetricReaderFromEnv(env: Readonly<Record<string, string | undefined>>): MetricReader | undefined {
  if (env.OTEL_METRICS_EXPORTER?.trim() === 'none') return undefined;
  const metricsEndpoint = env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT?.trim();
  const endpoint = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  const url = metricsEndpoint || (endpoint ? `${endpoint.replace(/\/+$/, '')}/v1/metrics` : undefined);
  if (!url) return undefined;
  const interval = positiveMs(env.OTEL_METRIC_EXPORT_INTERVAL) ?? DEFAULT_EXPORT_INTERVAL_MS;
  return new PeriodicExportingMetricReader({
    exporter: new OTLPMetricExporter({ url }),
    exportIntervalMillis: interval,
    // The reader refuses a timeout longer than its interval.
    exportTimeoutMillis: Math.min(positiveMs(env.OTEL_METRIC_EXPORT_TIMEOUT) ?? DEFAULT_EXPORT_TIMEOUT_MS, interval),
  });
}

function positiveMs(value: string | undefined): number | undefined {
  const ms = Number(value?.trim());
  return value?.trim() && Number.isInteger(ms) && ms > 0 ? ms : undefined;
}
