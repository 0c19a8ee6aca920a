import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { RECORDING_VIEW_CSP, recordingViewAssets, recordingViewHtml } from './recording-view';

jest.setTimeout(60_000);

/**
 * A real recording: written by libs/browser-runtime/src/lib/recording.int-spec.ts (run it with
 * BCTRL_UPDATE_FIXTURES=1) from an agent's Chromium visiting a page, typing, clicking and following a link.
 */
const recording = readFileSync(join(__dirname, 'fixtures/recording.ndjson'));

let server: Server;
let origin = '';
let browser: Browser;
// Every navigation waits for the document only, then for the page's own data-state: under a full test run on two cores,
// the load event (the viewer's bundle, the replay iframe) has been seen to take longer than the navigation timeout.

beforeAll(async () => {
  const assets = recordingViewAssets();
  const routes: Record<string, [string, string | Buffer]> = {
    '/view': [
      'text/html; charset=utf-8',
      recordingViewHtml({
        recordingUrl: '/recording.ndjson',
        rrwebScriptUrl: '/assets/recording-view.js',
        styleUrl: '/assets/recording-view.css',
        title: 'Run <run_1> recording',
      }),
    ],
    '/assets/recording-view.js': ['text/javascript; charset=utf-8', assets.script],
    '/assets/recording-view.css': ['text/css; charset=utf-8', assets.style],
    '/recording.ndjson': ['application/x-ndjson', recording],
  };
  server = createServer((req, res) => {
    const route = routes[(req.url ?? '').split('?')[0] ?? ''];
    if (!route) {
      res.writeHead(404).end();
      return;
    }
    // Served the way the gateway will: the page's own CSP, no referrer.
    res.writeHead(200, {
      'content-type': route[0],
      'content-security-policy': RECORDING_VIEW_CSP,
      'referrer-policy': 'no-referrer',
    });
    res.end(route[1]);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await chromium.launch({
    executablePath: '/usr/lib/chromium/chromium',
    args: ['--no-sandbox', '--headless=new'],
  });
});

afterAll(async () => {
  await browser?.close();
  server.closeAllConnections();
  await new Promise((done) => server.close(done));
});

/** The text of the document rrweb rebuilt in its iframe, once it contains `expected` (or the last seen, after 5 s). */
async function replayedText(page: Page, expected: string): Promise<string> {
  let text = '';
  for (const deadline = Date.now() + 5_000; Date.now() < deadline; ) {
    text = await page.frameLocator('#stage iframe').locator('body').innerText();
    if (text.includes(expected)) break;
    await new Promise((done) => setTimeout(done, 50));
  }
  return text;
}

describe('recording view', () => {
  it('replays a recorded tab under a strict CSP, with navigation marks, seeking and playback', async () => {
    const page = await browser.newPage();
    const problems: string[] = [];
    const requests: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text());
    });
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('request', (request) => requests.push(request.url()));

    await page.goto(`${origin}/view`, { waitUntil: 'domcontentloaded' });
    await page.waitForSelector('body[data-state="ready"]');
    expect(await page.title()).toBe('Run <run_1> recording');
    expect(await page.textContent('#status')).toMatch(/^2 tabs, \d+ events$/);
    // The busiest tab is shown first: the one that visited both pages.
    const tabs = await page.$$eval('#tab option', (options) => options.map((option) => option.textContent ?? ''));
    expect(tabs).toHaveLength(2);
    expect(tabs.some((tab) => /\/second$/.test(tab))).toBe(true);

    // One mark per document (rrweb Meta event): about:blank, the first page, the second page.
    const marks = page.locator('#marks button');
    expect(await marks.count()).toBe(3);
    await marks.nth(1).click();
    expect(await replayedText(page, 'Recorded first page')).toContain('Recorded first page');
    await marks.nth(2).click();
    expect(await replayedText(page, 'Second recorded page')).toContain('Second recorded page');

    // The slider seeks both ways: to the end (the second page), back to the middle (the first page, typed into).
    const max = Number(await page.getAttribute('#seek', 'max'));
    expect(max).toBeGreaterThan(0);
    const seekTo = (value: number) =>
      page.$eval(
        '#seek',
        (input, to) => {
          const slider = input as unknown as { value: string; dispatchEvent(event: unknown): boolean };
          slider.value = String(to);
          slider.dispatchEvent(new Event('input'));
          slider.dispatchEvent(new Event('change'));
        },
        value,
      );
    await seekTo(max);
    expect(await replayedText(page, 'Second recorded page')).toContain('Second recorded page');
    const secondMark = Number(await marks.nth(2).getAttribute('data-offset'));
    await seekTo(secondMark - 50);
    expect(await replayedText(page, 'Recorded first page')).toContain('Recorded first page');
    const frame = page.frameLocator('#stage iframe');
    expect(await frame.locator('#name').inputValue()).toBe('Ada Lovelace');
    expect(await frame.locator('#pw').inputValue()).toMatch(/^\*+$/);
    expect(await page.textContent('#time')).toMatch(/^0:0\d \/ 0:0\d$/);

    // Playback from the start runs to the end at 4×, then stops by itself.
    await page.selectOption('#speed', '4');
    await seekTo(0);
    await page.click('#play');
    expect(await page.getAttribute('body', 'data-playing')).toBe('true');
    await page.waitForSelector('body[data-playing="false"]', { timeout: 15_000 });
    expect(await replayedText(page, 'Second recorded page')).toContain('Second recorded page');

    // The other tab can be picked.
    const other = await page.$$eval('#tab option', (options) =>
      options.map((option) => (option as unknown as { value: string }).value),
    );
    const shown = await page.getAttribute('body', 'data-tab');
    await page.selectOption('#tab', other.find((id) => id !== shown) ?? '');
    expect(await page.getAttribute('body', 'data-tab')).not.toBe(shown);
    expect(await replayedText(page, '')).toBe('');

    // Nothing was blocked by the CSP or failed, and nothing left this origin.
    expect(problems).toEqual([]);
    expect(requests.filter((url) => !url.startsWith(origin) && !url.startsWith('about:'))).toEqual([]);
    await page.close();
  });

  it('opens on the first recorded page, not a blank frame, before Play is pressed', async () => {
    const page = await browser.newPage();
    await page.goto(`${origin}/view`, { waitUntil: 'domcontentloaded' });
    await page.waitForSelector('body[data-state="ready"]');
    // No click, no seek: what the iframe shows as the page opens. The tab began on about:blank; the first page it
    // loaded is the first frame with anything to see.
    const frame = page.frameLocator('#stage iframe');
    await frame.locator('body', { hasText: 'Recorded first page' }).waitFor({ timeout: 10_000 });
    expect(await page.getAttribute('body', 'data-playing')).toBe('false');
    // The slider says where that is: at the first page's mark, from where Play goes on.
    expect(await page.inputValue('#seek')).toBe(await page.locator('#marks button').nth(1).getAttribute('data-offset'));
    await page.close();
  });

  it('says so when the recording cannot be loaded', async () => {
    const page = await browser.newPage();
    await page.route('**/recording.ndjson', (route) => route.fulfill({ status: 404, body: '' }));
    await page.goto(`${origin}/view`, { waitUntil: 'domcontentloaded' });
    await page.waitForSelector('body[data-state="error"]');
    expect(await page.textContent('#status')).toContain('HTTP 404');
    await page.close();
  });
});
