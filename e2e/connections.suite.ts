import CDP from 'chrome-remote-interface';
import { chromium } from 'playwright-core';
import puppeteer from 'puppeteer-core';
import request from 'supertest';
import WebSocket from 'ws';
import { CdpSession } from '@bctrl/cdp-client';
import { sleep } from '@bctrl/testing';
import type { Platform } from './platform';
import { readCommandRecords, readRunEvents } from './run-events';
import { startTestSite, type TestSite } from './test-site';

interface Connection {
  id: string;
  runtimeId: string;
  runId: string;
  status: string;
  wsUrl: string;
  httpUrl: string;
  devtoolsFrontendUrl: string;
  expiresAt: string;
}

/** Opens a raw WebSocket; resolves once open, or rejects with the HTTP status the upgrade was refused with. */
function openSocket(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { perMessageDeflate: false });
    socket.once('open', () => resolve(socket));
    socket.once('unexpected-response', (_req, res) =>
      reject(Object.assign(new Error('refused'), { status: res.statusCode })),
    );
    socket.once('error', reject);
  });
}

function closeOf(socket: WebSocket): Promise<{ code: number; reason: string; at: number }> {
  return new Promise((resolve) =>
    socket.once('close', (code, reason) => resolve({ code, reason: reason.toString(), at: Date.now() })),
  );
}

const sessions = new WeakMap<WebSocket, CdpSession>();

/** The shared CDP client over a raw socket, which the test keeps to see how the proxy closes it. */
function cdp(socket: WebSocket): CdpSession {
  let session = sessions.get(socket);
  if (!session) sessions.set(socket, (session = CdpSession.over(socket)));
  return session;
}

const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47]);

/**
 * Connections with real Chromium and real clients (Playwright, Puppeteer, chrome-remote-interface, raw
 * WebSockets), through the public API, written once and run against each way of running.
 */
