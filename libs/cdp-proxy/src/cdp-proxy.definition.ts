import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import Redis from 'ioredis';
import { defineService } from '@bctrl/service';
import type { Transport } from '@bctrl/transport';
import type { CdpEndpoint } from './cdp/cdp-endpoint';
import { CdpProxyModule } from './cdp-proxy.module';
import { CDP_ENDPOINT, cdpProxyOptions } from './cdp-proxy.options';
import { cdpProxySettings } from './cdp-proxy.settings';
import { FileLeaseStore } from './leases/file-lease-store';
import type { LeaseStore } from './leases/lease-store';
import { RedisLeaseStore } from './leases/redis-lease-store';

interface CdpProxyAdapters {
  leaseStore: LeaseStore;
  /** After a restart: report the connections the previous process left open as closed on their runs. */
  announceRestart?(transport: Transport): Promise<void>;
}

/**
 * cdp-proxy, for its own app and for local mode: connection methods on the transport, and `/v1/cdp/*` (WebSocket
 * upgrades, discovery, live view, WebDriver), served on BCTRL_CDP_PROXY_PORT by its own process (for the gateway to
 * forward to, or an ingress to route to directly) and in process by local mode's gateway.
 */
export const cdpProxyService = defineService({
  name: 'cdp-proxy',
  settings: cdpProxySettings,
  ownsTables: false,
  adapters: {
    // Leases in Redis: every replica sees every lease, and they outlive any one process.
    distributed: (config): CdpProxyAdapters => ({
      leaseStore: new RedisLeaseStore(new Redis(config.redisUrl as string, { maxRetriesPerRequest: 2 })),
    }),
    // Connection records outlive the process in the data dir: after a crash, the ones it left live read as closed
    // (platform_restarted) instead of vanishing, and their open sockets are reported closed on their runs.
    local: (_config, context): CdpProxyAdapters => {
      const leaseStore = new FileLeaseStore(join(context.dataDir, 'connections.json'));
      return { leaseStore, announceRestart: (transport) => leaseStore.announceRestart(transport) };
    },
  },
  modules: (config, adapters) => [CdpProxyModule.forRoot(cdpProxyOptions(config, adapters.leaseStore))],
  http: {
    port: (config) => config.cdpProxyPort,
    endpoint: (app) => app.get<CdpEndpoint>(CDP_ENDPOINT),
  },
  // Once every service serves: the run events this reports need runs-recorder's consumer.
  started: async (_app, adapters, transport) => {
    await adapters.announceRestart?.(transport).catch((error: unknown) => {
      new Logger('cdp-proxy').error(`could not report connections closed by the restart: ${String(error)}`);
    });
  },
});
