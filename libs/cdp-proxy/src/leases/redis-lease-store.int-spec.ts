import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import { describeLeaseStoreSemantics } from './lease-store.conformance';
import { RedisLeaseStore } from './redis-lease-store';

const redisUrl = process.env.BCTRL_TEST_REDIS_URL;
if (!redisUrl) throw new Error('BCTRL_TEST_REDIS_URL is unset: run through jest, whose global setup starts Redis');

// Each store has its own connection, as each cdp-proxy replica has; one prefix per test keeps tests apart.
let prefix = '';
beforeEach(() => {
  prefix = `test:${randomUUID()}:`;
});
describeLeaseStoreSemantics('Redis', () => new RedisLeaseStore(new Redis(redisUrl), prefix));

describe('RedisLeaseStore against a real Redis', () => {
  it('keeps the token only as a digest key that expires with the lease', async () => {
    const inspector = new Redis(redisUrl);
    const own = `test:${randomUUID()}:`;
    const store = new RedisLeaseStore(new Redis(redisUrl), own);
    try {
      const token = 'secret-token-value-that-must-not-be-a-key';
      const expiresAt = Date.now() + 30_000;
      await store.put({
        id: 'conn_1',
        token,
        type: 'cdp',
        runtimeId: 'rt_1',
        spaceId: 'spc_1',
        accountId: 'acct_1',
        subaccountId: null,
        runId: 'run_1',
        cdpUrl: 'ws://127.0.0.1:1/devtools/browser/x',
        createdAt: Date.now(),
        expiresAt,
        endedAt: null,
        endReason: null,
      });
      const keys = await inspector.keys(`${own}*`);
      expect(keys.some((key) => key.includes(token))).toBe(false);
      const leaseKey = keys.find((key) => key.includes(':lease:'));
      expect(leaseKey).toBeDefined();
      const pttl = await inspector.pttl(leaseKey as string);
      expect(pttl).toBeGreaterThan(28_000);
      expect(pttl).toBeLessThanOrEqual(30_000);
    } finally {
      await store.close();
      inspector.disconnect();
    }
  });
});
