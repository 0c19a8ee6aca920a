import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiException, CoreV1Api, type V1Pod, Watch } from '@kubernetes/client-node';
import type { AgentCommand } from '../drivers/local-process.driver';
import { killQuietly, listProcesses } from '../drivers/local-processes';
import type { FakeKubernetesApiServer } from './fake-kubernetes-api.server';

export interface FakeKubeletOptions {
  api: FakeKubernetesApiServer;
  namespace?: string;
  /** Where `apps/browser-runtime` is: the default command runs its source through swc. */
  repoRoot: string;
  /** What the container runs instead of the image's entrypoint. */
  command?: AgentCommand;
  /** The image's own environment (e.g. CHROME_PATH). */
  imageEnv?: NodeJS.ProcessEnv;
  /** Parent of the pods' volume directories. */
  volumeRoot: string;
  /** Appended to every container's argv, e.g. a marker by which a test run finds what it left running. */
  extraArgs?: string[];
  /** How long a container waits for a Secret its env refers to before the pod fails (default 30 s). */
  secretWaitMs?: number;
}

/** One pod this kubelet admitted. */
interface RunningPod {
  name: string;
  uid: string;
  ip: string;
  dir: string;
  /** Volume directories outside `dir`. */
  outside: string[];
  child: ChildProcess | undefined;
  /** Resolved when the container's process (and everything it started) is gone, or it never started. */
  ended: Promise<void>;
  markEnded: () => void;
  deleted: boolean;
  deadlineTimer: NodeJS.Timeout | undefined;
  startedAt: number;
  /** The end of the container's output, for failure messages. */
  output: string;
}

const POD_NETWORK = '127.77';

/**
 * A FAKE kubelet, for tests only: with the fake API server it stands in for a one-node cluster, so that the
 * Kubernetes driver can be tested end to end with real browser-runtime agents and real Chromium. No kubelet or
 * container runtime can run on the machines that run our tests.
 *
 * It plays the kubelet's part of the protocol through the real client: it watches the namespace's pods, reads the
 * Secrets their env refers to (a missing one holds the container, as the real kubelet's CreateContainerConfigError
 * does, and is retried), and runs each pod's container as a local process. It reports the pod's status with the fake
 * server's `setPhase` (the fake has no status subresource): Running with its pod IP once the process is started,
 * Succeeded or Failed with the container's exit once it ends, Failed with DeadlineExceeded past
 * `activeDeadlineSeconds`. A deleted pod gets SIGTERM, and after its `terminationGracePeriodSeconds` SIGKILL.
 *
 * What stands in for what:
 * - the pod's network namespace: a loopback address of its own (127.77.x.y; Linux routes all of 127/8 to lo), so
 *   `http://<podIP>:<containerPort>` reaches the pod and two pods can listen on the same port. An env value of
 *   `0.0.0.0` (bind every interface of the pod) becomes the pod IP. Unlike a real pod, 127.0.0.1 inside the "pod" is
 *   the machine's loopback: what a process there binds on 127.0.0.1 is reachable from outside, where on a cluster it
 *   is not (the e2e checks the platform never relies on it).
 * - the container's mounts: each emptyDir volume is a directory under `volumeRoot`; env values that are paths under
 *   a mountPath are rewritten to that directory, and a `/tmp` mount becomes TMPDIR. They are removed with the pod.
 * - the container's cgroup: when the container's main process ends or is killed, every process whose command line
 *   names the pod's directory (Chromium, by its user-data-dir) is killed too, as the container runtime would.
 * - the image: `command`, by default browser-runtime from this checkout's source, with `imageEnv` as the image's
 *   environment (nothing of the test process's environment leaks in beyond PATH and HOME).
 *
 * Not emulated: securityContext (processes run as the test's user), resources, probes (the driver's own health
 * check is what readiness means to it), image pulls, init containers, more than one container per pod, restarts
 * (`restartPolicy: Never` is all the driver uses).
 */
export class FakeKubelet {
  private readonly pods = new Map<string, RunningPod>();
  private readonly api: CoreV1Api;
  private readonly watcher: Watch;
  private readonly namespace: string;
  private watchAbort: AbortController | undefined;
  private closed = false;
  private nextHost = 2;

  private constructor(private readonly options: FakeKubeletOptions) {
    this.namespace = options.namespace ?? 'default';
    const kubeConfig = options.api.kubeConfig(this.namespace);
    this.api = kubeConfig.makeApiClient(CoreV1Api);
    this.watcher = new Watch(kubeConfig);
  }

