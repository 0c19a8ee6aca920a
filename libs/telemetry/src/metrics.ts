import {
  type Attributes,
  type Counter,
  type Histogram,
  type Meter,
  type MeterProvider,
  metrics,
  type ObservableResult,
} from '@opentelemetry/api';

/*
 * The platform's metrics, named once. Services import `platformInstruments()` (recorded per event) or
 * `addObservation()` (read on each collection); docs/metrics.md documents each, the Grafana dashboard in
 * deploy/dashboards queries them by their Prometheus names (`prometheusName`), and e2e/metrics.e2e-spec.ts proves
 * that every name the dashboard queries arrives.
 */

export type MetricKind = 'counter' | 'histogram' | 'observableCounter' | 'observableGauge';

export interface MetricDefinition {
  readonly name: string;
  readonly kind: MetricKind;
  /** UCUM, as OpenTelemetry wants it: `s`, `By`, or an annotation in braces (`{message}`) for plain counts. */
  readonly unit: string;
  readonly description: string;
  /** Every attribute its data points carry; panels group by these. */
  readonly attributes: readonly string[];
  /** Histograms: bucket boundaries in the metric's unit. */
  readonly buckets?: readonly number[];
}

/** Seconds from 1 ms to 5 min: for waits that range from a cached answer to a browser start on a cold node. */
const SECONDS_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

export const PLATFORM_METRICS = {
  httpServerRequestDuration: {
    name: 'http.server.request.duration',
    kind: 'histogram',
    unit: 's',
    description: 'Duration of HTTP requests the gateway answered, from the first byte read to the last byte sent.',
    attributes: ['http.request.method', 'http.route', 'http.response.status_code'],
    // The semantic conventions' advice for this metric.
    buckets: [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10],
  },
  runtimes: {
    name: 'bctrl.runtimes',
    kind: 'observableGauge',
    unit: '{runtime}',
    description: 'Live runtimes (pending, starting, ready, stopping) by status, as the orchestrator database has them.',
    attributes: ['status'],
  },
  runtimeCreateDuration: {
    name: 'bctrl.runtime.create.duration',
    kind: 'histogram',
    unit: 's',
    description: 'Time from a runtime create request reaching the orchestrator to the runtime being ready.',
    attributes: ['warm'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 60, 120],
  },
  cdpMessages: {
    name: 'bctrl.cdp.messages',
    kind: 'observableCounter',
    unit: '{message}',
    description: 'CDP WebSocket messages through cdp-proxy, by who sent them and the CDP method they carry or answer.',
    attributes: ['direction', 'cdp.method'],
  },
  cdpBytes: {
    name: 'bctrl.cdp.bytes',
    kind: 'observableCounter',
    unit: 'By',
    description: 'Payload bytes of the CDP WebSocket messages through cdp-proxy, by who sent them.',
    attributes: ['direction'],
  },
  webdriverCommands: {
    name: 'bctrl.webdriver.commands',
    kind: 'counter',
    unit: '{command}',
    description: 'W3C WebDriver commands relayed by cdp-proxy, by command (ids replaced) and outcome.',
    attributes: ['webdriver.command', 'outcome'],
  },
  eventsLag: {
    name: 'bctrl.events.lag',
    kind: 'histogram',
    unit: 's',
    description: 'Time from a run event being published on its stream to runs-recorder having stored it.',
    attributes: [],
    buckets: SECONDS_BUCKETS,
  },
  liveViewFrames: {
    name: 'bctrl.live_view.frames',
    kind: 'counter',
    unit: '{frame}',
    description: 'Screencast frames of live views: sent to a viewer, or dropped because the viewer fell behind.',
    attributes: ['outcome'],
  },
  storageBytes: {
    name: 'bctrl.storage.bytes',
    kind: 'counter',
    unit: 'By',
    description:
      'Bytes through the storage data plane: object bodies stored (in) and object and artifact bytes read (out).',
    attributes: ['direction'],
  },
  invocations: {
    name: 'bctrl.invocations',
    kind: 'counter',
    unit: '{invocation}',
    description: 'AI invocations that ended, by their final status (succeeded, failed, cancelled).',
    attributes: ['outcome'],
  },
} as const satisfies Record<string, MetricDefinition>;

export type PlatformMetricKey = keyof typeof PLATFORM_METRICS;

/* Attribute shapes, one per metric: what a caller must pass and what a panel may group by. */

