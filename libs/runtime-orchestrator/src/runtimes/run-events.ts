import { Inject, Injectable, Logger } from '@nestjs/common';
import { publishRunEvent } from '@bctrl/service';
import { Transport, TRANSPORT } from '@bctrl/transport';
import type { RuntimeRow } from './runtimes.repository';

/**
 * Publishes a runtime's lifecycle on its run's stream (`runs.<runId>.events`). JetStream keeps them until
 * runs-recorder stores them, so a recorder that is down loses nothing.
 */
@Injectable()
export class RunEvents {
  private readonly logger = new Logger('RunEvents');

  constructor(@Inject(TRANSPORT) private readonly transport: Transport) {}

  async publish(
    row: RuntimeRow,
    type: string,
    data: Record<string, unknown> = {},
    origin: { eventId?: string; at?: string } = {},
  ): Promise<void> {
    try {
      await publishRunEvent(
        this.transport,
        {
          runId: row.runId,
          runtimeId: row.id,
          spaceId: row.spaceId,
          accountId: row.accountId,
          subaccountId: row.subaccountId,
        },
        type,
        data,
        origin,
      );
    } catch (error) {
      // The lifecycle itself must not fail because the event stream is briefly unavailable.
      this.logger.error(`could not publish ${type} for ${row.id}: ${String(error)}`);
    }
  }
}
