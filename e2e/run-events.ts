import type { DescMessage, MessageShape } from '@bufbuild/protobuf';
import { commandsV1, runsV1 } from '@bctrl/contracts';
import type { Transport } from '@bctrl/transport';

export interface SeenEvent {
  type: string;
  data: Record<string, unknown>;
}

/** Reads a run's event stream from the start, as runs-recorder will, until `until` matches or time runs out. */
export function readRunEvents(
  transport: Transport,
  runId: string,
  until: (events: SeenEvent[]) => boolean,
  timeoutMs = 10_000,
): Promise<SeenEvent[]> {
  return readRunStream(
    transport,
    `runs.${runId}.events`,
    runsV1.RunEventSchema,
    (event) => [{ type: event.type, data: JSON.parse(event.dataJson || '{}') as Record<string, unknown> }],
    until,
    timeoutMs,
  );
}

export interface SeenCommand {
  method: string;
  sessionId: string;
  connectionId: string;
  ok: boolean;
  errorCode: string;
  durationMicros: number;
  requestBytes: number;
  responseBytes: number;
}

/** Reads a run's command records (`runs.<runId>.commands`, in batches) until `until` matches or time runs out. */
export function readCommandRecords(
  transport: Transport,
  runId: string,
  until: (records: SeenCommand[]) => boolean,
  timeoutMs = 10_000,
): Promise<SeenCommand[]> {
  return readRunStream(
    transport,
    `runs.${runId}.commands`,
    commandsV1.CommandBatchSchema,
    (batch) =>
      batch.records.map((record) => ({
        method: record.method,
        sessionId: record.sessionId,
        connectionId: record.connectionId,
        ok: record.ok,
        errorCode: record.errorCode,
        durationMicros: Number(record.durationMicros),
        requestBytes: Number(record.requestBytes),
        responseBytes: Number(record.responseBytes),
      })),
    until,
    timeoutMs,
  );
}

/** One subject of a run's stream from its start, each message turned into items, until `until` or the timeout. */
async function readRunStream<Payload extends DescMessage, Item>(
  transport: Transport,
  subject: string,
  payload: Payload,
  items: (message: MessageShape<Payload>) => Item[],
  until: (seen: Item[]) => boolean,
  timeoutMs: number,
): Promise<Item[]> {
  const seen: Item[] = [];
  let done: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const consumer = await transport.consume(
    { durable: `e2e-${subject.replaceAll('.', '-')}-${Date.now()}`, filterSubject: subject, payload },
    (message) => {
      seen.push(...items(message));
      if (until(seen)) done();
    },
  );
  const timer = setTimeout(done, timeoutMs);
  await finished;
  clearTimeout(timer);
  await consumer.close();
  return seen;
}
