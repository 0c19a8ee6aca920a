import { isSpanContextValid, trace } from '@opentelemetry/api';

/** The active span's trace id (32 hex digits), or undefined outside any span or when tracing is not started. */
export function currentTraceId(): string | undefined {
  return currentSpanIds()?.traceId;
}

export function currentSpanIds(): { traceId: string; spanId: string } | undefined {
  const spanContext = trace.getActiveSpan()?.spanContext();
  if (!spanContext || !isSpanContextValid(spanContext)) return undefined;
  return { traceId: spanContext.traceId, spanId: spanContext.spanId };
}
