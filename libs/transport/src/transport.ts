import type { DescMessage, MessageInitShape, MessageShape } from '@bufbuild/protobuf';
import type { RpcMethod } from '@bctrl/contracts';
import type { Principal } from '@bctrl/core';

/** What travels with every message besides its payload. Trace context travels too, through OpenTelemetry's propagator. */
export interface CallContext {
  principal: Principal;
}

export interface RequestOptions {
  /** Default 10 s. A call with no reply by then fails with `unavailable`. */
  timeoutMs?: number;
}

/**
 * Both transports only ever `await` a handler inside a try block, so a plain value and a synchronous throw mean
 * exactly what a resolved and a rejected promise do: a handler with nothing to wait for need not be async.
 */
export type Handler<Req extends DescMessage, Res extends DescMessage> = (
  request: MessageShape<Req>,
  context: CallContext,
) => MessageInitShape<Res> | Promise<MessageInitShape<Res>>;

export interface EventMeta {
  subject: string;
  /** The stream's sequence number of this message (JetStream's, or the in-process log's). */
  streamSeq: number;
  /** How many times it has been delivered, 1 the first time. */
  deliveryCount: number;
  publishedAt: Date;
}

export interface DurableConsumerOptions<Payload extends DescMessage> {
  /** Durable name: a restarted consumer with the same name resumes where it acknowledged. */
  durable: string;
  filterSubject: string;
  payload: Payload;
  /** Unacknowledged messages are redelivered after this long. Default 30 s. */
  ackWaitMs?: number;
}

/**
 * A handler that returns (or resolves) acknowledges the event; one that throws (or rejects) leaves it
 * unacknowledged, to be delivered again.
 */
export type EventHandler<Payload extends DescMessage> = (
  payload: MessageShape<Payload>,
  meta: EventMeta,
  context: CallContext,
) => void | Promise<void>;

export interface BatchConsumerOptions<Payload extends DescMessage> extends DurableConsumerOptions<Payload> {
  /** Most messages handed over at once. Default 500. */
  maxBatch?: number;
  /** Once a first message is there, how long to wait for more before handing over what there is. Default 20 ms. */
  maxWaitMs?: number;
  /**
   * After a consumer died holding unacknowledged messages, hand everything from the first unacknowledged one on
   * again, in stream order, instead of redelivering those after newer ones once ackWait expires. For a single
   * consumer whose handler is idempotent and needs order (runs-recorder assigns seqs in arrival order).
   */
  resumeInOrder?: boolean;
}

export interface BatchItem<Payload extends DescMessage> {
  payload: MessageShape<Payload>;
  meta: EventMeta;
  context: CallContext;
}

/**
 * Returning (or resolving) acknowledges every message of the batch; throwing (or rejecting) leaves all of them
 * unacknowledged, to be delivered again (after ackWait). Items are in stream order, except that a redelivered
 * event may come later than events first delivered after it.
 */
export type BatchHandler<Payload extends DescMessage> = (items: BatchItem<Payload>[]) => void | Promise<void>;

export interface Closable {
  close(): Promise<void>;
}

/**
 * How services talk. Two implementations share these semantics exactly: NATS (request/reply with one
 * queue group per service, JetStream for run streams) and in-process (local mode). Payloads are encoded
 * to protobuf binary on both, so a handler never sees an object the other side still holds.
 */
export interface Transport {
  request<Req extends DescMessage, Res extends DescMessage>(
    method: RpcMethod<Req, Res>,
    request: MessageInitShape<Req>,
    context: CallContext,
    options?: RequestOptions,
  ): Promise<MessageShape<Res>>;

  serve<Req extends DescMessage, Res extends DescMessage>(
    method: RpcMethod<Req, Res>,
    handler: Handler<Req, Res>,
  ): Closable;

  /** Durable publish: resolves once the stream has stored the event. */
  publish<Payload extends DescMessage>(
    subject: string,
    payload: Payload,
    message: MessageInitShape<Payload>,
    context: CallContext,
  ): Promise<void>;

  consume<Payload extends DescMessage>(
    options: DurableConsumerOptions<Payload>,
    handler: EventHandler<Payload>,
  ): Promise<Closable>;

  /**
   * Like `consume`, but hands events over in batches, one batch at a time per consumer: for bulk writes.
   * An event that cannot be decoded is dropped and logged, never handed over, whatever the batch's fate.
   */
  consumeBatch<Payload extends DescMessage>(
    options: BatchConsumerOptions<Payload>,
    handler: BatchHandler<Payload>,
  ): Promise<Closable>;

  /** Resolves when the underlying connection answers; used by /readyz. */
  ping(): Promise<void>;

  close(): Promise<void>;
}

export const TRANSPORT = Symbol.for('bctrl.transport');
