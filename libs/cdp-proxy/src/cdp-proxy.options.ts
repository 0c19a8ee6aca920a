import type { ConfigOf } from '@bctrl/config';
import type { cdpProxySettings } from './cdp-proxy.settings';
import type { LeaseStore } from './leases/lease-store';

export interface CdpProxyOptions {
  /** Redis in distributed mode, memory in local mode. Closed with the module. */
  leaseStore: LeaseStore;
  defaultTtlSeconds: number;
  maxTtlSeconds: number;
  /** How often runtimes with open sockets are reported active. Default 5 s. */
  heartbeatMs?: number;
}

export const CDP_PROXY_OPTIONS = Symbol.for('bctrl.cdp-proxy.options');
export const LEASE_STORE = Symbol.for('bctrl.cdp-proxy.leases');
export const CONNECTION_EVENTS = Symbol.for('bctrl.cdp-proxy.events');
/** The CdpEndpoint: local mode hands it to the gateway's HTTP server, the cdp-proxy app serves it itself. */
export const CDP_ENDPOINT = Symbol.for('bctrl.cdp-proxy.endpoint');

/** cdp-proxy's options from its settings and the mode's lease store: one function for its app and local mode. */
export function cdpProxyOptions(
  config: Pick<ConfigOf<typeof cdpProxySettings>, 'connectionDefaultTtl' | 'connectionMaxTtl'>,
  leaseStore: LeaseStore,
): CdpProxyOptions {
  return { leaseStore, defaultTtlSeconds: config.connectionDefaultTtl, maxTtlSeconds: config.connectionMaxTtl };
}
