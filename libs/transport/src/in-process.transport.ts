import type { DescMessage, MessageInitShape, MessageShape } from '@bufbuild/protobuf';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { RpcMethod } from '@bctrl/contracts';
import { BctrlError } from '@bctrl/core';
import { subjectMatches } from './subject-match';
import { RecordCarrier, withBatchSpan, withIncomingSpan, withOutgoingSpan } from './tracing';
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
import type { BatchLimits, WireReply } from './wire';
import {
  batchLimits,
  decodeEvent,
  DEFAULT_ACK_WAIT_MS,
  DEFAULT_TIMEOUT_MS,
  encodeMessage,
  encodePrincipal,
  logError,
  PRINCIPAL_HEADER,
  readReply,
  runHandler,
} from './wire';

const SYSTEM = 'in-process';

type RawHandler = (body: Uint8Array, headers: RecordCarrier) => Promise<WireReply>;

interface StoredEvent {
  seq: number;
  subject: string;
  body: Uint8Array;
  headers: Record<string, string>;
  publishedAt: Date;
}

interface Delivery {
  event: StoredEvent;
  deliveryCount: number;
}

/** One consumer of a durable. `consume` is one whose batches hold a single event. */
interface Subscriber {
  limits: BatchLimits;
  /** Resolving acknowledges the batch's events; rejecting makes them due again after ackWait. */
  deliver(batch: Delivery[]): Promise<void>;
}

const SINGLE_EVENTS: BatchLimits = { maxBatch: 1, maxWaitMs: 0 };

/**
 * A durable consumer's position outlives the consumers reading from it, as a JetStream durable does:
 * whoever opens the same durable name next continues after what was acknowledged.
 */
class Durable {
  filterSubject: string;
  ackWaitMs: number;
  /** Index into the log of the first event this durable has never delivered. */
  nextIndex = 0;
  readonly acked = new Set<number>();
  readonly deliveries = new Map<number, number>();
  /** Taken from the log, not acknowledged: stream seq → when it becomes due again (never, while being handled). */
  readonly redeliverAt = new Map<number, number>();
  readonly subscribers: Subscriber[] = [];
  private turn = 0;
  private running = false;
  private wake: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> = Promise.resolve();

  constructor(
    readonly name: string,
    private readonly log: StoredEvent[],
    filterSubject: string,
    ackWaitMs: number,
  ) {
    this.filterSubject = filterSubject;
    this.ackWaitMs = ackWaitMs;
  }

  attach(subscriber: Subscriber): void {
    this.subscribers.push(subscriber);
    if (!this.running) {
      this.running = true;
      void this.pump();
    }
    this.poke();
  }

  /**
   * Resolves once the batch that may be filling or being handled for this subscriber is settled, so its acks
   * are recorded before close returns.
   */
  async detach(subscriber: Subscriber): Promise<void> {
    const index = this.subscribers.indexOf(subscriber);
    if (index >= 0) this.subscribers.splice(index, 1);
    this.poke();
    await this.inFlight;
  }

  /** Settles an event for good without handing it over: what `term` does on JetStream. */
  drop(seq: number): void {
    this.acked.add(seq);
    this.redeliverAt.delete(seq);
    this.deliveries.delete(seq);
  }

  poke(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private async pump(): Promise<void> {
    while (this.subscribers.length > 0) {
      const first = this.nextDue();
      if (!first) {
        await this.idle();
        continue;
      }
      const subscriber = this.subscribers[this.turn++ % this.subscribers.length];
      const handling = this.handOver(subscriber, first);
      this.inFlight = handling;
      await handling;
    }
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
  }

  private async handOver(subscriber: Subscriber, first: StoredEvent): Promise<void> {
    const { maxBatch, maxWaitMs } = subscriber.limits;
    const batch = [this.hold(first)];
    const deadline = Date.now() + maxWaitMs;
    while (batch.length < maxBatch && this.subscribers.includes(subscriber)) {
      const event = this.nextDue();
      if (event) {
        batch.push(this.hold(event));
        continue;
      }
      const left = deadline - Date.now();
      if (left <= 0) break;
      await this.idle(left);
    }
    if (!this.subscribers.includes(subscriber)) {
      // Closed while the batch was filling: nothing was handed over, so the events are due again at once.
      for (const event of batch) this.redeliverAt.set(event.seq, 0);
      return;
    }
    const deliveries = batch.map((event) => {
      const deliveryCount = (this.deliveries.get(event.seq) ?? 0) + 1;
      this.deliveries.set(event.seq, deliveryCount);
      return { event, deliveryCount };
    });
    await subscriber.deliver(deliveries).then(
      () => {
        for (const event of batch) this.drop(event.seq);
      },
      () => {
        const at = Date.now() + this.ackWaitMs;
        for (const event of batch) {
          if (!this.acked.has(event.seq)) this.redeliverAt.set(event.seq, at);
        }
      },
    );
  }

  /** Until its batch settles an event counts as outstanding, as it does on JetStream. */
  private hold(event: StoredEvent): StoredEvent {
    this.redeliverAt.set(event.seq, Number.POSITIVE_INFINITY);
    return event;
  }

  /** Redeliveries first, oldest first, then new events in stream order. */
  private nextDue(): StoredEvent | undefined {
    const now = Date.now();
    let due: number | undefined;
    for (const [seq, at] of this.redeliverAt) {
      if (at <= now && (due === undefined || seq < due)) due = seq;
    }
    if (due !== undefined) return this.log[due - 1];
    while (this.nextIndex < this.log.length) {
      const event = this.log[this.nextIndex++];
      if (!this.acked.has(event.seq) && subjectMatches(this.filterSubject, event.subject)) return event;
    }
    return undefined;
  }

  /** Until poked, or until the first redelivery is due, or `maxMs` at most. */
  private idle(maxMs = Number.POSITIVE_INFINITY): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      let wait = maxMs;
      const now = Date.now();
      for (const at of this.redeliverAt.values()) wait = Math.min(wait, at - now);
      if (Number.isFinite(wait)) {
        if (this.timer) clearTimeout(this.timer);
        this.timer = setTimeout(() => this.poke(), Math.max(0, wait));
        // A pending redelivery must not keep a finished process alive.
        this.timer.unref();
      }
    });
  }
}

