export { CdpProxyModule } from './cdp-proxy.module';
export { CDP_ENDPOINT } from './cdp-proxy.options';
export type { CdpProxyOptions } from './cdp-proxy.options';
export { CdpEndpoint, CLOSE_CODES, CDP_PATH_PREFIX } from './cdp/cdp-endpoint';
export { InMemoryLeaseStore } from './leases/lease-store';
export { FileLeaseStore } from './leases/file-lease-store';
export type { LeaseStore } from './leases/lease-store';
export { RedisLeaseStore } from './leases/redis-lease-store';
export { WEBDRIVER_PATH_PREFIX } from './webdriver/webdriver-relay';
