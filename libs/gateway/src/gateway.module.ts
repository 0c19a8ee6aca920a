import { DynamicModule, Inject, Injectable, Module, OnApplicationShutdown } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_INTERCEPTOR } from '@nestjs/core';
import { healthMethod } from '@bctrl/contracts';
import { HealthRegistry } from '@bctrl/service';
import { TRANSPORT, Transport } from '@bctrl/transport';
import { AiConnectionsController } from './ai-connections/ai-connections.controller';
import { ApiKeysController } from './api-keys/api-keys.controller';
import { ARTIFACT_CONTENT_REDIRECT, ArtifactsController } from './artifacts/artifacts.controller';
import { ApiKeyGuard } from './auth/auth';
import { PUBLIC_URL } from './connections/cdp-route';
import { ConnectionsController } from './connections/connections.controller';
import { ErrorEnvelopeFilter } from './http/error.filter';
import { ServiceClient } from './http/service-client';
import { IdempotencyInterceptor } from './idempotency/idempotency.interceptor';
import { IDEMPOTENCY_STORE, IdempotencyStore } from './idempotency/idempotency.store';
import { ProxiesController } from './proxies/proxies.controller';
import { RATE_LIMITER, RateLimiter } from './rate-limit/rate-limiter';
import { RunsController } from './runs/runs.controller';
import { RuntimeFilesController } from './runtime-files/runtime-files.controller';
import { RuntimesController } from './runtimes/runtimes.controller';
import { SecretsController } from './secrets/secrets.controller';
import { SpacesController } from './spaces/spaces.controller';
import { StorageController } from './storage/storage.controller';
import { STORAGE_DATA_PLANE_PORT, StorageDataPlanePort } from './storage/storage-data-plane';
import { SubaccountsController } from './subaccounts/subaccounts.controller';
import { ViewsController } from './views/views.controller';

export interface GatewayModuleOptions {
  idempotencyStore: IdempotencyStore;
  rateLimiter: RateLimiter;
  /** Base URL tenants reach the gateway at; connection URLs are built from it. */
  publicUrl: { value: string };
  /** Answer artifact content with a 302 to a presigned URL when the store gives one (BCTRL_ARTIFACT_CONTENT_REDIRECT). */
  artifactContentRedirect?: boolean;
}

/** The services whose answers the gateway needs for its routes: not ready without them. */
const REQUIRED_SERVICES = ['spaces', 'runtime-orchestrator', 'cdp-proxy', 'runs-recorder', 'storage'] as const;

@Injectable()
class GatewayLifecycle implements OnApplicationShutdown {
  constructor(
    @Inject(IDEMPOTENCY_STORE) private readonly idempotency: IdempotencyStore,
    @Inject(TRANSPORT) transport: Transport,
    health: HealthRegistry,
  ) {
    health.add('idempotency-store', () => idempotency.ping());
    for (const service of REQUIRED_SERVICES) {
      health.addPeer(service, async () => {
        const answer = await transport.request(
          healthMethod(service),
          {},
          { principal: { kind: 'operator' } },
          { timeoutMs: 1_500 },
        );
        if (!answer.ready) throw new Error(`${service} is not ready`);
      });
    }
  }

  async onApplicationShutdown() {
    await this.idempotency.close();
  }
}

/** The public HTTP surface. Needs PlatformModule (transport, health) imported beside it. */
@Module({})
export class GatewayModule {
  static forRoot(options: GatewayModuleOptions): DynamicModule {
    return {
      module: GatewayModule,
      controllers: [
        SpacesController,
        SubaccountsController,
        ApiKeysController,
        RuntimesController,
        ConnectionsController,
        StorageController,
        ArtifactsController,
        RunsController,
        ViewsController,
        RuntimeFilesController,
        SecretsController,
        ProxiesController,
        AiConnectionsController,
      ],
      providers: [
        { provide: IDEMPOTENCY_STORE, useValue: options.idempotencyStore },
        { provide: RATE_LIMITER, useValue: options.rateLimiter },
        { provide: PUBLIC_URL, useValue: options.publicUrl },
        { provide: STORAGE_DATA_PLANE_PORT, useValue: new StorageDataPlanePort() },
        { provide: ARTIFACT_CONTENT_REDIRECT, useValue: { value: options.artifactContentRedirect ?? false } },
        ServiceClient,
        GatewayLifecycle,
        { provide: APP_GUARD, useClass: ApiKeyGuard },
        { provide: APP_INTERCEPTOR, useClass: IdempotencyInterceptor },
        { provide: APP_FILTER, useClass: ErrorEnvelopeFilter },
      ],
    };
  }
}
