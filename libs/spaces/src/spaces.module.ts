import { DynamicModule, Inject, Injectable, Module, OnModuleDestroy } from '@nestjs/common';
import { HealthRegistry } from '@bctrl/service';
import { AccountsRepository } from './accounts/accounts.repository';
import { AccountsService } from './accounts/accounts.service';
import { RootBootstrap } from './accounts/root-bootstrap';
import { AiConnectionsRepository } from './ai-connections/ai-connections.repository';
import { AiConnectionsService } from './ai-connections/ai-connections.service';
import { ApiKeysRepository } from './api-keys/api-keys.repository';
import { ApiKeysService } from './api-keys/api-keys.service';
import { createSpacesDb, SPACES_DB, SpacesDb } from './db/spaces-db';
import { ProxiesRepository } from './proxies/proxies.repository';
import { ProxiesService } from './proxies/proxies.service';
import { SecretsRepository } from './secrets/secrets.repository';
import { SecretsService } from './secrets/secrets.service';
import { SpacesHandlers } from './spaces.handlers';
import { SPACES_OPTIONS, SpacesModuleOptions } from './spaces.options';
import { SpacesRepository } from './spaces/spaces.repository';
import { SpacesService } from './spaces/spaces.service';
import { SubaccountsRepository } from './subaccounts/subaccounts.repository';
import { SubaccountsService } from './subaccounts/subaccounts.service';

export type { SpacesModuleOptions } from './spaces.options';

@Injectable()
class SpacesDbLifecycle implements OnModuleDestroy {
  constructor(
    @Inject(SPACES_DB) private readonly db: SpacesDb,
    health: HealthRegistry,
  ) {
    health.add('postgres', () => db.$queryRawUnsafe('SELECT 1'));
  }

  async onModuleDestroy() {
    await this.db.$disconnect();
  }
}

/** The spaces service: tenancy (accounts, subaccounts, spaces, API keys), answering over the transport. */
@Module({})
export class SpacesModule {
  static forRoot(options: SpacesModuleOptions): DynamicModule {
    return {
      module: SpacesModule,
      providers: [
        { provide: SPACES_OPTIONS, useValue: options },
        { provide: SPACES_DB, useFactory: () => createSpacesDb(options.databaseUrl) },
        SpacesDbLifecycle,
        SpacesRepository,
        SubaccountsRepository,
        ApiKeysRepository,
        AccountsRepository,
        SecretsRepository,
        ProxiesRepository,
        AiConnectionsRepository,
        SpacesService,
        SubaccountsService,
        ApiKeysService,
        AccountsService,
        SecretsService,
        ProxiesService,
        AiConnectionsService,
        RootBootstrap,
        SpacesHandlers,
      ],
    };
  }
}
