import { randomUUID } from 'node:crypto';
import { type MessageInitShape } from '@bufbuild/protobuf';
import { Logger } from '@nestjs/common';
import { commandsV1, runSubject } from '@bctrl/contracts';
import type { Transport } from '@bctrl/transport';
import type { ClientMessage, UpstreamMessageMeta } from '../proxy/cdp-tap';
import { parseClientMessage, parseUpstreamMeta } from '../proxy/cdp-tap';
import type { CdpTraffic } from './cdp-traffic';

type RecordInit = MessageInitShape<typeof commandsV1.CommandRecordSchema>;

/** Whose commands these are: copied into every record. */
export interface CommandContext {
  runId: string;
  runtimeId: string;
  spaceId: string;
  accountId: string;
  connectionId: string;
}

interface Pending {
  method: string;
  sessionId: string;
  startedAt: number;
  /** process.hrtime.bigint() when the command was seen. */
  startedNs: bigint;
  requestBytes: number;
}

/** A client that never gets replies (or floods ids) must not grow this without bound. */
const MAX_PENDING = 10_000;
/** CDP error replies start `{"id":N,"error":{"code":-32000,` — the code is all we keep of them. */
const ERROR_CODE = /"error":\{"code":(-?\d+)/;

/**
 * Turns one socket's tapped CDP traffic into command records: a command is matched with its reply by id and
 * session, and recorded with timing, outcome and sizes — never params or results. It runs on the tap's deferred
 * callbacks, so the pipe never waits for it; records go to a shared batching publisher, and every message is
 * counted in the proxy's traffic totals (by method; a reply under the command it answers).
 */
export class CommandTracker {
  private readonly pending = new Map<string, Pending>();

  constructor(
    private readonly context: CommandContext,
    private readonly sink: CommandPublisher,
    private readonly traffic?: CdpTraffic,
  ) {}

  onClientMessage(message: ClientMessage): void {
    const fields = parseClientMessage(message);
    this.traffic?.count('client', fields?.method, message.size);
    if (!fields?.method || fields.id === undefined) return;
    if (this.pending.size >= MAX_PENDING) {
      this.emit(fields.method, fields.sessionId ?? '', Date.now(), 0, message.size, 0, false, 'untracked');
      return;
    }
    this.pending.set(key(fields.id, fields.sessionId), {
      method: fields.method,
      sessionId: fields.sessionId ?? '',
      startedAt: Date.now(),
      startedNs: process.hrtime.bigint(),
      requestBytes: message.size,
    });
  }

  onUpstreamMessage(meta: UpstreamMessageMeta): void {
    if (meta.binary) {
      this.traffic?.count('browser', undefined, meta.size);
      return;
    }
    const fields = parseUpstreamMeta(meta);
    if (fields.id === undefined) {
      this.traffic?.count('browser', fields.method, meta.size);
      return;
    }
    const id = key(fields.id, fields.sessionId);
    const command = this.pending.get(id);
    this.traffic?.count('browser', command?.method, meta.size);
    if (!command) return;
    this.pending.delete(id);
    const micros = Number((process.hrtime.bigint() - command.startedNs) / 1000n);
    const errorCode = fields.error ? (ERROR_CODE.exec(meta.head.toString('latin1'))?.[1] ?? 'error') : '';
    this.emit(
      command.method,
      command.sessionId,
      command.startedAt,
      micros,
      command.requestBytes,
      meta.size,
      !fields.error,
      errorCode,
    );
  }

  /** The socket closed: commands still waiting for a reply are recorded as unanswered. */
  finish(): void {
    for (const command of this.pending.values()) {
      this.emit(command.method, command.sessionId, command.startedAt, 0, command.requestBytes, 0, false, 'no_reply');
    }
    this.pending.clear();
  }

  private emit(
    method: string,
    sessionId: string,
    startedAt: number,
    durationMicros: number,
    requestBytes: number,
    responseBytes: number,
    ok: boolean,
    errorCode: string,
  ): void {
    this.sink.add({
      runId: this.context.runId,
      runtimeId: this.context.runtimeId,
      spaceId: this.context.spaceId,
      accountId: this.context.accountId,
      connectionId: this.context.connectionId,
      source: 'cdp',
      method,
      sessionId,
      startedAt: new Date(startedAt).toISOString(),
      durationMicros: BigInt(durationMicros),
      ok,
      errorCode,
      requestBytes: BigInt(requestBytes),
      responseBytes: BigInt(responseBytes),
    });
  }
}

function key(id: number, sessionId: string | undefined): string {
  return sessionId ? `${sessionId}:${id}` : String(id);
}

export interface CommandPublisherOptions {
  /** A run's records wait at most this long before they are published. Default 200 ms. */
  flushIntervalMs?: number;
  /** A batch is published as soon as it holds this many records. Default 500. */
  maxBatch?: number;
  /** Records held while the stream is unreachable; past it the oldest are dropped (and counted). Default 100,000. */
  maxBuffered?: number;
}

/**
 * Publishes command records in batches on `runs.<runId>.commands`. Publishing never blocks a socket: records
 * are buffered per run and flushed on a timer; a failed publish keeps its batch for the next flush.
 */
export class CommandPublisher {
  private readonly logger = new Logger('CommandPublisher');
  private readonly buffers = new Map<string, RecordInit[]>();
  private buffered = 0;
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  /** Records dropped because the stream was unreachable for too long. */
  dropped = 0;
  published = 0;
  private readonly flushIntervalMs: number;
  private readonly maxBatch: number;
  private readonly maxBuffered: number;

  constructor(
    private readonly transport: Transport,
    options: CommandPublisherOptions = {},
  ) {
    this.flushIntervalMs = options.flushIntervalMs ?? 200;
    this.maxBatch = options.maxBatch ?? 500;
    this.maxBuffered = options.maxBuffered ?? 100_000;
  }

  add(record: RecordInit): void {
    const runId = record.runId as string;
    let buffer = this.buffers.get(runId);
    if (!buffer) this.buffers.set(runId, (buffer = []));
    buffer.push(record);
    this.buffered += 1;
    if (this.buffered > this.maxBuffered) this.dropOldest();
    if (buffer.length >= this.maxBatch) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.flushIntervalMs);
  }

  /** Publishes everything buffered; resolves when done (or failed: the records then stay for the next flush). */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.flushing ??= this.publishAll().finally(() => {
      this.flushing = null;
      if (this.buffered > 0) this.timer ??= setTimeout(() => void this.flush(), this.flushIntervalMs);
    });
    return this.flushing;
  }

  async close(): Promise<void> {
    await this.flushing;
    await this.flush();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private async publishAll(): Promise<void> {
    const runs = [...this.buffers.entries()];
    this.buffers.clear();
    for (const [runId, records] of runs) {
      this.buffered -= records.length;
      for (let i = 0; i < records.length; i += this.maxBatch) {
        const batch = records.slice(i, i + this.maxBatch);
        try {
          await this.transport.publish(
            runSubject(runId, 'commands'),
            commandsV1.CommandBatchSchema,
            { records: batch, batchId: randomUUID() },
            { principal: { kind: 'operator' } },
          );
          this.published += batch.length;
        } catch (error) {
          // Kept, ahead of newer records, for the next flush.
          const rest = records.slice(i);
          const newer = this.buffers.get(runId) ?? [];
          this.buffers.set(runId, [...rest, ...newer]);
          this.buffered += rest.length;
          this.logger.warn(`could not publish ${rest.length} command records of ${runId}: ${String(error)}`);
          break;
        }
      }
    }
  }

  private dropOldest(): void {
    const [runId, buffer] = this.buffers.entries().next().value as [string, RecordInit[]];
    buffer.shift();
    if (buffer.length === 0) this.buffers.delete(runId);
    this.buffered -= 1;
    this.dropped += 1;
  }
}
