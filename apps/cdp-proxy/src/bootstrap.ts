import { cdpProxyService } from '@bctrl/cdp-proxy';
import { runService } from '@bctrl/service';

/** cdp-proxy as its own process: connection methods on NATS, leases in Redis, `/v1/cdp/*` on BCTRL_CDP_PROXY_PORT. */
export function bootstrap() {
  return runService(cdpProxyService);
}
