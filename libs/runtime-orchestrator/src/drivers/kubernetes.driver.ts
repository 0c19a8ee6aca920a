import { randomBytes } from 'node:crypto';
import {
  ApiException,
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  V1Pod,
  V1ResourceRequirements,
  Watch,
} from '@kubernetes/client-node';
import { AGENT_ENV, AGENT_PATHS, AgentHealth, BrowserLaunchConfig } from '@bctrl/contracts';
import type {
  BrowserDriver,
  BrowserExit,
  BrowserHandle,
  BrowserSpec,
  DiscoveredBrowser,
  DriverKind,
} from './browser-driver';

export const KUBERNETES_LABELS = {
  name: 'app.kubernetes.io/name',
  component: 'app.kubernetes.io/component',
  instance: 'app.kubernetes.io/instance',
  runtimeId: 'bctrl.dev/runtime-id',
  spaceId: 'bctrl.dev/space-id',
  accountId: 'bctrl.dev/account-id',
} as const;

export interface KubernetesDriverOptions {
  /** In-cluster (`kc.loadFromCluster()`) or from a kubeconfig file; tests pass one pointed at the fake server. */
  kubeConfig: KubeConfig;
  namespace: string;
  /** The browser-runtime image (agent + Chromium). */
  image: string;
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  /** Goes into `app.kubernetes.io/instance`: it scopes list(), the watch and reconcile to this installation. */
  installationId: string;
  /** Port the agent listens on inside the pod (default 9223). */
  agentPort?: number;
  /** Port on which the agent forwards to Chromium's loopback-only DevTools endpoint (default 9222). */
  cdpPort?: number;
  /** How long a launch may take from create to agent ready (default 120 s: image pulls, scheduling). */
  launchTimeoutMs?: number;
  serviceAccountName?: string;
  /** Extra labels on every pod (e.g. for NetworkPolicies); they cannot override the driver's own. */
  labels?: Record<string, string>;
  /** How to reach a pod's agent. Default `http://<podIP>:<agentPort>`; tests point it at a stub agent. */
  agentUrlFor?: (pod: V1Pod) => string;
  /** Launch config of pooled browsers (the pool only serves runtimes whose config matches it). */
  defaultLaunchConfig?: BrowserLaunchConfig;
  /** Added to spec.timeoutSeconds for activeDeadlineSeconds: the orchestrator stops first, the pod is a backstop. */
  deadlineMarginSeconds?: number;
  /** activeDeadlineSeconds of a pooled pod, so a leaked pool pod cannot live forever (default 24 h). */
  pooledDeadlineSeconds?: number;
  /** Grace period for pod deletion: enough for the agent to close Chromium (default 5 s). */
  deleteGracePeriodSeconds?: number;
  /**
   * How the agent token reaches the pod. `secret` (default): a Secret per pod, owned by the pod so the garbage
   * collector deletes it with the pod; needs RBAC to create secrets. `env`: a plain env value, readable by anyone
   * who can read pods in the namespace.
   */
  tokenDelivery?: 'secret' | 'env';
  /** Delay between agent health checks while it starts (default 100 ms). */
  healthIntervalMs?: number;
  /** First delay before re-opening a dropped watch; doubles up to 5 s while it keeps failing (default 200 ms). */
  watchRetryMs?: number;
}

const CONTAINER_NAME = 'browser';
/** Key of the agent token in the pod's Secret. */
const TOKEN_KEY = 'agent-token';

/** What the driver knows about one pod it started (or adopted). */
interface Tracked {
  name: string;
  runtimeId: string;
  token: string;
  agentUrl: string | undefined;
  /** Set once we asked it to go away: its end is then `stopped`, not `crashed`. */
  stopping: boolean;
  /** onExit fired (or the launch failed): never report twice. */
  ended: boolean;
  /** resourceVersion of our create: a LIST older than that cannot be expected to contain the pod. */
  createdRv: number | undefined;
  /** While launching: the watch reports the pod here; after the launch it is undefined. */
  launch: LaunchWaiter | undefined;
  /** Resolved when the watch sees the pod deleted: destroy() waits on it. */
  gone: Deferred<void>;
}

interface LaunchWaiter {
  running: Deferred<V1Pod>;
  /** Rejects when the launch cannot succeed any more: pod ended, timeout, abort, close. */
  failed: Deferred<never>;
}

