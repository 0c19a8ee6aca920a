import { randomBytes } from 'node:crypto';
import type { V1Pod, V1ResourceRequirements, V1Secret } from '@kubernetes/client-node';
import { AGENT_ENV, type BrowserLaunchConfig, type ProxyCredentials } from '@bctrl/contracts';

export const KUBERNETES_LABELS = {
  name: 'app.kubernetes.io/name',
  component: 'app.kubernetes.io/component',
  instance: 'app.kubernetes.io/instance',
  runtimeId: 'bctrl.dev/runtime-id',
  spaceId: 'bctrl.dev/space-id',
  accountId: 'bctrl.dev/account-id',
} as const;

const CONTAINER_NAME = 'browser';
/** Key of the agent token in the pod's Secret. */
export const TOKEN_KEY = 'agent-token';
/** Key of the proxy credentials (JSON) in the pod's Secret: always there, whatever the token's delivery. */
export const PROXY_CREDENTIALS_KEY = 'proxy-credentials';
/** The work area's mount inside the pod: runtime paths handed to tenants start here. */
const WORK_DIR = '/work';
/** The unprivileged user the image runs as. */
const BROWSER_UID = 1000;

/** What an operator sets for every browser pod (the chart's values); the builder never reads anything else. */
export interface BrowserPodSettings {
  /** The browser-runtime image (agent + Chromium). */
  image: string;
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  /** Goes into `app.kubernetes.io/instance`: it scopes lists, the watch and reconcile to this installation. */
  installationId: string;
  /** Port the agent listens on inside the pod. */
  agentPort: number;
  /** Port on which the agent forwards to Chromium's loopback-only DevTools endpoint. */
  cdpPort: number;
  serviceAccountName?: string;
  /** Extra labels on every pod (e.g. for NetworkPolicies); they cannot override the driver's own. */
  labels?: Record<string, string>;
  /** Grace period for pod deletion: enough for the agent to close Chromium. */
  deleteGracePeriodSeconds: number;
  /**
   * `secret`: the token comes from a Secret of the pod's name (created beside it, owned by it), so reading pods
   * does not reveal it. `env`: a plain env value, readable by anyone who can read pods in the namespace.
   */
  tokenDelivery: 'secret' | 'env';
}

/** One browser pod: which runtime (none while pooled), its launch config, its token and its hard deadline. */
export interface BrowserPodInput {
  name: string;
  /** Empty for a pooled browser. */
  runtimeId: string;
  /** The runtime's own labels (runtime, space, account); none while pooled. */
  runtimeLabels: Record<string, string>;
  config: BrowserLaunchConfig;
  token: string;
  /** activeDeadlineSeconds: the orchestrator stops the runtime first, the pod's deadline is a backstop. */
  deadlineSeconds: number;
  /** The pod's Secret holds proxy credentials (PROXY_CREDENTIALS_KEY) for the agent. */
  proxyCredentials?: boolean;
}

/**
 * Pod names are DNS labels: lowercase only. Two runtime ids differing only in case would collide; with 24 random
 * base62 characters that is vanishingly rare, and the create then fails with 409 instead of sharing a pod.
 */
export function runtimePodName(runtimeId: string): string {
  return `bctrl-rt-${runtimeId.toLowerCase().replace(/_/g, '-')}`;
}

export function pooledPodName(): string {
  return `bctrl-pool-${randomBytes(8).toString('hex')}`;
}

/** The labels that bind a pod to its runtime; a pooled pod gets them when a runtime adopts it. */
export function runtimeLabels(spec: { runtimeId: string; spaceId: string; accountId: string }): Record<string, string> {
  return {
    [KUBERNETES_LABELS.runtimeId]: spec.runtimeId,
    [KUBERNETES_LABELS.spaceId]: spec.spaceId,
    [KUBERNETES_LABELS.accountId]: spec.accountId,
  };
}

/** The label selector of every browser pod of an installation: lists, the watch and reconcile use it. */
export function browserPodSelector(installationId: string): string {
  return `${KUBERNETES_LABELS.component}=browser-runtime,${KUBERNETES_LABELS.instance}=${installationId}`;
}

/**
 * The pod of one browser, locked down: no service account token, no service links, non-root with every capability
 * dropped and the runtime's default seccomp profile, never restarted (a browser that died is a failed runtime, never
 * silently a fresh one). Its readiness probe is a tcpSocket on the agent port: the agent's health endpoint wants the
 * bearer token, which kubelet probes cannot send; the driver's own authenticated health call is the real check.
 */
