import { runsV1 } from '@bctrl/contracts';
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
    { durable: `e2e-${runId}-${Date.now()}`, filterSubject: `runs.${runId}.>`, payload: runsV1.RunEventSchema },
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
