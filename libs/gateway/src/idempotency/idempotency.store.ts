import type Redis from 'ioredis';

export interface StoredResponse {
  status: number;
  body: unknown;
}

export type BeginResult =
  | { state: 'new' }
  | { state: 'replay'; response: StoredResponse }
  | { state: 'in_flight' }
  | { state: 'mismatch' };

/**
 * Remembers what a POST with an `Idempotency-Key` answered, for 24 hours (as Stripe does), so that a
 * retry gets the first answer and creates nothing.
 */
export interface IdempotencyStore {
  /** Claims the key for this request, or says why it cannot (already answered, running, other body). */
  begin(key: string, fingerprint: string): Promise<BeginResult>;
  complete(key: string, fingerprint: string, response: StoredResponse): Promise<void>;
  /** The request failed before answering: the key is free for a retry. */
  abandon(key: string): Promise<void>;
  /** Readiness: resolves when the store answers. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export const IDEMPOTENCY_STORE = Symbol.for('bctrl.gateway.idempotency');
export const IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60;

interface Entry {
  fingerprint: string;
  response: StoredResponse | null;
}

function decide(entry: Entry, fingerprint: string): BeginResult {
  if (entry.fingerprint !== fingerprint) return { state: 'mismatch' };
  return entry.response ? { state: 'replay', response: entry.response } : { state: 'in_flight' };
}

/** Local mode: one process, so a map with expiry is the whole truth. */
export class InMemoryIdempotencyStore implements IdempotencyStore {
  private readonly entries = new Map<string, Entry & { expiresAt: number }>();

  begin(key: string, fingerprint: string): Promise<BeginResult> {
    this.sweep();
    const entry = this.entries.get(key);
    if (entry) return Promise.resolve(decide(entry, fingerprint));
    this.entries.set(key, { fingerprint, response: null, expiresAt: Date.now() + IDEMPOTENCY_TTL_SECONDS * 1000 });
    return Promise.resolve({ state: 'new' });
  }

  complete(key: string, fingerprint: string, response: StoredResponse): Promise<void> {
    this.entries.set(key, { fingerprint, response, expiresAt: Date.now() + IDEMPOTENCY_TTL_SECONDS * 1000 });
    return Promise.resolve();
  }

  abandon(key: string): Promise<void> {
    this.entries.delete(key);
    return Promise.resolve();
  }

  ping(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.entries.clear();
    return Promise.resolve();
  }

  private sweep() {
    const now = Date.now();
    for (const [key, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(key);
  }
}

/** Distributed mode: every gateway replica sees the same keys; SET NX makes the claim atomic. */
export class RedisIdempotencyStore implements IdempotencyStore {
  constructor(private readonly redis: Redis) {}

  async begin(key: string, fingerprint: string): Promise<BeginResult> {
    const redisKey = this.redisKey(key);
    const claimed = await this.redis.set(
      redisKey,
      JSON.stringify({ fingerprint, response: null }),
      'EX',
      IDEMPOTENCY_TTL_SECONDS,
      'NX',
    );
    if (claimed === 'OK') return { state: 'new' };
    const raw = await this.redis.get(redisKey);
    if (!raw) return this.begin(key, fingerprint);
    return decide(JSON.parse(raw) as Entry, fingerprint);
  }

  async complete(key: string, fingerprint: string, response: StoredResponse): Promise<void> {
    await this.redis.set(this.redisKey(key), JSON.stringify({ fingerprint, response }), 'EX', IDEMPOTENCY_TTL_SECONDS);
  }

  async abandon(key: string): Promise<void> {
    await this.redis.del(this.redisKey(key));
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  close(): Promise<void> {
    this.redis.disconnect();
    return Promise.resolve();
  }

  private redisKey(key: string) {
    return `bctrl:idem:${key}`;
  }
}
