import type { DescMessage, MessageInitShape, MessageShape } from '@bufbuild/protobuf';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type {
  ConnectionOptions,
  Consumer,
  ConsumerMessages,
  JetStreamManager,
  JsMsg,
  Msg,
  MsgHdrs,
  NatsConnection,
} from 'nats';
import {
  AckPolicy,
  connect,
  DeliverPolicy,
  ErrorCode,
  headers as natsHeaders,
  nanos,
  NatsError,
  StorageType,
} from 'nats';
import type { RpcMethod } from '@bctrl/contracts';
import { RUNS_STREAM, RUNS_SUBJECT_PREFIX } from '@bctrl/contracts';
import { BctrlError } from '@bctrl/core';
import { BatchReader } from './batch-reader';
import type { HeaderCarrier } from './tracing';
import { withBatchSpan, withIncomingSpan, withOutgoingSpan } from './tracing';

function isNatsError(error: unknown): error is NatsError {
  return error instanceof NatsError;
}
import type {
  BatchConsumerOptions,
  BatchHandler,
  BatchItem,
  CallContext,
  Closable,
  DurableConsumerOptions,
  EventHandler,
  EventMeta,
  Handler,
  RequestOptions,
  Transport,
} from './transport';
import {
  batchLimits,
  decodeEvent,
  DEFAULT_ACK_WAIT_MS,
  DEFAULT_TIMEOUT_MS,
  encodeMessage,
  encodePrincipal,
  ERROR_HEADER,
  logError,
  PRINCIPAL_HEADER,
  readReply,
  runHandler,
} from './wire';

const SYSTEM = 'nats';
/** How long a batch consumer's pull request stays open: what close() may wait. nats.js allows no less. */
const PULL_EXPIRES_MS = 1_000;

export interface NatsTransportOptions extends ConnectionOptions {
  /** Shows in the server's connection list (`nats server report connections`): use the service name. */
  name: string;
}

interface StreamSpec {
  name: string;
  subjects: string[];
}

/** The streams this transport creates when first needed; a service publishing elsewhere must create its stream first. */
const STREAMS: StreamSpec[] = [{ name: RUNS_STREAM, subjects: [`${RUNS_SUBJECT_PREFIX}.>`] }];

/**
 * Request/reply over core NATS with one queue group per service, events over JetStream. Wire format:
 * bodies are protobuf binary; `bctrl-principal` carries the caller (see wire.ts); `bctrl-error: 1` marks an
 * error reply whose body is the contracts `Error`; W3C `traceparent`/`tracestate` carry the trace.
 */
export class NatsTransport implements Transport {
  private streamsReady: Promise<JetStreamManager> | undefined;

  private constructor(private readonly nc: NatsConnection) {}

  static async connect(options: NatsTransportOptions): Promise<NatsTransport> {
    try {
      return new NatsTransport(await connect(options));
    } catch (error) {
      throw new BctrlError('unavailable', `Cannot connect to NATS: ${describe(error)}`);
    }
  }

  async request<Req extends DescMessage, Res extends DescMessage>(
    method: RpcMethod<Req, Res>,
    request: MessageInitShape<Req>,
    context: CallContext,
    options: RequestOptions = {},
  ): Promise<MessageShape<Res>> {
    const body = encodeMessage(method.request, request);
    const headers = natsHeaders();
    headers.set(PRINCIPAL_HEADER, encodePrincipal(context.principal));
    return withOutgoingSpan(SYSTEM, method.subject, SpanKind.CLIENT, carrier(headers), async () => {
      const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
      let reply: Msg;
      try {
        reply = await this.nc.request(method.subject, body, {
          timeout: timeoutMs,
          headers,
        });
      } catch (error) {
        if (isNatsError(error) && error.code === ErrorCode.NoResponders) {
          throw new BctrlError('unavailable', `No service answers ${method.subject}.`);
        }
        if (isNatsError(error) && error.code === ErrorCode.Timeout) {
          throw new BctrlError('unavailable', `${method.subject} did not answer within ${timeoutMs} ms.`);
        }
        throw new BctrlError('unavailable', `Calling ${method.subject} failed: ${describe(error)}`);
      }
      return readReply(method, {
        isError: reply.headers?.get(ERROR_HEADER) === '1',
        body: reply.data,
      });
    });
  }

  /**
   * The subscription reaches the server with the connection's next flush; `await ping()` after serving
   * when a caller on another connection must find it at once (tests, readiness).
   */
  serve<Req extends DescMessage, Res extends DescMessage>(
    method: RpcMethod<Req, Res>,
    handler: Handler<Req, Res>,
  ): Closable {
    const subscription = this.nc.subscribe(method.subject, {
      queue: method.service,
      callback: (error, msg) => {
        if (error) {
          logError('subscription failed', method.subject, error);
          return;
        }
        void this.answer(method, handler, msg);
      },
    });
    return {
      close: async () => {
        // Drain lets requests already delivered to this replica finish instead of timing out at the caller.
        if (!subscription.isClosed()) await subscription.drain();
      },
    };
  }

