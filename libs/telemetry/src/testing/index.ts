import type { Attributes } from '@opentelemetry/api';
import { DataPointType, type MetricData, MetricReader } from '@opentelemetry/sdk-metrics';
import { startTelemetry, type TelemetryHandle } from '../start-telemetry';

/** Collects on demand, as Prometheus pulls: a spec reads what an exporter would be handed. */
export class CollectingMetricReader extends MetricReader {
  // Nothing is pushed anywhere, so there is nothing to flush or stop.
  protected onShutdown(): Promise<void> {
    return Promise.resolve();
  }
  protected onForceFlush(): Promise<void> {
    return Promise.resolve();
  }

  async metrics(): Promise<MetricData[]> {
    const { resourceMetrics, errors } = await this.collect();
    if (errors.length > 0) throw new AggregateError(errors, 'metric collection failed');
    return resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics);
  }
}

/** A data point as a spec compares it: a sum or gauge's value, a histogram's count and sum. */
export interface CapturedPoint {
  attributes: Attributes;
  value?: number;
  count?: number;
  sum?: number;
}

export interface MetricsCapture {
  readonly telemetry: TelemetryHandle;
  /** The data points of one metric as they stand now (cumulative since the capture started). */
  points(name: string): Promise<CapturedPoint[]>;
  stop(): Promise<void>;
}

/** Starts telemetry in this process with a reader the spec collects from; stop it in afterEach/afterAll. */
export function captureMetrics(serviceName = 'test'): MetricsCapture {
  const reader = new CollectingMetricReader();
  const telemetry = startTelemetry({ serviceName, metricReader: reader, env: {} });
  if (telemetry.meterProvider === undefined) {
    throw new Error('telemetry was already started without metrics in this process; stop it first');
  }
  return {
    telemetry,
    points: async (name) => {
      const metric = (await reader.metrics()).find((each) => each.descriptor.name === name);
      if (!metric) return [];
      if (metric.dataPointType === DataPointType.HISTOGRAM) {
        return metric.dataPoints.map((point) => ({
          attributes: point.attributes,
          count: point.value.count,
          sum: point.value.sum ?? 0,
        }));
      }
      if (metric.dataPointType === DataPointType.EXPONENTIAL_HISTOGRAM) {
        return metric.dataPoints.map((point) => ({ attributes: point.attributes, count: point.value.count }));
      }
      return metric.dataPoints.map((point) => ({ attributes: point.attributes, value: point.value }));
    },
    stop: () => telemetry.shutdown(),
  };
}

export * from './dashboard';
