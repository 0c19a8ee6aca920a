import { Inject, Injectable, Logger } from '@nestjs/common';
import type { RunEventData, RunEventType } from '@bctrl/contracts';
import { BctrlError } from '@bctrl/core';
import { publishPlatformCommand, publishRunEvent, type RunEventSource } from '@bctrl/service';
import { TRANSPORT, Transport } from '@bctrl/transport';
import type { RuntimeRow } from './runtimes.repository';

/**
 * Publishes a runtime's lifecycle on its run's stream (`runs.<runId>.events`). JetStream keeps them until
 * runs-recorder stores them, so a recorder that is down loses nothing.
 */
@Injectable()
export class RunEvents {
  private readonly logger = new Logger('RunEvents');

  constructor(@Inject(TRANSPORT) private readonly transport: Transport) {}

  async publish<T extends RunEventType>(
    row: RuntimeRow,
    type: T,
    data: RunEventData<T>,
    origin: { eventId?: string; at?: string } = {},
  ): Promise<void> {
    try {
      await publishRunEvent(this.transport, sourceOf(row), type, data, origin);
    } catch (error) {
      // The lifecycle itself must not fail because the event stream is briefly unavailable.
      this.logger.error(`could not publish ${type} for ${row.id}: ${String(error)}`);
    }
  }

  /**
   * Runs a platform action on a runtime and records it on the runtime's run as a command record (`source:
   * "platform"`), whether it succeeded or failed, with the API error code it failed with.
   */
  async recorded<T>(row: RuntimeRow, method: string, action: () => Promise<T>): Promise<T> {
    const startedAt = Date.now();
    try {
      const result = await action();
      await this.recordCommand(row, { method, startedAt, ok: true });
      return result;
    } catch (error) {
      const errorCode = error instanceof BctrlError ? error.code : 'internal';
      await this.recordCommand(row, { method, startedAt, ok: false, errorCode });
      throw error;
    }
  }

  private async recordCommand(
    row: RuntimeRow,
    command: { method: string; startedAt: number; ok: boolean; errorCode?: string },
  ): Promise<void> {
    if (!row.runId) return;
    try {
      await publishPlatformCommand(this.transport, sourceOf(row), command);
    } catch (error) {
      // The action's own outcome stands; a record lost to a stream outage is logged, like an event.
      this.logger.error(`could not record ${command.method} for ${row.id}: ${String(error)}`);
    }
  }
}

/** Whose run a runtime's events and records belong to. */
function sourceOf(row: RuntimeRow): RunEventSource {
  return {
    runId: row.runId,
    runtimeId: row.id,
    spaceId: row.spaceId,
    accountId: row.accountId,
    subaccountId: row.subaccountId,
  };
}
