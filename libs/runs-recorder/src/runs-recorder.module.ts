import { DynamicModule, Inject, Injectable, Module, OnApplicationShutdown } from '@nestjs/common';
import { HealthRegistry } from '@bctrl/service';
import { createRecorderDb, RECORDER_DB, type RecorderDb } from './db/recorder-db';
import { RunStore } from './record/run-store';
import { RunsRepository } from './record/runs.repository';
import { RunsService } from './record/runs.service';
import { RunsRecorderHandlers } from './runs-recorder.handlers';
import { RECORDER_OPTIONS, type RunsRecorderOptions } from './runs-recorder.options';

export { RECORDER_CONSUMERS, RECORDER_OPTIONS, type RunsRecorderOptions } from './runs-recorder.options';

/** The database: reported in health, closed at shutdown. */
@Injectable()
class RecorderDbLifecycle implements OnApplicationShutdown {
  constructor(
    @Inject(RECORDER_DB) private readonly db: RecorderDb,
    health: HealthRegistry,
  ) {
    health.add('postgres', () => db.$queryRawUnsafe('SELECT 1'));
  }

  async onApplicationShutdown() {
    await this.db.$disconnect();
  }
}

/** runs-recorder: stores every run's events and command records, and serves them back. */
@Module({})
export class RunsRecorderModule {
  static forRoot(options: RunsRecorderOptions): DynamicModule {
    return {
      module: RunsRecorderModule,
      providers: [
        { provide: RECORDER_OPTIONS, useValue: options },
        { provide: RECORDER_DB, useFactory: () => createRecorderDb(options.databaseUrl) },
        RunStore,
        RunsService,
        RunsRepository,
        RecorderDbLifecycle,
        RunsRecorderHandlers,
      ],
    };
  }
}
