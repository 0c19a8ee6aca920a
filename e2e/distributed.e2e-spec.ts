import { defineApiSuite } from './api.suite';
import { startDistributedPlatform } from './platform';

describe('public API in distributed mode (each app its own process on NATS, Redis and Postgres)', () => {
  defineApiSuite(startDistributedPlatform);
});