  private async answer<Req extends DescMessage, Res extends DescMessage>(
    method: RpcMethod<Req, Res>,
    handler: Handler<Req, Res>,
    msg: Msg,
  ): Promise<void> {
    const incoming = msg.headers ?? natsHeaders();
    await withIncomingSpan(SYSTEM, method.subject, SpanKind.SERVER, carrier(incoming), async () => {
      const reply = await runHandler(method, handler, msg.data, incoming.get(PRINCIPAL_HEADER) || undefined);
      let replyHeaders: MsgHdrs | undefined;
      if (reply.isError) {
        trace.getActiveSpan()?.setStatus({ code: SpanStatusCode.ERROR });
        replyHeaders = natsHeaders();
        replyHeaders.set(ERROR_HEADER, '1');
      }
      if (!msg.respond(reply.body, { headers: replyHeaders })) {
        logError('request had no reply subject', method.subject, new Error('no reply subject'));
      }
    }).catch((error: unknown) => logError('answering failed', method.subject, error));
  }

  async publish<Payload extends DescMessage>(
    subject: string,
    payload: Payload,
    message: MessageInitShape<Payload>,
    context: CallContext,
  ): Promise<void> {
    const body = encodeMessage(payload, message);
    await this.ensureStreams();
    const headers = natsHeaders();
    headers.set(PRINCIPAL_HEADER, encodePrincipal(context.principal));
    await withOutgoingSpan(SYSTEM, subject, SpanKind.PRODUCER, carrier(headers), async () => {
      try {
        await this.nc.jetstream().publish(subject, body, { headers });
      } catch (error) {
        throw new BctrlError('unavailable', `Publishing to ${subject} failed: ${describe(error)}`);
      }
    });
  }

  async consume<Payload extends DescMessage>(
    options: DurableConsumerOptions<Payload>,
    handler: EventHandler<Payload>,
  ): Promise<Closable> {
    const ackWaitMs = options.ackWaitMs ?? DEFAULT_ACK_WAIT_MS;
    const messages = await (await this.openConsumer(options, ackWaitMs)).consume();
    let closing = false;
    const loop = this.deliver(messages, options, handler, ackWaitMs, () => closing).catch((error: unknown) =>
      logError('consumer stopped', options.filterSubject, error),
    );
    return {
      close: async () => {
        closing = true;
        await messages.close();
        await loop;
        // Acks are fire-and-forget; the flush makes sure the server has them before a successor starts.
        await this.nc.flush();
      },
    };
  }

  /**
   * Pull requests for one batch each, one after the other. Unlike `consume`'s, a request is never abandoned:
   * close() lets the open one end on the server (filled, or expired after PULL_EXPIRES_MS) before handing back
   * what it brought. Abandoning it (unsubscribing its inbox) drops what the server sent before it saw the
   * unsubscribe, and NATS 2.9 goes on handing redeliveries to the dead request, so those events would wait
   * out ackWait instead of going to the successor at once.
   */
  async consumeBatch<Payload extends DescMessage>(
    options: BatchConsumerOptions<Payload>,
    handler: BatchHandler<Payload>,
  ): Promise<Closable> {
    const limits = batchLimits(options);
    const ackWaitMs = options.ackWaitMs ?? DEFAULT_ACK_WAIT_MS;
    const consumer = await this.openConsumer(options, ackWaitMs, options.resumeInOrder === true);
    let closing = false;
    const isClosing = () => closing;
    const batches = new BatchReader(this.pull(consumer, limits.maxBatch, options.filterSubject, isClosing), limits);
    const loop = this.deliverBatches(batches, options, handler, ackWaitMs, isClosing).catch((error: unknown) =>
      logError('consumer stopped', options.filterSubject, error),
    );
    return {
      close: async () => {
        closing = true;
        await loop;
        // Acks are fire-and-forget; the flush makes sure the server has them before a successor starts.
        if (!this.nc.isClosed()) await this.nc.flush();
      },
    };
  }

  private async *pull(
    consumer: Consumer,
    maxBatch: number,
    filterSubject: string,
    isClosing: () => boolean,
  ): AsyncGenerator<JsMsg, void, undefined> {
    while (!isClosing() && !this.nc.isClosed() && !this.nc.isDraining()) {
      try {
        yield* await consumer.fetch({ max_messages: maxBatch, expires: PULL_EXPIRES_MS });
      } catch (error) {
        if (isClosing() || this.nc.isClosed() || this.nc.isDraining()) return;
        // As `consume` does: JetStream may be restarting, or the consumer being recreated.
        logError('pulling events failed; retrying', filterSubject, error);
        await new Promise((resolve) => setTimeout(resolve, PULL_EXPIRES_MS));
      }
    }
  }

