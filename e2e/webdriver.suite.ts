import { chromium } from 'playwright-core';
import { Builder, By, error as seleniumErrors, until, type WebDriver } from 'selenium-webdriver';
import request from 'supertest';
import type { Platform } from './platform';
import { readCommandRecords, readRunEvents } from './run-events';
import { upgradeStatus } from './sockets';
import { startTestSite, type TestSite } from './test-site';

interface WebDriverConnection {
  id: string;
  runtimeId: string;
  type: string;
  status: string;
  webdriverUrl?: string;
  wsUrl?: string;
}

const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47]);

/** Selenium's RemoteWebDriver, unchanged, pointed at a connection's `webdriverUrl`. */
function remoteDriver(url: string): Promise<WebDriver> {
  return new Builder().usingServer(url).forBrowser('chrome').build();
}

/**
 * `webdriver` connections with Selenium's own client: W3C WebDriver through the platform to chromedriver beside the
 * runtime's browser, written once and run against each way of running.
 */
export function defineWebDriverSuite(platform: () => Platform) {
  const http = () => request(platform().url);
  const auth = () => ({ Authorization: `Bearer ${platform().adminKey}` });
  let site: TestSite;
  let spaceId: string;
  const runtimes: string[] = [];
  const drivers: WebDriver[] = [];

  async function runtime(): Promise<{ id: string; activeRunId: string }> {
    const res = await http()
      .post(`/v1/spaces/${spaceId}/runtimes?wait=true`)
      .set(auth())
      .send({ type: 'browser', timeoutSeconds: 300 });
    expect(res.body.status).toBe('ready');
    runtimes.push(res.body.id);
    return res.body;
  }

  async function connect(runtimeId: string, type: 'cdp' | 'webdriver' = 'webdriver') {
    const res = await http().post(`/v1/runtimes/${runtimeId}/connections`).set(auth()).send({ type });
    expect(res.status).toBe(201);
    return res.body as WebDriverConnection;
  }

  async function driver(connection: WebDriverConnection): Promise<WebDriver> {
    const created = await remoteDriver(connection.webdriverUrl as string);
    drivers.push(created);
    return created;
  }

  /** The runtime's pages as its own browser lists them, through a cdp connection. */
  async function pagesOf(runtimeId: string): Promise<string[]> {
    const cdp = await connect(runtimeId, 'cdp');
    const browser = await chromium.connectOverCDP(cdp.wsUrl as string);
    try {
      return browser.contexts().flatMap((context) => context.pages().map((page) => page.url()));
    } finally {
      await browser.close();
    }
  }

  describe('webdriver connections', () => {
    beforeAll(async () => {
      site = await startTestSite();
      const space = await http().post('/v1/spaces').set(auth()).send({ name: 'webdriver' });
      spaceId = space.body.id;
    });

    afterAll(async () => {
      await Promise.all(drivers.map((d) => d.quit().catch(() => undefined)));
      await Promise.all(runtimes.map((id) => http().post(`/v1/runtimes/${id}/stop`).set(auth())));
      await site?.close();
    });

    it("drives the runtime's own browser with Selenium RemoteWebDriver; quitting leaves the runtime running; commands are recorded", async () => {
      const rt = await runtime();
      const conn = await connect(rt.id);
      expect(conn).toMatchObject({ type: 'webdriver', status: 'active' });
      expect(conn.webdriverUrl).toMatch(new RegExp(`^${platform().url}/v1/webdriver/[A-Za-z0-9_-]{43}$`));
      expect(conn.wsUrl).toBeUndefined();

      const wd = await driver(conn);
      const sessionId = (await wd.getSession()).getId();
      // The internal address chromedriver attached to never reaches the client.
      const options = (await wd.getCapabilities()).get('goog:chromeOptions') as Record<string, unknown> | undefined;
      expect(options?.['debuggerAddress']).toBeUndefined();
      await wd.get(`${site.url}/`);
      await wd.findElement(By.id('go')).click();
      await wd.findElement(By.id('go')).click();
      expect(await wd.findElement(By.id('out')).getText()).toBe('clicked 2');
      expect(await wd.executeScript('return document.title')).toBe('BCTRL test page');
      expect(Buffer.from(await wd.takeScreenshot(), 'base64').subarray(0, 4)).toEqual(PNG_MAGIC);
      await expect(wd.findElement(By.id('nope'))).rejects.toBeInstanceOf(seleniumErrors.NoSuchElementError);
      await wd.findElement(By.id('next')).click();
      await wd.wait(until.urlIs(`${site.url}/second`), 10_000);

      // The session drove the runtime's browser itself: its own page list shows where WebDriver went.
      expect(await pagesOf(rt.id)).toContain(`${site.url}/second`);
      await wd.quit();
      expect((await http().get(`/v1/runtimes/${rt.id}`).set(auth())).body.status).toBe('ready');
      expect(await pagesOf(rt.id)).toContain(`${site.url}/second`);

      const records = await readCommandRecords(platform().transport, rt.activeRunId, (r) =>
        r.some((c) => c.method === 'DELETE /session/{sessionId}'),
      );
      const mine = records.filter((c) => c.connectionId === conn.id);
      const navigate = mine.find((c) => c.method === 'POST /session/{sessionId}/url');
      expect(navigate).toMatchObject({ sessionId, ok: true, errorCode: '' });
      expect(navigate?.durationMicros).toBeGreaterThan(0);
      expect(navigate?.requestBytes).toBeGreaterThan(0);
      expect(mine.find((c) => c.method === 'POST /session')).toMatchObject({ ok: true, sessionId: '' });
      expect(mine.find((c) => c.method === 'POST /session/{sessionId}/element/{elementId}/click')?.ok).toBe(true);
      expect(mine.find((c) => c.method === 'GET /session/{sessionId}/screenshot')?.responseBytes).toBeGreaterThan(
        1_000,
      );
      expect(mine.find((c) => !c.ok && c.method === 'POST /session/{sessionId}/element')?.errorCode).toBe(
        'no such element',
      );
      const events = await readRunEvents(platform().transport, rt.activeRunId, (e) =>
        e.some((x) => x.type === 'connection.closed' && x.data['connectionId'] === conn.id),
      );
      const ofConn = events.filter((e) => e.data['connectionId'] === conn.id);
      expect(ofConn.map((e) => e.type)).toEqual(['connection.opened', 'connection.closed']);
      expect(ofConn[0]?.data).toMatchObject({ webdriverSessionId: sessionId });
      expect(ofConn[1]?.data).toMatchObject({ webdriverSessionId: sessionId, closedBy: 'client' });
    });

    it('revoking refuses the next command and deletes its sessions on the runtime, whose browser keeps running', async () => {
      const rt = await runtime();
      const conn = await connect(rt.id);
      const wd = await driver(conn);
      await wd.get(`${site.url}/`);
      const sessionId = (await wd.getSession()).getId();

      const revoked = await http().delete(`/v1/connections/${conn.id}`).set(auth());
      expect(revoked.body).toMatchObject({ status: 'revoked' });
      expect(revoked.body.webdriverUrl).toBeUndefined();
      await expect(wd.getTitle()).rejects.toBeInstanceOf(seleniumErrors.NoSuchSessionError);
      const refused = await fetch(`${conn.webdriverUrl}/session/${sessionId}/title`);
      expect(refused.status).toBe(401);
      expect(await refused.json()).toMatchObject({
        error: { code: 'unauthenticated' },
        value: { error: 'invalid session id' },
      });

      // The relay ended the session on the runtime (the agent's spec shows the release deleting it), and another
      // connection to the same runtime cannot take it over.
      const other = await connect(rt.id);
      const events = await readRunEvents(platform().transport, rt.activeRunId, (e) =>
        e.some((x) => x.type === 'connection.closed' && x.data['connectionId'] === conn.id),
      );
      expect(
        events.find((e) => e.type === 'connection.closed' && e.data['connectionId'] === conn.id)?.data,
      ).toMatchObject({ webdriverSessionId: sessionId, closedBy: 'platform', reason: 'revoked' });
      const reused = await fetch(`${other.webdriverUrl}/session/${sessionId}/title`);
      expect(reused.status).toBe(404);
      expect(((await reused.json()) as { value: { error: string } }).value.error).toBe('invalid session id');
      // The browser and its page are still the runtime's.
      const again = await driver(other);
      expect(await again.getCurrentUrl()).toBe(`${site.url}/`);
      expect((await http().get(`/v1/runtimes/${rt.id}`).set(auth())).body.status).toBe('ready');
    });

    it('a token opens only its own kind of endpoint, and unknown tokens and paths are refused in both error shapes', async () => {
      const rt = await runtime();
      const wdConn = await connect(rt.id);
      const cdpConn = await connect(rt.id, 'cdp');
      const base = platform().url;
      const wdToken = new URL(wdConn.webdriverUrl as string).pathname.split('/').pop() as string;
      const cdpToken = new URL(cdpConn.wsUrl as string).pathname.split('/').pop() as string;

      const unknown = await fetch(`${base}/v1/webdriver/${'A'.repeat(43)}/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ capabilities: { alwaysMatch: { browserName: 'chrome' } } }),
      });
      expect(unknown.status).toBe(401);
      expect(await unknown.json()).toMatchObject({
        error: { code: 'unauthenticated' },
        value: { error: 'session not created' },
      });
      // A cdp connection's token is no WebDriver endpoint, and a WebDriver token opens no CDP socket.
      expect((await fetch(`${base}/v1/webdriver/${cdpToken}/status`)).status).toBe(401);
      expect((await fetch(`${base}/v1/cdp/${wdToken}/json/version`)).status).toBe(401);
      expect(await upgradeStatus(`${base.replace(/^http/, 'ws')}/v1/cdp/${wdToken}`)).toBe(401);
      expect((await fetch(`${base}/v1/webdriver/${wdToken}`)).status).toBe(404);
      expect((await fetch(`${base}/v1/webdriver/not-a-token!/status`)).status).toBe(404);
      // chromedriver's own status answers through a good token.
      const status = await fetch(`${wdConn.webdriverUrl}/status`);
      expect(status.status).toBe(200);
      expect(((await status.json()) as { value: { ready: boolean } }).value).toHaveProperty('ready');
      // A New Session body that is not JSON is the client's mistake: a 400 in W3C's shape.
      const bad = await fetch(`${wdConn.webdriverUrl}/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"capabilities": ',
      });
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { value: { error: string } }).value.error).toBe('invalid argument');
    });
  });
}