/**
 * Runs each browser as one Pod in a namespace and follows the pods with a single watch (not polling): a LIST
 * gives the starting resourceVersion, the watch resumes from the last resourceVersion it saw after a
 * disconnect, and re-lists when the apiserver answers 410 Expired.
 *
 * The agent token reaches the pod through a Secret of the same name (env valueFrom secretKeyRef), so reading
 * pods does not reveal it. The Secret is created right after the Pod with the Pod as its owner: the kubelet holds
 * the container until the Secret exists, and the garbage collector deletes it with the Pod, so no crash of ours
 * between the two calls can leave an orphaned Secret. With `tokenDelivery: 'env'` it is a plain env value.
 */
export class KubernetesDriver implements BrowserDriver {
  readonly kind: DriverKind = 'kubernetes';
  private readonly api: CoreV1Api;
  private readonly watcher: Watch;
  private readonly tracked = new Map<string, Tracked>();
  private readonly listeners: ((exit: BrowserExit) => void)[] = [];
  private readonly launches = new Set<AbortController>();
  /** Launches in progress: close() waits for them to clean up after their abort. */
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly selector: string;
  private readonly agentPort: number;
  private readonly cdpPort: number;
  private watchStarted: Promise<void> | undefined;
  private watchAbort: AbortController | undefined;
  /** Bumped for every watch opened or stopped: callbacks of an older watch are ignored. */
  private watchGeneration = 0;
  private lastRv = '';
  private retryMs: number;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly tokenInSecret: boolean;

  constructor(private readonly options: KubernetesDriverOptions) {
    this.api = options.kubeConfig.makeApiClient(CoreV1Api);
    this.watcher = new Watch(options.kubeConfig);
    this.selector = `${KUBERNETES_LABELS.component}=browser-runtime,${KUBERNETES_LABELS.instance}=${options.installationId}`;
    this.agentPort = options.agentPort ?? 9223;
    this.cdpPort = options.cdpPort ?? 9222;
    this.retryMs = options.watchRetryMs ?? 200;
    this.tokenInSecret = (options.tokenDelivery ?? 'secret') === 'secret';
  }

  launch(spec: BrowserSpec, signal?: AbortSignal): Promise<BrowserHandle> {
    // Pod names are DNS labels: lowercase only. Two runtime ids differing only in case would collide; with 24
    // random base62 characters that is vanishingly rare, and the create then fails with 409 instead of sharing.
    const name = `bctrl-rt-${spec.runtimeId.toLowerCase().replace(/_/g, '-')}`;
    const labels = {
      [KUBERNETES_LABELS.runtimeId]: spec.runtimeId,
      [KUBERNETES_LABELS.spaceId]: spec.spaceId,
      [KUBERNETES_LABELS.accountId]: spec.accountId,
    };
    const deadline = spec.timeoutSeconds + (this.options.deadlineMarginSeconds ?? 60);
    return this.track(this.start(name, spec.runtimeId, labels, spec.config, deadline, signal));
  }

  launchPooled(signal?: AbortSignal): Promise<BrowserHandle> {
    const name = `bctrl-pool-${randomBytes(8).toString('hex')}`;
    const deadline = this.options.pooledDeadlineSeconds ?? 24 * 3600;
    return this.track(this.start(name, '', {}, this.options.defaultLaunchConfig ?? {}, deadline, signal));
  }

