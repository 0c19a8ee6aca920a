import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { type Browser, type CDPSession, chromium, type Page } from 'playwright-core';
import { CdpSession } from '@bctrl/cdp-client';
import { AGENT_PATHS, type AgentRecordingLine, type BrowserLaunchConfig } from '@bctrl/contracts';
import { waitFor } from '@bctrl/testing';
import { AgentProcesses, shutdown, type StartedAgent, waitHealthy } from '../testing/agent-process';
import { DEFAULT_CHROME_PATH } from './agent-env';
import { type ChromiumProcess, launchChromium } from './chromium';
import { PageRecorder } from './recording';

jest.setTimeout(90_000);

const repoRoot = resolve(__dirname, '../../../..');
const agents = new AgentProcesses('recording');
/** Where the replay page's spec (libs/gateway) finds a recording made by this spec: `BCTRL_UPDATE_FIXTURES=1`. */
const FIXTURE = join(repoRoot, 'libs/gateway/src/views/fixtures/recording.ndjson');
const PASSWORD = 'correct-horse-battery-staple-42';

function startAgent(config: BrowserLaunchConfig): Promise<StartedAgent> {
  return agents.start({ config });
}

function get(agent: StartedAgent, path: string, token: string | null = agent.token) {
  return fetch(`${agent.url}${path}`, { headers: token === null ? {} : { authorization: `Bearer ${token}` } });
}

async function stopAgent(agent: StartedAgent): Promise<void> {
  expect((await shutdown(agent)).code).toBe(0);
}

/**
 * A login-like page whose own scripts look for any trace of a recorder: globals, attributes rrweb would set on the
 * live DOM, patched DOM methods. What they find is read back from the main world.
 */
const PAGES: Record<string, string> = {
  '/': `<!doctype html><html><head><title>First recorded page</title></head><body>
<h1>Recorded first page</h1>
<input id="name" autocomplete="off"><input id="pw" type="password" autocomplete="off">
<button id="show" onclick="document.getElementById('pw').type = 'text'">Show password</button>
<button id="go" onclick="document.getElementById('out').textContent = 'clicked ' + (++window.clicks)">Go</button>
<div id="out"></div>
<a id="next" href="/second">next</a>
<script>
  window.clicks = 0;
  window.traces = [];
  var suspicious = /rrweb|bctrl|__rec/i;
  new MutationObserver(function (records) {
    records.forEach(function (r) {
      if (r.attributeName && /^(data-rr|rr_|__rr)/.test(r.attributeName)) window.traces.push('attribute ' + r.attributeName);
    });
  }).observe(document.documentElement, { attributes: true, subtree: true });
  window.scan = function () {
    var found = window.traces.slice();
    Object.getOwnPropertyNames(window).forEach(function (name) { if (suspicious.test(name)) found.push('global ' + name); });
    if (typeof window.rrweb !== 'undefined') found.push('rrweb');
    [Element.prototype.setAttribute, Element.prototype.hasAttribute, EventTarget.prototype.addEventListener,
     HTMLInputElement.prototype.focus, CSSStyleSheet.prototype.insertRule, MutationObserver].forEach(function (f) {
      if (!/\\[native code\\]/.test(Function.prototype.toString.call(f))) found.push('patched ' + f.name);
    });
    ['value', 'checked'].forEach(function (key) {
      var d = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, key);
      if (!/\\[native code\\]/.test(Function.prototype.toString.call(d.set))) found.push('patched input.' + key);
    });
    document.querySelectorAll('*').forEach(function (e) {
      e.getAttributeNames().forEach(function (a) { if (/^(data-rr|rr_|__rr)/.test(a)) found.push('attribute ' + a); });
    });
    return JSON.stringify(found);
  };
</script>
</body></html>`,
  '/second': `<!doctype html><html><head><title>Second</title></head><body><p id="second">Second recorded page</p></body></html>`,
  // About 1.5 MB of text: its full snapshot is far larger than one binding call carries.
  '/big': `<!doctype html><html><body>${Array.from({ length: 3000 }, (_, i) => `<p>paragraph ${i} ${'é𝄞x'.repeat(120)}</p>`).join('')}<p id="end">end of the big page</p></body></html>`,
};

