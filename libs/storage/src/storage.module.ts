import { DynamicModule, Inject, Injectable, Module, OnApplicationShutdown } from '@nestjs/common';
import { HealthRegistry } from '@bctrl/service';
import { ArtifactsRepository } from './artifacts/artifacts.repository';
import { ArtifactsService } from './artifacts/artifacts.service';
import { LocalStorageDataPlane } from './data-plane/local-data-plane';
import { createStorageDb, STORAGE_DB, type StorageDb } from './db/storage-db';
import type { ObjectStore } from './object-store/object-store';
import { ObjectsRepository } from './objects/objects.repository';
import { ObjectsService } from './objects/objects.service';
import { StorageHandlers } from './storage.handlers';
import { OBJECT_STORE, STORAGE_OPTIONS, type StorageOptions } from './storage.options';
import { TransfersService } from './transfers/transfers.service';

/** The data plane this process serves: the gateway's port in local mode, the HTTP server's in distributed mode. */
export const STORAGE_DATA_PLANE_SERVICE = Symbol.for('bctrl.storage.data-plane');

/** The database and the object store: reported in health, closed at shutdown. */
@Injectable()
class StorageLifecycle implements OnApplicationShutdown {
  constructor(
    @Inject(STORAGE_DB) private readonly db: StorageDb,
    @Inject(OBJECT_STORE) private readonly store: ObjectStore,
    health: HealthRegistry,
  ) {
    health.add('postgres', () => db.$queryRawUnsafe('SELECT 1'));
    health.add('object-store', () => store.ping());
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
        StorageHandlers,
      ],
      exports: [STORAGE_DATA_PLANE_SERVICE],
    };
  }
}
