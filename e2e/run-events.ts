import { commandsV1, runsV1 } from '@bctrl/contracts';
import type { Transport } from '@bctrl/transport';

export interface SeenEvent {
  type: string;
  data: Record<string, unknown>;
}

/** Reads a run's event stream from the start, as runs-recorder will, until `until` matches or time runs out. */
export async function readRunEvents(
  transport: Transport,
  runId: string,
  until: (events: SeenEvent[]) => boolean,
  timeoutMs = 10_000,
): Promise<SeenEvent[]> {
  const events: SeenEvent[] = [];
  let done: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const consumer = await transport.consume(
    { durable: `e2e-${runId}-${Date.now()}`, filterSubject: `runs.${runId}.events`, payload: runsV1.RunEventSchema },
    async (event) => {
      events.push({ type: event.type, data: JSON.parse(event.dataJson || '{}') as Record<string, unknown> });
      if (until(events)) done();
    },
  );
  const timer = setTimeout(done, timeoutMs);
  await finished;
  clearTimeout(timer);
  await consumer.close();
  return events;
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
export async function readCommandRecords(
  transport: Transport,
  runId: string,
  until: (records: SeenCommand[]) => boolean,
  timeoutMs = 10_000,
): Promise<SeenCommand[]> {
  const records: SeenCommand[] = [];
  let done: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const consumer = await transport.consume(
    {
      durable: `e2e-cmd-${runId}-${Date.now()}`,
      filterSubject: `runs.${runId}.commands`,
      payload: commandsV1.CommandBatchSchema,
    },
    async (batch) => {
      for (const record of batch.records) {
        records.push({
          method: record.method,
          sessionId: record.sessionId,
          connectionId: record.connectionId,
          ok: record.ok,
          errorCode: record.errorCode,
          durationMicros: Number(record.durationMicros),
          requestBytes: Number(record.requestBytes),
          responseBytes: Number(record.responseBytes),
        });
      }
      if (until(records)) done();
    },
  );
  const timer = setTimeout(done, timeoutMs);
  await finished;
  clearTimeout(timer);
  await consumer.close();
  return records;
}
