import { randomBytes } from 'node:crypto';
import { ApiException, CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions, V1Pod } from '@kubernetes/client-node';
import { Logger } from '@nestjs/common';
import { AGENT_PATHS, AgentHealth, BrowserLaunchConfig, type ProxyCredentials } from '@bctrl/contracts';
import type {
  BrowserDriver,
  BrowserExit,
  BrowserHandle,
  BrowserSpec,
  DiscoveredBrowser,
  DriverKind,
} from './browser-driver';
import {
  agentTokenSecret,
  browserPod,
  browserPodSelector,
  type BrowserPodSettings,
  describePodEnd,
  KUBERNETES_LABELS,
  podAgentUrl,
  podCdpUrl,
  pooledPodName,
  runtimeLabels,
  runtimePodName,
} from './kubernetes-pod-manifest';
import { PodWatch } from './kubernetes-pod-watch';

export { KUBERNETES_LABELS } from './kubernetes-pod-manifest';

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
  private readonly logger = new Logger('KubernetesDriver');
  private readonly api: CoreV1Api;
  private readonly watch: PodWatch;
  private readonly pods: BrowserPodSettings;
  private readonly tracked = new Map<string, Tracked>();
  private readonly listeners: ((exit: BrowserExit) => void)[] = [];
  private readonly launches = new Set<AbortController>();
  /** Launches in progress: close() waits for them to clean up after their abort. */
  private readonly inflight = new Set<Promise<unknown>>();
  private closed = false;

  constructor(private readonly options: KubernetesDriverOptions) {
    this.api = options.kubeConfig.makeApiClient(CoreV1Api);
    this.pods = {
      image: options.image,
      imagePullPolicy: options.imagePullPolicy,
      resources: options.resources,
      installationId: options.installationId,
      agentPort: options.agentPort ?? 9223,
      cdpPort: options.cdpPort ?? 9222,
      serviceAccountName: options.serviceAccountName,
      labels: options.labels,
      deleteGracePeriodSeconds: options.deleteGracePeriodSeconds ?? 5,
      tokenDelivery: options.tokenDelivery ?? 'secret',
    };
    this.watch = new PodWatch(
      {
        kubeConfig: options.kubeConfig,
        api: this.api,
        namespace: options.namespace,
        labelSelector: browserPodSelector(options.installationId),
        retryMs: options.watchRetryMs,
      },
      {
        pod: (type, pod) => this.observe(type, pod),
        listed: (resourceVersion, names) => {
          // Pods we track that the LIST no longer has were deleted while we were not watching.
          for (const t of [...this.tracked.values()]) {
            if (!names.has(t.name) && t.createdRv !== undefined && resourceVersion >= t.createdRv) {
              this.podGone(t, 'pod deleted');
            }
          }
        },
      },
    );
  }

  launch(spec: BrowserSpec, signal?: AbortSignal): Promise<BrowserHandle> {
    const deadline = spec.timeoutSeconds + (this.options.deadlineMarginSeconds ?? 60);
    return this.track(
      this.start(
        runtimePodName(spec.runtimeId),
        spec.runtimeId,
        runtimeLabels(spec),
        spec.config,
        deadline,
        signal,
        spec.proxyCredentials,
      ),
    );
  }

  launchPooled(signal?: AbortSignal): Promise<BrowserHandle> {
    const name = pooledPodName();
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
      metadata: { labels: runtimeLabels(spec) },
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
      if (t.agentUrl) await this.askAgentToShutDown(t);
    }
    const grace = this.pods.deleteGracePeriodSeconds;
    await this.deletePod(ref, grace);
    // A deleted pod lingers while it terminates; "removes every trace" means waiting for the watch to see it gone.
    if (t && !this.closed) {
      await Promise.race([t.gone.promise, sleep((grace + 10) * 1000, true)]);
    }
  }

  async list(): Promise<DiscoveredBrowser[]> {
    const list = await this.api.listNamespacedPod({
      namespace: this.options.namespace,
      labelSelector: browserPodSelector(this.options.installationId),
    });
    const found: DiscoveredBrowser[] = [];
    for (const pod of list.items) {
      const name = pod.metadata?.name;
      if (!name || pod.metadata?.deletionTimestamp) continue;
      const phase = pod.status?.phase;
      if (phase === 'Failed' || phase === 'Succeeded') {
        // A finished pod holds no browser; what reconcile would do with it is delete it, so do it here (its
        // end, if it was ours, was already reported by the watch).
        void this.deletePod(name, 0).catch((error: unknown) => this.destroyFailed(name, error));
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
    this.watch.stop();
    await Promise.allSettled([...this.inflight]);
    const grace = this.pods.deleteGracePeriodSeconds;
    await Promise.all(
      [...this.tracked.values()].map(async (t) => {
        t.stopping = true;
        if (t.agentUrl) await this.askAgentToShutDown(t);
        await this.deletePod(t.name, grace).catch((error: unknown) => this.destroyFailed(t.name, error));
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
    labels: Record<string, string>,
    config: BrowserLaunchConfig,
    deadlineSeconds: number,
    signal?: AbortSignal,
    proxyCredentials?: ProxyCredentials,
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
      await race(this.watch.ensureStarted(), waiter.failed.promise);
      if (this.tracked.has(name)) throw new Error(`kubernetes: pod ${name} already exists`);
      this.tracked.set(name, t);
      const body = browserPod(this.pods, {
        name,
        runtimeId,
        runtimeLabels: labels,
        config,
        token,
        deadlineSeconds,
        proxyCredentials: proxyCredentials !== undefined,
      });
      creating = this.api.createNamespacedPod({ namespace: this.options.namespace, body });
      const pod = await race(creating, waiter.failed.promise);
      t.createdRv = Number(pod.metadata?.resourceVersion ?? '0');
      // Proxy credentials always go through the Secret, even where the token is a plain env value.
      if (this.pods.tokenDelivery === 'secret' || proxyCredentials) {
        const secret = this.api.createNamespacedSecret({
          namespace: this.options.namespace,
          body: agentTokenSecret(
            body,
            pod.metadata?.uid ?? '',
            this.pods.tokenDelivery === 'secret' ? token : null,
            proxyCredentials,
          ),
        });
        await race(secret, waiter.failed.promise);
      }
      const running = await race(waiter.running.promise, waiter.failed.promise);
      const agentUrl = this.options.agentUrlFor
        ? this.options.agentUrlFor(running)
        : podAgentUrl(running, this.pods.agentPort);
      t.agentUrl = agentUrl;
      const health = await this.waitForAgent(agentUrl, token, controller.signal, waiter.failed.promise);
      t.launch = undefined;
      return {
        runtimeId,
        driver: 'kubernetes',
        ref: name,
        agentUrl,
        agentToken: token,
        cdpUrl: podCdpUrl(agentUrl, health.browser?.cdpUrl ?? '', this.pods.cdpPort),
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
      if (made) await this.deletePod(name, 0).catch((error: unknown) => this.destroyFailed(name, error));
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

  private observe(type: string, pod: V1Pod): void {
    const name = pod.metadata?.name;
    const t = name === undefined ? undefined : this.tracked.get(name);
    if (!t) return;
    if (type === 'DELETED') return this.podGone(t, 'pod deleted');
    const phase = pod.status?.phase;
    if (phase === 'Failed' || phase === 'Succeeded') return this.podEnded(t, `pod ${phase}: ${describePodEnd(pod)}`);
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

  /**
   * Best effort: the agent closes Chromium cleanly (profile flushed); the pod deletion that follows ends it anyway
   * (SIGTERM, then SIGKILL after the grace period), so an agent that does not answer changes nothing but is said.
   */
  private async askAgentToShutDown(t: Tracked): Promise<void> {
    try {
      await this.agentCall(t.agentUrl as string, t.token, AGENT_PATHS.shutdown);
    } catch (error) {
      this.logger.warn(`pod ${t.name}: the agent did not take the shutdown (${String(error)}); deleting the pod`);
    }
  }

  /** A pod that could not be deleted may be a browser left running: never silent. */
  private destroyFailed(name: string, error: unknown): void {
    this.logger.error(`pod ${name} could not be deleted and may still be running: ${String(error)}`);
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
