import { readdirSync, readFileSync } from 'node:fs';
import {
  AGENT_ENV,
  AGENT_PATHS,
  AGENT_WEBDRIVER_CONNECTION,
  type AgentHealth,
  agentWebDriverToken,
} from '@bctrl/contracts';
import { AgentProcesses, pidAlive, shutdown, type StartedAgent, waitHealthy } from '../testing/agent-process';

jest.setTimeout(60_000);

const agents = new AgentProcesses('webdriver');
/** Every chromedriver seen in these specs: none may outlive them. */
const chromedrivers = new Set<number>();

interface Agent extends StartedAgent {
  health: AgentHealth;
  /** Chromium's own DevTools HTTP endpoint, `http://127.0.0.1:<port>`. */
  devtools: string;
}

interface W3CError {
  value: { error: string; message: string; stacktrace: string };
}

interface NewSessionAnswer {
  value: { sessionId: string; capabilities: Record<string, unknown> };
}

/** The shared agent's viewport: what a page's innerWidth must stay whatever a WebDriver client asks. */
const VIEWPORT = { width: 1000, height: 700 };

async function startAgent(env: Record<string, string> = {}): Promise<Agent> {
  const agent = await agents.start({ env, config: { viewport: VIEWPORT }, stderr: 'ignore' });
  const health = await waitHealthy(agent);
  const port = new URL(health.browser?.cdpUrl ?? '').port;
  return { ...agent, health, devtools: `http://127.0.0.1:${port}` };
}

/** A request under the agent's WebDriver prefix (or to `path` itself when it is an agent path). */
function webdriver(
  agent: Agent,
  method: string,
  path: string,
  body?: unknown,
  options: { token?: string | null; connection?: string; raw?: string } = {},
): Promise<Response> {
  const token = options.token === undefined ? agent.token : options.token;
  const url = path.startsWith('/agent/') ? `${agent.url}${path}` : `${agent.url}${AGENT_PATHS.webdriver}${path}`;
  return fetch(url, {
    method,
    headers: {
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      ...(options.connection === undefined ? {} : { [AGENT_WEBDRIVER_CONNECTION]: options.connection }),
      'content-type': 'application/json; charset=utf-8',
    },
    body: options.raw ?? (body === undefined ? undefined : JSON.stringify(body)),
  });
}

async function newSession(agent: Agent, alwaysMatch: Record<string, unknown> = {}, connection?: string) {
  const response = await webdriver(agent, 'POST', '/session', { capabilities: { alwaysMatch } }, { connection });
  const text = await response.text();
  expect({ status: response.status, text }).toMatchObject({ status: 200 });
  return { text, ...(JSON.parse(text) as NewSessionAnswer).value };
}

async function navigate(agent: Agent, sessionId: string, url: string): Promise<void> {
  const response = await webdriver(agent, 'POST', `/session/${sessionId}/url`, { url });
  expect(response.status).toBe(200);
}

/** The browser's pages as its own DevTools endpoint lists them. */
async function pages(agent: Agent): Promise<{ id: string; url: string; type: string }[]> {
  const list = (await (await fetch(`${agent.devtools}/json/list`)).json()) as {
    id: string;
    url: string;
    type: string;
  }[];
  return list.filter((target) => target.type === 'page');
}

/** Live child processes of `pid`, with their argv. */
function childrenOf(pid: number): { pid: number; argv: string[] }[] {
  const found: { pid: number; argv: string[] }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || !pidAlive(Number(entry))) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (parent !== pid) continue;
      found.push({ pid: Number(entry), argv: readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0') });
    } catch {
      // Ended while we looked.
    }
  }
  return found;
}

/** The agent's chromedriver processes (remembered, so afterAll can check they are gone). */
function chromedriversOf(agent: Agent): number[] {
  const pids = childrenOf(agent.child.pid ?? -1)
    .filter((child) => child.argv[0].endsWith('chromedriver'))
    .map((child) => child.pid);
  for (const pid of pids) chromedrivers.add(pid);
  return pids;
}

async function waitGone(pid: number): Promise<boolean> {
  for (let i = 0; i < 50 && pidAlive(pid); i++) await new Promise((r) => setTimeout(r, 50));
  return !pidAlive(pid);
}

afterAll(async () => {
  const left = await agents.tearDown();
  const driversLeft = [...chromedrivers].filter(pidAlive);
  for (const pid of driversLeft) process.kill(pid, 'SIGKILL');
  expect(driversLeft).toEqual([]);
  expect(left).toEqual([]);
});

