import type { ConfigOf } from '@bctrl/config';
import type { GatewayModuleOptions } from './gateway.module';
import type { gatewaySettings } from './gateway.settings';
import type { IdempotencyStore } from './idempotency/idempotency.store';
import { type RateLimiter, UnlimitedRateLimiter } from './rate-limit/rate-limiter';

/** The adapters of the mode the gateway runs in: Redis-backed in its own process, in memory in local mode. */
export interface GatewayAdapters {
  idempotencyStore: IdempotencyStore;
  /** A limiter counting `perSecond` requests per key; only asked for when a limit is set. */
  rateLimiter(perSecond: number): RateLimiter;
  /** The public URL, when the composition fixes it after listening (local mode on port 0). */
  publicUrl?: { value: string };
}

/** The gateway's options from its settings, one function for its own app and local mode, so the two cannot drift. */
export function gatewayOptions(
  config: Pick<ConfigOf<typeof gatewaySettings>, 'rateLimitPerSecond' | 'publicUrl' | 'artifactContentRedirect'>,
  adapters: GatewayAdapters,
): GatewayModuleOptions {
  return {
    idempotencyStore: adapters.idempotencyStore,
    // BCTRL_RATE_LIMIT_PER_SECOND=0 turns the limit off.
    rateLimiter:
      config.rateLimitPerSecond > 0 ? adapters.rateLimiter(config.rateLimitPerSecond) : new UnlimitedRateLimiter(),
    publicUrl: adapters.publicUrl ?? { value: config.publicUrl },
    artifactContentRedirect: config.artifactContentRedirect,
  };
}
