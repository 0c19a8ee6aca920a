import { randomUUID } from 'node:crypto';
import { commandsV1, type RunEventData, type RunEventType, runSubject, runsV1 } from '@bctrl/contracts';
import { redact } from '@bctrl/telemetry';
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
export function publishRunEvent<T extends RunEventType>(
  transport: Transport,
  source: RunEventSource,
  type: T,
  data: RunEventData<T>,
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
      // Through the one redactor: a run's record is durable and public, and no secret value may reach it.
      dataJson: JSON.stringify(redact(data)),
      eventId: origin.eventId ?? randomUUID(),
    },
    { principal: { kind: 'operator' } },
  );
}

/** A platform action the API carried out on a run's runtime (`runtime.stop`, `files.stage`, `files.collect`). */
export interface PlatformCommand {
  method: string;
  /** When the action began (epoch ms); its duration runs from here to the publish. */
  startedAt: number;
  ok: boolean;
  /** The API error code when it failed (`not_found`, `validation_failed`, …), empty when ok. */
  errorCode?: string;
}

/**
 * Records a platform action as a command record (`source: "platform"`) on its run, beside the CDP and WebDriver
 * commands clients sent, so the run shows everything done to the browser, by whom it was done aside. Never with the
 * action's input or output: those can carry secrets.
 */
export function publishPlatformCommand(
  transport: Transport,
  source: RunEventSource,
  command: PlatformCommand,
): Promise<void> {
  return transport.publish(
    runSubject(source.runId, 'commands'),
    commandsV1.CommandBatchSchema,
    {
      records: [
        {
          runId: source.runId,
          runtimeId: source.runtimeId,
          spaceId: source.spaceId,
          accountId: source.accountId,
          source: 'platform',
          connectionId: '',
          method: command.method,
          sessionId: '',
          startedAt: new Date(command.startedAt).toISOString(),
          durationMicros: BigInt(Math.max(0, Date.now() - command.startedAt) * 1000),
          ok: command.ok,
          errorCode: command.ok ? '' : (command.errorCode ?? 'internal'),
          requestBytes: 0n,
          responseBytes: 0n,
        },
      ],
      batchId: randomUUID(),
    },
    { principal: { kind: 'operator' } },
  );
}