export interface HttpServerAttributes extends Attributes {
  'http.request.method': string;
  /** The matched route template (`/v1/spaces/:spaceId`); absent for a request no route matched. */
  'http.route'?: string;
  'http.response.status_code': number;
}
export interface RuntimeStatusAttributes extends Attributes {
  /** A live status (pending, starting, ready, stopping): ended runtimes are history, not load. */
  status: string;
}
export interface RuntimeCreateAttributes extends Attributes {
  warm: boolean;
}
/** `client` is the tenant's tool, `browser` the runtime's Chromium. */
export type CdpDirection = 'client' | 'browser';
export interface CdpMessageAttributes extends Attributes {
  direction: CdpDirection;
  'cdp.method': string;
}
export interface CdpBytesAttributes extends Attributes {
  direction: CdpDirection;
}
export interface WebDriverCommandAttributes extends Attributes {
  'webdriver.command': string;
  outcome: 'ok' | 'error';
}
export interface LiveViewFrameAttributes extends Attributes {
  outcome: 'sent' | 'dropped';
}
export interface StorageBytesAttributes extends Attributes {
  direction: 'in' | 'out';
}
export interface InvocationAttributes extends Attributes {
  /** The invocation's final status (API.md). */
  outcome: 'succeeded' | 'failed' | 'cancelled';
}

/** The instruments recorded as things happen. */
export interface PlatformInstruments {
  readonly httpServerRequestDuration: Histogram<HttpServerAttributes>;
  readonly runtimeCreateDuration: Histogram<RuntimeCreateAttributes>;
  readonly webdriverCommands: Counter<WebDriverCommandAttributes>;
  readonly eventsLag: Histogram;
  readonly liveViewFrames: Counter<LiveViewFrameAttributes>;
  readonly storageBytes: Counter<StorageBytesAttributes>;
  readonly invocations: Counter<InvocationAttributes>;
}

/** The instruments read on each collection, with the attributes their sources report. */
export interface ObservedAttributes {
  runtimes: RuntimeStatusAttributes;
  cdpMessages: CdpMessageAttributes;
  cdpBytes: CdpBytesAttributes;
}
export type ObservedMetricKey = keyof ObservedAttributes;

/** One value per attribute set. A counter's source reports its running total (cumulative), a gauge's the current value. */
export type Observation<A extends Attributes> = readonly [value: number, attributes: A];
export type ObservationSource<A extends Attributes> = () =>
  | Iterable<Observation<A>>
  | Promise<Iterable<Observation<A>>>;

const sources: { [K in ObservedMetricKey]: Set<ObservationSource<ObservedAttributes[K]>> } = {
  runtimes: new Set(),
  cdpMessages: new Set(),
  cdpBytes: new Set(),
};

/**
 * Adds a source an observable instrument reads when metrics are collected (every export interval), not on the
 * path of the work it counts: the CDP tap keeps counts in plain maps and the orchestrator counts rows only then.
 * Several sources of one metric in a process (two proxies in a test) are summed per attribute set. Works before
 * telemetry starts, and without it (nothing reads the source then). Returns the removal.
 */
export function addObservation<K extends ObservedMetricKey>(
  metric: K,
  source: ObservationSource<ObservedAttributes[K]>,
): () => void {
  const set = sources[metric] as Set<ObservationSource<ObservedAttributes[K]>>;
  set.add(source);
  return () => void set.delete(source);
}

async function observeAll<A extends Attributes>(set: Set<ObservationSource<A>>, result: ObservableResult<A>) {
  const totals = new Map<string, { value: number; attributes: A }>();
  for (const source of set) {
    let observations: Iterable<Observation<A>>;
    try {
      observations = await source();
    } catch {
      // A source that cannot answer now (its database is restarting) is left out of this collection only.
      continue;
    }
    for (const [value, attributes] of observations) {
      const key = attributeKey(attributes);
      const total = totals.get(key);
      if (total) total.value += value;
      else totals.set(key, { value, attributes });
    }
  }
  for (const { value, attributes } of totals.values()) result.observe(value, attributes);
}

function attributeKey(attributes: Attributes): string {
  return JSON.stringify(
    Object.keys(attributes)
      .sort()
      .map((key) => [key, attributes[key]]),
  );
}

let built: { provider: MeterProvider; instruments: PlatformInstruments } | undefined;

/**
 * The platform's instruments on the registered meter provider. Built on first use and again when the provider
 * changes (telemetry started, or stopped and started again by a test); before `startTelemetry` they are no-ops.
 */
export function platformInstruments(): PlatformInstruments {
  const provider = metrics.getMeterProvider();
  if (built?.provider !== provider) built = { provider, instruments: buildInstruments(provider.getMeter('bctrl')) };
  return built.instruments;
}

