import { randomBytes } from 'node:crypto';
import { ApiException, CoreV1Api } from '@kubernetes/client-node';
import { Pod } from 'kubernetes-models/v1';
import { AGENT_ENV, AGENT_PATHS } from '@bctrl/contracts';
import { FakeKubernetesApiServer } from '../testing/fake-kubernetes-api.server';
import { StubAgentServer } from '../testing/stub-agent.server';
import type { BrowserExit, BrowserSpec } from './browser-driver';
import { KubernetesDriver, KubernetesDriverOptions } from './kubernetes.driver';

/**
 * The Kubernetes driver against the FAKE Kubernetes API server (no apiserver can run here) and a stub agent
 * (no Chromium needed to test pod lifecycle). The test plays the kubelet with `fake.setPhase`.
 */

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const id = (prefix: string) =>
  prefix +
  '_' +
  Array.from(randomBytes(24))
    .map((b) => BASE62[b % 62])
    .join('');

const specFor = (overrides: Partial<BrowserSpec> = {}): BrowserSpec => ({
  runtimeId: id('rt'),
  spaceId: id('sp'),
  accountId: id('acc'),
  timeoutSeconds: 600,
  config: { viewport: { width: 1280, height: 720 } },
  ...overrides,
});

const podName = (runtimeId: string) => `bctrl-rt-${runtimeId.toLowerCase().replace(/_/g, '-')}`;

async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

type PodJson = {
  metadata: { name: string; labels: Record<string, string>; resourceVersion: string };
  spec: Record<string, unknown> & {
    containers: {
      env: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[];
      securityContext: Record<string, unknown>;
      resources: Record<string, unknown>;
      volumeMounts: { name: string; mountPath: string }[];
      readinessProbe: Record<string, unknown>;
    }[];
    volumes: { name: string; emptyDir?: { medium?: string } }[];
  };
};

