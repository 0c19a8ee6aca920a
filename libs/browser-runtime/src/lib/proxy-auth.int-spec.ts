import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CdpSession } from '@bctrl/cdp-client';
import { AGENT_ENV, AGENT_PATHS, type AgentEvent, type BrowserLaunchConfig } from '@bctrl/contracts';
import { type ForwardProxy, type Socks5Server, startForwardProxy, startSocks5Server } from '@bctrl/testing';
import { AgentProcesses, shutdown, type StartedAgent, waitHealthy } from '../testing/agent-process';
import { PROXY_AUTH_FAILED } from './proxy-auth';

jest.setTimeout(60_000);

const agents = new AgentProcesses('proxy');
const USER = 'runtime-user';
const PASSWORD = 'pw-7d1f0c9e2b-canary';

/**
 * A site on loopback. Chromium never proxies loopback unless the bypass list says `<-loopback>`; with it, a
 * `localhost` rule sends that name direct while 127.0.0.1 goes through the proxy: one server, both paths.
 */
let site: Server;
let port: number;
const proxied = (path: string) => `http://127.0.0.1:${port}${path}`;
const direct = (path: string) => `http://localhost:${port}${path}`;
const BYPASS = ['<-loopback>', 'localhost'];

beforeAll(async () => {
  site = createServer((req, res) => {
    if (req.url?.startsWith('/data')) {
      res.writeHead(200, { 'content-type': 'text/plain', 'access-control-allow-origin': '*' });
      res.end('data from the site');
      return;
    }
    if (req.url?.startsWith('/worker-page')) {
      // The first proxied request of this browser comes from a dedicated worker, not from a page.
      const source =
        `fetch(${JSON.stringify(proxied('/data?from=worker'))}).then((r) => r.text())` +
        '.then((t) => postMessage(t), (e) => postMessage("failed: " + e))';
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(`<title>worker</title><script>
const worker = new Worker(URL.createObjectURL(new Blob([${JSON.stringify(source)}], { type: 'text/javascript' })));
worker.onmessage = (event) => { document.title = event.data; };
</script>`);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(`<title>through ${req.headers.host}</title><p>hello</p>`);
  });
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
  port = (site.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise((resolve) => site.close(resolve));
  expect(await agents.tearDown()).toEqual([]);
});

interface Browser {
  agent: StartedAgent;
  cdp: CdpSession;
  chromiumPid: number;
}

const opened: Browser[] = [];

afterEach(async () => {
  for (const { agent, cdp } of opened.splice(0)) {
    cdp.close();
    await shutdown(agent);
  }
});

async function startBrowser(proxy: BrowserLaunchConfig['proxy'], credentials?: object): Promise<Browser> {
  const agent = await agents.start({
    config: { recording: false, ...(proxy ? { proxy } : {}) },
    // The Kubernetes driver's way in (the pod's Secret as an env value); the local driver's is stdin (driver spec).
    env: credentials ? { [AGENT_ENV.proxyCredentials]: JSON.stringify(credentials) } : {},
    stderr: 'ignore',
  });
  const health = await waitHealthy(agent);
  const cdp = await CdpSession.connect(health.browser?.cdpUrl ?? '');
  const browser = { agent, cdp, chromiumPid: health.browser?.pid ?? 0 };
  opened.push(browser);
  return browser;
}

/** Opens a tab, navigates it and answers the navigation's error text ('' when it loaded) and the page's title. */
async function visit(browser: Browser, url: string, waitForTitle?: (title: string) => boolean) {
  const { cdp } = browser;
  const { targetId } = await cdp.send<{ targetId: string }>('Target.createTarget', { url: 'about:blank' });
  const { sessionId } = await cdp.send<{ sessionId: string }>('Target.attachToTarget', { targetId, flatten: true });
  await cdp.send('Page.enable', {}, { sessionId });
  const loaded = cdp.waitForEvent('Page.loadEventFired', (_p, from) => from === sessionId, 15_000);
  // A failed navigation fires no load event: the wait is then left to end with the session, unobserved.
  loaded.catch(() => undefined);
  const nav = await cdp.send<{ errorText?: string }>('Page.navigate', { url }, { sessionId });
  if (nav.errorText) return { error: nav.errorText, title: '' };
  await loaded;
  const title = async () =>
    (await cdp.send<{ result: { value: string } }>('Runtime.evaluate', { expression: 'document.title' }, { sessionId }))
      .result.value;
  let current = await title();
  for (let i = 0; waitForTitle && !waitForTitle(current) && i < 100; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    current = await title();
  }
  return { error: '', title: current };
}

async function agentEvents(agent: StartedAgent, waitMs = 0, after = 0): Promise<AgentEvent[]> {
  const response = await fetch(`${agent.url}${AGENT_PATHS.events}?after=${after}&waitMs=${waitMs}`, {
    headers: { authorization: `Bearer ${agent.token}` },
  });
  return ((await response.json()) as { events: AgentEvent[] }).events;
}

function processText(pid: number): string {
  return ['cmdline', 'environ'].map((file) => readFileSync(`/proc/${pid}/${file}`, 'utf8')).join('\n');
}

describe('proxy authentication inside the runtime (agent + Chromium, a real Basic-auth forward proxy)', () => {
  let proxy: ForwardProxy;

  beforeEach(async () => {
    proxy = await startForwardProxy({ credentials: { username: USER, password: PASSWORD } });
  });

  afterEach(async () => {
    await proxy.close();
  });

  it('answers the proxy with the credentials: the page loads through it, the proxy saw them', async () => {
    const browser = await startBrowser({ server: proxy.url, bypass: BYPASS }, { username: USER, password: PASSWORD });
    expect(await visit(browser, proxied('/page'))).toEqual({ error: '', title: `through 127.0.0.1:${port}` });
    const carried = proxy.carried().filter((r) => r.target === proxied('/page'));
    expect(carried).toEqual([
      { method: 'GET', target: proxied('/page'), username: USER, password: PASSWORD, carried: true },
    ]);
    // Chromium's own cmdline and environment hold neither the password nor the variable that carried it.
    const chromium = processText(browser.chromiumPid);
    expect(chromium).not.toContain(PASSWORD);
    expect(chromium).not.toContain(AGENT_ENV.proxyCredentials);
    expect(chromium).toContain(`--proxy-server=${proxy.url}`);
    expect(chromium).toContain('--proxy-bypass-list=<-loopback>;localhost');
  });

  it('sends a bypassed host direct, and answers a worker whose request is the first to meet the proxy', async () => {
    const browser = await startBrowser({ server: proxy.url, bypass: BYPASS }, { username: USER, password: PASSWORD });
    const page = await visit(browser, direct('/worker-page'), (title) => title !== 'worker');
    expect(page).toEqual({ error: '', title: 'data from the site' });
    expect(proxy.requests.map((r) => r.target)).not.toContain(direct('/worker-page'));
    expect(proxy.carried().map((r) => [r.target, r.username, r.password])).toEqual([
      [proxied('/data?from=worker'), USER, PASSWORD],
    ]);
  });

  it('fails the navigation when the proxy refuses the credentials, and reports proxy.auth_failed once', async () => {
    const wrong = 'not-the-password';
    const browser = await startBrowser({ server: proxy.url, bypass: BYPASS }, { username: USER, password: wrong });
    expect(await visit(browser, proxied('/page'))).toEqual({ error: 'net::ERR_INVALID_AUTH_CREDENTIALS', title: '' });
    expect(await visit(browser, proxied('/again'))).toEqual({ error: 'net::ERR_INVALID_AUTH_CREDENTIALS', title: '' });
    // The proxy saw the credentials tried once per request, and carried nothing.
    expect(proxy.carried()).toEqual([]);
    expect(proxy.requests.filter((r) => r.password === wrong).map((r) => r.target)).toEqual([
      proxied('/page'),
      proxied('/again'),
    ]);
    const events = (await agentEvents(browser.agent)).filter((e) => e.type === PROXY_AUTH_FAILED);
    expect(events.map((e) => e.data)).toEqual([{ proxy: proxy.url, url: proxied('/page'), failures: 1 }]);
    // The second refusal, inside the 5 s window, comes as one more event when the window ends.
    const later: AgentEvent[] = [];
    for (let after = events[0]?.seq ?? 0, deadline = Date.now() + 8_000; Date.now() < deadline; ) {
      const batch = await agentEvents(browser.agent, 1_000, after);
      later.push(...batch);
      after = batch.at(-1)?.seq ?? after;
      if (later.some((e) => e.type === PROXY_AUTH_FAILED)) break;
    }
    expect(later.filter((e) => e.type === PROXY_AUTH_FAILED).map((e) => e.data)).toEqual([
      { proxy: proxy.url, url: proxied('/again'), failures: 1 },
    ]);
    expect(JSON.stringify([...events, ...later])).not.toContain(wrong);
  });

  it('without credentials, a proxy that asks for them fails the navigation (nothing answers)', async () => {
    const browser = await startBrowser({ server: proxy.url, bypass: BYPASS });
    expect(await visit(browser, proxied('/page'))).toEqual({ error: 'net::ERR_INVALID_AUTH_CREDENTIALS', title: '' });
  });
});

describe('a SOCKS5 proxy (no authentication)', () => {
  let socks: Socks5Server;

  beforeAll(async () => {
    socks = await startSocks5Server();
  });

  afterAll(async () => {
    await socks.close();
  });

  it('carries the runtime traffic', async () => {
    const browser = await startBrowser({ server: socks.url, bypass: ['<-loopback>'] });
    expect(await visit(browser, proxied('/socks'))).toEqual({ error: '', title: `through 127.0.0.1:${port}` });
    expect(socks.connects).toContain(`127.0.0.1:${port}`);
  });
});