function buildInstruments(meter: Meter): PlatformInstruments {
  const options = (definition: MetricDefinition) => ({ unit: definition.unit, description: definition.description });
  const histogram = (definition: MetricDefinition) =>
    meter.createHistogram(definition.name, {
      ...options(definition),
      advice: definition.buckets ? { explicitBucketBoundaries: [...definition.buckets] } : undefined,
    });
  const counter = (definition: MetricDefinition) => meter.createCounter(definition.name, options(definition));
  const m = PLATFORM_METRICS;

  meter
    .createObservableGauge<RuntimeStatusAttributes>(m.runtimes.name, options(m.runtimes))
    .addCallback((result) => observeAll(sources.runtimes, result));
  meter
    .createObservableCounter<CdpMessageAttributes>(m.cdpMessages.name, options(m.cdpMessages))
    .addCallback((result) => observeAll(sources.cdpMessages, result));
  meter
    .createObservableCounter<CdpBytesAttributes>(m.cdpBytes.name, options(m.cdpBytes))
    .addCallback((result) => observeAll(sources.cdpBytes, result));

  return {
    httpServerRequestDuration: histogram(m.httpServerRequestDuration),
    runtimeCreateDuration: histogram(m.runtimeCreateDuration),
    webdriverCommands: counter(m.webdriverCommands),
    eventsLag: histogram(m.eventsLag),
    liveViewFrames: counter(m.liveViewFrames),
    storageBytes: counter(m.storageBytes),
    invocations: counter(m.invocations),
  };
}

/**
 * Caps the distinct values an attribute takes in this process: values come from clients (CDP methods, WebDriver
 * paths), and each new one is a new time series in Prometheus. The first `max` values that look right are kept as
 * they are; anything else reads `other`.
 */
export class BoundedLabels {
  static readonly OTHER = 'other';
  private readonly seen = new Set<string>();

  constructor(
    private readonly max: number,
    private readonly shape = /^[\x21-\x7e]{1,128}$/,
  ) {}

  label(value: string): string {
    if (this.seen.has(value)) return value;
    if (this.seen.size >= this.max || !this.shape.test(value)) return BoundedLabels.OTHER;
    this.seen.add(value);
    return value;
  }
}

/* How the collector's Prometheus exporter names what we send (deploy/otel-collector.yaml; the contrib translator's
 * normalisation, on by default): words of the name joined by `_`, the unit's word appended unless the name has it
 * (`s` → seconds, `By` → bytes; annotations like `{message}` add nothing), `_total` for counters; a histogram's series
 * are `<name>_bucket`, `_count` and `_sum`; attribute keys with `.` become labels with `_`. */

const PROMETHEUS_UNITS: Record<string, string> = {
  s: 'seconds',
  ms: 'milliseconds',
  us: 'microseconds',
  ns: 'nanoseconds',
  By: 'bytes',
  KiBy: 'kibibytes',
  MiBy: 'mebibytes',
  '1': '',
  '%': 'percent',
};

/** The metric name Prometheus shows for a metric we define. */
export function prometheusName(definition: Pick<MetricDefinition, 'name' | 'kind' | 'unit'>): string {
  const words = definition.name.split(/[^A-Za-z0-9]+/).filter(Boolean);
  const [mainUnit = ''] = definition.unit.split('/');
  if (mainUnit && !/[{}]/.test(mainUnit)) {
    const unitWord = (PROMETHEUS_UNITS[mainUnit] ?? mainUnit)
      .split(/[^A-Za-z0-9]+/)
      .filter(Boolean)
      .join('_');
    if (unitWord && !words.includes(unitWord)) words.push(unitWord);
  }
  if (definition.kind === 'counter' || definition.kind === 'observableCounter') {
    return [...words.filter((word) => word !== 'total'), 'total'].join('_');
  }
  return words.join('_');
}

/** The series names a PromQL query can use for a metric. */
export function prometheusSeries(definition: Pick<MetricDefinition, 'name' | 'kind' | 'unit'>): string[] {
  const base = prometheusName(definition);
  return definition.kind === 'histogram' ? [`${base}_bucket`, `${base}_count`, `${base}_sum`] : [base];
}

/** The label an attribute becomes. */
export function prometheusLabel(attribute: string): string {
  const label = attribute.replace(/[^A-Za-z0-9_]/g, '_');
  return /^[0-9]/.test(label) ? `key_${label}` : label;
}

/** Which of our metrics a Prometheus series name (`bctrl_cdp_messages_total`, `…_bucket`) belongs to, if any. */
export function metricOfPrometheusSeries(series: string): MetricDefinition | undefined {
  return Object.values(PLATFORM_METRICS).find((definition) => prometheusSeries(definition).includes(series)) as
    | MetricDefinition
    | undefined;
}
