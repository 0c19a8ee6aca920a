import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import request from 'supertest';
import { FakeKubelet, FakeKubernetesApiServer } from '@bctrl/runtime-orchestrator/testing';
import { startForwardProxy, waitFor } from '@bctrl/testing';
import { bctrlChromiums } from './browsers';
import { defineConnectionSuite } from './connections.suite';
import { defineFilesSuite } from './files.suite';
import { type Platform, REPO_ROOT, startLocalPlatform } from './platform';
import { readRunEvents } from './run-events';
import { startTestSite, type TestSite } from './test-site';
import { defineWebDriverSuite } from './webdriver.suite';

const NAMESPACE = 'bctrl-runtimes';
const CDP_PORT = 9333;
const podName = (runtimeId: string) => `bctrl-rt-${runtimeId.toLowerCase().replace(/_/g, '-')}`;

/** The Chromium of a runtime's pod: its user-data-dir is in the pod's work volume. */
const chromiumOf = (runtimeId: string) =>
  bctrlChromiums().find((p) => p.argv.some((arg) => arg.includes(`/${podName(runtimeId)}-`)));

/**
 * The remote ends (`ip:port`) of the TCP connections this process has established: the platform runs in it (local
 * mode), so these are where it dialed. Sockets are matched to /proc/net/tcp rows by inode.
 */
function dialedByThisProcess(): string[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const link = readlinkSync(`/proc/self/fd/${fd}`);
      if (link.startsWith('socket:[')) inodes.add(link.slice('socket:['.length, -1));
    } catch {
      // closed meanwhile
    }
  }
  const hexAddress = (hex: string) => {
    const [ip, port] = hex.split(':');
    const bytes = (ip.match(/../g) ?? []).map((b) => parseInt(b, 16)).reverse();
    return `${bytes.join('.')}:${parseInt(port, 16)}`;
  };
  return readFileSync('/proc/self/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields.length > 9 && fields[3] === '01' && inodes.has(fields[9]))
    .map((fields) => hexAddress(fields[2]));
}

/**
 * The Kubernetes driver end to end: local mode with BCTRL_BROWSER_DRIVER=kubernetes, pointed by KUBECONFIG at the
 * FAKE API server, whose pods the FAKE kubelet runs as real browser-runtime agents with real Chromium, each on a
 * pod IP of its own. Everything between the driver and the browser is what runs on a cluster: the pod spec, the
 * Secret with the agent token, the watch, `http://<podIP>:<agentPort>` for the agent and its file API.
 */
interface Cluster {
  api: FakeKubernetesApiServer;
  kubelet: FakeKubelet;
  platform: Platform;
  stop(): Promise<void>;
}

