import { Module } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { CDP_ENDPOINT, cdpProxyService } from '@bctrl/cdp-proxy';
import { loadConfig, PlatformConfig, platformSettings } from '@bctrl/config';
import { SERVICES } from '@bctrl/contracts';
import { migrateService } from '@bctrl/db';
import {
  CdpRouteHandler,
  createGatewayApp,
  gatewayService,
  installCdpRoute,
  useStorageDataPlane,
} from '@bctrl/gateway';
import { invocationWorkerService } from '@bctrl/invocation-worker';
import { runsRecorderService } from '@bctrl/runs-recorder';
import { runtimeOrchestratorService } from '@bctrl/runtime-orchestrator';
import { type AnyServiceDefinition, type LocalContext, PlatformModule } from '@bctrl/service';
import { RootBootstrap, spacesService } from '@bctrl/spaces';
import { STORAGE_DATA_PLANE_SERVICE, storageService } from '@bctrl/storage';
import { JsonLogger } from '@bctrl/telemetry';
import { InProcessTransport } from '@bctrl/transport';
import { startLocalPostgres } from './embedded-postgres';

/**
 * Every service local mode runs, from the same definitions their own apps run: settings, options, adapters and
 * tables cannot differ between the two compositions except where a definition says so (its `local` adapters).
 */
export const LOCAL_SERVICES: readonly AnyServiceDefinition[] = [
  spacesService,
  runtimeOrchestratorService,
  gatewayService,
  runsRecorderService,
  storageService,
  cdpProxyService,
  invocationWorkerService,
];

export interface LocalPlatform {
  app: NestFastifyApplication;
  config: PlatformConfig;
  url: string;
  /** The first admin key, when this start created it and generated it (shown once). */
  createdKey: string | null;
  close(): Promise<void>;
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
    ? { url: config.databaseUrl, stop: () => Promise.resolve() }
    : await startLocalPostgres(config.dataDir, (msg) => logger.log(msg, 'postgres'));
  try {
    // The composition's config: the data dir's database (embedded unless BCTRL_DATABASE_URL is set), and the
    // workspace the caller names (tests and benches run from the repo root).
    const composed = { ...config, databaseUrl: postgres.url, workspaceRoot };
    for (const service of LOCAL_SERVICES) {
      if (service.ownsTables) await migrateService(postgres.url, service.name, { workspaceRoot });
    }
    const transport = new InProcessTransport();
    const context: LocalContext = { dataDir: config.dataDir, publicUrl: { value: config.publicUrl } };
    const adapters = LOCAL_SERVICES.map((service) => service.adapters.local(composed, context) as unknown);

    @Module({
      imports: [
        PlatformModule.forRoot({ services: [...SERVICES], transport }),
        ...LOCAL_SERVICES.flatMap((service, index) => service.modules(composed, adapters[index])),
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
    // Listening initialises every module first: the root account exists before the first request can arrive.
    await app.listen(config.port, config.host);
    for (const [index, service] of LOCAL_SERVICES.entries()) await service.started?.(app, adapters[index], transport);
    const url = await app.getUrl();
    // With BCTRL_PORT=0 (tests, benches) the default public URL names a port nobody listens on: use the real one.
    if (!(options.env ?? process.env)['BCTRL_PUBLIC_URL']) {
      const port = new URL(url).port;
      context.publicUrl.value = ['127.0.0.1', 'localhost'].includes(config.host)
        ? `http://127.0.0.1:${port}`
        : `${new URL(config.publicUrl).protocol}//${new URL(config.publicUrl).hostname}:${port}`;
    }
    let closed = false;
    return {
      app,
      config,
      url,
      createdKey: app.get(RootBootstrap).createdKey,
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
