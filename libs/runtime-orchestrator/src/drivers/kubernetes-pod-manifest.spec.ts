import { Pod } from 'kubernetes-models/v1';
import { AGENT_ENV } from '@bctrl/contracts';
import {
  agentTokenSecret,
  browserPod,
  type BrowserPodInput,
  browserPodSelector,
  type BrowserPodSettings,
  describePodEnd,
  KUBERNETES_LABELS,
  podAgentUrl,
  podCdpUrl,
  pooledPodName,
  PROXY_CREDENTIALS_KEY,
  runtimeLabels,
  runtimePodName,
  TOKEN_KEY,
} from './kubernetes-pod-manifest';

const settings: BrowserPodSettings = {
  image: 'bctrl/browser-runtime:1.2.3',
  installationId: 'prod-eu',
  agentPort: 9223,
  cdpPort: 9222,
  deleteGracePeriodSeconds: 5,
  tokenDelivery: 'secret',
};

const input: BrowserPodInput = {
  name: runtimePodName('rt_AbC123'),
  runtimeId: 'rt_AbC123',
  runtimeLabels: runtimeLabels({ runtimeId: 'rt_AbC123', spaceId: 'spc_1', accountId: 'acc_1' }),
  config: { viewport: { width: 1024, height: 700 } },
  token: 'the-agent-token',
  deadlineSeconds: 960,
};

const container = (pod: ReturnType<typeof browserPod>) => pod.spec?.containers[0];
const env = (pod: ReturnType<typeof browserPod>) =>
  Object.fromEntries((container(pod)?.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));

