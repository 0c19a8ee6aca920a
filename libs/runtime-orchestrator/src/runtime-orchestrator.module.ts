import { DynamicModule, Inject, Injectable, Module, OnApplicationShutdown } from '@nestjs/common';
import { HealthRegistry } from '@bctrl/service';
import { createOrchestratorDb, ORCHESTRATOR_DB, OrchestratorDb } from './db/orchestrator-db';
import { Supervisor } from './lifecycle/supervisor';
import { WarmPool } from './pool/warm-pool';
import { RuntimeOrchestratorHandlers } from './runtime-orchestrator.handlers';
import {
  BROWSER_DRIVER,
  ORCHESTRATOR_OPTIONS,
  RuntimeOrchestratorOptions,
  WARM_POOL,
} from './runtime-orchestrator.options';
import { AgentEventRelay } from './runtimes/agent-event-relay';
import { RunEvents } from './runtimes/run-events';
import { RuntimeArtifacts } from './runtimes/runtime-artifacts';
import { RuntimeFiles } from './runtimes/runtime-files';
import { RuntimeMetrics } from './runtimes/runtime-metrics';
import { RuntimesRepository } from './runtimes/runtimes.repository';
import { RuntimesService } from './runtimes/runtimes.service';

@Injectable()
/** Closes the database last, after the lifecycle work (launches, reconcile) has stopped using it. */
class OrchestratorDbLifecycle implements OnApplicationShutdown {
  constructor(
    @Inject(ORCHESTRATOR_DB) private readonly db: OrchestratorDb,
    health: HealthRegistry,
  ) {
    health.add('postgres', () => db.$queryRawUnsafe('SELECT 1'));
  }

  async onApplicationShutdown() {
    await this.db.$disconnect();
  }
}

/** runtime-orchestrator: runtimes' lifecycle, the driver that runs their browsers, the warm pool, reconcile. */
@Module({})
export class RuntimeOrchestratorModule {
  static forRoot(options: RuntimeOrchestratorOptions): DynamicModule {
    return {
      module: RuntimeOrchestratorModule,
      providers: [
        { provide: ORCHESTRATOR_OPTIONS, useValue: options },
        { provide: BROWSER_DRIVER, useValue: options.driver },
        { provide: WARM_POOL, useValue: new WarmPool(options.driver, options.warmPoolSize) },
        { provide: ORCHESTRATOR_DB, useFactory: () => createOrchestratorDb(options.databaseUrl) },
        OrchestratorDbLifecycle,
        RuntimesRepository,
        RunEvents,
        AgentEventRelay,
        RuntimeArtifacts,
        RuntimeFiles,
        RuntimesService,
        RuntimeMetrics,
        Supervisor,
        RuntimeOrchestratorHandlers,
      ],
      exports: [RuntimesService, Supervisor],
    };
  }
}
