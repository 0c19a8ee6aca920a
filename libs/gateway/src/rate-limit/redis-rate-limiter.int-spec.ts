import Redis from 'ioredis';
import { InMemoryRateLimiter, RateLimiter, RedisRateLimiter } from './rate-limiter';

/** Both limiters must agree on the window arithmetic; the Redis one must also count across replicas. */
describe.each([
  [
    'in memory',
    () => ({
      limiter: new InMemoryRateLimiter(3) as RateLimiter,
      peer: null as RateLimiter | null,
      close: () => undefined,
    }),
  ],
  [
    'Redis',
    () => {
      const redis = new Redis(process.env.BCTRL_TEST_REDIS_URL as string);
      return { limiter: new RedisRateLimiter(redis, 3) as RateLimiter, close: () => redis.disconnect() };
    },
  ],
])('%s rate limiter', (_name, make) => {
  let made: ReturnType<typeof make>;
  beforeEach(() => {
    made = make();
  });
  afterEach(() => made.close());

  it('allows the limit within one second, refuses the next with a Retry-After, and resets in the next second', async () => {
    const key = `k-${Math.random()}`;
    const base = Math.floor(Date.now() / 1000) * 1000 + 10_000;
    const decisions = [];
    for (let i = 0; i < 4; i += 1) decisions.push(await made.limiter.hit(key, base + 100));
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, false]);
    expect(decisions.map((d) => d.remaining)).toEqual([2, 1, 0, 0]);
    expect(decisions[3]?.retryAfterSeconds).toBe(1);
    expect((await made.limiter.hit(key, base + 1100)).allowed).toBe(true);
  });

  it('keeps keys apart', async () => {
    const base = Math.floor(Date.now() / 1000) * 1000 + 20_000;
    for (let i = 0; i < 3; i += 1) await made.limiter.hit('a-key', base);
    expect((await made.limiter.hit(`b-${Math.random()}`, base)).allowed).toBe(true);
  });
});

describe('Redis rate limiter across gateway replicas', () => {
  it('counts hits from every replica against one limit', async () => {
    const a = new Redis(process.env.BCTRL_TEST_REDIS_URL as string);
    const b = new Redis(process.env.BCTRL_TEST_REDIS_URL as string);
    const [one, two] = [new RedisRateLimiter(a, 3), new RedisRateLimiter(b, 3)];
    const key = `shared-${Math.random()}`;
    const base = Math.floor(Date.now() / 1000) * 1000 + 30_000;
    const results = await Promise.all([one, two, one, two, one, two].map((limiter) => limiter.hit(key, base)));
    a.disconnect();
    b.disconnect();
    expect(results.filter((d) => d.allowed)).toHaveLength(3);
  });
});