describe('KubernetesDriver (against the fake Kubernetes API server)', () => {
  let fake: FakeKubernetesApiServer;
  let agent: StubAgentServer;
  let driver: KubernetesDriver;
  let exits: BrowserExit[];
  let ip = 1;

  const makeDriver = (extra: Partial<KubernetesDriverOptions> = {}) => {
    const d = new KubernetesDriver({
      kubeConfig: fake.kubeConfig('bctrl-browsers'),
      namespace: 'bctrl-browsers',
      image: 'ghcr.io/bctrl/browser-runtime:test',
      imagePullPolicy: 'IfNotPresent',
      installationId: 'inst-test',
      resources: { requests: { cpu: '500m', memory: '1Gi' }, limits: { cpu: '2', memory: '2Gi' } },
      labels: { 'team.example.com/owner': 'browsers' },
      agentUrlFor: () => agent.url,
      launchTimeoutMs: 5000,
      healthIntervalMs: 10,
      watchRetryMs: 20,
      deleteGracePeriodSeconds: 1,
      deadlineMarginSeconds: 30,
      ...extra,
    });
    d.onExit((exit) => exits.push(exit));
    return d;
  };

  const pod = (name: string) => fake.getPod(name, 'bctrl-browsers') as PodJson | undefined;
  const mustPod = (name: string): PodJson => {
    const found = pod(name);
    if (!found) throw new Error(`no pod ${name}`);
    return found;
  };
  const setPhase = (name: string, phase: 'Running' | 'Failed' | 'Succeeded', extra: Record<string, unknown> = {}) =>
    fake.setPhase(name, phase, {
      namespace: 'bctrl-browsers',
      ...(phase === 'Running' ? { podIP: `10.0.0.${ip++}` } : {}),
      ...extra,
    });

  /** Plays the kubelet for one pod: waits for its creation, then reports it Running. */
  const runWhenCreated = async (name: string) => {
    await waitFor(() => pod(name) !== undefined, `pod ${name} created`);
    setPhase(name, 'Running');
  };

  const launchRunning = async (spec = specFor()) => {
    const launching = driver.launch(spec);
    await runWhenCreated(podName(spec.runtimeId));
    return { spec, handle: await launching, name: podName(spec.runtimeId) };
  };

  const watchRequests = () => fake.requests.filter((r) => r.query['watch'] === 'true');
  const listRequests = () => fake.requests.filter((r) => r.method === 'GET' && r.query['watch'] === undefined);

  beforeEach(async () => {
    fake = await FakeKubernetesApiServer.start();
    agent = await StubAgentServer.start();
    exits = [];
    driver = makeDriver();
  });

  afterEach(async () => {
    await driver.close();
    await agent.close();
    await fake.close();
  });

  afterEach(() => {
    // Every pod any driver sent is a valid Pod and carries the hardening, whatever the test did.
    for (const body of fake.createdBodies) {
      expect(() => new Pod(body as ConstructorParameters<typeof Pod>[0]).validate()).not.toThrow();
    }
  });

  it('creates one hardened, labelled, valid Pod and resolves only once it is Running and the agent is ready', async () => {
    agent.ready = false;
    const spec = specFor({ timeoutSeconds: 900 });
    const name = podName(spec.runtimeId);
    let resolved = false;
    const launching = driver.launch(spec).then((h) => {
      resolved = true;
      return h;
    });
    await waitFor(() => pod(name) !== undefined, 'pod created');
    await new Promise((r) => setTimeout(r, 100));
    expect(resolved).toBe(false); // Pending

    setPhase(name, 'Running');
    await waitFor(() => agent.requests.some((r) => r.path === AGENT_PATHS.health), 'first health check');
    await new Promise((r) => setTimeout(r, 100));
    expect(resolved).toBe(false); // Running, agent still 503

    agent.ready = true;
    const handle = await launching;
    expect(handle).toMatchObject({ runtimeId: spec.runtimeId, driver: 'kubernetes', ref: name, agentUrl: agent.url });
    // Chromium's loopback URL, moved to the pod's address and the agent's CDP forward (agentUrlFor: the stub's host).
    expect(handle.cdpUrl).toBe('ws://127.0.0.1:9222/devtools/browser/stub');
    expect(agent.requests.every((r) => r.authorized)).toBe(true);

    const sent = fake.createdBodies[0] as unknown as PodJson;
    expect(sent.metadata.name).toBe(name);
    expect(sent.metadata.labels).toEqual({
      'app.kubernetes.io/name': 'bctrl',
      'app.kubernetes.io/component': 'browser-runtime',
      'app.kubernetes.io/instance': 'inst-test',
      'bctrl.dev/runtime-id': spec.runtimeId,
      'bctrl.dev/space-id': spec.spaceId,
      'bctrl.dev/account-id': spec.accountId,
      'team.example.com/owner': 'browsers',
    });
    expect(sent.spec).toMatchObject({
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      activeDeadlineSeconds: 930, // timeout + margin
      securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } },
    });
    expect(sent.spec['serviceAccountName']).toBeUndefined();
    const [container] = sent.spec.containers;
    expect(sent.spec.containers).toHaveLength(1);
    expect(container).toMatchObject({
      image: 'ghcr.io/bctrl/browser-runtime:test',
      imagePullPolicy: 'IfNotPresent',
      resources: { requests: { cpu: '500m', memory: '1Gi' }, limits: { cpu: '2', memory: '2Gi' } },
      readinessProbe: { tcpSocket: { port: 9223 } },
      securityContext: {
        runAsNonRoot: true,
        runAsUser: 1000,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
        seccompProfile: { type: 'RuntimeDefault' },
      },
    });
    const env = Object.fromEntries(container.env.map((e) => [e.name, e.value]));
    // Non-root under seccomp with no capabilities, Chromium cannot build its own sandbox: the pod is the sandbox.
    expect(env[AGENT_ENV.chromiumSandbox]).toBe('off');
    // The token is not in the pod: it comes from a Secret of the pod's name, owned by the pod.
    expect(env[AGENT_ENV.token]).toBeUndefined();
    const tokenRef = container.env.find((e) => e.name === AGENT_ENV.token)?.valueFrom?.secretKeyRef;
    expect(tokenRef?.name).toBe(name);
    const secret = fake.getSecret(name, 'bctrl-browsers') as
      | { data: Record<string, string>; metadata: { labels: Record<string, string>; ownerReferences: unknown[] } }
      | undefined;
    expect(secret).toBeDefined();
    expect(Buffer.from(secret?.data[tokenRef?.key ?? ''] ?? '', 'base64').toString()).toBe(handle.agentToken);
    expect(secret?.metadata.ownerReferences).toEqual([
      { apiVersion: 'v1', kind: 'Pod', name, uid: (mustPod(name).metadata as unknown as { uid: string }).uid },
    ]);
    expect(secret?.metadata.labels['app.kubernetes.io/instance']).toBe('inst-test');
    expect(env[AGENT_ENV.runtimeId]).toBe(spec.runtimeId);
    expect(JSON.parse(env[AGENT_ENV.launchConfig] ?? '')).toEqual(spec.config);
    expect(env[AGENT_ENV.port]).toBe('9223');
    expect(env[AGENT_ENV.workDir]).toBe('/work');
    expect(env[AGENT_ENV.cdpPort]).toBe('9222');
    expect(container.volumeMounts.map((m) => m.mountPath).sort()).toEqual(['/dev/shm', '/tmp', '/work']);
    expect(sent.spec.volumes.find((v) => v.name === 'dshm')?.emptyDir?.medium).toBe('Memory');
    expect(sent.spec.volumes.every((v) => v.emptyDir !== undefined)).toBe(true);

    // Followed by a watch, not polling: no GET of the pod itself, one LIST, a watch from the LIST's version.
    expect(fake.requests.filter((r) => r.method === 'GET' && r.path.endsWith(`/pods/${name}`))).toHaveLength(0);
    expect(listRequests()).toHaveLength(1);
    expect(watchRequests()).toHaveLength(1);
    expect(watchRequests()[0].query['labelSelector']).toContain('app.kubernetes.io/instance=inst-test');
    expect(watchRequests()[0].query['resourceVersion']).toMatch(/^\d+$/);
    expect(fake.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/pods'))).toHaveLength(1);
  });

  it('sets activeDeadlineSeconds from the timeout, a service account and an env token when configured', async () => {
    await driver.close();
    driver = makeDriver({ serviceAccountName: 'bctrl-browser', agentPort: 9555, tokenDelivery: 'env' });
    const { name, handle } = await launchRunning(specFor({ timeoutSeconds: 45 }));
    const sent = mustPod(name);
    expect(sent.spec.containers[0].env.find((e) => e.name === AGENT_ENV.token)?.value).toBe(handle.agentToken);
    expect(fake.secretNames('bctrl-browsers')).toEqual([]);
    expect(sent.spec['activeDeadlineSeconds']).toBe(75);
    expect(sent.spec['serviceAccountName']).toBe('bctrl-browser');
    expect(sent.spec.containers[0].readinessProbe).toMatchObject({ tcpSocket: { port: 9555 } });
  });

  it('rejects a launch whose pod fails before ready, deletes the pod, and reports no exit', async () => {
    agent.ready = false;
    const spec = specFor();
    const name = podName(spec.runtimeId);
    const launching = driver.launch(spec);
    await waitFor(() => pod(name) !== undefined, 'pod created');
    setPhase(name, 'Failed', {
      containerStatuses: [
        {
          name: 'browser',
          ready: false,
          restartCount: 0,
          image: 'x',
          imageID: '',
          state: { terminated: { exitCode: 3, reason: 'Error' } },
        },
      ],
    });
    await expect(launching).rejects.toThrow(/ended before ready.*Error, exit code 3/);
    expect(pod(name)).toBeUndefined();
    expect(fake.requests.some((r) => r.method === 'DELETE' && r.path.endsWith(`/pods/${name}`))).toBe(true);
    expect(exits).toEqual([]);
  });

  it('reports a bound pod that fails as crashed, with the container state as detail', async () => {
    const { spec, name } = await launchRunning();
    setPhase(name, 'Failed', {
      containerStatuses: [
        {
          name: 'browser',
          ready: false,
          restartCount: 0,
          image: 'x',
          imageID: '',
          state: { terminated: { exitCode: 137, reason: 'OOMKilled' } },
        },
      ],
    });
    await waitFor(() => exits.length === 1, 'exit');
    expect(exits[0]).toMatchObject({ runtimeId: spec.runtimeId, ref: name, reason: 'crashed' });
    expect(exits[0].detail).toContain('OOMKilled, exit code 137');
  });

  it('reports a pod deleted by someone else as crashed, exactly once', async () => {
    const { spec, name } = await launchRunning();
    fake.deletePod(name, 'bctrl-browsers');
    await waitFor(() => exits.length === 1, 'exit');
    expect(exits[0]).toMatchObject({ runtimeId: spec.runtimeId, ref: name, reason: 'crashed', detail: 'pod deleted' });
    await new Promise((r) => setTimeout(r, 50));
    expect(exits).toHaveLength(1);
  });

  it('keeps following after the watch is dropped: resumes from the last resourceVersion, missing nothing', async () => {
    const { spec, name } = await launchRunning();
    const lastRv = mustPod(name).metadata.resourceVersion;
    fake.dropWatches();
    // Changed while no watch is open: only resuming from the last seen resourceVersion delivers it.
    setPhase(name, 'Failed', { reason: 'Evicted', message: 'node pressure' });
    await waitFor(() => exits.length === 1, 'exit after reconnect');
    expect(exits[0]).toMatchObject({ runtimeId: spec.runtimeId, reason: 'crashed' });
    expect(exits[0].detail).toContain('Evicted');
    expect(watchRequests()).toHaveLength(2);
    expect(watchRequests()[1].query['resourceVersion']).toBe(lastRv);
    expect(listRequests()).toHaveLength(1); // no re-list needed
  });

  it('keeps following after a dropped watch when the change comes after the reconnect', async () => {
    const { name } = await launchRunning();
    fake.dropWatches();
    await waitFor(() => watchRequests().length === 2, 'reconnect');
    await new Promise((r) => setTimeout(r, 20));
    setPhase(name, 'Failed');
    await waitFor(() => exits.length === 1, 'exit');
    expect(exits[0].reason).toBe('crashed');
  });

  it('re-lists on 410 Expired and keeps following', async () => {
    const { spec, name } = await launchRunning();
    fake.dropWatches();
    fake.compactHistory();
    await waitFor(() => watchRequests().length >= 3, 'expired watch, re-list, new watch');
    expect(listRequests()).toHaveLength(2); // the initial LIST and the one after 410
    const rewatch = watchRequests()[watchRequests().length - 1];
    expect(Number(rewatch.query['resourceVersion'])).toBeGreaterThanOrEqual(
      Number(watchRequests()[1].query['resourceVersion']) + 10,
    );
    await new Promise((r) => setTimeout(r, 20));
    setPhase(name, 'Failed');
    await waitFor(() => exits.length === 1, 'exit after re-list');
    expect(exits[0]).toMatchObject({ runtimeId: spec.runtimeId, reason: 'crashed' });
  });

  it('notices from the re-list a pod deleted while its events were compacted away', async () => {
    const { name } = await launchRunning();
    fake.dropWatches();
    fake.deletePod(name, 'bctrl-browsers');
    fake.compactHistory();
    await waitFor(() => exits.length === 1, 'exit from re-list');
    expect(exits[0]).toMatchObject({ ref: name, reason: 'crashed', detail: 'pod deleted' });
  });

  it('destroys: asks the agent to shut down, deletes the pod, reports stopped, and is idempotent', async () => {
    const { spec, handle, name } = await launchRunning();
    await driver.destroy(name);
    const shutdown = agent.requests.find((r) => r.path === AGENT_PATHS.shutdown);
    expect(shutdown).toMatchObject({ method: 'POST', authorized: true });
    expect(handle.agentToken).not.toBe('');
    expect(pod(name)).toBeUndefined();
    expect(fake.getSecret(name, 'bctrl-browsers')).toBeUndefined(); // garbage-collected with its owner
    await waitFor(() => exits.length === 1, 'exit');
    expect(exits[0]).toMatchObject({ runtimeId: spec.runtimeId, ref: name, reason: 'stopped' });
    const deleteRequest = fake.requests.find((r) => r.method === 'DELETE');
    expect(deleteRequest?.query['gracePeriodSeconds']).toBe('1');
    await expect(driver.destroy(name)).resolves.toBeUndefined();
    await expect(driver.destroy('bctrl-rt-never-existed')).resolves.toBeUndefined();
    expect(exits).toHaveLength(1);
  });

  it('reports stopped when the pod ends after we asked (agent exits 0 → Succeeded)', async () => {
    const { name } = await launchRunning();
    const destroying = driver.destroy(name);
    setPhase(name, 'Succeeded');
    await destroying;
    expect(exits).toHaveLength(1);
    expect(exits[0].reason).toBe('stopped');
  });

  it('lists pooled and bound pods of this installation only', async () => {
    const pooling = driver.launchPooled();
    await waitFor(() => fake.podNames('bctrl-browsers').some((n) => n.startsWith('bctrl-pool-')), 'pool pod');
    const poolName = fake.podNames('bctrl-browsers').find((n) => n.startsWith('bctrl-pool-')) ?? '';
    setPhase(poolName, 'Running');
    const pooled = await pooling;
    expect(pooled.runtimeId).toBe('');
    const poolLabels = mustPod(poolName).metadata.labels;
    expect(poolLabels['bctrl.dev/runtime-id']).toBeUndefined();
    expect(poolLabels['bctrl.dev/space-id']).toBeUndefined();
    expect(poolLabels['bctrl.dev/account-id']).toBeUndefined();
    const { spec, name } = await launchRunning();

    const other = makeDriver({ installationId: 'someone-else' });
    try {
      const foreign = specFor();
      const launching = other.launch(foreign);
      await runWhenCreated(podName(foreign.runtimeId));
      await launching;
      const listed = await driver.list();
      expect(listed.sort((a, b) => a.ref.localeCompare(b.ref))).toEqual(
        [
          { runtimeId: '', ref: poolName },
          { runtimeId: spec.runtimeId, ref: name },
        ].sort((a, b) => a.ref.localeCompare(b.ref)),
      );
    } finally {
      await other.close();
    }
  });

  it('adopts a pooled pod: merge-patches its labels and deadline, and assigns the agent', async () => {
    await driver.close();
    driver = makeDriver({ pooledDeadlineSeconds: 3600 });
    const pooling = driver.launchPooled();
    await waitFor(() => fake.podNames('bctrl-browsers').length === 1, 'pool pod');
    const poolName = fake.podNames('bctrl-browsers')[0];
    setPhase(poolName, 'Running');
    const pooled = await pooling;
    expect(mustPod(poolName).spec['activeDeadlineSeconds']).toBe(3600);

    const spec = specFor({ timeoutSeconds: 120 });
    const adopted = await driver.adopt(pooled, spec);
    expect(adopted).toMatchObject({ ...pooled, runtimeId: spec.runtimeId });
    const patch = fake.requests.find((r) => r.method === 'PATCH');
    expect(patch?.contentType).toBe('application/merge-patch+json');
    expect(mustPod(poolName).metadata.labels).toMatchObject({
      'bctrl.dev/runtime-id': spec.runtimeId,
      'bctrl.dev/space-id': spec.spaceId,
      'bctrl.dev/account-id': spec.accountId,
      'app.kubernetes.io/instance': 'inst-test',
    });
    expect(mustPod(poolName).spec['activeDeadlineSeconds']).toBeLessThanOrEqual(120 + 30 + 2);
    const assign = agent.requests.find((r) => r.path === AGENT_PATHS.assign);
    expect(assign).toMatchObject({ method: 'POST', authorized: true, body: { runtimeId: spec.runtimeId } });
    expect(agent.runtimeId).toBe(spec.runtimeId);
    expect(await driver.list()).toEqual([{ runtimeId: spec.runtimeId, ref: poolName }]);

    // Its end is now reported under the runtime it serves.
    setPhase(poolName, 'Failed');
    await waitFor(() => exits.length === 1, 'exit');
    expect(exits[0]).toMatchObject({ runtimeId: spec.runtimeId, ref: poolName, reason: 'crashed' });
  });

  it('deletes the pod when the launch is aborted before ready', async () => {
    const spec = specFor();
    const name = podName(spec.runtimeId);
    const abort = new AbortController();
    const launching = driver.launch(spec, abort.signal);
    await waitFor(() => pod(name) !== undefined, 'pod created');
    abort.abort(new Error('stopped before ready'));
    await expect(launching).rejects.toThrow('stopped before ready');
    expect(pod(name)).toBeUndefined();
    expect(fake.secretNames('bctrl-browsers')).toEqual([]);
    expect(exits).toEqual([]);
  });

  it('deletes the pod when it is not ready within the launch timeout', async () => {
    await driver.close();
    driver = makeDriver({ launchTimeoutMs: 300 });
    const spec = specFor();
    await expect(driver.launch(spec)).rejects.toThrow(/not ready within 300 ms/);
    expect(pod(podName(spec.runtimeId))).toBeUndefined();
    // While it waited (Pending), it never polled the pod.
    expect(fake.requests.filter((r) => r.method === 'GET' && r.path.includes('/pods/'))).toHaveLength(0);
  });

  it('surfaces the fake apiserver rejecting an invalid pod with 422', async () => {
    await driver.close();
    driver = makeDriver({ labels: { 'bad label': 'x' } });
    await expect(driver.launch(specFor())).rejects.toThrow(/HTTP-Code: 422/);
    expect(fake.podNames('bctrl-browsers')).toEqual([]);
    expect(fake.requests.filter((r) => r.method === 'DELETE')).toHaveLength(0);
    fake.createdBodies.length = 0; // deliberately invalid: keep it out of the every-pod-validates check
  });

  it('close() deletes the pods it started and stops watching', async () => {
    const a = await launchRunning();
    const b = await launchRunning();
    await driver.close();
    expect(pod(a.name)).toBeUndefined();
    expect(pod(b.name)).toBeUndefined();
    const watchesBefore = watchRequests().length;
    fake.dropWatches();
    await new Promise((r) => setTimeout(r, 100));
    expect(watchRequests()).toHaveLength(watchesBefore);
  });
});

