import { context, propagation, SpanKind, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { defineMethod, ErrorSchema, HealthResponseSchema, PageRequestSchema } from '@bctrl/contracts';
import { BctrlError } from '@bctrl/core';
import type { KeyPrincipal, Principal } from '@bctrl/core';
import type { CallContext, EventMeta, Transport } from './transport';

/**
 * What a caller may rely on whichever transport it is given. Both implementations run this same suite;
 * a behaviour that only one of them has is a bug in the other.
 */
export interface TransportHarness {
  /** The side that serves and consumes; for NATS a connection of its own, so calls really cross the server. */
  server: Transport;
  client: Transport;
}

const KEY_PRINCIPAL: KeyPrincipal = {
  kind: 'key',
  accountId: 'acc_1',
  subaccountId: 'sub_1',
  spaceIds: ['spc_1', 'spc_2'],
  role: 'member',
  keyId: 'key_1',
};
const OPERATOR: CallContext = { principal: { kind: 'operator' } };

let counter = 0;
/** Unique per test and per run, so that tests sharing one NATS server (and its RUNS stream) never meet. */
function unique(prefix: string): string {
  counter += 1;
  return `${prefix}${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}${counter}`;
}

function echoMethod() {
  const service = unique('svc');
  return defineMethod(service, `${service}.v1.echo`, PageRequestSchema, HealthResponseSchema);
}

function eventually(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (check()) return resolve();
      if (Date.now() > deadline) return reject(new Error('condition not met in time'));
      setTimeout(tick, 10);
    };
    tick();
  });
}

