import { RunningServer, startNats, startPostgres, startRedis } from '../../libs/testing/src';

declare global {
  var __BCTRL_TEST_SERVERS__: RunningServer[] | undefined;
}

/**
 * Starts the real servers the integration and end-to-end tiers use, each on a free port, and hands their
 * URLs to the test workers through the environment. A run of unit specs alone skips this.
 */
export default async function globalSetup(globalConfig: { selectProjects?: string[] | null }): Promise<void> {
  process.env.BCTRL_TEST_RUN_STARTED_AT = String(Date.now());
  const selected = globalConfig.selectProjects;
  if (selected && selected.length > 0 && selected.every((name) => name === 'unit')) return;
  const [postgres, redis, nats] = await Promise.all([startPostgres(), startRedis(), startNats()]);
  globalThis.__BCTRL_TEST_SERVERS__ = [postgres, redis, nats];
  process.env.BCTRL_TEST_DATABASE_URL = postgres.url;
  process.env.BCTRL_TEST_REDIS_URL = redis.url;
  process.env.BCTRL_TEST_NATS_URL = nats.url;
}
