import { defineApiSuite } from './api.suite';
import { startLocalPlatform } from './platform';

describe('public API in local mode (one process, embedded Postgres, in-process transport)', () => {
  defineApiSuite(startLocalPlatform);
});