export function defineConnectionSuite(platform: () => Platform) {
  const http = () => request(platform().url);
  const auth = (key = platform().adminKey) => ({ Authorization: `Bearer ${key}` });
  let site: TestSite;
  let spaceId: string;
  const runtimes: string[] = [];

  async function runtime(body: object = {}, space = spaceId): Promise<{ id: string; activeRunId: string }> {
    const res = await http()
      .post(`/v1/spaces/${space}/runtimes?wait=true`)
      .set(auth())
      .send({ type: 'browser', timeoutSeconds: 300, ...body });
    expect(res.body.status).toBe('ready');
    runtimes.push(res.body.id);
    return res.body;
  }

  async function connect(runtimeId: string, body: object = {}, key?: string): Promise<Connection> {
    const res = await http().post(`/v1/runtimes/${runtimeId}/connections`).set(auth(key)).send(body);
    expect(res.status).toBe(201);
    return res.body as Connection;
  }

  describe('connections', () => {
    beforeAll(async () => {
      site = await startTestSite();
      const space = await http().post('/v1/spaces').set(auth()).send({ name: 'connections' });
      spaceId = space.body.id;
    });

    afterAll(async () => {
      await Promise.all(runtimes.map((id) => http().post(`/v1/runtimes/${id}/stop`).set(auth())));
      await site?.close();
    });

    it('creates, reads and lists a connection whose URLs point at this platform', async () => {
      const rt = await runtime();
      const created = await connect(rt.id, { ttlSeconds: 600 });
      expect(created).toMatchObject({
        id: expect.stringMatching(/^conn_[0-9A-Za-z]{24}$/),
        runtimeId: rt.id,
        runId: rt.activeRunId,
        type: 'cdp',
        status: 'active',
        endedAt: null,
        endReason: null,
      });
      const base = new URL(platform().url);
      expect(created.wsUrl).toMatch(new RegExp(`^ws://${base.host}/v1/cdp/[A-Za-z0-9_-]{43}$`));
      expect(Date.parse(created.expiresAt) - Date.now()).toBeGreaterThan(590_000);
      // The token is a credential shown once, in the create answer: reads carry the connection without any URL.
      const { wsUrl: _ws, httpUrl: _http, devtoolsFrontendUrl: _devtools, ...withoutUrls } = created;
      expect((await http().get(`/v1/connections/${created.id}`).set(auth())).body).toEqual(withoutUrls);
      const second = await connect(rt.id);
      const listed = await http().get(`/v1/runtimes/${rt.id}/connections?limit=1`).set(auth());
      expect(listed.body.data.map((c: Connection) => c.id)).toEqual([second.id]);
      const rest = await http().get(`/v1/runtimes/${rt.id}/connections?cursor=${listed.body.nextCursor}`).set(auth());
      expect(rest.body).toEqual({ data: [withoutUrls], nextCursor: null });

      // The discovery routes answer as Chromium does, with URLs that lead back through this connection.
      const version = (await fetch(`${created.httpUrl}/json/version`).then((r) => r.json())) as Record<string, string>;
      expect(version.webSocketDebuggerUrl).toBe(created.wsUrl);
      expect(version.Browser).toMatch(/Chrome/);

      // DevTools opens on the current page, its files and its socket all through the connection.
      const devtools = await fetch(created.devtoolsFrontendUrl, { redirect: 'manual' });
      expect(devtools.status).toBe(302);
      const location = new URL(devtools.headers.get('location') as string, platform().url);
      expect(location.pathname).toBe(`${new URL(created.httpUrl).pathname}/devtools/inspector.html`);
      const pageSocket = `ws://${location.searchParams.get('ws')}`;
      expect(pageSocket).toMatch(new RegExp(`^${created.wsUrl}/devtools/page/[A-F0-9]+$`));
      const inspector = await fetch(location);
      expect(inspector.status).toBe(200);
      expect(await inspector.text()).toContain('<!DOCTYPE html>');
      const socket = await openSocket(pageSocket);
      expect(await cdp(socket).send('Runtime.evaluate', { expression: '1 + 1' })).toMatchObject({
        result: { value: 2 },
      });
      socket.close();
    });

    it('drives a page with Playwright connectOverCDP: navigate, click, evaluate, screenshot; commands are recorded', async () => {
      const rt = await runtime();
      const conn = await connect(rt.id);
      // By the HTTP base: Playwright reads <base>/json/version and follows the WebSocket URL it names.
      const browser = await chromium.connectOverCDP(conn.httpUrl);
      try {
        const context = browser.contexts()[0] ?? (await browser.newContext());
        const page = await context.newPage();
        await page.goto(`${site.url}/`);
        await page.click('#go');
        await page.click('#go');
        expect(await page.textContent('#out')).toBe('clicked 2');
        expect(await page.evaluate('document.title')).toBe('BCTRL test page');
        const shot = await page.screenshot({ fullPage: true });
        expect(shot.subarray(0, 4)).toEqual(PNG_MAGIC);
        await page.click('#next');
        await page.waitForURL(`${site.url}/second`);
      } finally {
        await browser.close();
      }
      const records = await readCommandRecords(platform().transport, rt.activeRunId, (r) =>
        r.some((c) => c.method === 'Page.captureScreenshot'),
      );
      const screenshot = records.find((c) => c.method === 'Page.captureScreenshot');
      expect(screenshot).toMatchObject({ connectionId: conn.id, ok: true, errorCode: '' });
      expect(screenshot?.sessionId).not.toBe('');
      expect(screenshot?.responseBytes).toBeGreaterThan(1_000);
      expect(screenshot?.durationMicros).toBeGreaterThan(0);
      expect(records.some((c) => c.method === 'Page.navigate' && c.ok)).toBe(true);
      expect(records.some((c) => c.method.startsWith('Runtime.') && c.ok)).toBe(true);
      const events = await readRunEvents(platform().transport, rt.activeRunId, (e) =>
        e.some((x) => x.type === 'connection.closed'),
      );
      expect(events.filter((e) => e.type.startsWith('connection.')).map((e) => e.type)).toEqual([
        'connection.opened',
        'connection.closed',
      ]);
      expect(events.find((e) => e.type === 'connection.opened')?.data).toMatchObject({ connectionId: conn.id });
    });

    it('drives a page with Puppeteer connect, and reaches the same browser and page again with the same wsUrl', async () => {
      const rt = await runtime();
      const conn = await connect(rt.id);
      const browser = await puppeteer.connect({ browserWSEndpoint: conn.wsUrl, defaultViewport: null });
      const page = await browser.newPage();
      await page.goto(`${site.url}/`);
      await page.click('#go');
      expect(await page.$eval('#out', (el) => el.textContent)).toBe('clicked 1');
      expect(await page.evaluate(() => 6 * 7)).toBe(42);
      const shot = await page.screenshot({ type: 'png' });
      expect(Buffer.from(shot).subarray(0, 4)).toEqual(PNG_MAGIC);
      await browser.disconnect();

      // The same wsUrl again, while the lease lives: the same browser, with the page left open.
      const again = await puppeteer.connect({ browserWSEndpoint: conn.wsUrl, defaultViewport: null });
      try {
        const urls = (await again.pages()).map((p) => p.url());
        expect(urls).toContain(`${site.url}/`);
        const [found] = (await again.pages()).filter((p) => p.url() === `${site.url}/`);
        expect(await found?.$eval('#out', (el) => el.textContent)).toBe('clicked 1');
      } finally {
        await again.disconnect();
      }
    });

    it('drives a page with chrome-remote-interface, on the browser endpoint and on a listed page endpoint', async () => {
      const rt = await runtime();
      const conn = await connect(rt.id);
      // `local`: use the protocol descriptor bundled with the library instead of fetching /json/protocol from the host root.
      const client = await CDP({ target: conn.wsUrl, local: true });
      let targetId: string;
      try {
        ({ targetId } = await client.Target.createTarget({ url: 'about:blank' }));
      } finally {
        await client.close();
      }
      const listed = (await fetch(`${conn.httpUrl}/json/list`).then((r) => r.json())) as Array<{
        id: string;
        webSocketDebuggerUrl: string;
      }>;
      const target = listed.find((t) => t.id === targetId);
      expect(target?.webSocketDebuggerUrl).toBe(`${conn.wsUrl}/devtools/page/${targetId}`);
      const page = await CDP({ target: target?.webSocketDebuggerUrl as string, local: true });
      try {
        await page.Page.enable();
        const loaded = page.Page.loadEventFired();
        await page.Page.navigate({ url: `${site.url}/` });
        await loaded;
        await page.Runtime.evaluate({ expression: "document.getElementById('go').click()" });
        const out = await page.Runtime.evaluate({ expression: "document.getElementById('out').textContent" });
        expect(out.result.value).toBe('clicked 1');
        const shot = await page.Page.captureScreenshot({ format: 'png' });
        expect(Buffer.from(shot.data, 'base64').subarray(0, 4)).toEqual(PNG_MAGIC);
      } finally {
        await page.close();
      }
    });

    it('works with several connections to one runtime at once', async () => {
      const rt = await runtime();
      const [a, b] = [await connect(rt.id), await connect(rt.id)];
      const [first, second] = await Promise.all([openSocket(a.wsUrl), openSocket(b.wsUrl), openSocket(a.wsUrl)]).then(
        (sockets) => {
          sockets[2]?.close();
          return sockets;
        },
      );
      const [va, vb] = await Promise.all([
        cdp(first as WebSocket).send('Browser.getVersion'),
        cdp(second as WebSocket).send('Browser.getVersion'),
      ]);
      expect(va).toEqual(vb);
      first?.close();
      second?.close();
    });

    it('revoking closes every live socket of the connection within 1 s with 4001, and refuses its token after', async () => {
      const rt = await runtime();
      const conn = await connect(rt.id);
      const other = await connect(rt.id);
      const browser = await chromium.connectOverCDP(conn.wsUrl);
      const raw = await openSocket(conn.wsUrl);
      const untouched = await openSocket(other.wsUrl);
      const disconnected = new Promise<number>((resolve) => browser.on('disconnected', () => resolve(Date.now())));
      const rawClosed = closeOf(raw);
      // Keep the browser busy with a large reply in flight: the close must still come at a frame boundary.
      const context = browser.contexts()[0] ?? (await browser.newContext());
      const page = await context.newPage();
      await page.goto(`${site.url}/`);
      const busy = page.screenshot({ fullPage: true }).catch(() => null);

      const revokedAt = Date.now();
      const revoked = await http().delete(`/v1/connections/${conn.id}`).set(auth());
      expect(revoked.status).toBe(200);
      expect(revoked.body).toMatchObject({ id: conn.id, status: 'revoked', endReason: 'revoked' });
      expect(revoked.body.wsUrl).toBeUndefined();
      const closed = await rawClosed;
      expect(closed).toMatchObject({ code: 4001, reason: 'connection revoked' });
      expect(closed.at - revokedAt).toBeLessThan(1_000);
      expect((await disconnected) - revokedAt).toBeLessThan(1_000);
      await busy;

      await expect(openSocket(conn.wsUrl)).rejects.toMatchObject({ status: 401 });
      expect((await fetch(`${conn.httpUrl}/json/version`)).status).toBe(401);
      // Another connection to the same runtime is not affected.
      expect(await cdp(untouched).send('Browser.getVersion')).toHaveProperty('product');
      untouched.close();
      // Revoking again changes nothing.
      const again = await http().delete(`/v1/connections/${conn.id}`).set(auth());
      expect(again.body).toMatchObject({ status: 'revoked', endedAt: revoked.body.endedAt });
      const events = await readRunEvents(platform().transport, rt.activeRunId, (e) =>
        e.some((x) => x.type === 'connection.revoked'),
      );
      expect(events.find((e) => e.type === 'connection.revoked')?.data).toEqual({ connectionId: conn.id });
    });

    it('refuses unknown and malformed tokens, and an unknown target of a good token', async () => {
      const rt = await runtime();
      const conn = await connect(rt.id);
      const wsBase = platform().url.replace(/^http/, 'ws');
      await expect(openSocket(`${wsBase}/v1/cdp/${'A'.repeat(43)}`)).rejects.toMatchObject({ status: 401 });
      await expect(openSocket(`${wsBase}/v1/cdp/not-a-token!`)).rejects.toMatchObject({ status: 404 });
      await expect(openSocket(`${conn.wsUrl}/devtools/page/NOSUCHTARGET`)).rejects.toMatchObject({ status: 404 });
      await expect(openSocket(`${conn.wsUrl}/../../etc`)).rejects.toMatchObject({ status: 404 });
      const unknown = await fetch(`${platform().url}/v1/cdp/${'B'.repeat(43)}/json/version`);
      expect(unknown.status).toBe(401);
      expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe('unauthenticated');
    });

    it("a token for one runtime never reaches another runtime's browser", async () => {
      const [a, b] = [await runtime(), await runtime()];
      const ca = await connect(a.id);
      const cb = await connect(b.id);
      const sa = await openSocket(ca.wsUrl);
      const sb = await openSocket(cb.wsUrl);
      const { targetId: targetOfB } = await cdp(sb).send<{ targetId: string }>('Target.createTarget', {
        url: `${site.url}/second`,
      });
      const targetsOfA = await cdp(sa).send<{ targetInfos: { targetId: string }[] }>('Target.getTargets');
      expect(targetsOfA.targetInfos.map((t) => t.targetId)).not.toContain(targetOfB);
      // Naming B's page under A's token does not reach it.
      await expect(openSocket(`${ca.wsUrl}/devtools/page/${targetOfB}`)).rejects.toMatchObject({ status: 404 });
      sa.close();
      sb.close();
    });

    it('a key of space A cannot create, read or revoke connections of a runtime in space B', async () => {
      const other = await http().post('/v1/spaces').set(auth()).send({ name: 'connections-b' });
      const rtB = await runtime({}, other.body.id);
      const connB = await connect(rtB.id);
      const limited = await http()
        .post('/v1/api-keys')
        .set(auth())
        .send({ name: 'space-a-only', role: 'member', spaceIds: [spaceId] });
      expect(limited.status).toBe(201);
      const key = limited.body.secret as string;
      const denied = await http().post(`/v1/runtimes/${rtB.id}/connections`).set(auth(key)).send({});
      expect(denied.status).toBe(404);
      expect(denied.body.error.code).toBe('not_found');
      expect((await http().get(`/v1/connections/${connB.id}`).set(auth(key))).status).toBe(404);
      expect((await http().get(`/v1/runtimes/${rtB.id}/connections`).set(auth(key))).status).toBe(404);
      expect((await http().delete(`/v1/connections/${connB.id}`).set(auth(key))).status).toBe(404);
      expect((await http().get(`/v1/connections/${connB.id}`).set(auth())).body.status).toBe('active');
      const viewer = await http().post('/v1/api-keys').set(auth()).send({ name: 'viewer', role: 'viewer' });
      expect(
        (await http().post(`/v1/runtimes/${rtB.id}/connections`).set(auth(viewer.body.secret)).send({})).status,
      ).toBe(403);
      // A viewer may read connections, but no read hands it a token that would let it drive the browser.
      const seen = await http().get(`/v1/connections/${connB.id}`).set(auth(viewer.body.secret));
      expect(seen.status).toBe(200);
      const listedToViewer = await http().get(`/v1/runtimes/${rtB.id}/connections`).set(auth(viewer.body.secret));
      expect(listedToViewer.status).toBe(200);
      for (const body of [seen.body, ...listedToViewer.body.data]) {
        expect(body).not.toHaveProperty('wsUrl');
        expect(body).not.toHaveProperty('httpUrl');
        expect(body).not.toHaveProperty('devtoolsFrontendUrl');
        expect(JSON.stringify(body)).not.toContain(new URL(connB.wsUrl).pathname.split('/').pop() as string);
      }
    });

    it('rejects bad connection requests with a 4xx and creates nothing', async () => {
      const rt = await runtime();
      const cases: Array<[object, number]> = [
        [{ type: 'telnet' }, 400],
        [{ ttlSeconds: 5 }, 400],
        [{ ttlSeconds: 'long' }, 400],
        [{ ttlSeconds: 10 ** 9 }, 400],
        [{ extra: true }, 400],
      ];
      for (const [body, status] of cases) {
        const res = await http().post(`/v1/runtimes/${rt.id}/connections`).set(auth()).send(body);
        expect([res.status, res.body.error?.code]).toEqual([status, 'validation_failed']);
      }
      const send = (body: string, type = 'application/json') =>
        http().post(`/v1/runtimes/${rt.id}/connections`).set(auth()).set('Content-Type', type).send(body);
      for (const [res, status] of [
        [await send('[{}]'), 400],
        [await send('"cdp"'), 400],
        [await send('{"type": "cd'), 400],
        [await send('type=cdp', 'application/x-www-form-urlencoded'), 415],
      ] as const) {
        expect(res.status).toBe(status);
      }
      for (const query of [
        'limit=0',
        'limit=101',
        'limit=abc',
        'cursor=not*a*cursor',
        'cursor=eyJ0IjoieCIsImkiOiJ5In0',
      ]) {
        const res = await http().get(`/v1/runtimes/${rt.id}/connections?${query}`).set(auth());
        expect({ query, status: res.status, code: res.body.error?.code }).toEqual({
          query,
          status: 400,
          code: 'validation_failed',
        });
      }
      expect((await http().get(`/v1/runtimes/${rt.id}/connections`).set(auth())).body.data).toEqual([]);
      expect((await http().post(`/v1/runtimes/rt_nope/connections`).set(auth()).send({})).status).toBe(404);
      expect((await http().get(`/v1/connections/conn_nope`).set(auth())).status).toBe(404);
      const stopped = await runtime();
      await http().post(`/v1/runtimes/${stopped.id}/stop`).set(auth());
      const late = await http().post(`/v1/runtimes/${stopped.id}/connections`).set(auth()).send({});
      expect([late.status, late.body.error.code]).toEqual([409, 'invalid_state']);
    });

    it("stopping the runtime closes its connections' sockets with 4003 and ends the leases", async () => {
      const rt = await runtime();
      const conn = await connect(rt.id);
      const socket = await openSocket(conn.wsUrl);
      const closed = closeOf(socket);
      const stoppedAt = Date.now();
      await http().post(`/v1/runtimes/${rt.id}/stop`).set(auth());
      const close = await closed;
      // The proxy closes with 4003 on the runtime's end; if the browser's own socket drops first, it closes with
      // 1001. Either way a clean close with a reason, never a bare drop (1006).
      expect([4003, 1001]).toContain(close.code);
      expect(close.reason).not.toBe('');
      expect(close.at - stoppedAt).toBeLessThan(5_000);
      const deadline = Date.now() + 5_000;
      let status = '';
      while (Date.now() < deadline && status !== 'closed') {
        status = (await http().get(`/v1/connections/${conn.id}`).set(auth())).body.status;
        await sleep(100);
      }
      expect(status).toBe('closed');
      await expect(openSocket(conn.wsUrl)).rejects.toMatchObject({ status: 401 });
    });
  });
}
