import {
  DynamicModule,
  Inject,
  Injectable,
  Logger,
  Module,
  OnApplicationBootstrap,
  OnApplicationShutdown,
  OnModuleDestroy,
} from '@nestjs/common';
import { commandsV1, RunsV1, runsV1 } from '@bctrl/contracts';
import { bindHandlers, handle, HealthRegistry } from '@bctrl/service';
import { type Closable, type Transport, TRANSPORT } from '@bctrl/transport';
import { createRecorderDb, RECORDER_DB, type RecorderDb } from './db/recorder-db';
import { RunStore } from './record/run-store';
import { RunsRepository } from './record/runs.repository';
import { RunsService } from './record/runs.service';

export interface RunsRecorderOptions {
  databaseUrl: string;
  /** Most messages stored in one transaction. Default 1000. */
  maxBatch?: number;
}

export const RECORDER_OPTIONS = Symbol.for('bctrl.runs-recorder.options');

/** Durable consumer names: a restarted recorder resumes where it acknowledged, and nothing is lost meanwhile. */
export const RECORDER_CONSUMERS = { events: 'runs-recorder-events', commands: 'runs-recorder-commands' } as const;

@Injectable()
class RunsRecorderLifecycle implements OnApplicationBootstrap, OnModuleDestroy, OnApplicationShutdown {
  private readonly logger = new Logger('RunsRecorder');
  private subscriptions: Closable[] = [];

  constructor(
    @Inject(TRANSPORT) private readonly transport: Transport,
    @Inject(RECORDER_DB) private readonly db: RecorderDb,
    @Inject(RECORDER_OPTIONS) private readonly options: RunsRecorderOptions,
    private readonly store: RunStore,
    private readonly runs: RunsService,
    health: HealthRegistry,
  ) {
    health.add('postgres', () => db.$queryRawUnsafe('SELECT 1'));
  }

  async onApplicationBootstrap() {
    const maxBatch = this.options.maxBatch ?? 1000;
    this.subscriptions.push(
      bindHandlers(this.transport, [
        handle(RunsV1.get, (req, ctx) => this.runs.get(ctx.principal, req.runId)),
        handle(RunsV1.list, (req, ctx) => this.runs.list(ctx.principal, req)),
        handle(RunsV1.events, (req, ctx) => this.runs.events(ctx.principal, req)),
        handle(RunsV1.commands, (req, ctx) => this.runs.commands(ctx.principal, req)),
      ]),
      // A batch that fails to store is not acknowledged: JetStream delivers it again, and ids make that harmless.
      await this.transport.consumeBatch(
        {
          durable: RECORDER_CONSUMERS.events,
          filterSubject: 'runs.*.events',
          payload: runsV1.RunEventSchema,
          maxBatch,
          // Seqs follow arrival: after a crash, replay from the first unstored event rather than out of order.
          resumeInOrder: true,
        },
        async (items) => void (await this.store.storeEvents(items)),
      ),
      await this.transport.consumeBatch(
        {
          durable: RECORDER_CONSUMERS.commands,
          filterSubject: 'runs.*.commands',
          payload: commandsV1.CommandBatchSchema,
          maxBatch: Math.max(1, Math.floor(maxBatch / 10)),
          resumeInOrder: true,
        },
        async (items) => void (await this.store.storeCommands(items)),
      ),
    );
    this.logger.log('recording runs');
  }

  async onModuleDestroy() {
    for (const subscription of this.subscriptions.splice(0)) await subscription.close();
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
        RunsRecorderLifecycle,
      ],
    };
  }
}