describe('browser-runtime WebDriver bridge', () => {
  let agent: Agent;
  beforeAll(async () => {
    agent = await startAgent();
  });
  afterAll(async () => {
    const [driver] = chromedriversOf(agent);
    expect(await shutdown(agent)).toEqual({ code: 0, signal: null });
    // A graceful stop ends chromedriver too.
    expect(driver).toBeDefined();
    expect(await waitGone(driver)).toBe(true);
  });

  it("attaches New Session to the runtime's own browser whatever goog:chromeOptions asks, and hides its address", async () => {
    const [ownPage] = await pages(agent);
    const session = await newSession(agent, {
      browserName: 'chrome',
      pageLoadStrategy: 'eager',
      'goog:chromeOptions': {
        args: ['--headless'],
        binary: '/bin/false',
        // chromedriver would apply this one even to a browser it attaches to: every page of the runtime 360 wide.
        mobileEmulation: { deviceMetrics: { width: 360, height: 640, pixelRatio: 3 } },
      },
    });
    // A launched browser would have died at once (/bin/false) or be chromedriver's child; neither happened.
    const [driver] = chromedriversOf(agent);
    expect(childrenOf(driver)).toEqual([]);
    expect(session.capabilities['browserVersion']).toBe(agent.health.browser?.product.split('/')[1]);
    expect(session.capabilities['pageLoadStrategy']).toBe('eager');
    expect(session.capabilities['goog:chromeOptions']).toEqual({});
    expect(session.text).not.toContain(new URL(agent.devtools).host);

    await navigate(agent, session.sessionId, 'data:text/html,webdriver-attached');
    const width = await webdriver(agent, 'POST', `/session/${session.sessionId}/execute/sync`, {
      script: 'return window.innerWidth',
      args: [],
    });
    expect(((await width.json()) as { value: number }).value).toBe(VIEWPORT.width);
    expect(await pages(agent)).toContainEqual(
      expect.objectContaining({ id: ownPage.id, url: 'data:text/html,webdriver-attached' }),
    );
    expect((await webdriver(agent, 'DELETE', `/session/${session.sessionId}`)).status).toBe(200);
  });

  it("drops webSocketUrl, so BiDi opens no mapper tab in the tenant's browser and chromedriver's address stays inside", async () => {
    const session = await newSession(agent, { webSocketUrl: true });
    expect(session.capabilities['webSocketUrl']).toBeUndefined();
    const targets = (await (await fetch(`${agent.devtools}/json/list`)).json()) as { title: string }[];
    expect(targets.map((target) => target.title)).not.toContain('BiDi-CDP Mapper');
    expect((await webdriver(agent, 'DELETE', `/session/${session.sessionId}`)).status).toBe(200);
  });

  it('executes scripts and takes screenshots through the relay', async () => {
    const { sessionId } = await newSession(agent);
    await navigate(agent, sessionId, 'data:text/html,<h1>screenshot</h1>');
    const executed = await webdriver(agent, 'POST', `/session/${sessionId}/execute/sync`, {
      script: 'return arguments[0] * 7 + document.querySelector("h1").textContent.length',
      args: [6],
    });
    expect(executed.status).toBe(200);
    expect(((await executed.json()) as { value: unknown }).value).toBe(42 + 'screenshot'.length);

    const screenshot = await webdriver(agent, 'GET', `/session/${sessionId}/screenshot`);
    expect(screenshot.status).toBe(200);
    expect(screenshot.headers.get('content-type')).toMatch(/^application\/json/);
    const png = Buffer.from(((await screenshot.json()) as { value: string }).value, 'base64');
    expect(png.subarray(0, 8)).toEqual(Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'));
    expect((await webdriver(agent, 'DELETE', `/session/${sessionId}`)).status).toBe(200);
  });

  it('deleting a session leaves the browser and its page running', async () => {
    const { sessionId } = await newSession(agent);
    await navigate(agent, sessionId, 'data:text/html,still-here');
    const deleted = await webdriver(agent, 'DELETE', `/session/${sessionId}`);
    expect(deleted.status).toBe(200);
    expect(await deleted.json()).toEqual({ value: null });

    const health = await fetch(`${agent.url}${AGENT_PATHS.health}`, {
      headers: { authorization: `Bearer ${agent.token}` },
    });
    expect(health.status).toBe(200);
    expect(((await health.json()) as AgentHealth).status).toBe('ready');
    expect(pidAlive(agent.health.browser?.pid ?? -1)).toBe(true);
    expect((await pages(agent)).map((page) => page.url)).toContain('data:text/html,still-here');
    const gone = await webdriver(agent, 'GET', `/session/${sessionId}/url`);
    expect(gone.status).toBe(404);
    expect(((await gone.json()) as W3CError).value.error).toBe('invalid session id');
  });

  it('release deletes the sessions of the named connection only', async () => {
    const a = await newSession(agent, {}, 'conn-a');
    const b = await newSession(agent, {}, 'conn-b');
    const released = await webdriver(agent, 'POST', AGENT_PATHS.webdriverRelease, { connectionId: 'conn-a' });
    expect(released.status).toBe(200);
    expect(await released.json()).toEqual({ deleted: 1 });

    const onA = await webdriver(agent, 'GET', `/session/${a.sessionId}/url`, undefined, { connection: 'conn-a' });
    expect(onA.status).toBe(404);
    expect(((await onA.json()) as W3CError).value.error).toBe('invalid session id');
    const onB = await webdriver(agent, 'GET', `/session/${b.sessionId}/url`, undefined, { connection: 'conn-b' });
    expect(onB.status).toBe(200);
    const again = await webdriver(agent, 'POST', AGENT_PATHS.webdriverRelease, { connectionId: 'conn-a' });
    expect(await again.json()).toEqual({ deleted: 0 });
    expect(
      (await webdriver(agent, 'DELETE', `/session/${b.sessionId}`, undefined, { connection: 'conn-b' })).status,
    ).toBe(200);
  });

  it('a session answers only to the connection it was created under, not to another connection knowing its id', async () => {
    const a = await newSession(agent, {}, 'conn-a');
    for (const connection of ['conn-b', undefined]) {
      for (const [method, path] of [
        ['GET', `/session/${a.sessionId}/url`],
        ['DELETE', `/session/${a.sessionId}`],
      ] as const) {
        const other = await webdriver(agent, method, path, undefined, { connection });
        expect(other.status).toBe(404);
        expect(((await other.json()) as W3CError).value.error).toBe('invalid session id');
      }
    }
    // Still alive and its owner's.
    expect(
      (await webdriver(agent, 'GET', `/session/${a.sessionId}/url`, undefined, { connection: 'conn-a' })).status,
    ).toBe(200);
    expect(
      (await webdriver(agent, 'DELETE', `/session/${a.sessionId}`, undefined, { connection: 'conn-a' })).status,
    ).toBe(200);
  });

  it('takes the agent token or the WebDriver token on its routes, and the WebDriver token nowhere else', async () => {
    for (const token of [null, 'wrong-token', `${agent.token}x`]) {
      expect((await webdriver(agent, 'GET', '/status', undefined, { token })).status).toBe(401);
      expect((await webdriver(agent, 'POST', '/session', {}, { token })).status).toBe(401);
      const release = { connectionId: 'conn-x' };
      expect((await webdriver(agent, 'POST', AGENT_PATHS.webdriverRelease, release, { token })).status).toBe(401);
    }
    const derived = agentWebDriverToken(agent.token);
    expect((await webdriver(agent, 'GET', '/status', undefined, { token: derived })).status).toBe(200);
    const { sessionId } = (
      (await (await webdriver(agent, 'POST', '/session', {}, { token: derived })).json()) as NewSessionAnswer
    ).value;
    expect((await webdriver(agent, 'DELETE', `/session/${sessionId}`, undefined, { token: derived })).status).toBe(200);
    const release = await webdriver(
      agent,
      'POST',
      AGENT_PATHS.webdriverRelease,
      { connectionId: 'c' },
      { token: derived },
    );
    expect(release.status).toBe(200);

    for (const [method, path] of [
      ['GET', AGENT_PATHS.health],
      ['GET', AGENT_PATHS.filesList],
      ['GET', AGENT_PATHS.recording],
      ['POST', AGENT_PATHS.shutdown],
    ]) {
      expect({ path, status: (await webdriver(agent, method, path, undefined, { token: derived })).status }).toEqual({
        path,
        status: 401,
      });
    }
    expect(pidAlive(agent.child.pid ?? -1)).toBe(true);
  });

  it('refuses New Session bodies that are not a JSON object or over 1 MiB, and release bodies without a connectionId', async () => {
    for (const raw of [
      '{not json',
      '[{"capabilities":{}}]',
      '{"capabilities":[]}',
      '{"capabilities":{"firstMatch":{}}}',
    ]) {
      const response = await webdriver(agent, 'POST', '/session', undefined, { raw });
      expect({ raw, status: response.status }).toEqual({ raw, status: 400 });
      expect(((await response.json()) as W3CError).value).toMatchObject({ error: 'invalid argument', stacktrace: '' });
    }
    const huge = JSON.stringify({ capabilities: { alwaysMatch: { 'x:pad': 'x'.repeat(1024 * 1024) } } });
    const tooLarge = await webdriver(agent, 'POST', '/session', undefined, { raw: huge });
    expect(tooLarge.status).toBe(413);
    expect(((await tooLarge.json()) as W3CError).value.error).toBe('invalid argument');

    for (const body of [{}, { connectionId: '' }, { connectionId: 7 }, { connectionId: 'c'.repeat(201) }]) {
      expect((await webdriver(agent, 'POST', AGENT_PATHS.webdriverRelease, body)).status).toBe(400);
    }
    expect((await webdriver(agent, 'POST', AGENT_PATHS.webdriverRelease, undefined, { raw: 'nope' })).status).toBe(400);
  });

  it("keeps chromedriver's endpoints outside W3C (/sessions, /shutdown) out of reach", async () => {
    const { sessionId } = await newSession(agent);
    for (const [method, path] of [
      ['GET', '/sessions'],
      ['GET', '/shutdown'],
    ]) {
      const response = await webdriver(agent, method, path);
      expect({ path, status: response.status }).toEqual({ path, status: 404 });
      expect(((await response.json()) as W3CError).value.error).toBe('unknown command');
    }
    expect((await webdriver(agent, 'GET', `/session/${sessionId}/url`)).status).toBe(200);
    expect((await webdriver(agent, 'DELETE', `/session/${sessionId}`)).status).toBe(200);
  });

  it('restarts chromedriver after it died, its sessions forgotten', async () => {
    const { sessionId } = await newSession(agent, {}, 'conn-before');
    const [before] = chromedriversOf(agent);
    process.kill(before, 'SIGKILL');
    expect(await waitGone(before)).toBe(true);

    // Requests the agent relays before it has seen the exit are answered 503; the next ones start a new chromedriver.
    let status = 0;
    for (let i = 0; i < 20; i++) {
      const response = await webdriver(agent, 'GET', '/status');
      status = response.status;
      if (status === 200) break;
      expect(((await response.json()) as W3CError).value.stacktrace).toBe('');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(status).toBe(200);
    const [after] = chromedriversOf(agent);
    expect(after).not.toBe(before);
    expect((await webdriver(agent, 'GET', `/session/${sessionId}/url`)).status).toBe(404);
    const release = await webdriver(agent, 'POST', AGENT_PATHS.webdriverRelease, { connectionId: 'conn-before' });
    expect(await release.json()).toEqual({ deleted: 0 });
  });
});

describe('browser-runtime WebDriver bridge, chromedriver lifecycle', () => {
  it('starts chromedriver once, on the first WebDriver request only, and a release before it starts none', async () => {
    const agent = await startAgent();
    expect(chromedriversOf(agent)).toEqual([]);
    const release = await webdriver(agent, 'POST', AGENT_PATHS.webdriverRelease, { connectionId: 'conn-a' });
    expect(await release.json()).toEqual({ deleted: 0 });
    expect(chromedriversOf(agent)).toEqual([]);

    const statuses = await Promise.all([1, 2, 3].map(() => webdriver(agent, 'GET', '/status')));
    expect(statuses.map((response) => response.status)).toEqual([200, 200, 200]);
    expect(chromedriversOf(agent)).toHaveLength(1);
    expect(await shutdown(agent)).toEqual({ code: 0, signal: null });
  });

  it('answers 503 session not created while chromedriver is missing, and the agent stays healthy', async () => {
    const agent = await startAgent({ [AGENT_ENV.chromedriverPath]: '/nonexistent/chromedriver' });
    // Twice: a failed start is not remembered, the second request tries again.
    for (let attempt = 0; attempt < 2; attempt++) {
      const response = await webdriver(agent, 'POST', '/session', { capabilities: {} });
      expect(response.status).toBe(503);
      const body = (await response.json()) as W3CError;
      expect(body).toEqual({
        value: {
          error: 'session not created',
          message: expect.stringContaining('chromedriver is not installed in this runtime') as unknown,
          stacktrace: '',
        },
      });
    }
    const health = await fetch(`${agent.url}${AGENT_PATHS.health}`, {
      headers: { authorization: `Bearer ${agent.token}` },
    });
    expect(health.status).toBe(200);
    expect(await shutdown(agent)).toEqual({ code: 0, signal: null });
  });

  it('chromedriver dies with the agent even when the agent is SIGKILLed', async () => {
    const agent = await startAgent();
    expect((await webdriver(agent, 'GET', '/status')).status).toBe(200);
    const [driver] = chromedriversOf(agent);
    expect(driver).toBeDefined();
    agent.child.kill('SIGKILL');
    await agent.exit;
    // Chromium outlives a SIGKILLed agent by design (its driver reaps it by user-data-dir); this spec is its driver.
    const chromiumPid = agent.health.browser?.pid ?? -1;
    expect(chromiumPid).toBeGreaterThan(1);
    process.kill(-chromiumPid, 'SIGKILL');
    expect(await waitGone(chromiumPid)).toBe(true);
    expect(await waitGone(driver)).toBe(true);
  });
});
