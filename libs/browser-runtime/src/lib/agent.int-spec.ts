import { existsSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { CdpSession } from '@bctrl/cdp-client';
import { AGENT_ENV, AGENT_PATHS, type AgentHealth, type BrowserLaunchConfig } from '@bctrl/contracts';
import { AgentProcesses, pidAlive, shutdown, type StartedAgent, waitHealthy } from '../testing/agent-process';

jest.setTimeout(60_000);

const agents = new AgentProcesses('agent');

function startAgent(config: BrowserLaunchConfig = {}, runtimeId = ''): Promise<StartedAgent> {
  return agents.start({ config, runtimeId, stderr: 'ignore' });
}

function call(agent: StartedAgent, method: string, path: string, body?: unknown, token: string | null = agent.token) {
  return fetch(`${agent.url}${path}`, {
    method,
    headers: {
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      ...(body ? { 'content-type': 'application/json' } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  });
}

afterAll(async () => {
  expect(await agents.tearDown()).toEqual([]);
});

describe('browser-runtime agent', () => {
  it('authenticates, reports 503 then ready with a working cdpUrl, binds once, and shuts down without a trace', async () => {
    const agent = await startAgent();
    expect((await call(agent, 'GET', AGENT_PATHS.health, undefined, null)).status).toBe(401);
    expect((await call(agent, 'GET', AGENT_PATHS.health, undefined, 'wrong-token')).status).toBe(401);
    expect((await call(agent, 'POST', AGENT_PATHS.shutdown, undefined, `${agent.token}x`)).status).toBe(401);

    const early = await call(agent, 'GET', AGENT_PATHS.health);
    expect(early.status).toBe(503);
    expect(((await early.json()) as AgentHealth).status).toBe('starting');

    const health = await waitHealthy(agent);
    expect(health).toMatchObject({ status: 'ready', runtimeId: '' });
    expect(health.browser?.product).toMatch(/^(Headless)?Chrome\/\d+/);
    expect(health.readyAt).not.toBeNull();
    const client = await CdpSession.connect(health.browser?.cdpUrl ?? '');
    const version = await client.send<{ product: string }>('Browser.getVersion');
    expect(version.product).toBe(health.browser?.product);
    client.close();

    const assigned = await call(agent, 'POST', AGENT_PATHS.assign, { runtimeId: 'rt_one' });
    expect(assigned.status).toBe(200);
    expect(((await assigned.json()) as AgentHealth).runtimeId).toBe('rt_one');
    expect((await call(agent, 'POST', AGENT_PATHS.assign, { runtimeId: 'rt_two' })).status).toBe(400);
    expect(((await (await call(agent, 'GET', AGENT_PATHS.health)).json()) as AgentHealth).runtimeId).toBe('rt_one');

    const chromiumPid = health.browser?.pid ?? 0;
    expect(pidAlive(chromiumPid)).toBe(true);
    expect((await call(agent, 'POST', AGENT_PATHS.shutdown)).status).toBe(202);
    expect(await agent.exit).toEqual({ code: 0, signal: null });
    expect(pidAlive(chromiumPid)).toBe(false);
    expect(existsSync(agent.workDir)).toBe(false);
    expect(agent.lines.some((line) => line['event'] === 'browser-exited')).toBe(false);
    expect(agents.leftovers()).toEqual([]);
  });

  it('applies viewport, user agent, locale and timezone', async () => {
    const agent = await startAgent(
      {
        viewport: { width: 1111, height: 777 },
        userAgent: 'BctrlTest/1.0 (agent spec)',
        locale: 'fr-FR',
        timezone: 'Asia/Tokyo',
      },
      'rt_config',
    );
    const health = await waitHealthy(agent);
    expect(health.runtimeId).toBe('rt_config');
    const client = await CdpSession.connect(health.browser?.cdpUrl ?? '');
    const { targetId } = await client.send<{ targetId: string }>('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = await client.send<{ sessionId: string }>('Target.attachToTarget', {
      targetId,
      flatten: true,
    });
    const evaluated = await client.send<{ result: { value: string } }>(
      'Runtime.evaluate',
      {
        expression:
          'JSON.stringify([navigator.userAgent, navigator.language, window.innerWidth, window.innerHeight, Intl.DateTimeFormat().resolvedOptions().timeZone])',
        returnByValue: true,
      },
      { sessionId },
    );
    client.close();
    const [userAgent, language, width, height, timeZone] = JSON.parse(evaluated.result.value) as unknown[];
    expect({ userAgent, language, width, timeZone }).toEqual({
      userAgent: 'BctrlTest/1.0 (agent spec)',
      language: 'fr-FR',
      width: 1111,
      timeZone: 'Asia/Tokyo',
    });
    expect(height).toBe(777);
    agent.child.kill('SIGTERM');
    expect(await agent.exit).toEqual({ code: 0, signal: null });
    expect(existsSync(agent.workDir)).toBe(false);
  });

  it('exits 3 with a browser-exited line when Chromium dies, leaving nothing behind', async () => {
    const agent = await startAgent();
    const health = await waitHealthy(agent);
    const chromiumPid = health.browser?.pid ?? 0;
    process.kill(chromiumPid, 'SIGKILL');
    expect(await agent.exit).toEqual({ code: 3, signal: null });
    expect(agent.lines).toContainEqual({
      event: 'browser-exited',
      code: null,
      signal: 'SIGKILL',
      detail: expect.stringMatching(/^Chromium exited on signal SIGKILL/),
    });
    expect(existsSync(agent.workDir)).toBe(false);
    await new Promise((r) => setTimeout(r, 200));
    expect(agents.leftovers()).toEqual([]);
  });

  it('forwards its CDP port to Chromium, whose own endpoint listens on loopback only (a pod reaches it so)', async () => {
    const port = await new Promise<number>((done) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port: free } = probe.address() as AddressInfo;
        probe.close(() => done(free));
      });
    });
    const agent = await agents.start({ env: { [AGENT_ENV.cdpPort]: String(port) }, stderr: 'ignore' });
    const health = await waitHealthy(agent);
    const own = new URL(health.browser?.cdpUrl ?? '');
    expect(own.hostname).toBe('127.0.0.1');
    const version = (await (await fetch(`http://127.0.0.1:${port}/json/version`)).json()) as { Browser: string };
    expect(version.Browser).toBe(health.browser?.product);
    const client = await CdpSession.connect(`ws://127.0.0.1:${port}${own.pathname}`);
    expect((await client.send<{ product: string }>('Browser.getVersion')).product).toBe(health.browser?.product);
    client.close();
    expect(await shutdown(agent)).toEqual({ code: 0, signal: null });
  });

  it('refuses to start without a token', async () => {
    const child = agents.spawn({ [AGENT_ENV.token]: '' }, 'ignore');
    const code = await new Promise((done) => child.once('exit', done));
    expect(code).toBe(2);
  });
});