export function browserPod(settings: BrowserPodSettings, input: BrowserPodInput): V1Pod {
  const port = settings.agentPort;
  const resources: V1ResourceRequirements = {};
  if (settings.resources?.requests) resources.requests = settings.resources.requests;
  if (settings.resources?.limits) resources.limits = settings.resources.limits;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: input.name,
      labels: {
        ...settings.labels,
        [KUBERNETES_LABELS.name]: 'bctrl',
        [KUBERNETES_LABELS.component]: 'browser-runtime',
        [KUBERNETES_LABELS.instance]: settings.installationId,
        ...input.runtimeLabels,
      },
    },
    spec: {
      restartPolicy: 'Never',
      activeDeadlineSeconds: Math.max(1, Math.ceil(input.deadlineSeconds)),
      // The browser has no business with the Kubernetes API, nor with env vars describing the platform's services.
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      ...(settings.serviceAccountName ? { serviceAccountName: settings.serviceAccountName } : {}),
      terminationGracePeriodSeconds: settings.deleteGracePeriodSeconds,
      securityContext: {
        runAsNonRoot: true,
        runAsUser: BROWSER_UID,
        runAsGroup: BROWSER_UID,
        fsGroup: BROWSER_UID,
        seccompProfile: { type: 'RuntimeDefault' },
      },
      containers: [
        {
          name: CONTAINER_NAME,
          image: settings.image,
          ...(settings.imagePullPolicy ? { imagePullPolicy: settings.imagePullPolicy } : {}),
          env: [
            settings.tokenDelivery === 'secret'
              ? { name: AGENT_ENV.token, valueFrom: { secretKeyRef: { name: input.name, key: TOKEN_KEY } } }
              : { name: AGENT_ENV.token, value: input.token },
            { name: AGENT_ENV.runtimeId, value: input.runtimeId },
            { name: AGENT_ENV.launchConfig, value: JSON.stringify(input.config) },
            { name: AGENT_ENV.port, value: String(port) },
            { name: AGENT_ENV.host, value: '0.0.0.0' },
            { name: AGENT_ENV.cdpPort, value: String(settings.cdpPort) },
            // The pod is the sandbox: see AGENT_ENV.chromiumSandbox.
            { name: AGENT_ENV.chromiumSandbox, value: 'off' },
            { name: AGENT_ENV.workDir, value: WORK_DIR },
            // From the Secret, never a value here: reading pods must not reveal a tenant's proxy password.
            ...(input.proxyCredentials
              ? [
                  {
                    name: AGENT_ENV.proxyCredentials,
                    valueFrom: { secretKeyRef: { name: input.name, key: PROXY_CREDENTIALS_KEY } },
                  },
                ]
              : []),
          ],
          ports: [
            { name: 'agent', containerPort: port, protocol: 'TCP' },
            { name: 'cdp', containerPort: settings.cdpPort, protocol: 'TCP' },
          ],
          readinessProbe: { tcpSocket: { port }, periodSeconds: 2 },
          resources,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: BROWSER_UID,
            allowPrivilegeEscalation: false,
            capabilities: { drop: ['ALL'] },
            seccompProfile: { type: 'RuntimeDefault' },
          },
          volumeMounts: [
            { name: 'work', mountPath: WORK_DIR },
            { name: 'tmp', mountPath: '/tmp' },
            { name: 'dshm', mountPath: '/dev/shm' },
          ],
        },
      ],
      volumes: [
        { name: 'work', emptyDir: {} },
        { name: 'tmp', emptyDir: {} },
        // Chromium needs more shared memory than a container's default 64 MiB /dev/shm.
        { name: 'dshm', emptyDir: { medium: 'Memory' } },
      ],
    },
  };
}

/**
 * The Secret that carries a pod's agent token (null: the token is delivered as a plain env value) and its proxy
 * credentials, owned by the pod: the kubelet holds the container until it exists, and the garbage collector deletes
 * it with the pod, so no crash between the two creates can orphan it.
 */
export function agentTokenSecret(
  pod: V1Pod,
  podUid: string,
  token: string | null,
  proxyCredentials?: ProxyCredentials,
): V1Secret {
  const name = pod.metadata?.name ?? '';
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: {
      name,
      labels: pod.metadata?.labels,
      ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name, uid: podUid }],
    },
    data: {
      ...(token !== null ? { [TOKEN_KEY]: Buffer.from(token).toString('base64') } : {}),
      ...(proxyCredentials
        ? { [PROXY_CREDENTIALS_KEY]: Buffer.from(JSON.stringify(proxyCredentials)).toString('base64') }
        : {}),
    },
  };
}

/** How the platform reaches a pod's agent: its pod IP (bracketed when IPv6) and the agent port. */
export function podAgentUrl(pod: V1Pod, agentPort: number): string {
  const ip = pod.status?.podIP ?? '';
  return `http://${ip.includes(':') ? `[${ip}]` : ip}:${agentPort}`;
}

/**
 * Where the platform reaches the browser's CDP. The URL the agent reports is Chromium's own, on 127.0.0.1: in a pod
 * that is the pod's loopback, so cdp-proxy dialing it would reach its own loopback instead (connections failed on a
 * real cluster; found when the e2e ran the driver against real agents, each on a pod IP of its own). The agent
 * forwards `cdpPort` on the pod's address to it: same path, the pod's host, that port.
 */
export function podCdpUrl(agentUrl: string, chromiumUrl: string, cdpPort: number): string {
  if (!chromiumUrl) return '';
  const url = new URL(chromiumUrl);
  url.hostname = new URL(agentUrl).hostname;
  url.port = String(cdpPort);
  return url.href;
}

/** "container browser terminated: OOMKilled, exit code 137" from the pod's status, as far as it tells. */
export function describePodEnd(pod: V1Pod): string {
  const parts: string[] = [];
  if (pod.status?.reason) parts.push(pod.status.reason);
  if (pod.status?.message) parts.push(pod.status.message);
  for (const cs of pod.status?.containerStatuses ?? []) {
    const term = cs.state?.terminated;
    if (term) {
      parts.push(
        `container ${cs.name} terminated: ${term.reason ?? 'unknown reason'}, exit code ${term.exitCode}` +
          (term.message ? ` (${term.message})` : ''),
      );
    }
  }
  return parts.length > 0 ? parts.join('; ') : 'no reason reported';
}
