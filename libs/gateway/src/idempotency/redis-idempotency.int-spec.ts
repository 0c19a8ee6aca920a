import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import { IDEMPOTENCY_TTL_SECONDS, RedisIdempotencyStore } from './idempotency.store';
import { describeIdempotencyStoreSemantics } from './idempotency-store.conformance';

const redisUrl = process.env.BCTRL_TEST_REDIS_URL;
if (!redisUrl) throw new Error('BCTRL_TEST_REDIS_URL is unset: run through jest, whose global setup starts Redis');

// Each store gets its own connection (closed by the store), as each gateway replica has.
describeIdempotencyStoreSemantics('Redis', () => new RedisIdempotencyStore(new Redis(redisUrl)));

describe('RedisIdempotencyStore against a real Redis', () => {
  let inspector: Redis;
  const stores: RedisIdempotencyStore[] = [];
  const open = () => {
    const store = new RedisIdempotencyStore(new Redis(redisUrl));
    stores.push(store);
    return store;
  };

  beforeAll(() => {
    inspector = new Redis(redisUrl);
  });

  afterAll(async () => {
    await Promise.all(stores.map((store) => store.close()));
    inspector.disconnect();
  });

  it('sets a TTL of about 24 hours on a claimed key and again on a completed one', async () => {
    const store = open();
    const key = `ttl-${randomUUID()}`;
    await store.begin(key, 'fp');
    const [redisKey] = await inspector.keys(`*${key}*`);
    expect(redisKey).toBeDefined();
    const claimedTtl = await inspector.ttl(redisKey as string);
    expect(claimedTtl).toBeGreaterThan(IDEMPOTENCY_TTL_SECONDS - 60);
    expect(claimedTtl).toBeLessThanOrEqual(24 * 60 * 60);

    // complete rewrites the value: it must not drop the expiry (a plain SET would make the key permanent).
    await inspector.expire(redisKey as string, 100);
    await store.complete(key, 'fp', { status: 201, body: { id: 'spc_1' } });
    const completedTtl = await inspector.ttl(redisKey as string);
    expect(completedTtl).toBeGreaterThan(IDEMPOTENCY_TTL_SECONDS - 60);
    expect(completedTtl).toBeLessThanOrEqual(24 * 60 * 60);
  });

  it('removes the Redis key on abandon', async () => {
    const store = open();
    const key = `abandon-${randomUUID()}`;
    await store.begin(key, 'fp');
    expect(await inspector.keys(`*${key}*`)).toHaveLength(1);
    await store.abandon(key);
    expect(await inspector.keys(`*${key}*`)).toHaveLength(0);
  });

  it('lets exactly one of two concurrent begins for the same key claim it, across connections', async () => {
    // Separate connections, like two gateway replicas receiving the same retry at once.
    const [first, second] = [open(), open()];
    for (let round = 0; round < 20; round++) {
      const key = `race-${randomUUID()}`;
      const results = await Promise.all([first.begin(key, 'fp'), second.begin(key, 'fp')]);
      expect(results.filter((result) => result.state === 'new')).toHaveLength(1);
      expect(results.filter((result) => result.state === 'in_flight')).toHaveLength(1);
    }
  });

  it('lets exactly one of many concurrent begins claim a key, the rest seeing in_flight or mismatch', async () => {
    const racers = Array.from({ length: 8 }, () => open());
    const key = `race-many-${randomUUID()}`;
    const results = await Promise.all(racers.map((store, n) => store.begin(key, n % 2 === 0 ? 'fp-even' : 'fp-odd')));
    expect(results.filter((result) => result.state === 'new')).toHaveLength(1);
    const winner = results.findIndex((result) => result.state === 'new');
    results.forEach((result, n) => {
      if (n === winner) return;
      expect(result.state).toBe(n % 2 === winner % 2 ? 'in_flight' : 'mismatch');
    });
  });

  it('sees a key claimed through another replica', async () => {
    const [one, two] = [open(), open()];
    const key = `shared-${randomUUID()}`;
    await one.begin(key, 'fp');
    await one.complete(key, 'fp', { status: 201, body: { id: 'spc_x' } });
    expect(await two.begin(key, 'fp')).toEqual({ state: 'replay', response: { status: 201, body: { id: 'spc_x' } } });
  });
});
