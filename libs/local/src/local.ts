import { Module } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { loadConfig, platformSettings, PlatformConfig } from '@bctrl/config';
import { SERVICES, SpacesV1 } from '@bctrl/contracts';
import { migrateAll } from '@bctrl/db';
import {
  createGatewayApp,
  GatewayModule,
  InMemoryIdempotencyStore,
  InMemoryRateLimiter,
  UnlimitedRateLimiter,
} from '@bctrl/gateway';
import { PlatformModule } from '@bctrl/service';
import { SpacesModule } from '@bctrl/spaces';
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
  const postgres = config.databaseUrl
    ? { url: config.databaseUrl, stop: async () => undefined }
    : await startLocalPostgres(config.dataDir, (msg) => logger.log(msg, 'postgres'));
  try {
    await migrateAll(postgres.url, { workspaceRoot: options.workspaceRoot ?? process.cwd() });
    const transport = new InProcessTransport();

    @Module({
      imports: [
        PlatformModule.forRoot({ services: [...SERVICES], transport }),
        SpacesModule.forRoot({ databaseUrl: postgres.url }),
        GatewayModule.forRoot({
          idempotencyStore: new InMemoryIdempotencyStore(),
          rateLimiter:
            config.rateLimitPerSecond > 0
              ? new InMemoryRateLimiter(config.rateLimitPerSecond)
              : new UnlimitedRateLimiter(),
        }),
      ],
    })
    class LocalRootModule {}

    const app = await createGatewayApp(LocalRootModule, {
      maxBodyBytes: config.maxBodyBytes,
      publicUrl: config.publicUrl,
      logger,
    });
    await app.listen(config.port, config.host);
    const root = await transport.request(
      SpacesV1.ensureRootAccount,
      { bootstrapKey: config.bootstrapApiKey ?? '' },
      { principal: { kind: 'operator' } },
    );
    const url = await app.getUrl();
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