  private async openConsumer<Payload extends DescMessage>(
    options: DurableConsumerOptions<Payload>,
    ackWaitMs: number,
    resumeInOrder = false,
  ): Promise<Consumer> {
    const jsm = await this.ensureStreams();
    let stream: string;
    try {
      stream = await jsm.streams.find(options.filterSubject);
    } catch (error) {
      throw new BctrlError('unavailable', `No stream holds ${options.filterSubject}: ${describe(error)}`);
    }
    await this.ensureConsumer(jsm, stream, options.durable, options.filterSubject, ackWaitMs);
    if (resumeInOrder) await this.rewindToAckFloor(jsm, stream, options.durable, options.filterSubject, ackWaitMs);
    return this.nc.jetstream().consumers.get(stream, options.durable);
  }

  /**
   * JetStream redelivers a dead consumer's unacknowledged messages only after ackWait, and meanwhile hands out
   * newer ones: order is lost. Recreating the durable from its ack floor replays from the first unacknowledged
   * message in stream order (ones acknowledged past the floor come again, which an idempotent handler ignores).
   */
  private async rewindToAckFloor(
    jsm: JetStreamManager,
    stream: string,
    durable: string,
    filterSubject: string,
    ackWaitMs: number,
  ): Promise<void> {
    const info = await jsm.consumers.info(stream, durable);
    if (info.num_ack_pending === 0) return;
    await jsm.consumers.delete(stream, durable);
    await jsm.consumers.add(stream, {
      durable_name: durable,
      filter_subject: filterSubject,
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(ackWaitMs),
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: info.ack_floor.stream_seq + 1,
    });
  }

  private async deliver<Payload extends DescMessage>(
    messages: ConsumerMessages,
    options: DurableConsumerOptions<Payload>,
    handler: EventHandler<Payload>,
    ackWaitMs: number,
    isClosing: () => boolean,
  ): Promise<void> {
    for await (const msg of messages) {
      if (isClosing()) {
        // Already pulled but not handled: hand it back now rather than making the successor wait out ackWait.
        msg.nak();
        continue;
      }
      await this.handleEvent(msg, options, handler, ackWaitMs);
    }
  }

  private async handleEvent<Payload extends DescMessage>(
    msg: JsMsg,
    options: DurableConsumerOptions<Payload>,
    handler: EventHandler<Payload>,
    ackWaitMs: number,
  ): Promise<void> {
    const incoming = msg.headers ?? natsHeaders();
    await withIncomingSpan(SYSTEM, msg.subject, SpanKind.CONSUMER, carrier(incoming), async () => {
      let event: Pick<BatchItem<Payload>, 'payload' | 'context'>;
      try {
        event = decodeEvent(options.payload, msg.data, incoming.get(PRINCIPAL_HEADER) || undefined);
      } catch (error) {
        // Redelivering an event nobody can read would loop forever.
        logError('undecodable event dropped', msg.subject, error);
        msg.term();
        return;
      }
      try {
        await handler(event.payload, eventMeta(msg), event.context);
      } catch (error) {
        logError('event handler failed; the event will be redelivered', msg.subject, error);
        // Delayed like an ack timeout, so that a failing event is retried at the same pace on both transports.
        msg.nak(ackWaitMs);
        throw error;
      }
      msg.ack();
    }).catch(() => undefined);
  }

  private async deliverBatches<Payload extends DescMessage>(
    batches: BatchReader<JsMsg>,
    options: BatchConsumerOptions<Payload>,
    handler: BatchHandler<Payload>,
    ackWaitMs: number,
    isClosing: () => boolean,
  ): Promise<void> {
    const handBack: JsMsg[] = [];
    try {
      for (let batch = await batches.next(); batch; batch = await batches.next()) {
        if (isClosing()) handBack.push(...batch);
        else await this.handleBatch(batch, options, handler, ackWaitMs);
      }
    } finally {
      // Pulled but not handled: handed back so that a successor gets them at once rather than after ackWait;
      // only now that no pull request of ours is open, or they would come straight back to it.
      for (const msg of handBack) msg.nak();
    }
  }

