import request from 'supertest';
import { defineApiSuite } from './api.suite';
import { Platform, startLocalPlatform } from './platform';
import { defineRuntimeSuite } from './runtimes.suite';

describe('public API in local mode (one process, embedded Postgres, in-process transport)', () => {
  const platform = defineApiSuite(() => startLocalPlatform());
  defineRuntimeSuite(platform);
});

describe('rate limits (local mode, 5 requests per second per key)', () => {
  let platform: Platform;

  beforeAll(async () => {
    platform = await startLocalPlatform({ BCTRL_RATE_LIMIT_PER_SECOND: '5' });
  }, 120_000);

  afterAll(async () => {
    await platform?.stop();
  });

  it('answers 429 rate_limited with Retry-After past the limit, and serves the key again in the next second', async () => {
    const auth = { Authorization: `Bearer ${platform.adminKey}` };
    // Start at the beginning of a second so that all twelve requests fall into one window.
    await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 20));
    const responses = await Promise.all(
      Array.from({ length: 12 }, () => request(platform.url).get('/v1/spaces').set(auth)),
    );
    const limited = responses.filter((res) => res.status === 429);
    expect(responses.filter((res) => res.status === 200)).toHaveLength(5);
    expect(limited).toHaveLength(7);
    for (const res of limited) {
      expect(res.body.error.code).toBe('rate_limited');
      expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(res.headers['x-ratelimit-remaining']).toBe('0');
    }
    await new Promise((r) => setTimeout(r, Number(limited[0]?.headers['retry-after']) * 1000 + 50));
    expect((await request(platform.url).get('/v1/spaces').set(auth)).status).toBe(200);
  });

  it('counts each key on its own', async () => {
    const other = await request(platform.url)
      .post('/v1/api-keys')
      .set({ Authorization: `Bearer ${platform.adminKey}` })
      .send({ name: 'second', role: 'viewer' });
    await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 20));
    const first = await Promise.all(
      Array.from({ length: 5 }, () =>
        request(platform.url)
          .get('/v1/spaces')
          .set({ Authorization: `Bearer ${platform.adminKey}` }),
      ),
    );
    const second = await request(platform.url)
      .get('/v1/spaces')
      .set({ Authorization: `Bearer ${other.body.secret}` });
    expect(first.every((res) => res.status === 200)).toBe(true);
    expect(second.status).toBe(200);
  });
});