let site: Server;
let siteUrl = '';
let browser: Browser | null = null;

beforeAll(async () => {
  site = createServer((req, res) => {
    if (req.url === '/late-download') {
      // A download whose answer takes a while: the new tab it opens in shows its initial empty document meanwhile.
      setTimeout(() => {
        res.writeHead(200, {
          'content-type': 'application/octet-stream',
          'content-disposition': 'attachment; filename="late.bin"',
        });
        res.end(randomBytes(1024));
      }, 1_500);
      return;
    }
    const page = PAGES[(req.url ?? '/').split('?')[0] ?? '/'];
    res.writeHead(page ? 200 : 404, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(page ?? 'not found');
  });
  await new Promise<void>((done) => site.listen(0, '127.0.0.1', done));
  siteUrl = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await browser?.close().catch(() => undefined);
  await agents.tearDown();
  site.closeAllConnections();
  await new Promise((done) => site.close(done));
});

/** The names of the isolated worlds a CDP client sees in the page (the recorder's is `bctrl-recorder-…`). */
async function worldNames(session: CDPSession): Promise<string[]> {
  const names: string[] = [];
  session.on('Runtime.executionContextCreated', (event) => names.push(event.context.name));
  await session.send('Runtime.enable');
  await session.send('Runtime.disable');
  return names;
}

async function targetIdOf(session: CDPSession): Promise<string> {
  const { targetInfo } = await session.send('Target.getTargetInfo');
  return targetInfo.targetId;
}

function parseRecording(text: string): AgentRecordingLine[] {
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as AgentRecordingLine);
}

describe('browser-runtime recording', () => {
  it('records both documents of a tab in an isolated world, masks passwords, and leaves no trace for page scripts', async () => {
    const agent = await startAgent({});
    const health = await waitHealthy(agent);
    expect((await get(agent, AGENT_PATHS.recording, null)).status).toBe(401);

    browser = await chromium.connectOverCDP(health.browser?.cdpUrl ?? '');
    const context = browser.contexts()[0];
    if (!context) throw new Error('the browser has a default context');
    const page: Page = await context.newPage();
    const session = await context.newCDPSession(page);
    const targetId = await targetIdOf(session);
    await page.goto(`${siteUrl}/`);
    await page.fill('#name', 'Ada Lovelace');
    await page.locator('#pw').pressSequentially(PASSWORD);
    await page.click('#go');
    await page.waitForSelector('text=clicked 1');
    // A "show password" toggle: the field becomes type=text, and must stay masked in the recording.
    await page.click('#show');
    await page.locator('#pw').pressSequentially('-shown');

    expect((await worldNames(session)).some((name) => name.startsWith('bctrl-recorder-'))).toBe(true);
    expect(JSON.parse((await page.evaluate('window.scan()')) as string)).toEqual([]);

    await page.click('#next');
    await page.waitForURL(`${siteUrl}/second`);
    await page.waitForSelector('#second');
    expect(await page.evaluate('typeof window.rrweb + typeof window.__bctrlRecorder')).toBe('undefinedundefined');

    const response = await get(agent, AGENT_PATHS.recording);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/x-ndjson');
    const text = await response.text();
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain('battery-staple');
    expect(text).not.toContain('-shown');
    const lines = parseRecording(text);
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.every((line) => typeof line.targetId === 'string' && typeof line.event.timestamp === 'number')).toBe(
      true,
    );

    const events = lines.filter((line) => line.targetId === targetId).map((line) => line.event);
    const metas = events.filter((event) => event.type === 4).map((event) => (event.data as { href: string }).href);
    expect(metas).toEqual(expect.arrayContaining([`${siteUrl}/`, `${siteUrl}/second`]));
    // Every document starts with a Meta event followed by its FullSnapshot.
    for (const href of [`${siteUrl}/`, `${siteUrl}/second`]) {
      const at = events.findIndex((event) => event.type === 4 && (event.data as { href: string }).href === href);
      expect(events[at + 1]?.type).toBe(2);
    }
    const snapshots = events.filter((event) => event.type === 2).map((event) => JSON.stringify(event.data));
    expect(snapshots.some((snapshot) => snapshot.includes('Recorded first page'))).toBe(true);
    expect(snapshots.some((snapshot) => snapshot.includes('Second recorded page'))).toBe(true);
    // What was typed into a plain field is recorded as typed (masking is not dropping everything), the click too.
    expect(text).toContain('Ada Lovelace');
    expect(text).toContain('clicked 1');
    const masked = events.filter(
      (event) => event.type === 3 && (event.data as { source: number; text?: string }).source === 5,
    );
    expect(masked.map((event) => (event.data as { text: string }).text)).toContain('*'.repeat(PASSWORD.length));

    if (process.env['BCTRL_UPDATE_FIXTURES'] === '1') {
      mkdirSync(resolve(FIXTURE, '..'), { recursive: true });
      writeFileSync(FIXTURE, text);
    }

    // A second GET serves the same recording again (it is not consumed), plus whatever happened since.
    const again = await (await get(agent, AGENT_PATHS.recording)).text();
    expect(again.startsWith(text)).toBe(true);

    await browser.close();
    browser = null;
    await stopAgent(agent);
  });

  it('answers 404 and injects nothing when the launch config turns recording off', async () => {
    const agent = await startAgent({ recording: false });
    const health = await waitHealthy(agent);
    browser = await chromium.connectOverCDP(health.browser?.cdpUrl ?? '');
    const context = browser.contexts()[0];
    if (!context) throw new Error('the browser has a default context');
    const page = await context.newPage();
    await page.goto(`${siteUrl}/`);
    const session = await context.newCDPSession(page);
    expect((await worldNames(session)).filter((name) => name.startsWith('bctrl'))).toEqual([]);
    expect(JSON.parse((await page.evaluate('window.scan()')) as string)).toEqual([]);
    const response = await get(agent, AGENT_PATHS.recording);
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ error: 'recording is off' });
    await browser.close();
    browser = null;
    await stopAgent(agent);
  });
});