  private async handleBatch<Payload extends DescMessage>(
    batch: JsMsg[],
    options: BatchConsumerOptions<Payload>,
    handler: BatchHandler<Payload>,
    ackWaitMs: number,
  ): Promise<void> {
    const items: BatchItem<Payload>[] = [];
    const handed: JsMsg[] = [];
    const carriers: HeaderCarrier[] = [];
    for (const msg of batch) {
      const incoming = msg.headers ?? natsHeaders();
      try {
        const event = decodeEvent(options.payload, msg.data, incoming.get(PRINCIPAL_HEADER) || undefined);
        items.push({ ...event, meta: eventMeta(msg) });
      } catch (error) {
        // Redelivering an event nobody can read would loop forever.
        logError('undecodable event dropped', msg.subject, error);
        msg.term();
        continue;
      }
      handed.push(msg);
      carriers.push(carrier(incoming));
    }
    if (items.length === 0) return;
    await withBatchSpan(SYSTEM, options.filterSubject, carriers, async () => {
      try {
        await handler(items);
      } catch (error) {
        logError(`batch handler failed; its ${items.length} events will be redelivered`, options.filterSubject, error);
        // Delayed like an ack timeout, so that a failing batch is retried at the same pace on both transports.
        for (const msg of handed) msg.nak(ackWaitMs);
        throw error;
      }
      for (const msg of handed) msg.ack();
    }).catch(() => undefined);
  }

  private async ensureConsumer(
    jsm: JetStreamManager,
    stream: string,
    durable: string,
    filterSubject: string,
    ackWaitMs: number,
  ): Promise<void> {
    const existing = await jsm.consumers.info(stream, durable).catch((error: unknown) => {
      if (isNotFound(error)) return undefined;
      throw new BctrlError('unavailable', `Reading consumer ${durable} failed: ${describe(error)}`);
    });
    if (!existing) {
      try {
        await jsm.consumers.add(stream, {
          durable_name: durable,
          filter_subject: filterSubject,
          ack_policy: AckPolicy.Explicit,
          ack_wait: nanos(ackWaitMs),
          deliver_policy: DeliverPolicy.All,
        });
        return;
      } catch (error) {
        // Another replica may have created it in the meantime; only its config then matters.
        const created = await jsm.consumers.info(stream, durable).catch(() => undefined);
        if (!created) throw new BctrlError('unavailable', `Creating consumer ${durable} failed: ${describe(error)}`);
        return this.ensureConsumer(jsm, stream, durable, filterSubject, ackWaitMs);
      }
    }
    if (existing.config.filter_subject !== filterSubject) {
      throw new BctrlError(
        'conflict',
        `Durable ${durable} already filters ${existing.config.filter_subject ?? '(all)'}, not ${filterSubject}.`,
      );
    }
    if (existing.config.ack_wait !== nanos(ackWaitMs)) {
      await jsm.consumers.update(stream, durable, {
        ack_wait: nanos(ackWaitMs),
      });
    }
  }

  /** Once per connection, and only when events are first used, so that a service without events needs no JetStream. */
  private ensureStreams(): Promise<JetStreamManager> {
    this.streamsReady ??= this.createStreams().catch((error: unknown) => {
      this.streamsReady = undefined;
      throw error instanceof BctrlError
        ? error
        : new BctrlError('unavailable', `JetStream is not ready: ${describe(error)}`);
    });
    return this.streamsReady;
  }

  private async createStreams(): Promise<JetStreamManager> {
    const jsm = await this.nc.jetstreamManager();
    for (const spec of STREAMS) {
      const exists = await jsm.streams.info(spec.name).then(
        () => true,
        (error: unknown) => {
          if (isNotFound(error)) return false;
          throw error;
        },
      );
      if (!exists) {
        await jsm.streams
          .add({
            name: spec.name,
            subjects: spec.subjects,
            storage: StorageType.File,
          })
          .catch(async (error: unknown) => {
            // Lost a creation race with another service: fine as long as the stream is there now.
            await jsm.streams.info(spec.name).catch(() => {
              throw error;
            });
          });
      }
    }
    return jsm;
  }

  async ping(): Promise<void> {
    try {
      await this.nc.flush();
    } catch (error) {
      throw new BctrlError('unavailable', `NATS does not answer: ${describe(error)}`);
    }
  }

  async close(): Promise<void> {
    if (!this.nc.isClosed()) await this.nc.drain();
  }
}

function carrier(headers: MsgHdrs): HeaderCarrier {
  return {
    // MsgHdrs answers '' for a missing header; the propagator must see it as absent.
    get: (key) => headers.get(key) || undefined,
    set: (key, value) => headers.set(key, value),
    keys: () => headers.keys(),
  };
}

function eventMeta(msg: JsMsg): EventMeta {
  const info = msg.info;
  return {
    subject: msg.subject,
    streamSeq: info.streamSequence,
    deliveryCount: info.deliveryCount,
    publishedAt: new Date(Math.floor(info.timestampNanos / 1_000_000)),
  };
}

function isNotFound(error: unknown): boolean {
  return isNatsError(error) && (error.code === '404' || error.api_error?.code === 404);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
