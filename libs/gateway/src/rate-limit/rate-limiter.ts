import type Redis from 'ioredis';

export interface RateDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Seconds until the current window ends and the key may call again. */
  retryAfterSeconds: number;
}

/**
 * Fixed one-second windows per API key: simple to reason about for tenants (a `Retry-After` of at most one
 * second) and one atomic INCR per request in Redis.
 */
export interface RateLimiter {
  hit(key: string, now?: number): Promise<RateDecision>;
}

export const RATE_LIMITER = Symbol.for('bctrl.gateway.rate-limiter');

function decide(count: number, limit: number, now: number): RateDecision {
  const retryAfterSeconds = Math.max(1, Math.ceil((1000 - (now % 1000)) / 1000));
  return { allowed: count <= limit, limit, remaining: Math.max(0, limit - count), retryAfterSeconds };
}

/** Local mode: one process counts for itself. */
export class InMemoryRateLimiter implements RateLimiter {
  private window = -1;
  private counts = new Map<string, number>();

  constructor(private readonly limit: number) {}

  hit(key: string, now = Date.now()): Promise<RateDecision> {
    const window = Math.floor(now / 1000);
    if (window !== this.window) {
      this.window = window;
      this.counts = new Map();
    }
    const count = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, count);
    return Promise.resolve(decide(count, this.limit, now));
  }
}

/** Distributed mode: every gateway replica counts in the same Redis key for the window. */
export class RedisRateLimiter implements RateLimiter {
  constructor(
    private readonly redis: Redis,
    private readonly limit: number,
  ) {}

  async hit(key: string, now = Date.now()): Promise<RateDecision> {
    const redisKey = `bctrl:rate:${key}:${Math.floor(now / 1000)}`;
    const results = await this.redis.multi().incr(redisKey).expire(redisKey, 2).exec();
    const failed = results?.find(([error]) => error);
    if (!results || failed) throw failed?.[0] ?? new Error('rate limit transaction was discarded');
    return decide(Number(results[0]?.[1]), this.limit, now);
  }
}

/** `BCTRL_RATE_LIMIT_PER_SECOND=0`: no limit. */
export class UnlimitedRateLimiter implements RateLimiter {
  hit(): Promise<RateDecision> {
    return Promise.resolve({ allowed: true, limit: 0, remaining: 0, retryAfterSeconds: 0 });
  }
}
