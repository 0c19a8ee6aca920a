import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Logger } from '@nestjs/common';
import { migrateService } from '@bctrl/db';
import { runServiceProcess } from '@bctrl/service';
import {
  createObjectStore,
  STORAGE_DATA_PLANE_SERVICE,
  type StorageDataPlane,
  StorageDataPlaneServer,
  StorageModule,
  storageSettings,
} from '@bctrl/storage';

/**
 * storage as its own process: applies its migrations (under an advisory lock), answers its metadata calls on NATS,
 * and streams object bytes for the gateway on BCTRL_STORAGE_PORT (bytes cannot go over NATS).
 */
export async function bootstrap() {
  const service = await runServiceProcess({
    service: 'storage',
    settings: storageSettings,
    prepare: async (config) => {
      await migrateService(config.databaseUrl as string, 'storage', { workspaceRoot: config.workspaceRoot });
    },
    modules: (config) => [
      StorageModule.forRoot({
        databaseUrl: config.databaseUrl as string,
        objectStore: createObjectStore(config),
        maxObjectBytes: config.storageMaxObjectBytes,
      }),
    ],
  });
  const plane = service.app.get<StorageDataPlane>(STORAGE_DATA_PLANE_SERVICE);
  const server = createServer(new StorageDataPlaneServer(plane).handle);
  // Idle keep-alive sockets from the gateway must not hold the process at shutdown.
  server.keepAliveTimeout = 5_000;
  // A slow S3 (or a slow tenant on the other side of the gateway) may pause a stream; only a dead one is cut.
  server.requestTimeout = 0;
  await new Promise<void>((resolve) => server.listen(service.config.storagePort, service.config.host, resolve));
  const port = (server.address() as AddressInfo).port;
  new Logger('storage').log(`data plane on port ${port}`);
  const close = service.close;
  return {
    ...service,
    storagePort: port,
    close: async () => {
      server.close();
      await close();
    },
  };
}
