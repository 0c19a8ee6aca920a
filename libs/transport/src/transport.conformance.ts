import { context, propagation, SpanKind, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { defineMethod, ErrorSchema, HealthResponseSchema, PageRequestSchema } from '@bctrl/contracts';
import type { KeyPrincipal, Principal } from '@bctrl/core';
import { BctrlError } from '@bctrl/core';
import type { BatchItem, CallContext, Closable, EventMeta, Transport } from './transport';

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

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function describeTransportConformance(
  name: string,
  open: () => TransportHarness | Promise<TransportHarness>,
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
        server.serve(method, (request) => ({
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
        server.serve(method, (_request, ctx) => {
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
        server.serve(method, () => {
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
          server.serve(method, () => {
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
        const handler = jest.fn(() => ({}));
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
        const serving = server.serve(method, () => ({}));
        await server.ping();
        await client.request(method, {}, OPERATOR);

        await serving.close();
        await server.ping();

        await expect(client.request(method, {}, OPERATOR)).rejects.toMatchObject({ code: 'unavailable' });
      });

      it('shares the load between two handlers of one service', async () => {
        const method = echoMethod();
        const served = { a: 0, b: 0 };
        server.serve(method, () => {
          served.a += 1;
          return { service: 'a' };
        });
        server.serve(method, () => {
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
        server.serve(method, () => {
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
          (payload, meta, ctx) => {
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
          (payload) => {
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
          (payload) => {
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
          (payload) => {
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
          (_payload, meta) => {
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
          () => {
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

    describe('consumeBatch', () => {
      type Item = BatchItem<typeof PageRequestSchema>;

      function runEvents() {
        return { subject: `runs.${unique('run')}.events`, durable: unique('durable') };
      }

      async function publishLimits(subject: string, limits: number[], ctx: CallContext = OPERATOR): Promise<void> {
        for (const limit of limits) await client.publish(subject, PageRequestSchema, { limit }, ctx);
      }

      function range(from: number, to: number): number[] {
        return Array.from({ length: to - from }, (_, i) => from + i);
      }

      function limitsOf(batches: Item[][]): number[] {
        return batches.flat().map((item) => item.payload.limit);
      }

      /** Keeps expected error logs out of the test output; `stop` returns what was written. */
      function captureStderr(): { stop: () => string } {
        const spy = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
        return {
          stop: () => {
            const written = spy.mock.calls.map(([line]) => String(line)).join('');
            spy.mockRestore();
            return written;
          },
        };
      }

      it('hands a backlog over in stream order, in batches of at most maxBatch, with metadata and principal', async () => {
        const run = runEvents();
        const before = Date.now();
        await publishLimits(run.subject, range(0, 10), { principal: KEY_PRINCIPAL });
        await publishLimits(run.subject, range(10, 30));

        const batches: Item[][] = [];
        const consumer = await server.consumeBatch(
          { durable: run.durable, filterSubject: run.subject, payload: PageRequestSchema, maxBatch: 7, maxWaitMs: 300 },
          (items) => {
            batches.push(items);
          },
        );
        await eventually(() => batches.flat().length >= 30);
        await consumer.close();

        expect(batches.map((batch) => batch.length)).toEqual([7, 7, 7, 7, 2]);
        expect(limitsOf(batches)).toEqual(range(0, 30));
        const items = batches.flat();
        for (let i = 1; i < items.length; i++) {
          expect(items[i].meta.streamSeq).toBeGreaterThan(items[i - 1].meta.streamSeq);
        }
        expect(items.every((item) => item.meta.deliveryCount === 1 && item.meta.subject === run.subject)).toBe(true);
        expect(items[0].meta.publishedAt.getTime()).toBeGreaterThanOrEqual(before - 1_000);
        expect(items[0].context.principal).toEqual(KEY_PRINCIPAL);
        expect(items[29].context.principal).toEqual({ kind: 'operator' });
      });

      it('hands a lone event over within maxWaitMs, without waiting for a full batch', async () => {
        const run = runEvents();
        const handedAt: number[] = [];
        const batches: Item[][] = [];
        const consumer = await server.consumeBatch(
          { durable: run.durable, filterSubject: run.subject, payload: PageRequestSchema, maxWaitMs: 50 },
          (items) => {
            handedAt.push(Date.now());
            batches.push(items);
          },
        );
        await server.ping();
        await sleep(100);

        const publishedAt = Date.now();
        await publishLimits(run.subject, [1]);
        await eventually(() => batches.length === 1);
        await consumer.close();

        expect(limitsOf(batches)).toEqual([1]);
        expect(handedAt[0] - publishedAt).toBeLessThan(50 + 300);
      });

      it('hands every event of a batch whose handler threw over again after ackWait, then not again', async () => {
        const run = runEvents();
        await publishLimits(run.subject, [1, 2, 3]);
        const stderr = captureStderr();
        let logged = '';

        const calls: { at: number; items: Item[] }[] = [];
        const consumer = await server.consumeBatch(
          {
            durable: run.durable,
            filterSubject: run.subject,
            payload: PageRequestSchema,
            ackWaitMs: 500,
            maxWaitMs: 100,
          },
          (items) => {
            calls.push({ at: Date.now(), items });
            if (calls.length === 1) throw new Error('database unavailable');
          },
        );
        try {
          await eventually(() => calls.flatMap((call) => call.items).length >= 6);
          // Room for a wrong redelivery of the acknowledged batch: longer than ackWait.
          await sleep(800);
        } finally {
          await consumer.close();
          logged = stderr.stop();
        }

        const [failed, ...retried] = calls;
        expect(failed.items.map((item) => item.payload.limit)).toEqual([1, 2, 3]);
        expect(failed.items.map((item) => item.meta.deliveryCount)).toEqual([1, 1, 1]);
        const again = retried.flatMap((call) => call.items);
        expect(again.map((item) => item.meta.streamSeq)).toEqual(failed.items.map((item) => item.meta.streamSeq));
        expect(again.map((item) => item.meta.deliveryCount)).toEqual([2, 2, 2]);
        expect(retried[0].at - failed.at).toBeGreaterThanOrEqual(400);
        expect(logged).toContain('database unavailable');
      });

      it('waits on close for the batch being handled, and a reopened durable gets every other event once', async () => {
        const run = runEvents();
        await publishLimits(run.subject, range(0, 20));

        let release: () => void = () => undefined;
        const gate = new Promise<void>((resolve) => {
          release = resolve;
        });
        let secondBatchStarted: () => void = () => undefined;
        const inSecondBatch = new Promise<void>((resolve) => {
          secondBatchStarted = resolve;
        });
        const firstRound: Item[][] = [];
        const first = await server.consumeBatch(
          { durable: run.durable, filterSubject: run.subject, payload: PageRequestSchema, maxBatch: 5, maxWaitMs: 100 },
          async (items) => {
            firstRound.push(items);
            if (firstRound.length === 2) {
              secondBatchStarted();
              await gate;
            }
          },
        );
        // Closed at once, while what the consumer pulled for its next batch may still be on its way.
        await inSecondBatch;
        let closed = false;
        const closing = first.close().then(() => {
          closed = true;
        });
        // Published while closing: whatever of it reaches the closing consumer must be handed back too.
        await Promise.all(
          range(20, 40).map((limit) => client.publish(run.subject, PageRequestSchema, { limit }, OPERATOR)),
        );
        await sleep(200);
        const closedBeforeRelease = closed;
        const batchesBeforeRelease = firstRound.length;
        release();
        await closing;

        // Published after the close: a closed consumer must not have taken it.
        await publishLimits(run.subject, [40]);
        const secondRound: Item[][] = [];
        const second = await server.consumeBatch(
          { durable: run.durable, filterSubject: run.subject, payload: PageRequestSchema },
          (items) => {
            secondRound.push(items);
          },
        );
        // Far below the default ackWait of 30 s: what the closed consumer held was handed back, not left to time out.
        await eventually(() => secondRound.flat().length >= 31, 5_000);
        await sleep(300);
        await second.close();

        expect(closedBeforeRelease).toBe(false);
        expect(batchesBeforeRelease).toBe(2);
        expect(limitsOf(firstRound)).toEqual(range(0, 10));
        expect(limitsOf(secondRound).sort((a, b) => a - b)).toEqual(range(10, 41));
      });

      it('waits up to maxWaitMs after a first event for more to join its batch', async () => {
        const run = runEvents();
        const batches: Item[][] = [];
        const consumer = await server.consumeBatch(
          { durable: run.durable, filterSubject: run.subject, payload: PageRequestSchema, maxWaitMs: 500 },
          (items) => {
            batches.push(items);
          },
        );
        await server.ping();
        await sleep(100);

        await publishLimits(run.subject, [1]);
        await sleep(100);
        await publishLimits(run.subject, [2]);
        await eventually(() => batches.flat().length >= 2);
        await consumer.close();

        expect(batches.map((batch) => batch.map((item) => item.payload.limit))).toEqual([[1, 2]]);
      });

      it('hands a batch still filling at close back at once, to the next consumer of the durable', async () => {
        const run = runEvents();
        const options = {
          durable: run.durable,
          filterSubject: run.subject,
          payload: PageRequestSchema,
          maxWaitMs: 5_000,
        };
        const firstRound: Item[][] = [];
        const first = await server.consumeBatch(options, (items) => {
          firstRound.push(items);
        });
        await publishLimits(run.subject, [1]);
        // The event is taken and the batch waits for more.
        await sleep(300);
        const closeStarted = Date.now();
        await first.close();
        const closeTook = Date.now() - closeStarted;

        const secondRound: Item[][] = [];
        const second = await server.consumeBatch({ ...options, maxWaitMs: 10 }, (items) => {
          secondRound.push(items);
        });
        await eventually(() => secondRound.length === 1, 3_000);
        await second.close();

        expect(firstRound).toEqual([]);
        // Not the 5 s the batch would have waited (NATS may wait out its open pull request, about 1 s).
        expect(closeTook).toBeLessThan(2_500);
        expect(limitsOf(secondRound)).toEqual([1]);
      });

      it('drops an event it cannot decode, never handing it over, even when its batch fails', async () => {
        const run = runEvents();
        await publishLimits(run.subject, [1]);
        await client.publish(run.subject, ErrorSchema, { code: 'x', message: 'not a page request' }, OPERATOR);
        await publishLimits(run.subject, [2]);
        const stderr = captureStderr();
        let logged = '';

        const batches: Item[][] = [];
        const consumer = await server.consumeBatch(
          {
            durable: run.durable,
            filterSubject: run.subject,
            payload: PageRequestSchema,
            ackWaitMs: 500,
            maxWaitMs: 100,
          },
          (items) => {
            batches.push(items);
            if (batches.length === 1) throw new Error('database unavailable');
          },
        );
        try {
          await eventually(() => batches.flat().length >= 4);
          await sleep(800);
        } finally {
          await consumer.close();
          logged = stderr.stop();
        }

        expect(limitsOf(batches)).toEqual([1, 2, 1, 2]);
        // Once: an event left unacknowledged would come back after ackWait and be logged again.
        expect(logged.split('undecodable event dropped')).toHaveLength(2);
      });

      it('hands 5,000 events published quickly over in batches, one batch at a time, each exactly once', async () => {
        const run = runEvents();
        const batches: Item[][] = [];
        let active = 0;
        let mostActive = 0;
        const consumer = await server.consumeBatch(
          { durable: run.durable, filterSubject: run.subject, payload: PageRequestSchema },
          async (items) => {
            active += 1;
            mostActive = Math.max(mostActive, active);
            batches.push(items);
            // Stands for the bulk insert; long enough for a second batch to be handed over if one could be.
            await sleep(2);
            active -= 1;
          },
        );

        const total = 5_000;
        for (let start = 0; start < total; start += 250) {
          await Promise.all(
            range(start, start + 250).map((limit) =>
              client.publish(run.subject, PageRequestSchema, { limit }, OPERATOR),
            ),
          );
        }
        await eventually(() => batches.flat().length >= total, 20_000);
        await sleep(200);
        await consumer.close();

        const limits = limitsOf(batches);
        expect(limits).toHaveLength(total);
        expect(new Set(limits).size).toBe(total);
        expect(batches.every((batch) => batch.length <= 500)).toBe(true);
        expect(batches.filter((batch) => batch.length > 1).length).toBeGreaterThan(batches.length / 2);
        for (const batch of batches) {
          for (let i = 1; i < batch.length; i++) {
            expect(batch[i].meta.streamSeq).toBeGreaterThan(batch[i - 1].meta.streamSeq);
          }
        }
        expect(mostActive).toBe(1);
      }, 30_000);

      it('shares the events of one durable between two consumers', async () => {
        const run = runEvents();
        const seen = { a: [] as number[], b: [] as number[] };
        const options = {
          durable: run.durable,
          filterSubject: run.subject,
          payload: PageRequestSchema,
          maxBatch: 10,
          maxWaitMs: 5,
        };
        const consumers: Closable[] = [
          await server.consumeBatch(options, async (items) => {
            seen.a.push(...items.map((item) => item.payload.limit));
            await sleep(5);
          }),
          await server.consumeBatch(options, async (items) => {
            seen.b.push(...items.map((item) => item.payload.limit));
            await sleep(5);
          }),
        ];
        await server.ping();
        await sleep(100);

        await Promise.all(
          range(0, 200).map((limit) => client.publish(run.subject, PageRequestSchema, { limit }, OPERATOR)),
        );
        await eventually(() => seen.a.length + seen.b.length >= 200);
        await sleep(200);
        await Promise.all(consumers.map((consumer) => consumer.close()));

        expect([...seen.a, ...seen.b].sort((x, y) => x - y)).toEqual(range(0, 200));
        expect(seen.a.length).toBeGreaterThan(0);
        expect(seen.b.length).toBeGreaterThan(0);
      });

      it('handles a batch in one consumer span linked to the span of each event published into it', async () => {
        const run = runEvents();
        const tracer = trace.getTracer('test');
        const publisherSpanIds: string[] = [];
        for (const limit of [1, 2]) {
          await tracer.startActiveSpan('publisher', async (span) => {
            await publishLimits(run.subject, [limit]);
            span.end();
          });
        }
        for (const span of exporter.getFinishedSpans()) {
          if (span.name === run.subject && span.kind === SpanKind.PRODUCER)
            publisherSpanIds.push(span.spanContext().spanId);
        }

        let handlerSpanId: string | undefined;
        const consumer = await server.consumeBatch(
          { durable: run.durable, filterSubject: run.subject, payload: PageRequestSchema, maxWaitMs: 200 },
          () => {
            handlerSpanId = trace.getActiveSpan()?.spanContext().spanId;
          },
        );
        await eventually(() => handlerSpanId !== undefined);
        await consumer.close();

        const batchSpans = exporter
          .getFinishedSpans()
          .filter((span) => span.name === run.subject && span.kind === SpanKind.CONSUMER);
        expect(batchSpans).toHaveLength(1);
        expect(batchSpans[0].spanContext().spanId).toBe(handlerSpanId);
        expect(publisherSpanIds).toHaveLength(2);
        expect(batchSpans[0].links.map((link) => link.context.spanId)).toEqual(publisherSpanIds);
      });

      it('refuses batch limits that could never hand anything over', async () => {
        const run = runEvents();
        const options = { durable: run.durable, filterSubject: run.subject, payload: PageRequestSchema };

        await expect(server.consumeBatch({ ...options, maxBatch: 0 }, () => undefined)).rejects.toMatchObject({
          code: 'validation_failed',
        });
        await expect(server.consumeBatch({ ...options, maxWaitMs: -1 }, () => undefined)).rejects.toMatchObject({
          code: 'validation_failed',
        });
      });
    });
  });
}
