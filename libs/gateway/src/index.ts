export * from './gateway.module';
export * from './gateway.app';
export * from './idempotency/idempotency.store';
export { toBctrlError, envelope } from './http/error.filter';
export * from './rate-limit/rate-limiter';
export { CDP_ROUTE_PREFIX, ForwardingCdpRoute, installCdpRoute, PUBLIC_URL } from './connections/cdp-route';
export type { CdpRouteHandler } from './connections/cdp-route';
export { HttpStorageDataPlane, useStorageDataPlane } from './storage/storage-data-plane';
export type { StorageDataPlane } from './storage/storage-data-plane';
