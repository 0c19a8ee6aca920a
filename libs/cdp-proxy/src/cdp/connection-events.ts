import { Logger } from '@nestjs/common';
import { runSubject, runsV1 } from '@bctrl/contracts';
import type { Transport } from '@bctrl/transport';
import type { ConnectionLease } from '../leases/lease-store';

/** `connection.*` events on the run of the runtime a connection belongs to. */
export class ConnectionEvents {
  private readonly logger = new Logger('ConnectionEvents');

  constructor(private readonly transport: Transport) {}

  async publish(lease: ConnectionLease, type: string, data: Record<string, unknown>): Promise<void> {
    try {
      await this.transport.publish(
        runSubject(lease.runId, 'events'),
        runsV1.RunEventSchema,
        {
          runId: lease.runId,
          runtimeId: lease.runtimeId,
          spaceId: lease.spaceId,
          accountId: lease.accountId,
          type,
          at: new Date().toISOString(),
          dataJson: JSON.stringify(data),
        },
        { principal: { kind: 'operator' } },
      );
    } catch (error) {
      // A socket is never refused or held because the event stream is briefly unavailable.
      this.logger.error(`could not publish ${type} for ${lease.id}: ${String(error)}`);
    }
  }
}
