import { Inject, Injectable, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { RuntimesV1 } from '@bctrl/contracts';
import { bindHandlers, handle } from '@bctrl/service';
import { Closable, TRANSPORT, Transport } from '@bctrl/transport';
import { RuntimeFiles } from './runtimes/runtime-files';
import { RuntimesService } from './runtimes/runtimes.service';

@Injectable()
export class RuntimeOrchestratorHandlers implements OnApplicationBootstrap, OnModuleDestroy {
  private subscription: Closable | null = null;

  constructor(
    @Inject(TRANSPORT) private readonly transport: Transport,
    private readonly runtimes: RuntimesService,
    private readonly files: RuntimeFiles,
  ) {}

  onApplicationBootstrap() {
    this.subscription = bindHandlers(this.transport, [
      handle(RuntimesV1.create, (req, ctx) => this.runtimes.create(ctx.principal, req)),
      handle(RuntimesV1.get, (req, ctx) => this.runtimes.get(ctx.principal, req.runtimeId)),
      handle(RuntimesV1.list, (req, ctx) => this.runtimes.list(ctx.principal, req)),
      handle(RuntimesV1.keepalive, (req, ctx) => this.runtimes.keepalive(ctx.principal, req.runtimeId)),
      handle(RuntimesV1.stop, (req, ctx) => this.runtimes.stop(ctx.principal, req.runtimeId)),
      handle(RuntimesV1.countLive, (req, ctx) => this.runtimes.countLive(ctx.principal, req.spaceId)),
      handle(RuntimesV1.stopSpace, (req, ctx) => this.runtimes.stopSpace(ctx.principal, req.spaceId)),
      handle(RuntimesV1.liveUsing, (req, ctx) => this.runtimes.liveUsing(ctx.principal, req)),
      handle(RuntimesV1.endpoint, (req, ctx) => this.runtimes.endpoint(ctx.principal, req.runtimeId, req.runId)),
      handle(RuntimesV1.touch, (req, ctx) => this.runtimes.touch(ctx.principal, req.runtimeIds)),
      handle(RuntimesV1.stageFile, (req, ctx) => this.files.stage(ctx.principal, req)),
      handle(RuntimesV1.collectFile, (req, ctx) => this.files.collect(ctx.principal, req)),
      handle(RuntimesV1.listFiles, (req, ctx) => this.files.list(ctx.principal, req)),
    ]);
  }

  async onModuleDestroy() {
    await this.subscription?.close();
  }
}
