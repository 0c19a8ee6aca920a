import { BeforeApplicationShutdown, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { addObservation } from '@bctrl/telemetry';
import { RuntimesRepository } from './runtimes.repository';

/**
 * `bctrl.runtimes`: live runtimes by status, counted in the database (one indexed GROUP BY) when metrics are
 * collected, not kept up to date by every transition. The table is the truth every replica shares, so each replica
 * reports the same numbers, and a crash or a restart cannot leave a count behind; the dashboard takes the max over
 * replicas for the same reason.
 */
@Injectable()
export class RuntimeMetrics implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private stop: (() => void) | null = null;

  constructor(private readonly runtimes: RuntimesRepository) {}

  onApplicationBootstrap() {
    this.stop = addObservation('runtimes', async () =>
      [...(await this.runtimes.countLiveByStatus())].map(([status, count]) => [count, { status }] as const),
    );
  }

  /** Before the database closes (on application shutdown), so that no collection queries a closed client. */
  beforeApplicationShutdown() {
    this.stop?.();
  }
}
