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
import { StorageV1 } from '@bctrl/contracts';
import { bindHandlers, handle, HealthRegistry } from '@bctrl/service';
import { type Closable, type Transport, TRANSPORT } from '@bctrl/transport';
import { ArtifactsRepository } from './artifacts/artifacts.repository';
import { ArtifactsService } from './artifacts/artifacts.service';
import { LocalStorageDataPlane } from './data-plane/local-data-plane';
import { createStorageDb, STORAGE_DB, type StorageDb } from './db/storage-db';
import { TransfersService } from './transfers/transfers.service';
import { ObjectsRepository } from './objects/objects.repository';
import { ObjectsService } from './objects/objects.service';
import type { ObjectStore } from './object-store/object-store';
import { OBJECT_STORE, STORAGE_OPTIONS, type StorageOptions } from './storage-options';

/** The data plane this process serves: the gateway's port in local mode, the HTTP server's in distributed mode. */
export const STORAGE_DATA_PLANE_SERVICE = Symbol.for('bctrl.storage.data-plane');

@Injectable()
class StorageLifecycle implements OnApplicationBootstrap, OnModuleDestroy, OnApplicationShutdown {
  private readonly logger = new Logger('Storage');
  private subscription?: Closable;

  constructor(
    @Inject(TRANSPORT) private readonly transport: Transport,
    @Inject(STORAGE_DB) private readonly db: StorageDb,
    @Inject(OBJECT_STORE) private readonly store: ObjectStore,
    private readonly objects: ObjectsService,
    private readonly artifacts: ArtifactsService,
    private readonly transfers: TransfersService,
    health: HealthRegistry,
  ) {
    health.add('postgres', () => db.$queryRawUnsafe('SELECT 1'));
    health.add('object-store', () => store.ping());
  }

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

  async onApplicationShutdown() {
    await this.db.$disconnect();
    (this.store as { close?: () => void }).close?.();
  }
}

/** storage: space storage and artifacts, metadata in Postgres and bytes in the object store. */
@Module({})
export class StorageModule {
  static forRoot(options: StorageOptions): DynamicModule {
    return {
      module: StorageModule,
      providers: [
        { provide: STORAGE_OPTIONS, useValue: options },
        { provide: OBJECT_STORE, useValue: options.objectStore },
        { provide: STORAGE_DB, useFactory: () => createStorageDb(options.databaseUrl) },
        ObjectsService,
        ObjectsRepository,
        ArtifactsService,
        ArtifactsRepository,
        TransfersService,
        LocalStorageDataPlane,
        { provide: STORAGE_DATA_PLANE_SERVICE, useExisting: LocalStorageDataPlane },
        StorageLifecycle,
      ],
      exports: [STORAGE_DATA_PLANE_SERVICE],
    };
  }
}
