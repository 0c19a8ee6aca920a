import { createServer, IncomingMessage, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { gunzipSync, inflateSync } from 'node:zlib';

export interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string | undefined;
  readonly name: string;
  readonly serviceName: string | undefined;
  /** As `SpanKind` in @opentelemetry/api (INTERNAL = 0, SERVER = 1, CLIENT = 2, PRODUCER = 3, CONSUMER = 4). */
  readonly kind: number;
  readonly attributes: Readonly<Record<string, unknown>>;
}

/** One data point of a received metric: a sum or gauge value, or a histogram's count and sum. */
export interface ReceivedDataPoint {
  readonly attributes: Readonly<Record<string, unknown>>;
  /** Sums and gauges. */
  readonly value?: number;
  /** Histograms. */
  readonly count?: number;
  readonly sum?: number;
}

export interface ReceivedMetric {
  readonly name: string;
  readonly unit: string;
  readonly type: 'sum' | 'gauge' | 'histogram' | 'other';
  /** Sums: a counter (true) or an up-down counter. */
  readonly monotonic: boolean;
  readonly serviceName: string | undefined;
  readonly dataPoints: readonly ReceivedDataPoint[];
}

export interface OtlpReceiver {
  /**
   * Base URL to use as `OTEL_EXPORTER_OTLP_ENDPOINT`; spans are accepted at `<url>/v1/traces`, metrics at
   * `<url>/v1/metrics`.
   */
  readonly url: string;
  readonly tracesUrl: string;
  readonly metricsUrl: string;
  spans(): ReceivedSpan[];
  /** Every metric of every export request so far, in arrival order (a periodic exporter repeats each one). */
  metrics(): ReceivedMetric[];
  /** Resolves with the first received span matching `predicate`, including spans that arrived before the call. */
  waitFor(predicate: (span: ReceivedSpan) => boolean, timeoutMs?: number): Promise<ReceivedSpan>;
  stop(): Promise<void>;
}