/** The recorder on its own, against a Chromium started by the agent's launcher: for its limits. */
describe('PageRecorder', () => {
  let launched: ChromiumProcess | null = null;

  afterEach(() => {
    const pid = launched?.child.pid;
    if (pid) process.kill(-pid, 'SIGKILL');
    launched = null;
  });

  /** A Chromium as the agent launches it; resolves with its CDP URL and work dir. */
  async function launch(): Promise<{ cdpUrl: string; workDir: string }> {
    const workDir = join(agents.scratch, randomBytes(4).toString('hex'));
    mkdirSync(workDir, { recursive: true });
    launched = launchChromium({
      chromePath: DEFAULT_CHROME_PATH,
      config: {},
      workDir,
      markerArgs: [],
      noSandbox: process.getuid?.() === 0,
    });
    return { cdpUrl: await launched.devtoolsUrl, workDir };
  }

  /** Serves a recorder's recording the way the agent does (its pages flushed first); returns the reader. */
  async function serving(recorder: PageRecorder) {
    const server = createServer((_req, res) => void recorder.serve(res));
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    return {
      fetchRecording: async () => (await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`)).text(),
      close: async () => {
        server.closeAllConnections();
        await new Promise((done) => server.close(done));
      },
    };
  }

  async function record(maxBytes?: number) {
    const { cdpUrl, workDir } = await launch();
    const recorder = new PageRecorder(join(workDir, 'recording.ndjson'), maxBytes);
    await recorder.attach(cdpUrl);
    const reader = await serving(recorder);
    const cdp = await chromium.connectOverCDP(cdpUrl);
    const close = async () => {
      await cdp.close();
      recorder.close();
      await reader.close();
    };
    const context = cdp.contexts()[0];
    if (!context) throw new Error('the browser has a default context');
    return { recorder, page: await context.newPage(), fetchRecording: reader.fetchRecording, close };
  }

  it('rejoins a multi-megabyte snapshot the page sent in pieces, across a cross-site navigation', async () => {
    const { page, fetchRecording, close } = await record();
    await page.goto(`${siteUrl}/`);
    // localhost is another site than 127.0.0.1: a new renderer process, and the recorder must still be in it.
    const otherSite = siteUrl.replace('127.0.0.1', 'localhost');
    await page.goto(`${otherSite}/big`);
    await page.waitForSelector('#end');
    const lines = parseRecording(await fetchRecording());
    const metas = lines
      .filter((line) => line.event.type === 4)
      .map((line) => (line.event.data as { href: string }).href);
    expect(metas).toEqual(expect.arrayContaining([`${siteUrl}/`, `${otherSite}/big`]));
    const snapshot = lines.find(
      (line) => line.event.type === 2 && JSON.stringify(line.event.data).includes('end of the big page'),
    );
    const serialized = JSON.stringify(snapshot?.event.data);
    expect(serialized.length).toBeGreaterThan(1024 * 1024);
    // Characters outside the BMP survive the cuts between pieces (a cut never splits a surrogate pair).
    expect(serialized).toContain(`paragraph 2999 ${'é𝄞x'.repeat(120)}`);
    await close();
  });

  it('stops at its size limit with a marker line, and records nothing after it', async () => {
    const limit = 200 * 1024;
    const { recorder, page, fetchRecording, close } = await record(limit);
    await page.goto(`${siteUrl}/`);
    await page.goto(`${siteUrl}/big`);
    await page.waitForSelector('#end');
    const text = await fetchRecording();
    expect(Buffer.byteLength(text)).toBeLessThan(limit + 1024);
    const lines = text.split('\n').filter((line) => line !== '');
    const marker = JSON.parse(lines[lines.length - 1] ?? '{}') as {
      targetId: unknown;
      event: unknown;
      stopped?: string;
    };
    expect(marker).toMatchObject({ targetId: null, event: null, stopped: `size limit of ${limit} bytes reached` });
    expect(text).toContain('Recorded first page');
    await page.goto(`${siteUrl}/second`);
    expect(await fetchRecording()).toBe(text);
    expect(readFileSync(recorder.file, 'utf8')).toBe(text);
    await close();
  });

  it('records a document that was already loaded when it attached', async () => {
    const { cdpUrl, workDir } = await launch();
    const cdp = await CdpSession.connect(cdpUrl);
    const { targetId } = await cdp.send<{ targetId: string }>('Target.createTarget', { url: `${siteUrl}/` });
    await waitFor('the page to load', async () => {
      const { targetInfos } = await cdp.send<{ targetInfos: Array<{ targetId: string; title: string }> }>(
        'Target.getTargets',
      );
      return targetInfos.some((info) => info.targetId === targetId && info.title === 'First recorded page')
        ? true
        : undefined;
    });
    const recorder = new PageRecorder(join(workDir, 'recording.ndjson'));
    await recorder.attach(cdpUrl);
    const reader = await serving(recorder);
    const lines = await waitFor(
      'the loaded page in the recording',
      async () => {
        const read = parseRecording(await reader.fetchRecording());
        return read.some((line) => line.targetId === targetId && line.event.type === 2) ? read : undefined;
      },
      10_000,
    );
    const snapshot = lines.find((line) => line.targetId === targetId && line.event.type === 2);
    expect(JSON.stringify(snapshot?.event.data)).toContain('Recorded first page');
    cdp.close();
    recorder.close();
    await reader.close();
  });

  it('leaves a new tab whose first navigation became a download to close, and Playwright connects after it', async () => {
    const { cdpUrl, workDir } = await launch();
    const recorder = new PageRecorder(join(workDir, 'recording.ndjson'));
    await recorder.attach(cdpUrl);
    const cdp = await CdpSession.connect(cdpUrl);
    // As the agent's download watcher does.
    await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: join(workDir, 'downloads') });
    await cdp.send('Target.setDiscoverTargets', { discover: true });
    const { targetId } = await cdp.send<{ targetId: string }>('Target.createTarget', {
      url: `${siteUrl}/late-download`,
    });
    // Chromium closes a tab opened for what turned out to be a download. The recorder must not change that: rrweb
    // started in the tab's initial empty document kept it open, empty, for good.
    await cdp.waitForEvent('Target.targetDestroyed', (params) => params['targetId'] === targetId, 10_000);
    // Playwright waits for every page it finds to finish opening: an empty tab left behind never does.
    const browser = await chromium.connectOverCDP(cdpUrl, { timeout: 10_000 });
    expect(
      browser
        .contexts()[0]
        ?.pages()
        .map((page) => page.url()),
    ).not.toContain('');
    await browser.close();
    cdp.close();
    recorder.close();
  });
});