  static async start(options: FakeKubeletOptions): Promise<FakeKubelet> {
    mkdirSync(options.volumeRoot, { recursive: true });
    const kubelet = new FakeKubelet(options);
    await kubelet.relist();
    return kubelet;
  }

  /** Pod name → pod IP of the pods whose container runs (or ran) here. */
  podIPs(): Record<string, string> {
    return Object.fromEntries([...this.pods.values()].map((pod) => [pod.name, pod.ip]));
  }

  /** Names of the pods whose container process is still running. */
  runningPods(): string[] {
    return [...this.pods.values()].filter((pod) => pod.child && pod.child.exitCode === null).map((pod) => pod.name);
  }

  /** Kills the container of a pod without deleting the pod, as an OOM kill or a crash would. */
  killContainer(name: string, signal: NodeJS.Signals = 'SIGKILL'): void {
    const pod = [...this.pods.values()].find((p) => p.name === name);
    if (pod?.child?.pid) killQuietly(-pod.child.pid, signal);
  }

  /** Stops watching and kills every container, as a node going away would; waits until nothing is left. */
  async close(): Promise<void> {
    this.closed = true;
    this.watchAbort?.abort();
    await Promise.all([...this.pods.values()].map((pod) => this.terminate(pod, 0)));
    rmSync(this.options.volumeRoot, { recursive: true, force: true });
  }

  // ---- watch ----

  private async relist(): Promise<void> {
    if (this.closed) return;
    const list = await this.api.listNamespacedPod({ namespace: this.namespace });
    for (const pod of list.items) this.observe('ADDED', pod);
    const seen = new Set(list.items.map((pod) => pod.metadata?.uid));
    for (const pod of this.pods.values()) if (!seen.has(pod.uid)) void this.terminate(pod);
    await this.watch(list.metadata?.resourceVersion ?? '');
  }

  private relistSoon(): void {
    setTimeout(() => {
      if (!this.closed) this.relist().catch(() => this.relistSoon());
    }, 100).unref();
  }

  private async watch(resourceVersion: string): Promise<void> {
    const controller = await this.watcher.watch(
      `/api/v1/namespaces/${encodeURIComponent(this.namespace)}/pods`,
      { resourceVersion },
      (type: string, object: unknown) => {
        if (type === 'ERROR') return; // 410: the done callback re-lists
        this.observe(type, object as V1Pod);
      },
      () => {
        if (this.closed) return;
        // Re-list rather than resume: simpler than telling a drop from a 410, and just as correct for a kubelet.
        this.relistSoon();
      },
    );
    if (this.closed) controller.abort();
    else this.watchAbort = controller;
  }

  private observe(type: string, pod: V1Pod): void {
    const uid = pod.metadata?.uid;
    if (!uid) return;
    const known = this.pods.get(uid);
    if (type === 'DELETED' || pod.metadata?.deletionTimestamp) {
      if (known) void this.terminate(known);
      return;
    }
    if (known) {
      // The driver may shorten activeDeadlineSeconds (adopting a pooled pod): the kubelet follows the spec.
      this.armDeadline(known, pod);
      return;
    }
    if (pod.status?.phase !== 'Pending') return; // ran on a kubelet before us, or already finished
    void this.admit(pod);
  }

  // ---- pod lifecycle ----

