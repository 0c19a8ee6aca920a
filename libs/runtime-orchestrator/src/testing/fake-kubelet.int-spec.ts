import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { waitFor } from '@bctrl/testing';
import { FakeKubelet } from './fake-kubelet';
import { FakeKubernetesApiServer } from './fake-kubernetes-api.server';

/**
 * The fake kubelet does what a kubelet does for the pods the Kubernetes driver creates, with a small Node program as
 * the container instead of browser-runtime: it writes its environment to its work volume, answers HTTP on its
 * host and port, and exits as told.
 */
const CONTAINER = `
const { writeFileSync } = require('node:fs');
writeFileSync(process.env.OUT + '/env.json', JSON.stringify(process.env));
require('node:http').createServer((req, res) => res.end('hello from ' + process.env.HOST)).listen(Number(process.env.PORT), process.env.HOST);
process.on('SIGTERM', () => process.exit(0));
if (process.env.EXIT_AFTER) setTimeout(() => process.exit(Number(process.env.EXIT_CODE)), Number(process.env.EXIT_AFTER));
`;

const NS = 'fake-kubelet';

/** Pods change in tens of milliseconds here: poll that often, for up to 10 s. */
const eventually = <T>(what: string, probe: () => T | undefined | Promise<T | undefined>) =>
  waitFor(what, probe, 10_000, 25);

function podBody(name: string, env: Record<string, string>, extra: { deadline?: number; secret?: string } = {}): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: {
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 1,
      ...(extra.deadline ? { activeDeadlineSeconds: extra.deadline } : {}),
      containers: [
        {
          name: 'main',
          image: 'example/test:1',
          env: [
            ...Object.entries({ OUT: '/work', HOST: '0.0.0.0', PORT: '8080', ...env }).map(([k, value]) => ({
              name: k,
              value,
            })),
            ...(extra.secret
              ? [{ name: 'SECRET', valueFrom: { secretKeyRef: { name: extra.secret, key: 'k' } } }]
              : []),
          ],
          volumeMounts: [
            { name: 'work', mountPath: '/work' },
            { name: 'tmp', mountPath: '/tmp' },
          ],
        },
      ],
      volumes: [
        { name: 'work', emptyDir: {} },
        { name: 'tmp', emptyDir: {} },
      ],
    },
  };
}

describe('FakeKubelet (runs the pods of the fake API server as local processes)', () => {
  let api: FakeKubernetesApiServer;
  let kubelet: FakeKubelet;
  let client: CoreV1Api;
  const root = mkdtempSync(join(tmpdir(), 'bctrl-fake-kubelet-'));

  const status = (name: string) =>
    api.getPod(name, NS)?.['status'] as
      | {
          phase: string;
          podIP?: string;
          reason?: string;
          containerStatuses?: { state: { terminated?: { exitCode: number; reason: string } } }[];
        }
      | undefined;
  const phaseOf = (name: string, phase: string) => (status(name)?.phase === phase ? status(name) : undefined);

  beforeAll(async () => {
    api = await FakeKubernetesApiServer.start();
    client = api.kubeConfig(NS).makeApiClient(CoreV1Api);
    kubelet = await FakeKubelet.start({
      api,
      namespace: NS,
      repoRoot: root,
      command: { command: process.execPath, args: ['-e', CONTAINER], cwd: root },
      volumeRoot: join(root, 'volumes'),
    });
  });

  afterAll(async () => {
    await kubelet.close();
    await api.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('holds a pod until its Secret exists, then runs it on a pod IP of its own with its env, and ends it on delete', async () => {
    await client.createNamespacedPod({ namespace: NS, body: podBody('web', { MARK: 'one' }, { secret: 'web' }) });
    await new Promise((r) => setTimeout(r, 300));
    expect(status('web')?.phase).toBe('Pending'); // no Secret yet: the container waits
    await client.createNamespacedSecret({
      namespace: NS,
      body: { metadata: { name: 'web' }, data: { k: Buffer.from('s3cret').toString('base64') } },
    });
    const running = await eventually('Running', () => phaseOf('web', 'Running'));
    expect(running.podIP).toMatch(/^127\.77\.\d+\.\d+$/);
    expect(kubelet.podIPs()['web']).toBe(running.podIP);

    const answer = await eventually('the container to listen', () =>
      fetch(`http://${running.podIP}:8080/`).then(
        (res) => res.text(),
        () => undefined,
      ),
    );
    expect(answer).toBe(`hello from ${running.podIP}`); // 0.0.0.0 is the pod's own address

    const [podDir] = readdirSync(join(root, 'volumes'));
    const workDir = join(root, 'volumes', podDir, 'volumes', 'work');
    const env = JSON.parse(readFileSync(join(workDir, 'env.json'), 'utf8')) as Record<string, string>;
    expect(env).toMatchObject({ SECRET: 's3cret', MARK: 'one', OUT: workDir, HOST: running.podIP });
    expect(env['TMPDIR']).not.toBe('/tmp');

    await client.deleteNamespacedPod({ name: 'web', namespace: NS });
    await eventually('the container to end', () => (kubelet.runningPods().includes('web') ? undefined : true));
    await eventually('its volumes to go', () => (existsSync(workDir) ? undefined : true));
  });

  it('reports Succeeded for exit 0 and Failed with the exit code otherwise', async () => {
    await client.createNamespacedPod({ namespace: NS, body: podBody('ok', { EXIT_AFTER: '100', EXIT_CODE: '0' }) });
    await client.createNamespacedPod({ namespace: NS, body: podBody('bad', { EXIT_AFTER: '100', EXIT_CODE: '3' }) });
    const ok = await eventually('Succeeded', () => phaseOf('ok', 'Succeeded'));
    expect(ok.containerStatuses?.[0].state.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    const bad = await eventually('Failed', () => phaseOf('bad', 'Failed'));
    expect(bad.containerStatuses?.[0].state.terminated).toMatchObject({ exitCode: 3, reason: 'Error' });
    await client.deleteNamespacedPod({ name: 'ok', namespace: NS });
    await client.deleteNamespacedPod({ name: 'bad', namespace: NS });
  });

  it('fails a pod past its activeDeadlineSeconds and stops its container', async () => {
    await client.createNamespacedPod({ namespace: NS, body: podBody('late', {}, { deadline: 1 }) });
    await eventually('Running', () => phaseOf('late', 'Running'));
    const failed = await waitFor('DeadlineExceeded', () => phaseOf('late', 'Failed'), 5_000, 25);
    expect(failed.reason).toBe('DeadlineExceeded');
    await eventually('the container to end', () => (kubelet.runningPods().includes('late') ? undefined : true));
    await client.deleteNamespacedPod({ name: 'late', namespace: NS });
  });
});
