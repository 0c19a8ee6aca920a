import Redis from 'ioredis';
import { connect } from 'nats';
import { Client } from 'pg';

describe('test servers started by the global setup', () => {
  it('serves a real Postgres', async () => {
    const client = new Client({ connectionString: process.env.BCTRL_TEST_DATABASE_URL });
    await client.connect();
    const { rows } = await client.query<{ v: string }>('select version() as v');
    await client.end();
    expect(rows[0]?.v).toMatch(/^PostgreSQL \d+/);
  });

  it('serves a real Redis', async () => {
    const redis = new Redis(process.env.BCTRL_TEST_REDIS_URL as string);
    await redis.set('k', 'v');
    expect(await redis.get('k')).toBe('v');
    redis.disconnect();
  });

  it('serves NATS with JetStream enabled', async () => {
    const nc = await connect({ servers: process.env.BCTRL_TEST_NATS_URL });
    const jsm = await nc.jetstreamManager();
    const info = await jsm.getAccountInfo();
    expect(info.limits).toBeDefined();
    await nc.close();
  });
});