  async adopt(pooled: BrowserHandle, spec: BrowserSpec): Promise<BrowserHandle> {
    const t = this.tracked.get(pooled.ref);
    if (!t || t.ended) throw new Error(`kubernetes: pooled pod ${pooled.ref} is not running`);
    const pod = await this.api.readNamespacedPod({ name: pooled.ref, namespace: this.options.namespace });
    // The deadline counts from the pod's start and may only shrink: the runtime's own timeout from now on.
    const started = pod.status?.startTime ? new Date(pod.status.startTime).getTime() : Date.now();
    const elapsed = Math.ceil((Date.now() - started) / 1000);
    const wanted = elapsed + spec.timeoutSeconds + (this.options.deadlineMarginSeconds ?? 60);
    const current = pod.spec?.activeDeadlineSeconds;
    const patch = {
      metadata: {
        labels: {
          [KUBERNETES_LABELS.runtimeId]: spec.runtimeId,
          [KUBERNETES_LABELS.spaceId]: spec.spaceId,
          [KUBERNETES_LABELS.accountId]: spec.accountId,
        },
      },
      ...(current === undefined || wanted < current ? { spec: { activeDeadlineSeconds: wanted } } : {}),
    };
    // Merge patch: labels are a plain map, and it is the one patch type every apiserver (and our fake) accepts.
    await this.api.patchNamespacedPod(
      { name: pooled.ref, namespace: this.options.namespace, body: patch },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    t.runtimeId = spec.runtimeId;
    await this.agentCall(pooled.agentUrl, pooled.agentToken, AGENT_PATHS.assign, { runtimeId: spec.runtimeId });
    return { ...pooled, runtimeId: spec.runtimeId };
  }

  async destroy(ref: string): Promise<void> {
    const t = this.tracked.get(ref);
    if (t) {
      t.stopping = true;
      // Best effort: the agent closes Chromium cleanly (profile flushed); the pod deletion below ends it anyway
      // (SIGTERM, then SIGKILL after the grace period), so a dead or unreachable agent changes nothing.
      if (t.agentUrl) await this.agentCall(t.agentUrl, t.token, AGENT_PATHS.shutdown).catch(() => undefined);
    }
    const grace = this.options.deleteGracePeriodSeconds ?? 5;
    await this.deletePod(ref, grace);
    // A deleted pod lingers while it terminates; "removes every trace" means waiting for the watch to see it gone.
    if (t && !this.closed) {
      await Promise.race([t.gone.promise, sleep((grace + 10) * 1000, true)]);
    }
  }

  async list(): Promise<DiscoveredBrowser[]> {
    const list = await this.api.listNamespacedPod({ namespace: this.options.namespace, labelSelector: this.selector });
    const found: DiscoveredBrowser[] = [];
    for (const pod of list.items) {
      const name = pod.metadata?.name;
      if (!name || pod.metadata?.deletionTimestamp) continue;
      const phase = pod.status?.phase;
      if (phase === 'Failed' || phase === 'Succeeded') {
        // A finished pod holds no browser; what reconcile would do with it is delete it, so do it here (its
        // end, if it was ours, was already reported by the watch).
        void this.deletePod(name, 0).catch(() => undefined);
        continue;
      }
      found.push({ runtimeId: pod.metadata?.labels?.[KUBERNETES_LABELS.runtimeId] ?? '', ref: name });
    }
    return found;
  }

  onExit(listener: (exit: BrowserExit) => void): void {
    this.listeners.push(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const launch of this.launches) launch.abort(new Error('kubernetes driver closed'));
    this.stopWatching();
    await Promise.allSettled([...this.inflight]);
    const grace = this.options.deleteGracePeriodSeconds ?? 5;
    await Promise.all(
      [...this.tracked.values()].map(async (t) => {
        t.stopping = true;
        if (t.agentUrl) await this.agentCall(t.agentUrl, t.token, AGENT_PATHS.shutdown).catch(() => undefined);
        await this.deletePod(t.name, grace).catch(() => undefined);
      }),
    );
    this.tracked.clear();
  }

  // ---- launch ----

  private track<T>(launch: Promise<T>): Promise<T> {
    const settled = launch.then(
      () => undefined,
      () => undefined,
    );
    this.inflight.add(settled);
    void settled.then(() => this.inflight.delete(settled));
    return launch;
  }

  private async start(
    name: string,
    runtimeId: string,
    runtimeLabels: Record<string, string>,
    config: BrowserLaunchConfig,
    deadlineSeconds: number,
    signal?: AbortSignal,
  ): Promise<BrowserHandle> {
    if (this.closed) throw new Error('kubernetes driver closed');
    signal?.throwIfAborted();
    const token = randomBytes(32).toString('base64url');
    const controller = new AbortController();
    this.launches.add(controller);
    const onAbort = () => controller.abort(signal?.reason ?? new Error('launch aborted'));
    signal?.addEventListener('abort', onAbort, { once: true });
    const timeoutMs = this.options.launchTimeoutMs ?? 120_000;
    const timer = setTimeout(
      () => controller.abort(new Error(`kubernetes: pod ${name} not ready within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const waiter: LaunchWaiter = { running: deferred(), failed: deferred() };
    waiter.failed.promise.catch(() => undefined); // observed through races below; never left unhandled
    controller.signal.addEventListener('abort', () => waiter.failed.reject(asError(controller.signal.reason)), {
      once: true,
    });
    const t: Tracked = {
      name,
      runtimeId,
      token,
      agentUrl: undefined,
      stopping: false,
      ended: false,
      createdRv: undefined,
      launch: waiter,
      gone: deferred(),
    };
    let creating: Promise<V1Pod> | undefined;
    try {
      // The watch must be established (its LIST done) before the create, so that no status change of the new pod
      // can fall between the LIST and the watch: it starts from the LIST's resourceVersion.
      await race(this.ensureWatching(), waiter.failed.promise);
      if (this.tracked.has(name)) throw new Error(`kubernetes: pod ${name} already exists`);
      this.tracked.set(name, t);
      const body = this.podManifest(name, runtimeId, runtimeLabels, config, token, deadlineSeconds);
      creating = this.api.createNamespacedPod({ namespace: this.options.namespace, body });
      const pod = await race(creating, waiter.failed.promise);
      t.createdRv = Number(pod.metadata?.resourceVersion ?? '0');
      if (this.tokenInSecret) {
        const secret = this.api.createNamespacedSecret({
          namespace: this.options.namespace,
          body: {
            apiVersion: 'v1',
            kind: 'Secret',
            type: 'Opaque',
            metadata: {
              name,
              labels: body.metadata?.labels,
              ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name, uid: pod.metadata?.uid ?? '' }],
            },
            data: { [TOKEN_KEY]: Buffer.from(token).toString('base64') },
          },
        });
        await race(secret, waiter.failed.promise);
      }
      const running = await race(waiter.running.promise, waiter.failed.promise);
      const agentUrl = this.options.agentUrlFor ? this.options.agentUrlFor(running) : this.defaultAgentUrl(running);
      t.agentUrl = agentUrl;
      const health = await this.waitForAgent(agentUrl, token, controller.signal, waiter.failed.promise);
      t.launch = undefined;
      return {
        runtimeId,
        driver: 'kubernetes',
        ref: name,
        agentUrl,
        agentToken: token,
        cdpUrl: this.podCdpUrl(agentUrl, health.browser?.cdpUrl ?? ''),
      };
    } catch (err) {
      // A launch that fails leaves nothing running and reports through its rejection, not through onExit.
      t.ended = true;
      t.launch = undefined;
      if (this.tracked.get(name) === t) this.tracked.delete(name);
      // Only delete what we made: an answer from the apiserver to our create (409 AlreadyExists, 422) means nothing
      // was made; a network error or an abort while it was in flight leaves it unknown, so make sure.
      const made = await creating?.then(
        () => true,
        (createErr: unknown) => !(createErr instanceof ApiException),
      );
      if (made) await this.deletePod(name, 0).catch(() => undefined);
      throw asError(controller.signal.aborted ? controller.signal.reason : err);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      this.launches.delete(controller);
    }
  }

  /**
   * The pod's readiness as far as Kubernetes knows is a tcpSocket probe on the agent port: the agent's health
   * endpoint wants the bearer token and kubelet probes cannot send a per-pod secret header. The real readiness
   * check — Chromium answered CDP — is this authenticated health call made by the driver.
   */
  private async waitForAgent(
    agentUrl: string,
    token: string,
    signal: AbortSignal,
    failed: Promise<never>,
  ): Promise<AgentHealth> {
    const interval = this.options.healthIntervalMs ?? 100;
    for (;;) {
      signal.throwIfAborted();
      try {
        const res = await race(
          fetch(agentUrl + AGENT_PATHS.health, {
            headers: { authorization: `Bearer ${token}` },
            signal: AbortSignal.any([signal, AbortSignal.timeout(2000)]),
          }),
          failed,
        );
        if (res.status === 200) {
          const health = (await res.json()) as AgentHealth;
          if (health.status === 'ready' && health.browser) return health;
        } else {
          await res.body?.cancel();
        }
      } catch {
        if (signal.aborted) throw asError(signal.reason);
        // Otherwise not listening yet (connection refused) or slow while the agent starts: try again.
      }
      await race(sleep(interval), failed);
    }
  }

  private podManifest(
    name: string,
    runtimeId: string,
    runtimeLabels: Record<string, string>,
    config: BrowserLaunchConfig,
    token: string,
    deadlineSeconds: number,
  ): V1Pod {
    const port = this.agentPort;
    const resources: V1ResourceRequirements = {};
    if (this.options.resources?.requests) resources.requests = this.options.resources.requests;
    if (this.options.resources?.limits) resources.limits = this.options.resources.limits;
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        labels: {
          ...this.options.labels,
          [KUBERNETES_LABELS.name]: 'bctrl',
          [KUBERNETES_LABELS.component]: 'browser-runtime',
          [KUBERNETES_LABELS.instance]: this.options.installationId,
          ...runtimeLabels,
        },
      },
      spec: {
        restartPolicy: 'Never', // a browser that died is a failed runtime, never silently a fresh one
        activeDeadlineSeconds: Math.max(1, Math.ceil(deadlineSeconds)),
        automountServiceAccountToken: false, // the browser has no business with the Kubernetes API
        enableServiceLinks: false, // no env vars describing the platform's services
        ...(this.options.serviceAccountName ? { serviceAccountName: this.options.serviceAccountName } : {}),
        terminationGracePeriodSeconds: this.options.deleteGracePeriodSeconds ?? 5,
        securityContext: {
          runAsNonRoot: true,
          runAsUser: 1000,
          runAsGroup: 1000,
          fsGroup: 1000,
          seccompProfile: { type: 'RuntimeDefault' },
        },
        containers: [
          {
            name: CONTAINER_NAME,
            image: this.options.image,
            ...(this.options.imagePullPolicy ? { imagePullPolicy: this.options.imagePullPolicy } : {}),
            env: [
              this.tokenInSecret
                ? { name: AGENT_ENV.token, valueFrom: { secretKeyRef: { name, key: TOKEN_KEY } } }
                : { name: AGENT_ENV.token, value: token },
              { name: AGENT_ENV.runtimeId, value: runtimeId },
              { name: AGENT_ENV.launchConfig, value: JSON.stringify(config) },
              { name: AGENT_ENV.port, value: String(port) },
              { name: AGENT_ENV.host, value: '0.0.0.0' },
              { name: AGENT_ENV.cdpPort, value: String(this.cdpPort) },
              // The pod is the sandbox: see AGENT_ENV.chromiumSandbox.
              { name: AGENT_ENV.chromiumSandbox, value: 'off' },
              { name: AGENT_ENV.workDir, value: '/work' },
            ],
            ports: [
              { name: 'agent', containerPort: port, protocol: 'TCP' },
              { name: 'cdp', containerPort: this.cdpPort, protocol: 'TCP' },
            ],
            readinessProbe: { tcpSocket: { port }, periodSeconds: 2 },
            resources,
            securityContext: {
              runAsNonRoot: true,
              runAsUser: 1000,
              allowPrivilegeEscalation: false,
              capabilities: { drop: ['ALL'] },
              seccompProfile: { type: 'RuntimeDefault' },
            },
            volumeMounts: [
              { name: 'work', mountPath: '/work' },
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
   * Where the platform reaches the browser's CDP. The URL the agent reports is Chromium's own, on 127.0.0.1: in a
   * pod that is the pod's loopback, so cdp-proxy dialing it would reach its own loopback instead (connections failed
   * on a real cluster; found when the e2e ran the driver against real agents, each on a pod IP of its own). The
   * agent forwards `cdpPort` on the pod's address to it: same path, the pod's host, that port.
   */
  private podCdpUrl(agentUrl: string, chromiumUrl: string): string {
    if (!chromiumUrl) return '';
    const url = new URL(chromiumUrl);
    url.hostname = new URL(agentUrl).hostname;
    url.port = String(this.cdpPort);
    return url.href;
  }

  private defaultAgentUrl(pod: V1Pod): string {
    const ip = pod.status?.podIP ?? '';
    return `http://${ip.includes(':') ? `[${ip}]` : ip}:${this.agentPort}`;
  }

  // ---- watch ----

  private ensureWatching(): Promise<void> {
    if (!this.watchStarted) {
      this.watchStarted = this.relist().catch((err) => {
        this.watchStarted = undefined; // let the next launch try again
        throw err;
      });
    }
    return this.watchStarted;
  }

  /** LIST (state now + resourceVersion), reconcile what we track against it, then watch from there. */
  private async relist(): Promise<void> {
    const list = await this.api.listNamespacedPod({ namespace: this.options.namespace, labelSelector: this.selector });
    const listRv = list.metadata?.resourceVersion ?? '';
    const present = new Set<string>();
    for (const pod of list.items) {
      if (pod.metadata?.name) present.add(pod.metadata.name);
      this.observe('MODIFIED', pod);
    }
    // Pods we track that the LIST no longer has were deleted while we were not watching.
    for (const t of [...this.tracked.values()]) {
      if (!present.has(t.name) && t.createdRv !== undefined && Number(listRv) >= t.createdRv) {
        this.podGone(t, 'pod deleted');
      }
    }
    this.lastRv = listRv;
    await this.openWatch();
  }

  private async openWatch(): Promise<void> {
    if (this.closed) return;
    const path = `/api/v1/namespaces/${encodeURIComponent(this.options.namespace)}/pods`;
    let expired = false;
    const generation = ++this.watchGeneration;
    const openedAt = Date.now();
    const controller = await this.watcher.watch(
      path,
      { labelSelector: this.selector, resourceVersion: this.lastRv, allowWatchBookmarks: true },
      (type: string, object: unknown) => {
        if (generation !== this.watchGeneration) return; // a watch we already left behind
        if (type === 'ERROR') {
          // 410 Expired: our resourceVersion was compacted away; only a fresh LIST can tell what we missed.
          expired = (object as { code?: number } | undefined)?.code === 410;
          return;
        }
        const pod = object as V1Pod;
        if (pod.metadata?.resourceVersion) this.lastRv = pod.metadata.resourceVersion;
        if (type === 'BOOKMARK') return;
        this.observe(type, pod);
      },
      (err: unknown) => {
        // `done` can run before watch() returns (connection refused): hence the generation, not the controller.
        if (this.closed || generation !== this.watchGeneration) return;
        const gone = expired || (err as { statusCode?: number } | null)?.statusCode === 410;
        // A watch that ends normally after a while (server timeout) is resumed at once; one that fails or ends
        // right away is retried with backoff, so a misbehaving server cannot make us spin.
        const failed = (err !== null && err !== undefined) || Date.now() - openedAt < 1000;
        this.scheduleReconnect(gone, failed);
      },
    );
    if (generation === this.watchGeneration) this.watchAbort = controller;
    else controller.abort();
  }

  /** After a drop, resume from the last resourceVersion; after 410, re-list. Back off only on errors. */
  private scheduleReconnect(relist: boolean, failed: boolean): void {
    this.watchAbort = undefined;
    const delay = failed ? this.retryMs : 0;
    this.retryMs = failed ? Math.min(this.retryMs * 2, 5000) : (this.options.watchRetryMs ?? 200);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.closed) return;
      const next = relist ? this.relist() : this.openWatch();
      next.catch(() => this.scheduleReconnect(true, true));
    }, delay);
  }

  private stopWatching(): void {
    this.watchGeneration += 1;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const controller = this.watchAbort;
    this.watchAbort = undefined;
    controller?.abort();
  }

  private observe(type: string, pod: V1Pod): void {
    const name = pod.metadata?.name;
    const t = name === undefined ? undefined : this.tracked.get(name);
    if (!t) return;
    if (type === 'DELETED') return this.podGone(t, 'pod deleted');
    const phase = pod.status?.phase;
    if (phase === 'Failed' || phase === 'Succeeded') return this.podEnded(t, `pod ${phase}: ${describeEnd(pod)}`);
    if (phase === 'Running' && pod.status?.podIP) t.launch?.running.resolve(pod);
  }

  private podEnded(t: Tracked, detail: string): void {
    if (t.launch) {
      t.launch.failed.reject(new Error(`kubernetes: pod ${t.name} ended before ready (${detail})`));
      return;
    }
    if (t.ended) return;
    t.ended = true;
    this.emit({ runtimeId: t.runtimeId, ref: t.name, reason: t.stopping ? 'stopped' : 'crashed', detail });
  }

  private podGone(t: Tracked, detail: string): void {
    this.podEnded(t, detail);
    this.tracked.delete(t.name);
    t.gone.resolve();
  }

  private emit(exit: BrowserExit): void {
    for (const listener of this.listeners) {
      try {
        listener(exit);
      } catch {
        // one listener's bug must not hide the exit from the others
      }
    }
  }

  // ---- helpers ----

  private async deletePod(name: string, gracePeriodSeconds: number): Promise<void> {
    try {
      await this.api.deleteNamespacedPod({ name, namespace: this.options.namespace, gracePeriodSeconds });
    } catch (err) {
      if (err instanceof ApiException && err.code === 404) return; // already gone: destroy is idempotent
      throw err;
    }
  }

  private async agentCall(agentUrl: string, token: string, path: string, body: unknown = {}): Promise<void> {
    const res = await fetch(agentUrl + path, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(5000),
    });
    await res.body?.cancel();
    if (!res.ok) throw new Error(`agent ${path} answered ${res.status}`);
  }
}

/** "container browser terminated: OOMKilled, exit code 137" from the pod's status, as far as it tells. */
function describeEnd(pod: V1Pod): string {
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

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (err: Error) => void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function race<T>(work: Promise<T>, failed: Promise<never>): Promise<T> {
  return Promise.race([work, failed]);
}

function sleep(ms: number, unref = false): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    if (unref) timer.unref();
  });
}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}