  private async admit(pod: V1Pod): Promise<void> {
    const name = pod.metadata?.name as string;
    const uid = pod.metadata?.uid as string;
    let markEnded: () => void = () => undefined;
    const ended = new Promise<void>((resolve) => (markEnded = resolve));
    const host = this.nextHost++;
    const running: RunningPod = {
      name,
      uid,
      ip: `${POD_NETWORK}.${Math.floor(host / 254)}.${(host % 254) + 1}`,
      dir: join(this.options.volumeRoot, `${name}-${uid.slice(0, 8)}`),
      outside: [],
      child: undefined,
      ended,
      markEnded,
      deleted: false,
      deadlineTimer: undefined,
      startedAt: Date.now(),
      output: '',
    };
    this.pods.set(uid, running);
    const containers = pod.spec?.containers ?? [];
    if (containers.length !== 1) {
      return this.fail(running, 'Unsupported', `the fake kubelet runs exactly one container, not ${containers.length}`);
    }
    const container = containers[0];
    let env: NodeJS.ProcessEnv;
    try {
      env = await this.containerEnv(running, pod);
    } catch (error) {
      return this.fail(running, 'CreateContainerConfigError', error instanceof Error ? error.message : String(error));
    }
    if (running.deleted || this.closed) return running.markEnded();
    const { command, args, cwd } = this.options.command ?? sourceAgentCommand(this.options.repoRoot);
    const child = spawn(command, [...args, ...(this.options.extraArgs ?? [])], {
      cwd,
      env,
      // Its own process group: the container's processes are signalled together, as a container's are.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.child = child;
    const keep = (chunk: Buffer) => (running.output = (running.output + chunk.toString('utf8')).slice(-4000));
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.once('error', (error) => {
      running.output += `\ncould not start: ${error.message}`;
    });
    child.once('close', (code, signal) => void this.containerEnded(running, container.name, code, signal));
    this.armDeadline(running, pod);
    this.report(running, 'Running', {
      containerStatuses: [
        {
          name: container.name,
          image: container.image ?? '',
          imageID: '',
          ready: false,
          restartCount: 0,
          started: true,
          state: { running: { startedAt: new Date().toISOString() } },
        },
      ],
    });
  }

  /**
   * The container's environment as the kubelet builds it: the image's, then the pod spec's (values, and Secret keys
   * read through the API), with the stand-ins for mounts and the pod's network applied.
   */
  private async containerEnv(running: RunningPod, pod: V1Pod): Promise<NodeJS.ProcessEnv> {
    const container = pod.spec?.containers[0];
    const mounts = new Map<string, string>();
    const emptyDirs = new Set((pod.spec?.volumes ?? []).filter((v) => v.emptyDir).map((v) => v.name));
    for (const mount of container?.volumeMounts ?? []) {
      if (!emptyDirs.has(mount.name)) throw new Error(`volume ${mount.name}: only emptyDir volumes are emulated`);
      // Unix socket paths are limited to 108 bytes, and Chromium puts its SingletonSocket under TMPDIR: a volume
      // mounted at /tmp gets a short directory of its own (removed with the pod like the others).
      const dir =
        mount.mountPath === '/tmp' ? mkdtempSync(join(tmpdir(), 'fkl-')) : join(running.dir, 'volumes', mount.name);
      if (mount.mountPath === '/tmp') running.outside.push(dir);
      mkdirSync(dir, { recursive: true });
      mounts.set(mount.mountPath.replace(/\/+$/, ''), dir);
    }
    const onHost = (value: string): string => {
      if (value === '0.0.0.0' || value === '::') return running.ip;
      for (const [mountPath, dir] of mounts) {
        if (value === mountPath || value.startsWith(`${mountPath}/`)) return dir + value.slice(mountPath.length);
      }
      return value;
    };
    const env: NodeJS.ProcessEnv = {
      PATH: process.env['PATH'],
      HOME: process.env['HOME'],
      ...this.options.imageEnv,
      ...(mounts.has('/tmp') ? { TMPDIR: mounts.get('/tmp') } : {}),
    };
    for (const variable of container?.env ?? []) {
      const ref = variable.valueFrom?.secretKeyRef;
      if (ref) {
        if (!ref.name) throw new Error(`env ${variable.name}: secretKeyRef without a name`);
        const value = await this.secretValue(running, ref.name, ref.key);
        if (value === undefined && !ref.optional) throw new Error(`secret ${ref.name} has no key ${ref.key}`);
        if (value !== undefined) env[variable.name] = value;
      } else if (variable.valueFrom) {
        throw new Error(`env ${variable.name}: only value and secretKeyRef are emulated`);
      } else {
        env[variable.name] = onHost(variable.value ?? '');
      }
    }
    return env;
  }

  /** A key of a Secret, waiting for the Secret to exist as the kubelet does (the driver creates it after the pod). */
  private async secretValue(running: RunningPod, name: string, key: string): Promise<string | undefined> {
    const deadline = Date.now() + (this.options.secretWaitMs ?? 30_000);
    for (;;) {
      try {
        const secret = await this.api.readNamespacedSecret({ name, namespace: this.namespace });
        const data = secret.data?.[key];
        return data === undefined ? undefined : Buffer.from(data, 'base64').toString('utf8');
      } catch (error) {
        if (!(error instanceof ApiException && error.code === 404)) throw error;
        if (running.deleted || this.closed) return undefined;
        if (Date.now() > deadline) throw new Error(`secret "${name}" not found`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }

  private armDeadline(running: RunningPod, pod: V1Pod): void {
    const seconds = pod.spec?.activeDeadlineSeconds;
    if (running.deadlineTimer) clearTimeout(running.deadlineTimer);
    if (seconds === undefined || !running.child) return;
    const left = running.startedAt + seconds * 1000 - Date.now();
    running.deadlineTimer = setTimeout(
      () => {
        this.report(running, 'Failed', {
          reason: 'DeadlineExceeded',
          message: 'Pod was active on the node longer than the specified deadline',
        });
        void this.stopContainer(running, pod.spec?.terminationGracePeriodSeconds ?? 30);
      },
      Math.max(0, left),
    );
    running.deadlineTimer.unref();
  }

  /** The container's process ended (by itself or killed): clean up its remains and report the pod's phase. */
  private containerEnded(
    running: RunningPod,
    containerName: string,
    code: number | null,
    signal: NodeJS.Signals | null,
  ): void {
    if (running.deadlineTimer) clearTimeout(running.deadlineTimer);
    this.killRemains(running);
    const exitCode = code ?? 128 + signalNumber(signal);
    this.report(running, exitCode === 0 ? 'Succeeded' : 'Failed', {
      containerStatuses: [
        {
          name: containerName,
          image: '',
          imageID: '',
          ready: false,
          restartCount: 0,
          state: {
            terminated: {
              exitCode,
              ...(signal ? { signal: signalNumber(signal) } : {}),
              reason: exitCode === 0 ? 'Completed' : 'Error',
              message: running.output.trim().split('\n').slice(-5).join('\n'),
              finishedAt: new Date().toISOString(),
            },
          },
        },
      ],
    });
    running.markEnded();
  }

  /** SIGTERM, then SIGKILL after the grace period, to the container's process group. */
  private async stopContainer(running: RunningPod, graceSeconds: number): Promise<void> {
    const pid = running.child?.pid;
    if (!pid || running.child?.exitCode !== null || running.child.signalCode !== null) return running.ended;
    killQuietly(-pid, 'SIGTERM');
    const timer = setTimeout(() => killQuietly(-pid, 'SIGKILL'), graceSeconds * 1000);
    await running.ended;
    clearTimeout(timer);
  }

  /** The pod was deleted (or the kubelet closes): stop its container, then remove its volumes. */
  private async terminate(running: RunningPod, graceSeconds?: number): Promise<void> {
    if (running.deleted) return running.ended;
    running.deleted = true;
    if (running.deadlineTimer) clearTimeout(running.deadlineTimer);
    if (running.child) await this.stopContainer(running, graceSeconds ?? 5);
    else running.markEnded();
    for (const path of [running.dir, ...running.outside]) rmSync(path, { recursive: true, force: true, maxRetries: 3 });
    this.pods.delete(running.uid);
  }

  /** What the container runtime does when a container ends: nothing it started survives it. */
  private killRemains(running: RunningPod): void {
    const markers = [running.dir, ...running.outside].map((path) => `${path}/`);
    for (const proc of listProcesses()) {
      if (proc.argv.some((arg) => markers.some((marker) => arg.includes(marker)))) {
        killQuietly(-proc.pid);
        killQuietly(proc.pid);
      }
    }
  }

  private fail(running: RunningPod, reason: string, message: string): void {
    this.report(running, 'Failed', { reason, message });
    running.markEnded();
  }

  private report(
    running: RunningPod,
    phase: 'Running' | 'Succeeded' | 'Failed',
    extra: { reason?: string; message?: string; containerStatuses?: Record<string, unknown>[] },
  ): void {
    // A deleted pod has no status to report (the fake forgets it at once, and a new pod may take its name).
    const current = this.options.api.getPod(running.name, this.namespace);
    if (
      running.deleted ||
      this.closed ||
      (current?.['metadata'] as { uid?: string } | undefined)?.uid !== running.uid
    ) {
      return;
    }
    this.options.api.setPhase(running.name, phase, { namespace: this.namespace, podIP: running.ip, ...extra });
  }
}

/** browser-runtime from this checkout's source: what the image would be built from. */
export function sourceAgentCommand(repoRoot: string): AgentCommand {
  return {
    command: process.execPath,
    args: ['-r', '@swc-node/register', join(repoRoot, 'apps', 'browser-runtime', 'src', 'main.ts')],
    cwd: repoRoot,
  };
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal ? (constants.signals[signal] ?? 0) : 0;
}
