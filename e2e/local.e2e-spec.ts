import { Builder, error as seleniumErrors } from 'selenium-webdriver';
import request from 'supertest';
import WebSocket from 'ws';
import { sleep, waitFor } from '@bctrl/testing';
import { defineAiConnectionsSuite } from './ai-connections.suite';
import { defineApiSuite } from './api.suite';
import { chromiumsOf } from './browsers';
import { defineConnectionSuite } from './connections.suite';
import { defineFilesSuite } from './files.suite';
import { defineLiveViewSuite } from './live-view.suite';
import { Platform, startLocalPlatform } from './platform';
import { defineProxiesSuite } from './proxies.suite';
import { readRunEvents } from './run-events';
import { defineRunSuite } from './runs.suite';
import { defineRuntimeSuite } from './runtimes.suite';
import { defineSecretsSuite } from './secrets.suite';
import { defineStorageSuite } from './storage.suite';
import { defineWebDriverSuite } from './webdriver.suite';

describe('public API in local mode (one process, embedded Postgres, in-process transport)', () => {
  const platform = defineApiSuite(() => startLocalPlatform());
  defineRuntimeSuite(platform);
  defineConnectionSuite(platform);
  defineWebDriverSuite(platform);
  defineRunSuite(platform);
  defineStorageSuite(platform);
  defineLiveViewSuite(platform);
  defineFilesSuite(platform);
  defineSecretsSuite(platform);
  defineProxiesSuite(platform);
  defineAiConnectionsSuite(platform);
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
      expect(res.headers['x-ratelimit-reset']).toMatch(/^[1-9][0-9]*$/);
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

describe('warm pool (local mode, one pooled browser)', () => {
  let platform: Platform;
  const auth = () => ({ Authorization: `Bearer ${platform.adminKey}` });

  beforeAll(async () => {
    platform = await startLocalPlatform({ BCTRL_WARM_POOL_SIZE: '1' });
  }, 120_000);

  afterAll(async () => {
    await platform?.stop();
  });

  /** Waits until the pool holds a ready browser and `browsers` Chromiums of this platform run. */
  async function poolFilled(browsers: number) {
    const deadline = Date.now() + 20_000;
    while ((platform.pooledBrowsers?.() ?? 0) < 1 || chromiumsOf(platform.installationId).length < browsers) {
      if (Date.now() > deadline) throw new Error('the pool did not fill');
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('serves a default runtime from the pool, a custom one cold, and refills with a new browser', async () => {
    const spaceId = (await request(platform.url).post('/v1/spaces').set(auth()).send({ name: 'warm' })).body
      .id as string;
    await poolFilled(1);
    const [pooled] = chromiumsOf(platform.installationId);
    const warm = await request(platform.url)
      .post(`/v1/spaces/${spaceId}/runtimes?wait=true`)
      .set(auth())
      .send({ type: 'browser' });
    expect(warm.body.status).toBe('ready');
    const warmEvents = await readRunEvents(platform.transport, warm.body.activeRunId, (e) =>
      e.some((x) => x.type === 'runtime.ready'),
    );
    expect(warmEvents.find((e) => e.type === 'runtime.ready')?.data.warm).toBe(true);

    // The pool refills with a different browser: the one the runtime took is never handed out again.
    await poolFilled(2);
    const refill = chromiumsOf(platform.installationId).find((p) => p.pid !== pooled?.pid);
    expect(refill).toBeDefined();

    const custom = await request(platform.url)
      .post(`/v1/spaces/${spaceId}/runtimes?wait=true`)
      .set(auth())
      .send({ type: 'browser', viewport: { width: 800, height: 600 } });
    const customEvents = await readRunEvents(platform.transport, custom.body.activeRunId, (e) =>
      e.some((x) => x.type === 'runtime.ready'),
    );
    expect(customEvents.find((e) => e.type === 'runtime.ready')?.data.warm).toBe(false);

    await request(platform.url).post(`/v1/runtimes/${warm.body.id}/stop`).set(auth());
    // Stopping the warm runtime ends the pooled browser it took; the refilled one is still waiting.
    expect(chromiumsOf(platform.installationId).map((p) => p.pid)).not.toContain(pooled?.pid);
    expect(chromiumsOf(platform.installationId).map((p) => p.pid)).toContain(refill?.pid);
    await request(platform.url).post(`/v1/runtimes/${custom.body.id}/stop`).set(auth());
  });
});

describe('connection expiry and idle runtimes (local mode)', () => {
  let platform: Platform;
  const auth = () => ({ Authorization: `Bearer ${platform.adminKey}` });

  beforeAll(async () => {
    platform = await startLocalPlatform();
  }, 120_000);

  afterAll(async () => {
    await platform?.stop();
  });

  /** A ready runtime that idles out after 10 s, and a connection to it of the given type and lifetime. */
  async function idleRuntimeWith(connection: { type: 'cdp' | 'webdriver'; ttlSeconds: number }) {
    const space = await request(platform.url)
      .post('/v1/spaces')
      .set(auth())
      .send({ name: `idle-${connection.type}` });
    const rt = await request(platform.url)
      .post(`/v1/spaces/${space.body.id}/runtimes?wait=true`)
      .set(auth())
      .send({ type: 'browser', idleTimeoutSeconds: 10, timeoutSeconds: 300 });
    const conn = await request(platform.url)
      .post(`/v1/runtimes/${rt.body.id}/connections`)
      .set(auth())
      .send(connection);
    return { rt, conn };
  }

  /** The runtime as it reads once it stopped (within 20 s). */
  const stoppedRuntime = (runtimeId: string) =>
    waitFor(
      'the runtime to idle out',
      async () => {
        const body = (await request(platform.url).get(`/v1/runtimes/${runtimeId}`).set(auth())).body;
        return body.status === 'stopped' ? body : undefined;
      },
      20_000,
      250,
    );

  it('an open connection keeps an idle runtime alive; its lease expiry closes it with 4002; then the runtime idles out', async () => {
    const { rt, conn } = await idleRuntimeWith({ type: 'cdp', ttlSeconds: 10 });
    const socket = new WebSocket(conn.body.wsUrl, { perMessageDeflate: false });
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    const closed = new Promise<{ code: number; reason: string; at: number }>((resolve) =>
      socket.once('close', (code, reason) => resolve({ code, reason: reason.toString(), at: Date.now() })),
    );
    const close = await closed;
    expect(close).toMatchObject({ code: 4002, reason: 'connection expired' });
    expect(close.at).toBeGreaterThanOrEqual(Date.parse(conn.body.expiresAt));
    expect(close.at - Date.parse(conn.body.expiresAt)).toBeLessThan(1_000);
    // 10 s after it became ready, the runtime would have idled out without the open socket.
    const during = await request(platform.url).get(`/v1/runtimes/${rt.body.id}`).set(auth());
    expect(during.body.status).toBe('ready');
    const expired = await request(platform.url).get(`/v1/connections/${conn.body.id}`).set(auth());
    expect(expired.body).toMatchObject({ status: 'expired', endReason: 'expired' });
    await expect(
      new Promise((resolve, reject) => {
        const again = new WebSocket(conn.body.wsUrl);
        again.once('open', resolve).once('unexpected-response', (_req, res) => reject(res.statusCode));
      }),
    ).rejects.toBe(401);
    // With the socket gone the idle clock runs again.
    expect(await stoppedRuntime(rt.body.id)).toMatchObject({ status: 'stopped', stopReason: 'idle' });
  }, 60_000);

  it('an open WebDriver session keeps an idle runtime alive; at lease expiry the session ends and the runtime idles out', async () => {
    const { rt, conn } = await idleRuntimeWith({ type: 'webdriver', ttlSeconds: 13 });
    const driver = await new Builder().usingServer(conn.body.webdriverUrl).forBrowser('chrome').build();
    const sessionId = (await driver.getSession()).getId();
    // No command after New Session: the open session alone must hold the idle stop off past its 10 s.
    await sleep(Math.max(0, Date.parse(conn.body.expiresAt) - Date.now() - 500));
    const during = await request(platform.url).get(`/v1/runtimes/${rt.body.id}`).set(auth());
    expect(during.body.status).toBe('ready');
    const events = await readRunEvents(
      platform.transport,
      rt.body.activeRunId,
      (e) => e.some((x) => x.type === 'connection.closed' && x.data['webdriverSessionId'] === sessionId),
      5_000,
    );
    expect(events.find((e) => e.type === 'connection.closed')?.data).toMatchObject({
      connectionId: conn.body.id,
      closedBy: 'platform',
      reason: 'expired',
    });
    await expect(driver.getTitle()).rejects.toBeInstanceOf(seleniumErrors.NoSuchSessionError);
    // With the session gone the idle clock runs again.
    expect(await stoppedRuntime(rt.body.id)).toMatchObject({ status: 'stopped', stopReason: 'idle' });
  }, 60_000);
});
