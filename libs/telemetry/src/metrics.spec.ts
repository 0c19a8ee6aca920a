import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { DataPointType, type HistogramMetricData } from '@opentelemetry/sdk-metrics';
import {
  addObservation,
  BoundedLabels,
  metricOfPrometheusSeries,
  PLATFORM_METRICS,
  platformInstruments,
  prometheusLabel,
  prometheusName,
  prometheusSeries,
} from './metrics';
import { startTelemetry, TelemetryHandle } from './start-telemetry';
import { CollectingMetricReader } from './testing';

describe('prometheusName (the collector Prometheus exporter naming)', () => {
  it.each([
    [{ name: 'http.server.request.duration', kind: 'histogram', unit: 's' }, 'http_server_request_duration_seconds'],
    [{ name: 'bctrl.cdp.messages', kind: 'observableCounter', unit: '{message}' }, 'bctrl_cdp_messages_total'],
    // The unit's word is not repeated when the name already has it.
    [{ name: 'bctrl.cdp.bytes', kind: 'counter', unit: 'By' }, 'bctrl_cdp_bytes_total'],
    [{ name: 'bctrl.transfer.size', kind: 'counter', unit: 'By' }, 'bctrl_transfer_size_bytes_total'],
    [{ name: 'bctrl.runtimes', kind: 'observableGauge', unit: '{runtime}' }, 'bctrl_runtimes'],
    [{ name: 'bctrl.live_view.frames', kind: 'counter', unit: '{frame}' }, 'bctrl_live_view_frames_total'],
    [{ name: 'bctrl.requests.total', kind: 'counter', unit: '' }, 'bctrl_requests_total'],
    [{ name: 'bctrl.queue.wait', kind: 'histogram', unit: 'ms' }, 'bctrl_queue_wait_milliseconds'],
  ] as const)('%j is %s', (definition, expected) => {
    expect(prometheusName(definition)).toBe(expected);
  });

  it('names a histogram by its bucket, count and sum series', () => {
    expect(prometheusSeries(PLATFORM_METRICS.eventsLag)).toEqual([
      'bctrl_events_lag_seconds_bucket',
      'bctrl_events_lag_seconds_count',
      'bctrl_events_lag_seconds_sum',
    ]);
  });

  it('turns attribute keys into labels', () => {
    expect(prometheusLabel('cdp.method')).toBe('cdp_method');
    expect(prometheusLabel('http.response.status_code')).toBe('http_response_status_code');
    expect(prometheusLabel('2xx.count')).toBe('key_2xx_count');
  });

  it('finds our metric behind a series name, and nothing behind a foreign one', () => {
    expect(metricOfPrometheusSeries('http_server_request_duration_seconds_bucket')).toBe(
      PLATFORM_METRICS.httpServerRequestDuration,
    );
    expect(metricOfPrometheusSeries('bctrl_cdp_messages_total')).toBe(PLATFORM_METRICS.cdpMessages);
    expect(metricOfPrometheusSeries('bctrl_runtimes')).toBe(PLATFORM_METRICS.runtimes);
    expect(metricOfPrometheusSeries('bctrl_cdp_messages')).toBeUndefined();
    expect(metricOfPrometheusSeries('process_cpu_seconds_total')).toBeUndefined();
  });

  it('gives every platform metric a Prometheus name of its own', () => {
    const names = Object.values(PLATFORM_METRICS).map(prometheusName);
    expect(new Set(names).size).toBe(names.length);
  });
});

