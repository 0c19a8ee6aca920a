import Redis from 'ioredis';
import { defineService } from '@bctrl/service';
import { GatewayModule } from './gateway.module';
import { type GatewayAdapters, gatewayOptions } from './gateway.options';
import { gatewaySettings } from './gateway.settings';
import { InMemoryIdempotencyStore, RedisIdempotencyStore } from './idempotency/idempotency.store';
import { InMemoryRateLimiter, RedisRateLimiter } from './rate-limit/rate-limiter';

/**
 * The gateway, for its own app and for local mode. Its HTTP server is the public API itself, so each composition
 * creates that app (`createGatewayApp`) and decides where `/v1/cdp/*` and object bytes go: forwarded to cdp-proxy and
 * storage by its own process, handed to them in process by local mode.
 */
export const gatewayService = defineService({
  name: 'gateway',
  settings: gatewaySettings,
  ownsTables: false,
  adapters: {
    // Shared by every replica: an idempotency key or a rate limit holds whichever replica a request reaches.
    distributed: (config): GatewayAdapters => {
      const redis = new Redis(config.redisUrl as string, { lazyConnect: false, maxRetriesPerRequest: 2 });
      return {
        idempotencyStore: new RedisIdempotencyStore(redis),
        rateLimiter: (perSecond) => new RedisRateLimiter(redis, perSecond),
      };
    },
    local: (_config, context): GatewayAdapters => ({
      idempotencyStore: new InMemoryIdempotencyStore(),
      rateLimiter: (perSecond) => new InMemoryRateLimiter(perSecond),
      publicUrl: context.publicUrl,
    }),
  },
  modules: (config, adapters) => [GatewayModule.forRoot(gatewayOptions(config, adapters))],
});