interface Waiter {
  readonly predicate: (span: ReceivedSpan) => boolean;
  readonly resolve: (span: ReceivedSpan) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * A stand-in OTLP/HTTP collector for end-to-end tests whose services run as separate processes. It accepts the JSON
 * encoding that @opentelemetry/exporter-trace-otlp-http and exporter-metrics-otlp-http send (hex ids, optionally
 * gzip-compressed), and also base64 ids as written by a protobuf-JSON mapping, so tests do not depend on which the
 * exporter version picks.
 */
export async function startOtlpReceiver(options: { port?: number; host?: string } = {}): Promise<OtlpReceiver> {
  const received: ReceivedSpan[] = [];
  const receivedMetrics: ReceivedMetric[] = [];
  let waiters: Waiter[] = [];

  const accept = (spans: ReceivedSpan[]) => {
    received.push(...spans);
    waiters = waiters.filter((waiter) => {
      const match = spans.find(waiter.predicate);
      if (!match) return true;
      clearTimeout(waiter.timer);
      waiter.resolve(match);
      return false;
    });
  };

  const server = createServer((req, res) => {
    handle(req, res, accept, (metrics) => receivedMetrics.push(...metrics)).catch((error: unknown) => {
      if (!res.headersSent)
        reply(res, 400, {
          error: error instanceof Error ? error.message : String(error),
        });
    });
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${host}:${port}`;

  return {
    url,
    tracesUrl: `${url}/v1/traces`,
    metricsUrl: `${url}/v1/metrics`,
    spans: () => [...received],
    metrics: () => [...receivedMetrics],
    waitFor: (predicate, timeoutMs = 5_000) => {
      const existing = received.find(predicate);
      if (existing) return Promise.resolve(existing);
      return new Promise<ReceivedSpan>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters = waiters.filter((waiter) => waiter.timer !== timer);
          const seen = received.map((span) => `${span.serviceName}:${span.name}`).join(', ') || 'none';
          reject(new Error(`no matching span within ${timeoutMs} ms; received: ${seen}`));
        }, timeoutMs);
        waiters.push({ predicate, resolve, reject, timer });
      });
    },
    stop: async () => {
      for (const waiter of waiters) {
        clearTimeout(waiter.timer);
        waiter.reject(new Error('OTLP receiver stopped'));
      }
      waiters = [];
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  accept: (spans: ReceivedSpan[]) => void,
  acceptMetrics: (metrics: ReceivedMetric[]) => void,
): Promise<void> {
  const path = (req.url ?? '').split('?')[0];
  if (req.method !== 'POST' || (path !== '/v1/traces' && path !== '/v1/metrics')) {
    return reply(res, 404, { error: 'only POST /v1/traces and /v1/metrics' });
  }
  const contentType = (req.headers['content-type'] ?? '').toLowerCase();
  if (!contentType.includes('json')) return reply(res, 415, { error: 'only OTLP/HTTP JSON is supported' });

  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  let body = Buffer.concat(chunks);
  const encoding = (req.headers['content-encoding'] ?? '').toLowerCase();
  if (encoding === 'gzip') body = gunzipSync(body);
  else if (encoding === 'deflate') body = inflateSync(body);

  const payload = JSON.parse(body.toString('utf8')) as unknown;
  if (path === '/v1/metrics') acceptMetrics(parseMetricsExportRequest(payload));
  else accept(parseExportRequest(payload));
  // An empty Export{Trace,Metrics}ServiceResponse: everything accepted, no partial success to report.
  reply(res, 200, {});
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

interface OtlpKeyValue {
  key: string;
  value?: OtlpAnyValue;
}
interface OtlpAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: number | string;
  doubleValue?: number;
  arrayValue?: { values?: OtlpAnyValue[] };
  kvlistValue?: { values?: OtlpKeyValue[] };
  bytesValue?: string;
}
interface OtlpSpan {
  traceId?: string;
  spanId?: string;
  parentSpanId?: string;
  name?: string;
  kind?: number;
  attributes?: OtlpKeyValue[];
}
interface OtlpExportRequest {
  resourceSpans?: Array<{
    resource?: { attributes?: OtlpKeyValue[] };
    scopeSpans?: Array<{ spans?: OtlpSpan[] }>;
  }>;
}

export function parseExportRequest(payload: unknown): ReceivedSpan[] {
  const request = payload as OtlpExportRequest;
  const spans: ReceivedSpan[] = [];
  for (const resourceSpans of request.resourceSpans ?? []) {
    const resource = attributesToObject(resourceSpans.resource?.attributes);
    const serviceName = typeof resource['service.name'] === 'string' ? resource['service.name'] : undefined;
    for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
      for (const span of scopeSpans.spans ?? []) {
        spans.push({
          traceId: idToHex(span.traceId) ?? '',
          spanId: idToHex(span.spanId) ?? '',
          parentSpanId: idToHex(span.parentSpanId),
          name: span.name ?? '',
          serviceName,
          // OTLP numbers kinds from SPAN_KIND_UNSPECIFIED = 0; the API from INTERNAL = 0.
          kind: Math.max(0, (span.kind ?? 1) - 1),
          attributes: attributesToObject(span.attributes),
        });
      }
    }
  }
  return spans;
}

interface OtlpNumberDataPoint {
  attributes?: OtlpKeyValue[];
  asInt?: number | string;
  asDouble?: number;
}
interface OtlpHistogramDataPoint {
  attributes?: OtlpKeyValue[];
  count?: number | string;
  sum?: number;
}
interface OtlpMetric {
  name?: string;
  unit?: string;
  sum?: { dataPoints?: OtlpNumberDataPoint[]; isMonotonic?: boolean | null };
  gauge?: { dataPoints?: OtlpNumberDataPoint[] };
  histogram?: { dataPoints?: OtlpHistogramDataPoint[] };
}
interface OtlpMetricsExportRequest {
  resourceMetrics?: Array<{
    resource?: { attributes?: OtlpKeyValue[] };
    scopeMetrics?: Array<{ metrics?: OtlpMetric[] }>;
  }>;
}

export function parseMetricsExportRequest(payload: unknown): ReceivedMetric[] {
  const request = payload as OtlpMetricsExportRequest;
  const out: ReceivedMetric[] = [];
  for (const resourceMetrics of request.resourceMetrics ?? []) {
    const resource = attributesToObject(resourceMetrics.resource?.attributes);
    const serviceName = typeof resource['service.name'] === 'string' ? resource['service.name'] : undefined;
    for (const scopeMetrics of resourceMetrics.scopeMetrics ?? []) {
      for (const metric of scopeMetrics.metrics ?? []) {
        const common = { name: metric.name ?? '', unit: metric.unit ?? '', serviceName };
        if (metric.histogram) {
          out.push({
            ...common,
            type: 'histogram',
            monotonic: false,
            dataPoints: (metric.histogram.dataPoints ?? []).map((point) => ({
              attributes: attributesToObject(point.attributes),
              count: Number(point.count ?? 0),
              sum: point.sum ?? 0,
            })),
          });
        } else if (metric.sum || metric.gauge) {
          out.push({
            ...common,
            type: metric.sum ? 'sum' : 'gauge',
            monotonic: metric.sum?.isMonotonic === true,
            dataPoints: ((metric.sum ?? metric.gauge)?.dataPoints ?? []).map((point) => ({
              attributes: attributesToObject(point.attributes),
              value: point.asDouble ?? Number(point.asInt ?? 0),
            })),
          });
        } else {
          out.push({ ...common, type: 'other', monotonic: false, dataPoints: [] });
        }
      }
    }
  }
  return out;
}

/** OTLP/JSON says hex, protobuf's JSON mapping says base64; a 16- or 32-digit hex string is taken as hex. */
function idToHex(id: string | undefined): string | undefined {
  if (!id) return undefined;
  if (/^[0-9a-f]+$/i.test(id) && (id.length === 16 || id.length === 32)) return id.toLowerCase();
  const hex = Buffer.from(id, 'base64').toString('hex');
  return /^0+$/.test(hex) ? undefined : hex;
}

function attributesToObject(attributes: OtlpKeyValue[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const { key, value } of attributes ?? []) out[key] = anyValue(value);
  return out;
}

function anyValue(value: OtlpAnyValue | undefined): unknown {
  if (!value) return undefined;
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  if (value.arrayValue) return (value.arrayValue.values ?? []).map(anyValue);
  if (value.kvlistValue) return attributesToObject(value.kvlistValue.values);
  if (value.bytesValue !== undefined) return value.bytesValue;
  return undefined;
}
