import type Redis from 'ioredis';
import {
  type ConnectionEnded,
  type ConnectionLease,
  type EndReason,
  isLive,
  type LeaseStore,
  RECORD_RETENTION_MS,
  RUNTIME_INDEX_LIMIT,
  type Subscription,
  tokenDigest,
} from './lease-store';

interface StoredLease extends ConnectionLease {
  tokenDigest: string;
}

/**
 * Ends a live lease atomically: the check (not ended, not expired), the record update, the token's removal and
 * the notice to every replica happen in one script, so two revokes (or a revoke racing a runtime stop) cannot
 * both win and no replica can see the token work after the notice.
 * KEYS: record, ended channel. ARGV: reason, now (ms), key prefix.
 */
const END_SCRIPT = `
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
local lease = cjson.decode(raw)
if lease.endReason ~= cjson.null and lease.endReason ~= nil then return false end
if tonumber(lease.expiresAt) <= tonumber(ARGV[2]) then return false end
lease.endedAt = tonumber(ARGV[2])
lease.endReason = ARGV[1]
local encoded = cjson.encode(lease)
redis.call('SET', KEYS[1], encoded, 'KEEPTTL')
redis.call('DEL', ARGV[3] .. 'lease:' .. lease.tokenDigest)
redis.call('PUBLISH', KEYS[2], cjson.encode({connectionId = lease.id, runtimeId = lease.runtimeId, reason = ARGV[1]}))
return encoded
`;

/**
 * Distributed mode: leases in Redis, shared by every cdp-proxy replica; ends travel on a pub/sub channel.
 * Keys: `<prefix>conn:<id>` (the record, kept RECORD_RETENTION_MS past its end), `<prefix>lease:<sha256(token)>`
 * (the live token, expiring with the lease), `<prefix>rt:<runtimeId>` (a runtime's connections by creation time).
 */
export class RedisLeaseStore implements LeaseStore {
  private readonly channel: string;
  private subscriber: Redis | null = null;
  private readonly listeners = new Set<(ended: ConnectionEnded) => void>();

  constructor(
    private readonly redis: Redis,
    private readonly prefix = 'bctrl:connections:',
  ) {
    this.channel = `${prefix}ended`;
    redis.defineCommand('bctrlEndLease', { numberOfKeys: 2, lua: END_SCRIPT });
  }

  async put(lease: ConnectionLease): Promise<void> {
    const stored: StoredLease = { ...lease, tokenDigest: tokenDigest(lease.token) };
    const now = Date.now();
    const recordTtl = Math.max(1, lease.expiresAt + RECORD_RETENTION_MS - now);
    const indexKey = this.key('rt', lease.runtimeId);
    await this.redis
      .multi()
      .set(this.key('conn', lease.id), JSON.stringify(stored), 'PX', recordTtl)
      .set(this.key('lease', stored.tokenDigest), lease.id, 'PXAT', lease.expiresAt)
      .zadd(indexKey, lease.createdAt, lease.id)
      .zremrangebyrank(indexKey, 0, -(RUNTIME_INDEX_LIMIT + 1))
      .pexpire(indexKey, recordTtl)
      .exec()
      .then(failOnError);
  }

  async byToken(token: string): Promise<ConnectionLease | null> {
    const id = await this.redis.get(this.key('lease', tokenDigest(token)));
    if (!id) return null;
    const lease = await this.get(id);
    return lease && isLive(lease) && lease.token === token ? lease : null;
  }

  async get(id: string): Promise<ConnectionLease | null> {
    return parse(await this.redis.get(this.key('conn', id)));
  }

  async listByRuntime(runtimeId: string): Promise<ConnectionLease[]> {
    const ids = await this.redis.zrevrange(this.key('rt', runtimeId), 0, RUNTIME_INDEX_LIMIT - 1);
    if (ids.length === 0) return [];
    const raws = await this.redis.mget(ids.map((id) => this.key('conn', id)));
    return raws
      .map(parse)
      .filter((lease): lease is ConnectionLease => lease !== null)
      .sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1));
  }

  async end(id: string, reason: EndReason, now = Date.now()): Promise<ConnectionLease | null> {
    const run = (this.redis as unknown as Record<string, (...args: unknown[]) => Promise<string | null>>)[
      'bctrlEndLease'
    ];
    const raw = await run.call(this.redis, this.key('conn', id), this.channel, reason, String(now), this.prefix);
    return parse(raw);
  }

  async endRuntime(runtimeId: string, reason: EndReason, now = Date.now()): Promise<ConnectionLease[]> {
    const live = (await this.listByRuntime(runtimeId)).filter((lease) => isLive(lease, now));
    const ended = await Promise.all(live.map((lease) => this.end(lease.id, reason, now)));
    return ended.filter((lease): lease is ConnectionLease => lease !== null);
  }

  async subscribe(listener: (ended: ConnectionEnded) => void): Promise<Subscription> {
    if (!this.subscriber) {
      // A connection in subscriber mode can do nothing else: it gets its own.
      this.subscriber = this.redis.duplicate();
      this.subscriber.on('message', (channel: string, message: string) => {
        if (channel !== this.channel) return;
        let ended: ConnectionEnded;
        try {
          ended = JSON.parse(message) as ConnectionEnded;
        } catch {
          return;
        }
        for (const each of this.listeners) each(ended);
      });
      await this.subscriber.subscribe(this.channel);
    }
    this.listeners.add(listener);
    return {
      close: () => {
        this.listeners.delete(listener);
        return Promise.resolve();
      },
    };
  }

  close(): Promise<void> {
    this.listeners.clear();
    this.subscriber?.disconnect();
    this.subscriber = null;
    this.redis.disconnect();
    return Promise.resolve();
  }

  private key(kind: 'conn' | 'lease' | 'rt', id: string): string {
    return `${this.prefix}${kind}:${id}`;
  }
}

function parse(raw: string | null): ConnectionLease | null {
  if (!raw) return null;
  const { tokenDigest: _digest, ...lease } = JSON.parse(raw) as StoredLease;
  return lease;
}

function failOnError(results: [Error | null, unknown][] | null): void {
  for (const [error] of results ?? []) if (error) throw error;
}
