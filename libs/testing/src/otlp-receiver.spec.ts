import { execFile, spawn } from 'node:child_process';
import { request } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { SpanKind, trace } from '@opentelemetry/api';
import { ExportResult, ExportResultCode } from '@opentelemetry/core';
import { JsonTraceSerializer } from '@opentelemetry/otlp-transformer';
import { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { startTelemetry } from '@bctrl/telemetry';
import { OtlpReceiver, startOtlpReceiver } from './otlp-receiver';
import { waitFor } from './wait';

function post(url: string, body: Buffer, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const execFileAsync = promisify(execFile);

/** Posts what OTLPTraceExporter would post: the same serializer, content type and path. */
class JsonPostingExporter implements SpanExporter {
  constructor(private readonly url: string) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    const body = Buffer.from(JsonTraceSerializer.serializeRequest(spans) ?? new Uint8Array());
    post(this.url, body, { 'content-type': 'application/json' }).then(
      (status) =>
        done({
          code: status === 200 ? ExportResultCode.SUCCESS : ExportResultCode.FAILED,
        }),
      (error: Error) => done({ code: ExportResultCode.FAILED, error }),
    );
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

describe('startOtlpReceiver', () => {
  let receiver: OtlpReceiver;

  beforeEach(async () => {
    receiver = await startOtlpReceiver();
  });

  afterEach(async () => {
    await receiver.stop();
  });

  // The stock OTLPTraceExporter loads `http` with a dynamic import(), which Jest's CommonJS sandbox refuses
  // (open-telemetry/opentelemetry-js#6035). In-process, the same serializer it uses feeds the receiver; the
  // next test runs the real exporter in a child process, the way end-to-end tests run services.
  it('receives spans serialized as the OTLP/HTTP JSON exporter does, with service name, parent and kind', async () => {
    const telemetry = startTelemetry({
      serviceName: 'gateway',
      exporter: new JsonPostingExporter(receiver.tracesUrl),
      env: {},
    });
    try {
      const tracer = trace.getTracer('spec');
      const parent = tracer.startActiveSpan('POST /v1/spaces', { kind: SpanKind.SERVER }, (span) => {
        tracer.startActiveSpan(
          'spaces.v1.create',
          {
            kind: SpanKind.CLIENT,
            attributes: { 'messaging.system': 'nats' },
          },
          (child) => child.end(),
        );
        span.end();
        return span.spanContext();
      });
      await telemetry.forceFlush();

      const child = await receiver.waitFor((span) => span.name === 'spaces.v1.create');
      expect(child).toEqual({
        traceId: parent.traceId,
        spanId: expect.stringMatching(/^[0-9a-f]{16}$/),
        parentSpanId: parent.spanId,
        name: 'spaces.v1.create',
        serviceName: 'gateway',
        kind: SpanKind.CLIENT,
        attributes: { 'messaging.system': 'nats' },
      });
      const root = await receiver.waitFor((span) => span.name === 'POST /v1/spaces');
      expect(root).toMatchObject({
        spanId: parent.spanId,
        parentSpanId: undefined,
        kind: SpanKind.SERVER,
        serviceName: 'gateway',
      });
    } finally {
      await telemetry.shutdown();
    }
  });

  it('receives spans from the real OTLP exporter of a separate process started with OTEL_EXPORTER_OTLP_ENDPOINT', async () => {
    const script = `
      const { trace } = require('@opentelemetry/api');
      const { startTelemetry } = require(${JSON.stringify(join(__dirname, '../../telemetry/src/index.ts'))});
      const telemetry = startTelemetry({ serviceName: 'runs-recorder' });
      const traceId = trace.getTracer('child').startActiveSpan('runs.v1.append', (span) => {
        span.end();
        return span.spanContext().traceId;
      });
      telemetry.shutdown().then(() => process.stdout.write(traceId));
    `;
    const { stdout } = await execFileAsync(process.execPath, ['-r', '@swc-node/register', '-e', script], {
      cwd: join(__dirname, '../../..'),
      env: {
        ...process.env,
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_SERVICE_NAME: '',
      },
      timeout: 30_000,
    });
    expect(stdout).toMatch(/^[0-9a-f]{32}$/);
    await expect(receiver.waitFor((span) => span.traceId === stdout, 2_000)).resolves.toMatchObject({
      name: 'runs.v1.append',
      serviceName: 'runs-recorder',
      kind: SpanKind.INTERNAL,
    });
  }, 40_000);

  it('accepts gzip bodies and base64-encoded ids', async () => {
    const payload = {
      resourceSpans: [
        {
          resource: {
            attributes: [{ key: 'service.name', value: { stringValue: 'cdp-proxy' } }],
          },
          scopeSpans: [
            {
              spans: [
                {
                  traceId: Buffer.from('0af7651916cd43dd8448eb211c80319c', 'hex').toString('base64'),
                  spanId: Buffer.from('b7ad6b7169203331', 'hex').toString('base64'),
                  parentSpanId: '',
                  name: 'cdp.frame',
                  kind: 5,
                },
              ],
            },
          ],
        },
      ],
    };
    const status = await post(receiver.tracesUrl, gzipSync(JSON.stringify(payload)), {
      'content-type': 'application/json',
      'content-encoding': 'gzip',
    });
    expect(status).toBe(200);
    expect(receiver.spans()).toEqual([
      {
        traceId: '0af7651916cd43dd8448eb211c80319c',
        spanId: 'b7ad6b7169203331',
        parentSpanId: undefined,
        name: 'cdp.frame',
        serviceName: 'cdp-proxy',
        kind: SpanKind.CONSUMER,
        attributes: {},
      },
    ]);
  });

  it('rejects protobuf bodies and other paths', async () => {
    expect(
      await post(receiver.tracesUrl, Buffer.from([0x0a]), {
        'content-type': 'application/x-protobuf',
      }),
    ).toBe(415);
    expect(
      await post(`${receiver.url}/v1/logs`, Buffer.from('{}'), {
        'content-type': 'application/json',
      }),
    ).toBe(404);
  });

  it('receives metrics from the real OTLP exporter of a separate process, every OTEL_METRIC_EXPORT_INTERVAL', async () => {
    // The child never flushes: what arrives was sent by the periodic reader, on the interval the env asked for.
    const script = `
      const { startTelemetry, platformInstruments, addObservation } = require(${JSON.stringify(join(__dirname, '../../telemetry/src/index.ts'))});
      startTelemetry({ serviceName: 'cdp-proxy' });
      platformInstruments().httpServerRequestDuration.record(0.2, {
        'http.request.method': 'GET', 'http.route': '/v1/spaces', 'http.response.status_code': 200,
      });
      addObservation('cdpMessages', () => [[7, { direction: 'client', 'cdp.method': 'Page.navigate' }]]);
      setTimeout(() => process.exit(0), 20_000);
    `;
    const child = spawn(process.execPath, ['-r', '@swc-node/register', '-e', script], {
      cwd: join(__dirname, '../../..'),
      env: {
        ...process.env,
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_METRIC_EXPORT_INTERVAL: '200',
        OTEL_SERVICE_NAME: '',
      },
      stdio: 'ignore',
    });
    try {
      const exports = await waitFor(
        'two metric exports',
        () => {
          const seen = receiver.metrics().filter((metric) => metric.name === 'bctrl.cdp.messages');
          return seen.length >= 2 ? seen : undefined;
        },
        20_000,
      );
      expect(exports[0]).toEqual({
        name: 'bctrl.cdp.messages',
        unit: '{message}',
        type: 'sum',
        monotonic: true,
        serviceName: 'cdp-proxy',
        dataPoints: [{ attributes: { direction: 'client', 'cdp.method': 'Page.navigate' }, value: 7 }],
      });
      expect(receiver.metrics().find((metric) => metric.name === 'http.server.request.duration')).toEqual({
        name: 'http.server.request.duration',
        unit: 's',
        type: 'histogram',
        monotonic: false,
        serviceName: 'cdp-proxy',
        dataPoints: [
          {
            attributes: { 'http.request.method': 'GET', 'http.route': '/v1/spaces', 'http.response.status_code': 200 },
            count: 1,
            sum: 0.2,
          },
        ],
      });
    } finally {
      child.kill('SIGKILL');
    }
  }, 40_000);

  it('fails waitFor with the spans it did receive when none matches in time', async () => {
    await expect(receiver.waitFor((span) => span.name === 'never', 50)).rejects.toThrow(
      /no matching span within 50 ms; received: none/,
    );
  });
});
