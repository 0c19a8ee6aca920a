import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { DescMessage, MessageInitShape, MessageShape } from '@bufbuild/protobuf';
import type { RpcMethod } from '@bctrl/contracts';
import { BctrlError } from '@bctrl/core';
import { subjectMatches } from './subject-match';
import { RecordCarrier, withIncomingSpan, withOutgoingSpan } from './tracing';
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
  logError,
  PRINCIPAL_HEADER,
  readReply,
  runHandler,
} from './wire';
import type { WireReply } from './wire';

const SYSTEM = 'in-process';

type RawHandler = (body: Uint8Array, headers: RecordCarrier) => Promise<WireReply>;

interface StoredEvent {
  seq: number;
  subject: string;
  body: Uint8Array;
  headers: Record<string, string>;
  publishedAt: Date;
}

type RawEventHandler = (event: StoredEvent, deliveryCount: number) => Promise<void>;

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
  /** Delivered, not acknowledged: stream seq → when it becomes due again. */
  readonly redeliverAt = new Map<number, number>();
  readonly handlers: RawEventHandler[] = [];
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

  attach(handler: RawEventHandler): void {
    this.handlers.push(handler);
    if (!this.running) {
      this.running = true;
      void this.pump();
    }
    this.poke();
  }

  /** Resolves once the handler that may be running has finished, so its ack is recorded before close returns. */
  async detach(handler: RawEventHandler): Promise<void> {
    const index = this.handlers.indexOf(handler);
    if (index >= 0) this.handlers.splice(index, 1);
    this.poke();
    await this.inFlight;
  }

  poke(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private async pump(): Promise<void> {
    while (this.handlers.length > 0) {
      const event = this.nextDue();
      if (!event) {
        await this.idle();
        continue;
      }
      const handler = this.handlers[this.turn++ % this.handlers.length];
      const count = (this.deliveries.get(event.seq) ?? 0) + 1;
      this.deliveries.set(event.seq, count);
      // Until the handler settles the event counts as outstanding, as it does on JetStream.
      this.redeliverAt.set(event.seq, Number.POSITIVE_INFINITY);
      const delivery = handler(event, count).then(
        () => {
          this.acked.add(event.seq);
          this.redeliverAt.delete(event.seq);
          this.deliveries.delete(event.seq);
        },
        () => {
          this.redeliverAt.set(event.seq, Date.now() + this.ackWaitMs);
        },
      );
      this.inFlight = delivery;
      await delivery;
    }
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
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

  private idle(): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      const pending = [...this.redeliverAt.values()].filter(Number.isFinite);
      if (pending.length > 0) {
        if (this.timer) clearTimeout(this.timer);
        this.timer = setTimeout(() => this.poke(), Math.max(0, Math.min(...pending) - Date.now()));
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
      close: async () => {
        const current = this.handlers.get(method.subject) ?? [];
        const index = current.indexOf(raw);
        if (index >= 0) current.splice(index, 1);
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
    await withOutgoingSpan(SYSTEM, subject, SpanKind.PRODUCER, headers, async () => {
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

  async consume<Payload extends DescMessage>(
    options: DurableConsumerOptions<Payload>,
    handler: EventHandler<Payload>,
  ): Promise<Closable> {
    this.assertOpen();
    const ackWaitMs = options.ackWaitMs ?? DEFAULT_ACK_WAIT_MS;
    let durable = this.durables.get(options.durable);
    if (!durable) {
      durable = new Durable(options.durable, this.log, options.filterSubject, ackWaitMs);
      this.durables.set(options.durable, durable);
    } else {
      if (durable.filterSubject !== options.filterSubject) {
        // JetStream refuses to change a durable's filter silently; so do we, or the positions would mean nothing.
        throw new BctrlError(
          'conflict',
          `Durable ${options.durable} already filters ${durable.filterSubject}, not ${options.filterSubject}.`,
        );
      }
      durable.ackWaitMs = ackWaitMs;
    }
    const raw: RawEventHandler = (event, deliveryCount) => {
      const carrier = new RecordCarrier();
      Object.assign(carrier.values, event.headers);
      return withIncomingSpan(SYSTEM, event.subject, SpanKind.CONSUMER, carrier, async () => {
        let payload: MessageShape<Payload>;
        let context: CallContext;
        try {
          payload = decodeMessage(options.payload, event.body);
          context = {
            principal: decodePrincipal(carrier.get(PRINCIPAL_HEADER)),
          };
        } catch (error) {
          // Redelivering an event nobody can read would loop forever; it is logged and dropped, as `term` does on NATS.
          logError('undecodable event dropped', event.subject, error);
          return;
        }
        try {
          await handler(
            payload,
            {
              subject: event.subject,
              streamSeq: event.seq,
              deliveryCount,
              publishedAt: event.publishedAt,
            },
            context,
          );
        } catch (error) {
          logError('event handler failed; the event will be redelivered', event.subject, error);
          throw error;
        }
      });
    };
    const target = durable;
    target.attach(raw);
    return { close: () => target.detach(raw) };
  }

  async ping(): Promise<void> {
    this.assertOpen();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.handlers.clear();
    await Promise.all(
      [...this.durables.values()].flatMap((durable) => [...durable.handlers].map((handler) => durable.detach(handler))),
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

function copyCarrier(carrier: RecordCarrier): RecordCarrier {
  const copy = new RecordCarrier();
  Object.assign(copy.values, carrier.values);
  return copy;
}