describe('browser pod manifest', () => {
  it('is a valid Pod', () => {
    expect(() => new Pod(browserPod(settings, input) as never).validate()).not.toThrow();
  });

  it('is locked down: non-root, no privilege escalation, every capability dropped, no API token, no service links', () => {
    const pod = browserPod(settings, input);
    expect(pod.spec).toMatchObject({
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } },
    });
    expect(container(pod)?.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 1000,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    // Chromium's own sandbox is off because the pod is the sandbox; its shared memory is a memory volume.
    expect(env(pod)[AGENT_ENV.chromiumSandbox]).toBe('off');
    expect(pod.spec?.volumes).toContainEqual({ name: 'dshm', emptyDir: { medium: 'Memory' } });
    expect(container(pod)?.readinessProbe).toEqual({ tcpSocket: { port: 9223 }, periodSeconds: 2 });
  });

  it("labels the pod with the installation and the runtime, and an operator's labels cannot override them", () => {
    const pod = browserPod(
      {
        ...settings,
        labels: { team: 'qa', [KUBERNETES_LABELS.instance]: 'other', [KUBERNETES_LABELS.runtimeId]: 'forged' },
      },
      input,
    );
    expect(pod.metadata?.labels).toEqual({
      team: 'qa',
      [KUBERNETES_LABELS.name]: 'bctrl',
      [KUBERNETES_LABELS.component]: 'browser-runtime',
      [KUBERNETES_LABELS.instance]: 'prod-eu',
      [KUBERNETES_LABELS.runtimeId]: 'rt_AbC123',
      [KUBERNETES_LABELS.spaceId]: 'spc_1',
      [KUBERNETES_LABELS.accountId]: 'acc_1',
    });
    expect(browserPodSelector('prod-eu')).toBe(
      `${KUBERNETES_LABELS.component}=browser-runtime,${KUBERNETES_LABELS.instance}=prod-eu`,
    );
  });

  it('delivers the token from a Secret of the pod, owned by it, so reading the pod does not reveal it', () => {
    const pod = browserPod(settings, input);
    expect(env(pod)[AGENT_ENV.token]).toEqual({ secretKeyRef: { name: input.name, key: TOKEN_KEY } });
    expect(JSON.stringify(pod)).not.toContain(input.token);
    const secret = agentTokenSecret(pod, 'uid-1', input.token);
    expect(secret.metadata).toMatchObject({
      name: input.name,
      labels: pod.metadata?.labels,
      ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: input.name, uid: 'uid-1' }],
    });
    expect(Buffer.from(secret.data?.[TOKEN_KEY] ?? '', 'base64').toString()).toBe(input.token);
  });

  it('delivers proxy credentials from the Secret only, even when the token is a plain env value', () => {
    const credentials = { username: 'proxy-user', password: 'proxy-password-canary' };
    const proxied = {
      ...input,
      config: { proxy: { server: 'http://proxy.example.com:3128', bypass: ['*.internal'] } },
      proxyCredentials: true,
    };
    for (const tokenDelivery of ['secret', 'env'] as const) {
      const pod = browserPod({ ...settings, tokenDelivery }, proxied);
      expect(env(pod)[AGENT_ENV.proxyCredentials]).toEqual({
        secretKeyRef: { name: input.name, key: PROXY_CREDENTIALS_KEY },
      });
      expect(JSON.stringify(pod)).not.toContain(credentials.password);
      expect(JSON.parse(env(pod)[AGENT_ENV.launchConfig] as string)).toEqual(proxied.config);
      const secret = agentTokenSecret(pod, 'uid-1', tokenDelivery === 'secret' ? input.token : null, credentials);
      const data = secret.data ?? {};
      expect(JSON.parse(Buffer.from(data[PROXY_CREDENTIALS_KEY] ?? '', 'base64').toString())).toEqual(credentials);
      expect(TOKEN_KEY in data).toBe(tokenDelivery === 'secret');
    }
    expect(env(browserPod(settings, input))[AGENT_ENV.proxyCredentials]).toBeUndefined();
  });

  it("puts the token in the pod's env only when the operator chose env delivery", () => {
    const pod = browserPod({ ...settings, tokenDelivery: 'env' }, input);
    expect(env(pod)[AGENT_ENV.token]).toBe(input.token);
  });

  it('sets the deadline in whole seconds, at least one, and passes the launch config and ports to the agent', () => {
    expect(browserPod(settings, { ...input, deadlineSeconds: 90.2 }).spec?.activeDeadlineSeconds).toBe(91);
    expect(browserPod(settings, { ...input, deadlineSeconds: 0 }).spec?.activeDeadlineSeconds).toBe(1);
    const pod = browserPod(settings, input);
    expect(env(pod)).toMatchObject({
      [AGENT_ENV.runtimeId]: 'rt_AbC123',
      [AGENT_ENV.launchConfig]: JSON.stringify(input.config),
      [AGENT_ENV.port]: '9223',
      [AGENT_ENV.cdpPort]: '9222',
      [AGENT_ENV.workDir]: '/work',
    });
    expect(pod.spec?.terminationGracePeriodSeconds).toBe(5);
  });

  it('names pods as DNS labels: a runtime pod by its id, a pooled pod at random', () => {
    expect(runtimePodName('rt_AbC123')).toBe('bctrl-rt-rt-abc123');
    expect(pooledPodName()).toMatch(/^bctrl-pool-[0-9a-f]{16}$/);
    expect(pooledPodName()).not.toBe(pooledPodName());
  });

  it("reaches the agent on the pod IP (bracketed for IPv6) and Chromium's CDP through the agent's forward", () => {
    expect(podAgentUrl({ status: { podIP: '10.1.2.3' } }, 9223)).toBe('http://10.1.2.3:9223');
    expect(podAgentUrl({ status: { podIP: 'fd00::5' } }, 9223)).toBe('http://[fd00::5]:9223');
    expect(podCdpUrl('http://10.1.2.3:9223', 'ws://127.0.0.1:41234/devtools/browser/abc', 9222)).toBe(
      'ws://10.1.2.3:9222/devtools/browser/abc',
    );
    expect(podCdpUrl('http://10.1.2.3:9223', '', 9222)).toBe('');
  });

  it("describes how a pod ended from its status and its container's termination", () => {
    expect(
      describePodEnd({
        status: {
          reason: 'DeadlineExceeded',
          containerStatuses: [
            {
              name: 'browser',
              image: 'x',
              imageID: 'x',
              ready: false,
              restartCount: 0,
              state: { terminated: { exitCode: 137, reason: 'OOMKilled' } },
            },
          ],
        },
      }),
    ).toBe('DeadlineExceeded; container browser terminated: OOMKilled, exit code 137');
    expect(describePodEnd({})).toBe('no reason reported');
  });
});