export function describeTransportConformance(
  name: string,
  open: () => Promise<TransportHarness>,
  close: (harness: TransportHarness) => Promise<void>,
): void {
  describe(`${name} transport conformance`, () => {
    const exporter = new InMemorySpanExporter();
    const contextManager = new AsyncLocalStorageContextManager();
    let harness: TransportHarness;
    let server: Transport;
    let client: Transport;

    beforeAll(() => {
      trace.setGlobalTracerProvider(
        new BasicTracerProvider({
          spanProcessors: [new SimpleSpanProcessor(exporter)],
        }),
      );
      context.setGlobalContextManager(contextManager.enable());
      propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    });

    afterAll(() => {
      trace.disable();
      context.disable();
      propagation.disable();
    });

    beforeEach(async () => {
      harness = await open();
      ({ server, client } = harness);
      exporter.reset();
    });

    afterEach(async () => {
      await close(harness);
    });

    describe('request/reply', () => {
      it('carries the request to the handler and the response back', async () => {
        const method = echoMethod();
        server.serve(method, async (request) => ({
          service: `${request.cursor}:${request.limit}`,
          ready: true,
        }));
        await server.ping();

        const response = await client.request(method, { limit: 7, cursor: 'abc' }, OPERATOR);

        expect(response.service).toBe('abc:7');
        expect(response.ready).toBe(true);
      });

      it('delivers the caller principal intact', async () => {
        const method = echoMethod();
        const seen: Principal[] = [];
        server.serve(method, async (_request, ctx) => {
          seen.push(ctx.principal);
          return {};
        });
        await server.ping();

        await client.request(method, {}, { principal: KEY_PRINCIPAL });
        await client.request(
          method,
          {},
          {
            principal: { ...KEY_PRINCIPAL, subaccountId: null, spaceIds: null },
          },
        );
        await client.request(method, {}, OPERATOR);

        expect(seen).toEqual([
          KEY_PRINCIPAL,
          { ...KEY_PRINCIPAL, subaccountId: null, spaceIds: null },
          { kind: 'operator' },
        ]);
      });

      it('rethrows a BctrlError from the handler as an equal BctrlError with its details', async () => {
        const method = echoMethod();
        server.serve(method, async () => {
          throw new BctrlError('conflict', 'Already exists.', [
            { field: 'metadata.owner', issue: 'taken' },
            { issue: 'plain' },
          ]);
        });
        await server.ping();

        const error = await client.request(method, {}, OPERATOR).catch((e: unknown) => e);

        expect(error).toBeInstanceOf(BctrlError);
        expect(error).toMatchObject({
          code: 'conflict',
          message: 'Already exists.',
        });
        expect((error as BctrlError).details).toEqual([
          { field: 'metadata.owner', issue: 'taken' },
          { issue: 'plain' },
        ]);
      });

      it('turns any other error into internal without leaking its message', async () => {
        const method = echoMethod();
        const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
        try {
          server.serve(method, async () => {
            throw new Error('password=hunter2 at /srv/secret.ts');
          });
          await server.ping();

          const error = await client.request(method, {}, OPERATOR).catch((e: unknown) => e);

          expect(error).toBeInstanceOf(BctrlError);
          expect((error as BctrlError).code).toBe('internal');
          expect(
            JSON.stringify({
              message: (error as BctrlError).message,
              details: (error as BctrlError).details,
            }),
          ).not.toContain('hunter2');
          expect(stderr.mock.calls.map(([line]) => String(line)).join('')).toContain('hunter2');
        } finally {
          stderr.mockRestore();
        }
      });

      it('answers validation_failed to a payload the handler cannot decode', async () => {
        const method = echoMethod();
        const wrong = defineMethod(method.service, method.subject, ErrorSchema, HealthResponseSchema);
        const handler = jest.fn(async () => ({}));
        server.serve(method, handler);
        await server.ping();

        const error = await client.request(wrong, { code: 'x', message: 'y' }, OPERATOR).catch((e: unknown) => e);

        expect(error).toMatchObject({ code: 'validation_failed' });
        expect(handler).not.toHaveBeenCalled();
      });

      it('fails with unavailable when nobody serves the method', async () => {
        const error = await client.request(echoMethod(), {}, OPERATOR).catch((e: unknown) => e);

        expect(error).toBeInstanceOf(BctrlError);
        expect((error as BctrlError).code).toBe('unavailable');
      });

      it('fails with unavailable when the handler does not answer in time', async () => {
        const method = echoMethod();
        server.serve(method, () => new Promise((resolve) => setTimeout(() => resolve({}), 1_000)));
        await server.ping();

        const started = Date.now();
        const error = await client.request(method, {}, OPERATOR, { timeoutMs: 100 }).catch((e: unknown) => e);

        expect((error as BctrlError).code).toBe('unavailable');
        expect(Date.now() - started).toBeLessThan(900);
      });

      it('stops answering once the handler is closed', async () => {
        const method = echoMethod();
        const serving = server.serve(method, async () => ({}));
        await server.ping();
        await client.request(method, {}, OPERATOR);

        await serving.close();
        await server.ping();

        await expect(client.request(method, {}, OPERATOR)).rejects.toMatchObject({ code: 'unavailable' });
      });

      it('shares the load between two handlers of one service', async () => {
        const method = echoMethod();
        const served = { a: 0, b: 0 };
        server.serve(method, async () => {
          served.a += 1;
          return { service: 'a' };
        });
        server.serve(method, async () => {
          served.b += 1;
          return { service: 'b' };
        });
        await server.ping();

        for (let i = 0; i < 40; i++) await client.request(method, {}, OPERATOR);

        expect(served.a + served.b).toBe(40);
        expect(served.a).toBeGreaterThan(0);
        expect(served.b).toBeGreaterThan(0);
      });

      it('continues the caller trace in the handler', async () => {
        const method = echoMethod();
        let handlerTraceId: string | undefined;
        server.serve(method, async () => {
          handlerTraceId = trace.getActiveSpan()?.spanContext().traceId;
          return {};
        });
        await server.ping();

        const tracer = trace.getTracer('test');
        const callerTraceId = await tracer.startActiveSpan('caller', async (span) => {
          await client.request(method, {}, OPERATOR);
          span.end();
          return span.spanContext().traceId;
        });

        const spans = exporter.getFinishedSpans().filter((span) => span.name === method.subject);
        const clientSpan = spans.find((span) => span.kind === SpanKind.CLIENT);
        const serverSpan = spans.find((span) => span.kind === SpanKind.SERVER);
        expect(clientSpan?.spanContext().traceId).toBe(callerTraceId);
        expect(serverSpan?.spanContext().traceId).toBe(callerTraceId);
        expect(serverSpan?.parentSpanContext?.spanId).toBe(clientSpan?.spanContext().spanId);
        expect(handlerTraceId).toBe(callerTraceId);
      });
    });

    describe('durable events', () => {
      function runStream() {
        const runId = unique('run');
        return {
          filter: `runs.${runId}.>`,
          subject: (kind: string) => `runs.${runId}.${kind}`,
          durable: unique('durable'),
        };
      }

      it('delivers published events to a durable consumer in order, with their metadata and principal', async () => {
        const run = runStream();
        const before = Date.now();
        await client.publish(run.subject('a'), PageRequestSchema, { cursor: 'first' }, { principal: KEY_PRINCIPAL });
        await client.publish(run.subject('b'), PageRequestSchema, { cursor: 'second' }, OPERATOR);

        const seen: {
          cursor: string;
          meta: EventMeta;
          principal: Principal;
        }[] = [];
        const consumer = await server.consume(
          {
            durable: run.durable,
            filterSubject: run.filter,
            payload: PageRequestSchema,
          },
          async (payload, meta, ctx) => {
            seen.push({
              cursor: payload.cursor,
              meta,
              principal: ctx.principal,
            });
          },
        );
        await eventually(() => seen.length === 2);
        await consumer.close();

        expect(seen.map((event) => event.cursor)).toEqual(['first', 'second']);
        expect(seen.map((event) => event.meta.subject)).toEqual([run.subject('a'), run.subject('b')]);
        expect(seen[1].meta.streamSeq).toBeGreaterThan(seen[0].meta.streamSeq);
        expect(seen[0].meta.deliveryCount).toBe(1);
        expect(seen[0].meta.publishedAt.getTime()).toBeGreaterThanOrEqual(before - 1_000);
        expect(seen[0].principal).toEqual(KEY_PRINCIPAL);
        expect(seen[1].principal).toEqual({ kind: 'operator' });
      });

      it('delivers events published while the consumer is running', async () => {
        const run = runStream();
        const seen: string[] = [];
        const consumer = await server.consume(
          {
            durable: run.durable,
            filterSubject: run.filter,
            payload: PageRequestSchema,
          },
          async (payload) => {
            seen.push(payload.cursor);
          },
        );

        await client.publish(run.subject('x'), PageRequestSchema, { cursor: 'live' }, OPERATOR);
        await eventually(() => seen.length === 1);
        await consumer.close();

        expect(seen).toEqual(['live']);
      });

      it('resumes after the last acknowledged event when a durable is reopened', async () => {
        const run = runStream();
        await client.publish(run.subject('e'), PageRequestSchema, { limit: 1 }, OPERATOR);
        await client.publish(run.subject('e'), PageRequestSchema, { limit: 2 }, OPERATOR);

        const firstRound: number[] = [];
        const first = await server.consume(
          {
            durable: run.durable,
            filterSubject: run.filter,
            payload: PageRequestSchema,
          },
          async (payload) => {
            firstRound.push(payload.limit);
          },
        );
        await eventually(() => firstRound.length === 2);
        await first.close();

        await client.publish(run.subject('e'), PageRequestSchema, { limit: 3 }, OPERATOR);

        const secondRound: number[] = [];
        const second = await server.consume(
          {
            durable: run.durable,
            filterSubject: run.filter,
            payload: PageRequestSchema,
          },
          async (payload) => {
            secondRound.push(payload.limit);
          },
        );
        await eventually(() => secondRound.length >= 1);
        // Room for a wrongly redelivered old event to show up before we look.
        await new Promise((resolve) => setTimeout(resolve, 300));
        await second.close();

        expect(firstRound).toEqual([1, 2]);
        expect(secondRound).toEqual([3]);
      });

      it('redelivers an event whose handler threw, counting the deliveries', async () => {
        const run = runStream();
        await client.publish(run.subject('e'), PageRequestSchema, { cursor: 'flaky' }, OPERATOR);
        const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);

        const deliveries: number[] = [];
        const consumer = await server.consume(
          {
            durable: run.durable,
            filterSubject: run.filter,
            payload: PageRequestSchema,
            ackWaitMs: 200,
          },
          async (_payload, meta) => {
            deliveries.push(meta.deliveryCount);
            if (deliveries.length < 3) throw new Error('not yet');
          },
        );
        try {
          await eventually(() => deliveries.length === 3);
          await new Promise((resolve) => setTimeout(resolve, 400));
        } finally {
          await consumer.close();
          stderr.mockRestore();
        }

        expect(deliveries).toEqual([1, 2, 3]);
      });

      it('traces a published event into its consumer', async () => {
        const run = runStream();
        const tracer = trace.getTracer('test');
        const publisherTraceId = await tracer.startActiveSpan('publisher', async (span) => {
          await client.publish(run.subject('t'), PageRequestSchema, {}, OPERATOR);
          span.end();
          return span.spanContext().traceId;
        });

        let consumerTraceId: string | undefined;
        const consumer = await server.consume(
          {
            durable: run.durable,
            filterSubject: run.filter,
            payload: PageRequestSchema,
          },
          async () => {
            consumerTraceId = trace.getActiveSpan()?.spanContext().traceId;
          },
        );
        await eventually(() => consumerTraceId !== undefined);
        await consumer.close();

        expect(consumerTraceId).toBe(publisherTraceId);
        const kinds = exporter
          .getFinishedSpans()
          .filter((span) => span.name === run.subject('t'))
          .map((span) => span.kind);
        expect(kinds).toEqual(expect.arrayContaining([SpanKind.PRODUCER, SpanKind.CONSUMER]));
      });
    });
  });
}
