import { Module } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { loadConfig, platformSettings, PlatformConfig } from '@bctrl/config';
import { SERVICES, SpacesV1 } from '@bctrl/contracts';
import { migrateAll } from '@bctrl/db';
import { CDP_ENDPOINT, CdpProxyModule, cdpProxyOptions, FileLeaseStore } from '@bctrl/cdp-proxy';
import {
  CdpRouteHandler,
  createGatewayApp,
  installCdpRoute,
  GatewayModule,
  gatewayOptions,
  InMemoryIdempotencyStore,
  InMemoryRateLimiter,
  useStorageDataPlane,
} from '@bctrl/gateway';
import { PlatformModule } from '@bctrl/service';
import { orchestratorOptions, RuntimeOrchestratorModule } from '@bctrl/runtime-orchestrator';
import { RunsRecorderModule } from '@bctrl/runs-recorder';
import { SpacesModule } from '@bctrl/spaces';
import { createObjectStore, STORAGE_DATA_PLANE_SERVICE, StorageModule } from '@bctrl/storage';
import { JsonLogger } from '@bctrl/telemetry';
import { InProcessTransport } from '@bctrl/transport';
import { startLocalPostgres } from './embedded-postgres';

export interface LocalPlatform {
  app: NestFastifyApplication;
  config: PlatformConfig;
  url: string;
  /** The first admin key, when this start created it and generated it (shown once). */
  createdKey: string | null;
  close(): Promise<void>;
}

/**
 * Browsers of one local install are told apart from another's (two data dirs, two test runs) by an
 * installation id derived from the data directory, unless the operator set one.
 */
export function localInstallationId(config: Pick<PlatformConfig, 'installationId' | 'dataDir'>): string {
  if (config.installationId !== 'bctrl') return config.installationId;
  return `local-${createHash('sha256').update(resolve(config.dataDir)).digest('hex').slice(0, 12)}`;
}

export interface LocalOptions {
  env?: NodeJS.ProcessEnv;
  /** Where migrations are read from; the repo root when running from source. */
  workspaceRoot?: string;
}

/**
 * Local mode: every service in this one process, on embedded Postgres, the in-process transport, in-memory
 * idempotency keys, and the gateway on BCTRL_PORT. Same modules and handlers as the distributed apps.
 */
export async function startLocal(options: LocalOptions = {}): Promise<LocalPlatform> {
  const config = loadConfig(platformSettings, { ...(options.env ?? process.env), BCTRL_MODE: 'local' });
  const logger = new JsonLogger({ service: 'bctrl-local', level: config.logLevel });
  const workspaceRoot = options.workspaceRoot ?? config.workspaceRoot;
  const postgres = config.databaseUrl
    ? { url: config.databaseUrl, stop: async () => undefined }
    : await startLocalPostgres(config.dataDir, (msg) => logger.log(msg, 'postgres'));
  try {
    await migrateAll(postgres.url, { workspaceRoot });
    const transport = new InProcessTransport();
    // Connection records outlive the process in the data dir: after a crash, the ones it left live read as closed
    // (platform_restarted) instead of vanishing, and their open sockets are reported closed on their runs.
    const leaseStore = new FileLeaseStore(join(config.dataDir, 'connections.json'));
    const publicUrl = { value: config.publicUrl };

    @Module({
      imports: [
        PlatformModule.forRoot({ services: [...SERVICES], transport }),
        SpacesModule.forRoot({ databaseUrl: postgres.url }),
        RuntimeOrchestratorModule.forRoot(
          orchestratorOptions(config, {
            databaseUrl: postgres.url,
            workspaceRoot,
            installationId: localInstallationId(config),
          }),
        ),
        GatewayModule.forRoot(
          gatewayOptions(config, {
            idempotencyStore: new InMemoryIdempotencyStore(),
            rateLimiter: (perSecond) => new InMemoryRateLimiter(perSecond),
            publicUrl,
          }),
        ),
        RunsRecorderModule.forRoot({ databaseUrl: postgres.url }),
        // Files under BCTRL_DATA_DIR/objects by default; BCTRL_OBJECT_STORE=s3 works here too.
        StorageModule.forRoot({
          databaseUrl: postgres.url,
          objectStore: createObjectStore(config),
          maxObjectBytes: config.storageMaxObjectBytes,
        }),
        CdpProxyModule.forRoot(cdpProxyOptions(config, leaseStore)),
      ],
    })
    class LocalRootModule {}

    const app = await createGatewayApp(LocalRootModule, {
      maxBodyBytes: config.maxBodyBytes,
      publicUrl: config.publicUrl,
      logger,
      shutdownHooks: false,
    });
    // One process: the gateway's own server hands /v1/cdp/* to cdp-proxy's endpoint, no extra hop.
    installCdpRoute(app, app.get<CdpRouteHandler>(CDP_ENDPOINT));
    // Likewise object bytes stream straight between the gateway's routes and the storage service.
    useStorageDataPlane(app, app.get(STORAGE_DATA_PLANE_SERVICE));
    await app.listen(config.port, config.host);
    const root = await transport.request(
      SpacesV1.ensureRootAccount,
      { bootstrapKey: config.bootstrapApiKey ?? '' },
      { principal: { kind: 'operator' } },
    );
    // Now that the run events have somewhere to go (runs-recorder consumes them).
    await leaseStore
      .announceRestart(transport)
      .catch((error: unknown) => logger.error(`could not report connections closed by the restart: ${String(error)}`));
    const url = await app.getUrl();
    // With BCTRL_PORT=0 (tests, benches) the default public URL names a port nobody listens on: use the real one.
    if (!(options.env ?? process.env)['BCTRL_PUBLIC_URL']) {
      const port = new URL(url).port;
      publicUrl.value = ['127.0.0.1', 'localhost'].includes(config.host)
        ? `http://127.0.0.1:${port}`
        : `${new URL(config.publicUrl).protocol}//${new URL(config.publicUrl).hostname}:${port}`;
    }
    let closed = false;
    return {
      app,
      config,
      url,
      createdKey: root.createdKeySecret || null,
      close: async () => {
        if (closed) return;
        closed = true;
        await app.close();
        await postgres.stop();
      },
    };
  } catch (error) {
    await postgres.stop().catch(() => undefined);
    throw error;
  }
}
