import { randomUUID } from 'node:crypto';
import { runSubject, runsV1 } from '@bctrl/contracts';
import type { Transport } from '@bctrl/transport';

/** Whose run an event belongs to: copied into every event so runs-recorder can file it without asking anyone. */
export interface RunEventSource {
  runId: string;
  runtimeId: string;
  spaceId: string;
  accountId: string;
  subaccountId: string | null;
}

/**
 * Publishes one event on its run's stream (`runs.<runId>.events`). Each gets a unique id here, so a publish that
 * is retried, or a message JetStream delivers twice, is still stored once.
 */
export function publishRunEvent(
  transport: Transport,
  source: RunEventSource,
  type: string,
  data: Record<string, unknown> = {},
  /** A relayed event keeps its own time and a stable id, so relaying it again stores nothing twice. */
  origin: { eventId?: string; at?: string } = {},
): Promise<void> {
  return transport.publish(
    runSubject(source.runId, 'events'),
    runsV1.RunEventSchema,
    {
      runId: source.runId,
      runtimeId: source.runtimeId,
      spaceId: source.spaceId,
      accountId: source.accountId,
      subaccountId: source.subaccountId ?? '',
      type,
      at: origin.at ?? new Date().toISOString(),
      dataJson: JSON.stringify(data),
      eventId: origin.eventId ?? randomUUID(),
    },
    { principal: { kind: 'operator' } },
  );
}