/** The fake API server and kubelet, and local mode on the kubernetes driver pointed at them. */
async function startCluster(env: NodeJS.ProcessEnv = {}): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), 'bctrl-e2e-k8s-'));
  const savedKubeconfig = process.env['KUBECONFIG'];
  const api = await FakeKubernetesApiServer.start();
  // The driver loads its cluster as any client off-cluster does: the kubeconfig file KUBECONFIG names.
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, api.kubeConfig(NAMESPACE).exportConfig());
  process.env['KUBECONFIG'] = kubeconfig;
  const platform = await startLocalPlatform({
    BCTRL_BROWSER_DRIVER: 'kubernetes',
    BCTRL_RUNTIME_NAMESPACE: NAMESPACE,
    BCTRL_RUNTIME_IMAGE: 'bctrl/browser-runtime:e2e',
    ...env,
  });
  const kubelet = await FakeKubelet.start({
    api,
    namespace: NAMESPACE,
    repoRoot: REPO_ROOT,
    imageEnv: { CHROME_PATH: process.env['CHROME_PATH'] ?? '/usr/lib/chromium/chromium' },
    // Under the installation's browser dir and marked with it: the run's leak check finds what a pod left.
    volumeRoot: join(tmpdir(), 'bctrl-browsers', platform.installationId),
    extraArgs: [`--bctrl-instance=${platform.installationId}`],
  });
  return {
    api,
    kubelet,
    platform,
    stop: async () => {
      await platform.stop();
      await kubelet.close();
      await api.close();
      if (savedKubeconfig === undefined) delete process.env['KUBECONFIG'];
      else process.env['KUBECONFIG'] = savedKubeconfig;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('Kubernetes driver end to end (fake API server and kubelet, real agents and Chromium)', () => {
  let cluster: Cluster;
  let api: FakeKubernetesApiServer;
  let kubelet: FakeKubelet;
  let platform: Platform;
  let site: TestSite;
  const http = () => request(platform.url);
  const auth = () => ({ Authorization: `Bearer ${platform.adminKey}` });

  beforeAll(async () => {
    // Not the default 9222: the chart's browserRuntime.cdpPort reaches the pod and the URL cdp-proxy dials.
    cluster = await startCluster({ BCTRL_RUNTIME_CDP_PORT: String(CDP_PORT) });
    ({ api, kubelet, platform } = cluster);
    site = await startTestSite();
  }, 120_000);

  afterAll(async () => {
    await cluster?.stop();
    await site?.close();
  }, 60_000);

  it('runs a runtime as a pod: ready on its pod IP, driven by Playwright through a connection, deleted on stop', async () => {
    const spaceId = (await http().post('/v1/spaces').set(auth()).send({ name: 'k8s' })).body.id as string;
    const created = await http()
      .post(`/v1/spaces/${spaceId}/runtimes?wait=true`)
      .set(auth())
      .send({ type: 'browser', timeoutSeconds: 300, viewport: { width: 1024, height: 700 } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ status: 'ready', activeRunId: expect.stringMatching(/^run_/) });
    const id = created.body.id as string;
    const name = podName(id);

    const pod = api.getPod(name, NAMESPACE) as {
      metadata: { labels: Record<string, string> };
      status: { phase: string; podIP: string };
      spec: { containers: { env: { name: string; value?: string; valueFrom?: unknown }[] }[] };
    };
    expect(pod.metadata.labels).toMatchObject({ 'bctrl.dev/runtime-id': id, 'bctrl.dev/space-id': spaceId });
    expect(pod.status).toMatchObject({ phase: 'Running', podIP: kubelet.podIPs()[name] });
    // The agent token is in the pod's Secret, never in the pod spec.
    const tokenVar = pod.spec.containers[0].env.find((v) => v.name === 'BCTRL_AGENT_TOKEN');
    expect(tokenVar).toEqual({ name: 'BCTRL_AGENT_TOKEN', valueFrom: { secretKeyRef: expect.any(Object) } });
    expect(api.secretNames(NAMESPACE)).toContain(name);
    expect(chromiumOf(id)).toBeDefined();

    const connection = await http().post(`/v1/runtimes/${id}/connections`).set(auth()).send({});
    expect(connection.status).toBe(201);
    const browser = await chromium.connectOverCDP(connection.body.wsUrl as string);
    try {
      // On a cluster the pod's 127.0.0.1 is its own: the platform must reach Chromium through the agent's CDP forward
      // on the pod IP, never at the loopback address Chromium itself listens on (here the machine's, so reachable).
      const userDataDir = (chromiumOf(id)?.argv.find((arg) => arg.startsWith('--user-data-dir=')) ?? '').slice(16);
      const chromiumPort = readFileSync(join(userDataDir, 'DevToolsActivePort'), 'utf8').split('\n')[0];
      const dialed = dialedByThisProcess();
      expect(dialed).toContain(`${pod.status.podIP}:${CDP_PORT}`);
      expect(dialed).not.toContain(`127.0.0.1:${chromiumPort}`);

      const context = browser.contexts()[0] ?? (await browser.newContext());
      const page = context.pages()[0] ?? (await context.newPage());
      await page.goto(site.url);
      await page.click('#go');
      expect(await page.textContent('#out')).toBe('clicked 1');
      // The launch config reached the agent through the pod's env (Chromium's headless default is 800 wide).
      expect(await page.evaluate(() => window.innerWidth)).toBe(1024);
    } finally {
      await browser.close();
    }

    const stopped = await http().post(`/v1/runtimes/${id}/stop`).set(auth());
    expect(stopped.body).toMatchObject({ status: 'stopped', stopReason: 'requested' });
    expect(api.podNames(NAMESPACE)).not.toContain(name);
    expect(api.secretNames(NAMESPACE)).not.toContain(name); // the garbage collector took it with its pod
    await waitFor('the pod’s processes to end', () => (kubelet.runningPods().includes(name) ? undefined : true));
    await waitFor('its Chromium to exit', () => (chromiumOf(id) ? undefined : true));
  });

  it('hands a runtime its proxy credentials through the pod Secret, never the pod spec; Playwright loads through it', async () => {
    const password = `k8s-proxy-pw-${Date.now().toString(36)}${Math.random().toString(36).slice(2)}`;
    const forward = await startForwardProxy({ credentials: { username: 'k8s-user', password } });
    try {
      const spaceId = (await http().post('/v1/spaces').set(auth()).send({ name: 'k8s-proxy' })).body.id as string;
      const secret = await http()
        .post(`/v1/spaces/${spaceId}/secrets`)
        .set(auth())
        .send({ name: 'pw', value: password });
      const proxy = await http()
        .post(`/v1/spaces/${spaceId}/proxies`)
        .set(auth())
        .send({
          name: 'k8s',
          server: forward.url,
          username: 'k8s-user',
          passwordSecretId: secret.body.id,
          bypass: ['<-loopback>'],
        });
      expect(proxy.status).toBe(201);
      const created = await http()
        .post(`/v1/spaces/${spaceId}/runtimes?wait=true`)
        .set(auth())
        .send({ type: 'browser', timeoutSeconds: 300, proxyId: proxy.body.id });
      expect(created.body.status).toBe('ready');
      const id = created.body.id as string;
      const name = podName(id);
      const pod = api.getPod(name, NAMESPACE) as {
        spec: { containers: { env: { name: string; value?: string; valueFrom?: unknown }[] }[] };
      };
      expect(JSON.stringify(pod)).not.toContain(password);
      expect(pod.spec.containers[0].env.find((v) => v.name === 'BCTRL_PROXY_CREDENTIALS')).toEqual({
        name: 'BCTRL_PROXY_CREDENTIALS',
        valueFrom: { secretKeyRef: { name, key: 'proxy-credentials' } },
      });
      const connection = await http().post(`/v1/runtimes/${id}/connections`).set(auth()).send({});
      const browser = await chromium.connectOverCDP(connection.body.wsUrl as string);
      try {
        const context = browser.contexts()[0] ?? (await browser.newContext());
        const page = await context.newPage();
        await page.goto(`${site.url}/second`);
        expect(await page.title()).toBe('Second page');
      } finally {
        await browser.close();
      }
      expect(forward.carried().map((r) => [r.target, r.username, r.password])).toContainEqual([
        `${site.url}/second`,
        'k8s-user',
        password,
      ]);
      // Chromium inherits the agent's environment: the pod Secret's variable is not in it.
      const chromiumPid = chromiumOf(id)?.pid ?? 0;
      expect(readFileSync(`/proc/${chromiumPid}/environ`, 'utf8')).not.toContain(password);
      await http().post(`/v1/runtimes/${id}/stop`).set(auth());
    } finally {
      await forward.close();
    }
  });

  it('a pod whose container dies fails its runtime with crashed', async () => {
    const spaceId = (await http().post('/v1/spaces').set(auth()).send({ name: 'k8s-crash' })).body.id as string;
    const created = await http()
      .post(`/v1/spaces/${spaceId}/runtimes?wait=true`)
      .set(auth())
      .send({ type: 'browser', timeoutSeconds: 300 });
    expect(created.body.status).toBe('ready');
    const id = created.body.id as string;
    kubelet.killContainer(podName(id));
    const failed = await waitFor('the runtime to fail', async () => {
      const res = await http().get(`/v1/runtimes/${id}`).set(auth());
      return res.body.status === 'failed' ? res.body : undefined;
    });
    expect(failed).toMatchObject({ status: 'failed', stopReason: 'crashed' });
    await waitFor('its Chromium to exit', () => (chromiumOf(id) ? undefined : true));
  });

  // CDP through the pod's forward: Playwright, Puppeteer, chrome-remote-interface, discovery and page endpoints.
  defineConnectionSuite(() => platform);
  defineWebDriverSuite(() => platform);
  defineFilesSuite(() => platform);
});

describe('Kubernetes driver with a warm pool (fake API server and kubelet, real agents and Chromium)', () => {
  let cluster: Cluster;
  let site: TestSite;
  const auth = () => ({ Authorization: `Bearer ${cluster.platform.adminKey}` });
  const poolPods = () => cluster.api.podNames(NAMESPACE).filter((name) => name.startsWith('bctrl-pool-'));

  beforeAll(async () => {
    cluster = await startCluster({ BCTRL_WARM_POOL_SIZE: '1' });
    site = await startTestSite();
  }, 120_000);

  afterAll(async () => {
    await cluster?.stop();
    await site?.close();
  }, 60_000);

  it('serves a runtime from a pooled pod (relabelled, deadline shortened), drives it, and refills with a new pod', async () => {
    const { api, platform } = cluster;
    const http = () => request(platform.url);
    const spaceId = (await http().post('/v1/spaces').set(auth()).send({ name: 'k8s-warm' })).body.id as string;
    const [pooled] = await waitFor('a pooled pod', () =>
      (platform.pooledBrowsers?.() ?? 0) >= 1 && poolPods().length === 1 ? poolPods() : undefined,
    );
    const before = api.getPod(pooled, NAMESPACE) as { spec: { activeDeadlineSeconds: number } };

    const created = await http()
      .post(`/v1/spaces/${spaceId}/runtimes?wait=true`)
      .set(auth())
      .send({ type: 'browser', timeoutSeconds: 120 });
    expect(created.body.status).toBe('ready');
    const id = created.body.id as string;
    expect(api.podNames(NAMESPACE)).not.toContain(podName(id)); // no cold pod: the pooled one serves it
    // The runtime is answered ready first; the driver binds the pod to it (labels, deadline) right after.
    const adopted = await waitFor('the pooled pod to be bound', () => {
      const pod = api.getPod(pooled, NAMESPACE) as {
        metadata: { labels: Record<string, string> };
        spec: { activeDeadlineSeconds: number };
      };
      return pod.metadata.labels['bctrl.dev/runtime-id'] === id ? pod : undefined;
    });
    expect(adopted.metadata.labels).toMatchObject({ 'bctrl.dev/space-id': spaceId });
    expect(adopted.spec.activeDeadlineSeconds).toBeLessThan(before.spec.activeDeadlineSeconds);

    const connection = await http().post(`/v1/runtimes/${id}/connections`).set(auth()).send({});
    const browser = await chromium.connectOverCDP(connection.body.wsUrl as string);
    try {
      const context = browser.contexts()[0] ?? (await browser.newContext());
      const page = context.pages()[0] ?? (await context.newPage());
      await page.goto(site.url);
      await page.click('#go');
      expect(await page.textContent('#out')).toBe('clicked 1');
    } finally {
      await browser.close();
    }
    // The file API of the adopted pod's agent answers too.
    expect((await http().get(`/v1/runtimes/${id}/files`).set(auth())).status).toBe(200);

    expect((await http().post(`/v1/runtimes/${id}/stop`).set(auth())).body.status).toBe('stopped');
    expect(api.podNames(NAMESPACE)).not.toContain(pooled);
    const [refill] = await waitFor('the pool to refill', () => (poolPods().length === 1 ? poolPods() : undefined));
    expect(refill).not.toBe(pooled);
  });

  it('starts a runtime with a proxy cold, in a pod of its own, while a pooled pod waits (a running browser cannot take one)', async () => {
    const { api, platform } = cluster;
    const http = () => request(platform.url);
    const spaceId = (await http().post('/v1/spaces').set(auth()).send({ name: 'k8s-warm-proxy' })).body.id as string;
    const [pooled] = await waitFor('a pooled pod', () =>
      (platform.pooledBrowsers?.() ?? 0) >= 1 && poolPods().length === 1 ? poolPods() : undefined,
    );
    const proxy = await http()
      .post(`/v1/spaces/${spaceId}/proxies`)
      .set(auth())
      .send({ name: 'unused', server: 'http://127.0.0.1:9' });
    const created = await http()
      .post(`/v1/spaces/${spaceId}/runtimes?wait=true`)
      .set(auth())
      .send({ type: 'browser', timeoutSeconds: 120, proxyId: proxy.body.id });
    expect(created.body.status).toBe('ready');
    const id = created.body.id as string;
    expect(api.podNames(NAMESPACE)).toEqual(expect.arrayContaining([podName(id), pooled]));
    expect(platform.pooledBrowsers?.()).toBe(1);
    const events = await readRunEvents(platform.transport, created.body.activeRunId as string, (seen) =>
      seen.some((e) => e.type === 'runtime.ready'),
    );
    expect(events.find((e) => e.type === 'runtime.ready')?.data).toMatchObject({ warm: false });
    expect((await http().post(`/v1/runtimes/${id}/stop`).set(auth())).body.status).toBe('stopped');
  });
});
