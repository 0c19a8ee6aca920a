import type { Context, Link, Span, TextMapGetter, TextMapSetter } from '@opentelemetry/api';
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { BctrlError } from '@bctrl/core';

/** Only the API here: the process that boots the service decides whether and where spans are exported. */
const TRACER_NAME = '@bctrl/transport';

export interface HeaderCarrier {
  get(key: string): string | undefined;
  set(key: string, value: string): void;
  keys(): string[];
}

const setter: TextMapSetter<HeaderCarrier> = {
  set: (carrier, key, value) => carrier.set(key, value),
};
const getter: TextMapGetter<HeaderCarrier> = {
  get: (carrier, key) => carrier.get(key),
  keys: (carrier) => carrier.keys(),
};

export type MessagingOperation = 'request' | 'process' | 'publish';

/**
 * Runs the sending side (CLIENT or PRODUCER) in a span of its own and injects that span's context into
 * the outgoing headers, so that the receiver's span becomes its child.
 */
export async function withOutgoingSpan<T>(
  system: string,
  subject: string,
  kind: SpanKind.CLIENT | SpanKind.PRODUCER,
  carrier: HeaderCarrier,
  work: () => T | Promise<T>,
): Promise<T> {
  const span = trace.getTracer(TRACER_NAME).startSpan(subject, {
    kind,
    attributes: {
      'messaging.system': system,
      'messaging.destination.name': subject,
    },
  });
  const spanContext = trace.setSpan(context.active(), span);
  propagation.inject(spanContext, carrier, setter);
  return context.with(spanContext, () => endAfter(span, work));
}

/**
 * Runs the receiving side (SERVER or CONSUMER) in a span whose parent comes only from the headers: the
 * receiving callback's own ambient context belongs to whoever happened to be running, not to the sender.
 */
export async function withIncomingSpan<T>(
  system: string,
  subject: string,
  kind: SpanKind.SERVER | SpanKind.CONSUMER,
  carrier: HeaderCarrier,
  work: () => Promise<T>,
): Promise<T> {
  const parent: Context = propagation.extract(ROOT_CONTEXT, carrier, getter);
  const span = trace.getTracer(TRACER_NAME).startSpan(
    subject,
    {
      kind,
      attributes: {
        'messaging.system': system,
        'messaging.destination.name': subject,
      },
    },
    parent,
  );
  return context.with(trace.setSpan(parent, span), () => endAfter(span, work));
}

/**
 * Runs the handling of a batch in one CONSUMER span. Its events come from many publishers, so the span has
 * no parent: it links to each event's sending span instead, as OpenTelemetry's messaging conventions do for
 * batches. Work inside it runs under the batch span, whatever trace each event came from.
 */
export async function withBatchSpan<T>(
  system: string,
  filterSubject: string,
  carriers: HeaderCarrier[],
  work: () => Promise<T>,
): Promise<T> {
  const links: Link[] = [];
  for (const carrier of carriers) {
    const sender = trace.getSpanContext(propagation.extract(ROOT_CONTEXT, carrier, getter));
    if (sender) links.push({ context: sender });
  }
  const span = trace.getTracer(TRACER_NAME).startSpan(
    filterSubject,
    {
      kind: SpanKind.CONSUMER,
      links,
      attributes: {
        'messaging.system': system,
        'messaging.destination.name': filterSubject,
        'messaging.batch.message_count': carriers.length,
      },
    },
    ROOT_CONTEXT,
  );
  return context.with(trace.setSpan(ROOT_CONTEXT, span), () => endAfter(span, work));
}

async function endAfter<T>(span: Span, work: () => T | Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    markFailed(span, error);
    throw error;
  } finally {
    span.end();
  }
}

export function markFailed(span: Span, error: unknown): void {
  if (error instanceof BctrlError) {
    span.setAttribute('bctrl.error.code', error.code);
  }
  span.setStatus({
    code: SpanStatusCode.ERROR,
    message: error instanceof BctrlError ? error.code : 'error',
  });
}

/** A plain-object carrier for the in-process transport, which has no header type of its own. */
export class RecordCarrier implements HeaderCarrier {
  readonly values: Record<string, string> = {};

  get(key: string): string | undefined {
    return this.values[key];
  }

  set(key: string, value: string): void {
    this.values[key] = value;
  }

  keys(): string[] {
    return Object.keys(this.values);
  }
}
