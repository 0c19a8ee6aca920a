import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { commandsV1, RunsV1, runsV1 } from '@bctrl/contracts';
import { bindHandlers, handle } from '@bctrl/service';
import { platformInstruments } from '@bctrl/telemetry';
import { type BatchItem, type Closable, TRANSPORT, type Transport } from '@bctrl/transport';
import { RunStore } from './record/run-store';
import { RunsService } from './record/runs.service';
import { RECORDER_CONSUMERS, RECORDER_OPTIONS, type RunsRecorderOptions } from './runs-recorder.options';

/**
 * The recorder's side of its contracts: the run queries, answered by RunsService, and the two durable consumers that
 * store every run's events and command records.
 */
@Injectable()
export class RunsRecorderHandlers implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('RunsRecorder');
  private subscriptions: Closable[] = [];

  constructor(
    @Inject(TRANSPORT) private readonly transport: Transport,
    @Inject(RECORDER_OPTIONS) private readonly options: RunsRecorderOptions,
    private readonly store: RunStore,
    private readonly runs: RunsService,
  ) {}

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
        async (items) => {
          await this.store.storeEvents(items);
          recordLag(items);
        },
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
}

/**
 * `bctrl.events.lag`: from the stream's publish time (not the event's own `at`, which a relayed browser event takes
 * from the browser and a replay keeps) to the batch being committed. A redelivery counts again, with its longer lag.
 */
function recordLag(items: readonly BatchItem<typeof runsV1.RunEventSchema>[]): void {
  const now = Date.now();
  const lag = platformInstruments().eventsLag;
  for (const item of items) lag.record(Math.max(0, now - item.meta.publishedAt.getTime()) / 1000);
}