describe('docs/metrics.md', () => {
  const rows = readFileSync(join(__dirname, '../../../docs/metrics.md'), 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .map((line) =>
      line
        .split('|')
        .slice(1, -1)
        .map((cell) => cell.trim()),
    );

  it.each(Object.entries(PLATFORM_METRICS))(
    'documents %s with its Prometheus name, unit and attributes',
    (_, metric) => {
      const row = rows.find((cells) => cells[0] === `\`${metric.name}\``);
      expect(row).toBeDefined();
      const [, promName, , unit, attributes] = row as string[];
      expect(promName).toBe(`\`${prometheusName(metric)}\``);
      expect(unit).toBe(metric.unit);
      const documented = attributes === 'none' ? [] : (attributes ?? '').split(', ').map((a) => a.replace(/`/g, ''));
      expect(documented).toEqual(metric.attributes);
    },
  );

  it('documents no metric that is not defined', () => {
    expect(rows).toHaveLength(Object.keys(PLATFORM_METRICS).length);
  });
});

describe('BoundedLabels', () => {
  it('keeps the first values up to its cap and reads every later new one as other', () => {
    const labels = new BoundedLabels(2);
    expect(labels.label('Page.navigate')).toBe('Page.navigate');
    expect(labels.label('Runtime.evaluate')).toBe('Runtime.evaluate');
    expect(labels.label('DOM.getDocument')).toBe('other');
    expect(labels.label('Page.navigate')).toBe('Page.navigate');
  });

  it('reads values of the wrong shape as other without using up the cap', () => {
    const labels = new BoundedLabels(1, /^[A-Z][A-Za-z]*\.[a-z][A-Za-z]*$/);
    expect(labels.label('x'.repeat(300))).toBe('other');
    expect(labels.label('not a method')).toBe('other');
    expect(labels.label('Page.enable')).toBe('Page.enable');
  });
});

describe('platform instruments', () => {
  let reader: CollectingMetricReader;
  let telemetry: TelemetryHandle;

  beforeEach(() => {
    reader = new CollectingMetricReader();
    telemetry = startTelemetry({ serviceName: 'gateway', metricReader: reader, env: {} });
  });

  afterEach(async () => {
    await telemetry.shutdown();
  });

  it('records the HTTP histogram with its unit, attributes and the semantic-convention buckets', async () => {
    platformInstruments().httpServerRequestDuration.record(0.03, {
      'http.request.method': 'POST',
      'http.route': '/v1/spaces',
      'http.response.status_code': 201,
    });
    const metric = (await reader.metrics()).find((m) => m.descriptor.name === 'http.server.request.duration');
    expect(metric?.descriptor.unit).toBe('s');
    expect(metric?.dataPointType).toBe(DataPointType.HISTOGRAM);
    const [point] = (metric as HistogramMetricData).dataPoints;
    expect(point?.attributes).toEqual({
      'http.request.method': 'POST',
      'http.route': '/v1/spaces',
      'http.response.status_code': 201,
    });
    expect(point?.value.count).toBe(1);
    expect(point?.value.buckets.boundaries).toEqual(PLATFORM_METRICS.httpServerRequestDuration.buckets);
  });

  it('reads observed sources on collection, sums sources per attribute set, and skips a failing one', async () => {
    let clientMessages = 3;
    const removeFirst = addObservation('cdpMessages', () => [
      [clientMessages, { direction: 'client', 'cdp.method': 'Page.navigate' }],
    ]);
    const removeSecond = addObservation('cdpMessages', () => [
      [2, { 'cdp.method': 'Page.navigate', direction: 'client' }],
      [5, { direction: 'browser', 'cdp.method': 'Page.navigate' }],
    ]);
    const removeBroken = addObservation('cdpMessages', () => Promise.reject(new Error('database restarting')));
    try {
      const points = async () => {
        const metric = (await reader.metrics()).find((m) => m.descriptor.name === 'bctrl.cdp.messages');
        return metric?.dataPoints.map((point) => [point.value, point.attributes]);
      };
      expect(await points()).toEqual([
        [5, { direction: 'client', 'cdp.method': 'Page.navigate' }],
        [5, { direction: 'browser', 'cdp.method': 'Page.navigate' }],
      ]);
      clientMessages = 10;
      removeSecond();
      // A cumulative counter keeps an attribute set it saw once (the SDK's choice): only the client total moves.
      expect(await points()).toContainEqual([10, { direction: 'client', 'cdp.method': 'Page.navigate' }]);
    } finally {
      removeFirst();
      removeSecond();
      removeBroken();
    }
  });

  it('carry service.name and service.instance.id (host and pid) on their resource, so replicas stay apart', async () => {
    platformInstruments().invocations.add(1, { outcome: 'succeeded' });
    const { resourceMetrics } = await reader.collect();
    expect(resourceMetrics.resource.attributes).toMatchObject({
      'service.name': 'gateway',
      'service.instance.id': `${hostname()}/${process.pid}`,
    });
  });

  it('are no-ops before telemetry starts, and live again on the next provider', async () => {
    await telemetry.shutdown();
    const stale = platformInstruments();
    stale.storageBytes.add(10, { direction: 'in' });
    reader = new CollectingMetricReader();
    telemetry = startTelemetry({ serviceName: 'storage', metricReader: reader, env: {} });
    const live = platformInstruments();
    expect(live).not.toBe(stale);
    live.storageBytes.add(4, { direction: 'in' });
    const metric = (await reader.metrics()).find((m) => m.descriptor.name === 'bctrl.storage.bytes');
    expect(metric?.dataPoints.map((point) => point.value)).toEqual([4]);
  });
});

describe('startTelemetry metrics from the environment', () => {
  it.each([
    [{}, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }, true],
    [{ OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://127.0.0.1:4318/v1/metrics' }, true],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_METRICS_EXPORTER: 'none' }, false],
  ])('with %j collects metrics: %s', async (env, collects) => {
    const telemetry = startTelemetry({ serviceName: 'spaces', env });
    try {
      expect(telemetry.meterProvider !== undefined).toBe(collects);
    } finally {
      await telemetry.shutdown();
    }
  });
});
