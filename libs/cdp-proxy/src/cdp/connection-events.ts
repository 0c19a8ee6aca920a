import { Logger } from '@nestjs/common';
import { publishRunEvent } from '@bctrl/service';
import type { Transport } from '@bctrl/transport';
import type { ConnectionLease } from '../leases/lease-store';

/** `connection.*` events on the run of the runtime a connection belongs to. */
export class ConnectionEvents {
  private readonly logger = new Logger('ConnectionEvents');

  constructor(private readonly transport: Transport) {}

  async publish(lease: ConnectionLease, type: string, data: Record<string, unknown>): Promise<void> {
    try {
      await publishRunEvent(this.transport, lease, type, data);
    } catch (error) {
      // A socket is never refused or held because the event stream is briefly unavailable.
      this.logger.error(`could not publish ${type} for ${lease.id}: ${String(error)}`);
    }
  }
}