describe('FakeKubernetesApiServer (the fake itself, through the real client)', () => {
  let fake: FakeKubernetesApiServer;
  beforeEach(async () => {
    fake = await FakeKubernetesApiServer.start();
  });
  afterEach(() => fake.close());

  it('validates created pods with kubernetes-models and answers 422, 409, 404 and 401 like an apiserver', async () => {
    const api = fake.kubeConfig().makeApiClient(CoreV1Api);
    const invalid = { metadata: { name: 'p1' }, spec: { containers: [{ image: 'x' }] } }; // container without name
    const err = await api
      .createNamespacedPod({ namespace: 'default', body: invalid as never })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiException);
    expect((err as ApiException<unknown>).code).toBe(422);
    expect(JSON.stringify((err as ApiException<unknown>).body)).toContain('Invalid');

    const body = { metadata: { name: 'p1' }, spec: { containers: [{ name: 'c', image: 'x' }] } };
    const created = await api.createNamespacedPod({ namespace: 'default', body });
    expect(created.metadata?.uid).toBeTruthy();
    expect(created.status?.phase).toBe('Pending');
    const again = await api.createNamespacedPod({ namespace: 'default', body }).catch((e: unknown) => e);
    expect((again as ApiException<unknown>).code).toBe(409);
    const missing = await api.readNamespacedPod({ name: 'nope', namespace: 'default' }).catch((e: unknown) => e);
    expect((missing as ApiException<unknown>).code).toBe(404);

    const anonymous = await fetch(`${fake.url}/api/v1/namespaces/default/pods`);
    expect(anonymous.status).toBe(401);
    const jsonPatch = await fetch(`${fake.url}/api/v1/namespaces/default/pods/p1`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${fake.token}`, 'content-type': 'application/json-patch+json' },
      body: '[]',
    });
    expect(jsonPatch.status).toBe(415);
  });
});
