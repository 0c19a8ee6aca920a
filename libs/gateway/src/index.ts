export * from './gateway.module';
export * from './gateway.app';
export * from './idempotency/idempotency.store';
export { toBctrlError, envelope } from './http/error.filter';
export * from './rate-limit/rate-limiter';
