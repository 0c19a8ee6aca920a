import { context, propagation, SpanKind, trace } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { startTelemetry, TelemetryHandle } from './start-telemetry';
import { currentTraceId } from './trace-ids';

describe('startTelemetry', () => {
  let exporter: InMemorySpanExporter;
  let telemetry: TelemetryHandle;

  beforeEach(() => {
    exporter = new InMemorySpanExporter();
    telemetry = startTelemetry({ serviceName: 'spaces', exporter, env: {} });
  });

  afterEach(async () => {
    await telemetry.shutdown();
  });

  it('records spans with the service name on their resource', async () => {
    trace.getTracer('test').startActiveSpan('work', { kind: SpanKind.SERVER }, (span) => span.end());
    await telemetry.forceFlush();
    const [span] = exporter.getFinishedSpans();
    expect(span.name).toBe('work');
    expect(span.resource.attributes['service.name']).toBe('spaces');
    expect(span.spanContext().traceFlags & 1).toBe(1);
  });

  it('returns the first handle when started again in the same process', () => {
    const again = startTelemetry({ serviceName: 'gateway', env: {} });
    expect(again).toBe(telemetry);
    expect(again.serviceName).toBe('spaces');
  });

  it('keeps the active span across await', async () => {
    const tracer = trace.getTracer('test');
    const seen = await tracer.startActiveSpan('parent', async (parent) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      const afterTimer = currentTraceId();
      await Promise.resolve();
      const child = tracer.startSpan('child');
      child.end();
      parent.end();
      return {
        afterTimer,
        parentTraceId: parent.spanContext().traceId,
        parentSpanId: parent.spanContext().spanId,
      };
    });
    expect(seen.afterTimer).toMatch(/^[0-9a-f]{32}$/);
    expect(seen.afterTimer).toBe(seen.parentTraceId);
    const child = exporter.getFinishedSpans().find((span) => span.name === 'child');
    expect(child?.spanContext().traceId).toBe(seen.parentTraceId);
    expect(child?.parentSpanContext?.spanId).toBe(seen.parentSpanId);
    expect(currentTraceId()).toBeUndefined();
  });

  it('propagates trace context in W3C traceparent headers', () => {
    const headers: Record<string, string> = {};
    trace.getTracer('test').startActiveSpan('send', (span) => {
      propagation.inject(context.active(), headers);
      span.end();
    });
    expect(headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    const remote = trace.getSpanContext(propagation.extract(context.active(), headers));
    expect(remote?.traceId).toBe(exporter.getFinishedSpans()[0].spanContext().traceId);
  });
});

describe('startTelemetry without an exporter', () => {
  it('still creates sampled spans with trace ids, and OTEL_SERVICE_NAME overrides the name', async () => {
    const telemetry = startTelemetry({
      serviceName: 'gateway',
      env: { OTEL_SERVICE_NAME: 'edge' },
    });
    try {
      expect(telemetry.serviceName).toBe('edge');
      const traceId = trace.getTracer('test').startActiveSpan('request', (span) => {
        span.end();
        return currentTraceId();
      });
      expect(traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(traceId).not.toBe('0'.repeat(32));
    } finally {
      await telemetry.shutdown();
    }
  });

  it('returns no trace id outside a span', () => {
    expect(currentTraceId()).toBeUndefined();
  });
});
