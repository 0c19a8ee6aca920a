import {
  AckPolicy,
  connect,
  DeliverPolicy,
  ErrorCode,
  headers as natsHeaders,
  NatsError,
  nanos,
  StorageType,
} from 'nats';
import type { ConnectionOptions, ConsumerMessages, JetStreamManager, JsMsg, Msg, MsgHdrs, NatsConnection } from 'nats';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { DescMessage, MessageInitShape, MessageShape } from '@bufbuild/protobuf';
import { RUNS_STREAM, RUNS_SUBJECT_PREFIX } from '@bctrl/contracts';
import type { RpcMethod } from '@bctrl/contracts';
import { BctrlError } from '@bctrl/core';
import { withIncomingSpan, withOutgoingSpan } from './tracing';
import type { HeaderCarrier } from './tracing';

function isNatsError(error: unknown): error is NatsError {
  return error instanceof NatsError;
}
import type {
  CallContext,
  Closable,
  DurableConsumerOptions,
  EventHandler,
  Handler,
  RequestOptions,
  Transport,
} from './transport';
import {
  DEFAULT_ACK_WAIT_MS,
  DEFAULT_TIMEOUT_MS,
  decodeMessage,
  decodePrincipal,
  encodeMessage,
  encodePrincipal,
  ERROR_HEADER,
  logError,
  PRINCIPAL_HEADER,
  readReply,
  runHandler,
} from './wire';

const SYSTEM = 'nats';

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
    const jsm = await this.ensureStreams();
    const ackWaitMs = options.ackWaitMs ?? DEFAULT_ACK_WAIT_MS;
    let stream: string;
    try {
      stream = await jsm.streams.find(options.filterSubject);
    } catch (error) {
      throw new BctrlError('unavailable', `No stream holds ${options.filterSubject}: ${describe(error)}`);
    }
    await this.ensureConsumer(jsm, stream, options.durable, options.filterSubject, ackWaitMs);
    const messages = await (await this.nc.jetstream().consumers.get(stream, options.durable)).consume();
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
      let payload: MessageShape<Payload>;
      let context: CallContext;
      try {
        payload = decodeMessage(options.payload, msg.data);
        context = {
          principal: decodePrincipal(incoming.get(PRINCIPAL_HEADER) || undefined),
        };
      } catch (error) {
        // Redelivering an event nobody can read would loop forever.
        logError('undecodable event dropped', msg.subject, error);
        msg.term();
        return;
      }
      try {
        await handler(
          payload,
          {
            subject: msg.subject,
            streamSeq: msg.info.streamSequence,
            deliveryCount: msg.info.deliveryCount,
            publishedAt: new Date(Math.floor(msg.info.timestampNanos / 1_000_000)),
          },
          context,
        );
      } catch (error) {
        logError('event handler failed; the event will be redelivered', msg.subject, error);
        // Delayed like an ack timeout, so that a failing event is retried at the same pace on both transports.
        msg.nak(ackWaitMs);
        throw error;
      }
      msg.ack();
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

function isNotFound(error: unknown): boolean {
  return isNatsError(error) && (error.code === '404' || error.api_error?.code === 404);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
