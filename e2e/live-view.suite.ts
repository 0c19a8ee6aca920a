/// <reference lib="dom" />
// The page.evaluate and waitForFunction callbacks below run in browsers: they are typed against the DOM.
import type { Browser, Page } from 'playwright-core';
import request from 'supertest';
import WebSocket from 'ws';
import { waitFor } from '@bctrl/testing';
import { DrivenRuntimes, launchTestBrowser } from './driven-runtimes';
import type { Platform } from './platform';
import { upgradeStatus } from './sockets';
import { startTestSite, type TestSite } from './test-site';

/**
 * Live view with real browsers on both ends: the runtime's Chromium, driven by Playwright through a connection,
 * and a second Chromium (the person watching) that opens the live-view link. Written once, run in each mode.
 */
export function defineLiveViewSuite(platform: () => Platform) {
  const http = () => request(platform().url);
  const auth = (key = platform().adminKey) => ({ Authorization: `Bearer ${key}` });
  let site: TestSite;
  let spaceId: string;
  let viewerBrowser: Browser;
  const runtimes = new DrivenRuntimes(platform);

  /** A ready runtime with its first tab on the live test page, driven by Playwright through a connection. */
  async function drivenRuntime() {
    const rt = await runtimes.start(spaceId, { viewport: { width: 800, height: 600 } });
    await rt.page.goto(`${site.url}/live`);
    return rt;
  }

  async function liveView(runId: string, body: object) {
    const res = await http().post(`/v1/runs/${runId}/live-view`).set(auth()).send(body);
    expect(res.status).toBe(201);
    return res.body as { url: string; expiresAt: string; interactive: boolean };
  }

  async function openViewer(url: string): Promise<Page> {
    const viewer = await viewerBrowser.newPage({ viewport: { width: 1000, height: 800 } });
    await viewer.goto(url);
    await viewer.waitForFunction(() => Number(document.body.dataset['frames']) > 0, undefined, { timeout: 15_000 });
    return viewer;
  }

  /** Where a point of the runtime's page (CSS pixels) is on the viewer's screen. */
  async function onScreen(viewer: Page, runtimePage: Page, selector: string) {
    const box = await runtimePage.locator(selector).boundingBox();
    const size = await runtimePage.evaluate(() => ({ width: innerWidth, height: innerHeight }));
    const screen = await viewer.locator('#screen').boundingBox();
    if (!box || !screen) throw new Error('no box');
    return {
      x: screen.x + ((box.x + box.width / 2) / size.width) * screen.width,
      y: screen.y + ((box.y + box.height / 2) / size.height) * screen.height,
    };
  }

  describe('live view', () => {
    beforeAll(async () => {
      site = await startTestSite();
      spaceId = (await http().post('/v1/spaces').set(auth()).send({ name: 'live-view' })).body.id;
      viewerBrowser = await launchTestBrowser();
    });

    afterAll(async () => {
      await viewerBrowser?.close();
      await runtimes.stopAll();
      await site?.close();
    });

    it('shows the runtime live in a real browser, switches tabs, and passes clicks and typing through', async () => {
      const rt = await drivenRuntime();
      const link = await liveView(rt.runId, { interactive: true });
      expect(link.interactive).toBe(true);
      expect(link.url).toMatch(new RegExp(`^${platform().url}/v1/live/[A-Za-z0-9_-]{43}$`));
      expect(Date.parse(link.expiresAt) - Date.now()).toBeGreaterThan(800_000);

      const viewer = await openViewer(link.url);
      // Frames keep coming while the page changes (its ticker), not just the first one.
      const before = Number(await viewer.evaluate(() => document.body.dataset['frames']));
      await viewer.waitForFunction((n) => Number(document.body.dataset['frames']) >= n + 5, before);
      await viewer.locator('#tabs button', { hasText: 'Live test page' }).waitFor();

      // A click on the viewer's picture of the button presses the runtime's button.
      const press = await onScreen(viewer, rt.page, '#press');
      await viewer.mouse.click(press.x, press.y);
      await rt.page.waitForFunction(() => (window as unknown as { presses: number }).presses === 1);
      // Focus the input through the viewer, then type on the viewer's keyboard.
      const input = await onScreen(viewer, rt.page, '#name');
      await viewer.mouse.click(input.x, input.y);
      await rt.page.waitForFunction(() => document.activeElement?.id === 'name');
      await viewer.keyboard.type('Hello live');
      await viewer.keyboard.press('Backspace');
      await rt.page.waitForFunction(() => (document.getElementById('name') as HTMLInputElement).value === 'Hello liv');

      // A second tab appears in the viewer; choosing it shows that tab.
      const second = await rt.context.newPage();
      await second.goto(`${site.url}/second`);
      const tab = viewer.locator('#tabs button', { hasText: 'Second page' });
      await tab.waitFor();
      const framesBefore = Number(await viewer.evaluate(() => document.body.dataset['frames']));
      await tab.click();
      await viewer.waitForFunction(
        () => document.querySelector('#tabs button[aria-selected="true"]')?.textContent === 'Second page',
      );
      await viewer.waitForFunction((n) => Number(document.body.dataset['frames']) > n, framesBefore);
      await viewer.close();

      // The durable record, through the public API.
      const events = await waitFor('live_view.closed', async () => {
        const res = await http().get(`/v1/runs/${rt.runId}/events?limit=1000`).set(auth());
        const all = res.body.data as Array<{ type: string; data: Record<string, unknown> }>;
        return all.some((event) => event.type === 'live_view.closed') ? all : undefined;
      });
      const closed = events.find((event) => event.type === 'live_view.closed');
      expect(events.find((event) => event.type === 'live_view.opened')?.data).toMatchObject({ interactive: true });
      expect(closed?.data['frames']).toBeGreaterThan(5);
      expect(closed?.data['inputs']).toBeGreaterThan(0);
    });

    it('a view-only live view shows frames but passes no input', async () => {
      const rt = await drivenRuntime();
      const link = await liveView(rt.runId, {});
      expect(link.interactive).toBe(false);
      const viewer = await openViewer(link.url);
      expect(await viewer.locator('#status').textContent()).toBe('Live (view only)');
      // The page sends no input for a view-only link; a client that sends some anyway is refused by the proxy.
      const press = await onScreen(viewer, rt.page, '#press');
      const raw = new WebSocket(`${link.url.replace(/^http/, 'ws')}/ws`);
      const notice = new Promise<string>((resolve) =>
        raw.on('message', (data) => {
          const message = JSON.parse(String(data)) as { type: string; message?: string };
          if (message.type === 'notice') resolve(message.message ?? '');
        }),
      );
      await new Promise((resolve) => raw.once('open', resolve));
      // The middle of #press (40 + 200 / 2, 40 + 80 / 2 on the test page).
      for (const action of ['down', 'up']) {
        raw.send(JSON.stringify({ type: 'mouse', action, x: 140, y: 80, button: 'left', clickCount: 1 }));
      }
      expect(await notice).toBe('This live view is view-only.');
      await viewer.mouse.click(press.x, press.y);
      // A round trip through the runtime's page after both: had either click been passed on, it would show.
      await rt.page.evaluate(() => new Promise((r) => requestAnimationFrame(r)));
      expect(await rt.page.evaluate(() => (window as unknown as { presses: number }).presses)).toBe(0);
      raw.close();
      await viewer.close();
      // Nor does the view-only link's token open the browser's CDP (it shares the connections' lease store).
      const token = new URL(link.url).pathname.split('/').pop() as string;
      expect(await upgradeStatus(`${platform().url.replace(/^http/, 'ws')}/v1/cdp/${token}`)).toBe(401);
      expect((await fetch(`${platform().url}/v1/cdp/${token}/json/version`)).status).toBe(401);
    });

    it('ends when the runtime stops (close 4003) and when the link expires (4002); ended links answer 404', async () => {
      const rt = await drivenRuntime();
      const short = await liveView(rt.runId, { interactive: true, ttlSeconds: 10 });
      const long = await liveView(rt.runId, { interactive: true });
      const expiring = await openViewer(short.url);
      const stopping = await openViewer(long.url);
      await expiring.waitForFunction(() => document.body.dataset['closeCode'] === '4002', undefined, {
        timeout: 15_000,
      });
      expect(await expiring.locator('#status').textContent()).toContain('expired');
      expect((await fetch(short.url)).status).toBe(404);

      expect((await http().post(`/v1/runtimes/${rt.id}/stop`).set(auth())).status).toBe(200);
      await stopping.waitForFunction(() => document.body.dataset['closeCode'] === '4003', undefined, {
        timeout: 15_000,
      });
      const ended = await fetch(long.url);
      expect(ended.status).toBe(404);
      expect(await ended.text()).toContain('invalid, has expired or was revoked');
      // The run has ended: no new live view of it.
      const again = await http().post(`/v1/runs/${rt.runId}/live-view`).set(auth()).send({});
      expect(again.status).toBe(409);
      expect(again.body.error.code).toBe('invalid_state');
      await expiring.close();
      await stopping.close();
    });

    it('answers bad requests with 4xx and hides other spaces’ runs', async () => {
      const rt = await drivenRuntime();
      const other = await http().post('/v1/spaces').set(auth()).send({ name: 'live-view-other' });
      const limited = await http()
        .post('/v1/api-keys')
        .set(auth())
        .send({ name: 'other-space-member', role: 'member', spaceIds: [other.body.id] });
      const stranger = limited.body.secret as string;
      expect((await http().post(`/v1/runs/${rt.runId}/live-view`).set(auth(stranger)).send({})).status).toBe(404);
      expect((await http().post(`/v1/runs/run_000000000000000000000000/live-view`).set(auth()).send({})).status).toBe(
        404,
      );
      expect((await http().post(`/v1/runs/nope/live-view`).set(auth()).send({})).status).toBe(404);
      for (const body of [{ ttlSeconds: 5 }, { ttlSeconds: 10_000_000 }, { interactive: 'yes' }, { surprise: 1 }]) {
        const res = await http().post(`/v1/runs/${rt.runId}/live-view`).set(auth()).send(body);
        expect({ body, status: res.status, code: res.body.error?.code }).toEqual({
          body,
          status: 400,
          code: 'validation_failed',
        });
      }
      // A token that is not a live-view lease opens nothing: not a made-up one, not a connection's.
      expect((await fetch(`${platform().url}/v1/live/${'A'.repeat(43)}`)).status).toBe(404);
      const connection = await http().post(`/v1/runtimes/${rt.id}/connections`).set(auth()).send({});
      const token = new URL(connection.body.wsUrl).pathname.split('/').pop();
      expect((await fetch(`${platform().url}/v1/live/${token}`)).status).toBe(404);
    });
  });
}
