import { defineService } from '@bctrl/service';
import { createObjectStore } from './create-object-store';
import type { StorageDataPlane } from './data-plane/data-plane';
import { StorageDataPlaneServer } from './data-plane/data-plane.server';
import { STORAGE_DATA_PLANE_SERVICE, StorageModule } from './storage.module';
import { storageSettings } from './storage.settings';

/**
 * storage, for its own app and for local mode: metadata calls on the transport; object bytes (which cannot go over
 * NATS) on its data plane, served on BCTRL_STORAGE_PORT by its own process and in process by local mode's gateway.
 */
export const storageService = defineService({
  name: 'storage',
  settings: storageSettings,
  ownsTables: true,
  // Files under BCTRL_DATA_DIR/objects by default in local mode; BCTRL_OBJECT_STORE=s3 works in both.
  adapters: { distributed: () => undefined, local: () => undefined },
  modules: (config) => [
    StorageModule.forRoot({
      databaseUrl: config.databaseUrl as string,
      objectStore: createObjectStore(config),
      maxObjectBytes: config.storageMaxObjectBytes,
    }),
  ],
  http: {
    port: (config) => config.storagePort,
    endpoint: (app) => {
      const server = new StorageDataPlaneServer(app.get<StorageDataPlane>(STORAGE_DATA_PLANE_SERVICE));
      return { handleRequest: server.handle };
    },
    // A slow S3 (or a slow tenant on the other side of the gateway) may pause a stream; only a dead one is cut.
    requestTimeoutMs: 0,
  },
});