/**
 * Local mode's transport: every service in one process, with the semantics of NatsTransport. Payloads and
 * principals are encoded to bytes and back exactly as on the wire, so a service tested here behaves the
 * same against NATS. The event log lives in memory for the life of the process. Share one instance across
 * all the services of a process: two instances do not see each other.
 */
export class InProcessTransport implements Transport {
  private readonly handlers = new Map<string, RawHandler[]>();
  private readonly turns = new Map<string, number>();
  private readonly log: StoredEvent[] = [];
  private readonly durables = new Map<string, Durable>();
  private closed = false;

  async request<Req extends DescMessage, Res extends DescMessage>(
    method: RpcMethod<Req, Res>,
    request: MessageInitShape<Req>,
    context: CallContext,
    options: RequestOptions = {},
  ): Promise<MessageShape<Res>> {
    this.assertOpen();
    const body = encodeMessage(method.request, request);
    const headers = new RecordCarrier();
    headers.set(PRINCIPAL_HEADER, encodePrincipal(context.principal));
    return withOutgoingSpan(SYSTEM, method.subject, SpanKind.CLIENT, headers, async () => {
      const handler = this.pick(method.subject);
      if (!handler) throw new BctrlError('unavailable', `No service answers ${method.subject}.`);
      const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new BctrlError('unavailable', `${method.subject} did not answer within ${timeoutMs} ms.`)),
          timeoutMs,
        );
      });
      try {
        // A copy of the headers: the receiver must not be able to touch the sender's.
        const reply = await Promise.race([handler(body.slice(), copyCarrier(headers)), timeout]);
        return readReply(method, reply);
      } finally {
        clearTimeout(timer);
      }
    });
  }

  serve<Req extends DescMessage, Res extends DescMessage>(
    method: RpcMethod<Req, Res>,
    handler: Handler<Req, Res>,
  ): Closable {
    this.assertOpen();
    const raw: RawHandler = (body, headers) =>
      withIncomingSpan(SYSTEM, method.subject, SpanKind.SERVER, headers, async () => {
        // Decoupled from the caller's stack, as a network hop would be.
        await Promise.resolve();
        const reply = await runHandler(method, handler, body, headers.get(PRINCIPAL_HEADER));
        if (reply.isError) trace.getActiveSpan()?.setStatus({ code: SpanStatusCode.ERROR });
        return reply;
      });
    const list = this.handlers.get(method.subject) ?? [];
    list.push(raw);
    this.handlers.set(method.subject, list);
    return {
      close: () => {
        const current = this.handlers.get(method.subject) ?? [];
        const index = current.indexOf(raw);
        if (index >= 0) current.splice(index, 1);
        return Promise.resolve();
      },
    };
  }

  async publish<Payload extends DescMessage>(
    subject: string,
    payload: Payload,
    message: MessageInitShape<Payload>,
    context: CallContext,
  ): Promise<void> {
    this.assertOpen();
    const body = encodeMessage(payload, message);
    const headers = new RecordCarrier();
    headers.set(PRINCIPAL_HEADER, encodePrincipal(context.principal));
    await withOutgoingSpan(SYSTEM, subject, SpanKind.PRODUCER, headers, () => {
      this.log.push({
        seq: this.log.length + 1,
        subject,
        body,
        headers: { ...headers.values },
        publishedAt: new Date(),
      });
      for (const durable of this.durables.values()) durable.poke();
    });
  }

  consume<Payload extends DescMessage>(
    options: DurableConsumerOptions<Payload>,
    handler: EventHandler<Payload>,
  ): Promise<Closable> {
    return settle(() => {
      this.assertOpen();
      const durable = this.openDurable(options);
      const subscriber: Subscriber = {
        limits: SINGLE_EVENTS,
        deliver: async ([{ event, deliveryCount }]) => {
          const carrier = recordCarrier(event.headers);
          await withIncomingSpan(SYSTEM, event.subject, SpanKind.CONSUMER, carrier, async () => {
            let decoded: Pick<BatchItem<Payload>, 'payload' | 'context'>;
            try {
              decoded = decodeEvent(options.payload, event.body, carrier.get(PRINCIPAL_HEADER));
            } catch (error) {
              // Redelivering an event nobody can read would loop forever; it is logged and dropped, as `term` does on NATS.
              logError('undecodable event dropped', event.subject, error);
              durable.drop(event.seq);
              return;
            }
            try {
              await handler(decoded.payload, eventMeta(event, deliveryCount), decoded.context);
            } catch (error) {
              logError('event handler failed; the event will be redelivered', event.subject, error);
              throw error;
            }
          });
        },
      };
      durable.attach(subscriber);
      return { close: () => durable.detach(subscriber) };
    });
  }

  consumeBatch<Payload extends DescMessage>(
    options: BatchConsumerOptions<Payload>,
    handler: BatchHandler<Payload>,
  ): Promise<Closable> {
    return settle(() => {
      this.assertOpen();
      const limits = batchLimits(options);
      const durable = this.openDurable(options);
      const subscriber: Subscriber = {
        limits,
        deliver: async (deliveries) => {
          const items: BatchItem<Payload>[] = [];
          const carriers: RecordCarrier[] = [];
          for (const { event, deliveryCount } of deliveries) {
            const carrier = recordCarrier(event.headers);
            try {
              const decoded = decodeEvent(options.payload, event.body, carrier.get(PRINCIPAL_HEADER));
              items.push({ ...decoded, meta: eventMeta(event, deliveryCount) });
            } catch (error) {
              // Redelivering an event nobody can read would loop forever; it is logged and dropped, as `term` does on NATS.
              logError('undecodable event dropped', event.subject, error);
              durable.drop(event.seq);
              continue;
            }
            carriers.push(carrier);
          }
          if (items.length === 0) return;
          await withBatchSpan(SYSTEM, options.filterSubject, carriers, async () => {
            try {
              await handler(items);
            } catch (error) {
              logError(
                `batch handler failed; its ${items.length} events will be redelivered`,
                options.filterSubject,
                error,
              );
              throw error;
            }
          });
        },
      };
      durable.attach(subscriber);
      return { close: () => durable.detach(subscriber) };
    });
  }

  private openDurable<Payload extends DescMessage>(options: DurableConsumerOptions<Payload>): Durable {
    const ackWaitMs = options.ackWaitMs ?? DEFAULT_ACK_WAIT_MS;
    const existing = this.durables.get(options.durable);
    if (!existing) {
      const durable = new Durable(options.durable, this.log, options.filterSubject, ackWaitMs);
      this.durables.set(options.durable, durable);
      return durable;
    }
    if (existing.filterSubject !== options.filterSubject) {
      // JetStream refuses to change a durable's filter silently; so do we, or the positions would mean nothing.
      throw new BctrlError(
        'conflict',
        `Durable ${options.durable} already filters ${existing.filterSubject}, not ${options.filterSubject}.`,
      );
    }
    existing.ackWaitMs = ackWaitMs;
    return existing;
  }

  ping(): Promise<void> {
    return settle(() => this.assertOpen());
  }

  async close(): Promise<void> {
    this.closed = true;
    this.handlers.clear();
    await Promise.all(
      [...this.durables.values()].flatMap((durable) =>
        [...durable.subscribers].map((subscriber) => durable.detach(subscriber)),
      ),
    );
  }

  private pick(subject: string): RawHandler | undefined {
    const list = this.handlers.get(subject);
    if (!list || list.length === 0) return undefined;
    const turn = this.turns.get(subject) ?? 0;
    this.turns.set(subject, turn + 1);
    return list[turn % list.length];
  }

  private assertOpen(): void {
    if (this.closed) throw new BctrlError('unavailable', 'The transport is closed.');
  }
}

/**
 * Runs synchronous work the way an async function would: its value resolved, its throw (a closed transport, a
 * conflicting durable, bad batch limits) as a rejection, so that callers see failures as NATS gives them.
 */
function settle<T>(work: () => T): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (error) {
    return Promise.reject(error);
  }
}

function recordCarrier(headers: Record<string, string>): RecordCarrier {
  const carrier = new RecordCarrier();
  Object.assign(carrier.values, headers);
  return carrier;
}

function eventMeta(event: StoredEvent, deliveryCount: number): EventMeta {
  return {
    subject: event.subject,
    streamSeq: event.seq,
    deliveryCount,
    publishedAt: event.publishedAt,
  };
}

function copyCarrier(carrier: RecordCarrier): RecordCarrier {
  const copy = new RecordCarrier();
  Object.assign(copy.values, carrier.values);
  return copy;
}
