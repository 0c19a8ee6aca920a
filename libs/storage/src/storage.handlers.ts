import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { StorageV1 } from '@bctrl/contracts';
import { bindHandlers, handle } from '@bctrl/service';
import { type Closable, TRANSPORT, type Transport } from '@bctrl/transport';
import { ArtifactsService } from './artifacts/artifacts.service';
import type { ObjectStore } from './object-store/object-store';
import { ObjectsService } from './objects/objects.service';
import { OBJECT_STORE } from './storage.options';
import { TransfersService } from './transfers/transfers.service';

/** The storage service's side of its contracts: each subject answered by one service method. */
@Injectable()
export class StorageHandlers implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('Storage');
  private subscription?: Closable;

  constructor(
    @Inject(TRANSPORT) private readonly transport: Transport,
    @Inject(OBJECT_STORE) private readonly store: ObjectStore,
    private readonly objects: ObjectsService,
    private readonly artifacts: ArtifactsService,
    private readonly transfers: TransfersService,
  ) {}

  onApplicationBootstrap() {
    this.subscription = bindHandlers(this.transport, [
      handle(StorageV1.statObject, (req, ctx) => this.objects.stat(ctx.principal, req)),
      handle(StorageV1.listObjects, (req, ctx) => this.objects.list(ctx.principal, req)),
      handle(StorageV1.deleteObject, (req, ctx) => this.objects.delete(ctx.principal, req)),
      handle(StorageV1.getArtifact, (req, ctx) => this.artifacts.get(ctx.principal, req.artifactId)),
      handle(StorageV1.listArtifacts, (req, ctx) => this.artifacts.list(ctx.principal, req)),
      handle(StorageV1.presignArtifact, (req, ctx) => this.artifacts.presign(ctx.principal, req.artifactId)),
      handle(StorageV1.importArtifact, (req, ctx) => this.artifacts.import(ctx.principal, req)),
      handle(StorageV1.purgeSpace, (req, ctx) => this.objects.purgeSpace(ctx.principal, req)),
      handle(StorageV1.exportObject, (req, ctx) => this.transfers.exportObject(ctx.principal, req)),
      handle(StorageV1.importObject, (req, ctx) => this.transfers.importObject(ctx.principal, req)),
    ]);
    this.logger.log(`serving space storage and artifacts from the ${this.store.kind} object store`);
  }

  async onModuleDestroy() {
    await this.subscription?.close();
  }
}
