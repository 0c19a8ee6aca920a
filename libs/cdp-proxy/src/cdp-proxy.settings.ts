import { pickSettings, platformSettings } from '@bctrl/config';

/** cdp-proxy's own settings (beside every service process's): leases in Redis, their lifetimes, its CDP port. */
export const cdpProxySettings = pickSettings(
  platformSettings,
  'redisUrl',
  'connectionDefaultTtl',
  'connectionMaxTtl',
  'cdpProxyPort',
);
