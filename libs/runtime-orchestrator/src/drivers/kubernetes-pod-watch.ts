import type { CoreV1Api, KubeConfig, V1Pod } from '@kubernetes/client-node';
import { Watch } from '@kubernetes/client-node';

/** What the watch reports: every pod change it sees, and after each LIST which pods exist at that version. */
export interface PodWatchListener {
  /** ADDED / MODIFIED / DELETED of one pod (a LIST reports each pod it holds as MODIFIED). */
  pod(type: 'ADDED' | 'MODIFIED' | 'DELETED', pod: V1Pod): void;
  /** A LIST just completed at `resourceVersion` and held these pod names (a watch restarts from there). */
  listed(resourceVersion: number, names: ReadonlySet<string>): void;
}

export interface PodWatchOptions {
  kubeConfig: KubeConfig;
  api: CoreV1Api;
  namespace: string;
  labelSelector: string;
  /** First delay before re-opening a dropped watch; doubles up to 5 s while it keeps failing (default 200 ms). */
  retryMs?: number;
}

const MAX_RETRY_MS = 5_000;
/** A watch that ends sooner than this after it opened counts as failed, so a misbehaving server cannot make us spin. */
const FAILED_WATCH_MS = 1_000;

/**
 * Follows a set of pods with one watch, never polling: a LIST gives the state and the resourceVersion to watch from,
 * a watch that drops resumes from the last resourceVersion it saw, and a 410 Expired (that version was compacted
 * away) re-lists, because only a fresh LIST can tell what was missed. Bookmarks keep the version current on a quiet
 * namespace. Failures back off exponentially; a normal server-side timeout resumes at once.
 */
export class PodWatch {
  private readonly watcher: Watch;
  private started: Promise<void> | undefined;
  private abort: AbortController | undefined;
  /** Bumped for every watch opened or stopped: callbacks of an older watch are ignored. */
  private generation = 0;
  private lastRv = '';
  private retryMs: number;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly options: PodWatchOptions,
    private readonly listener: PodWatchListener,
  ) {
    this.watcher = new Watch(options.kubeConfig);
    this.retryMs = options.retryMs ?? 200;
  }

  /**
   * Resolves once the first LIST is done and the watch is open from its version, so that a pod created after this
   * resolves cannot have a change fall between the LIST and the watch. A failed start is retried by the next call.
   */
  ensureStarted(): Promise<void> {
    this.started ??= this.relist().catch((error: unknown) => {
      this.started = undefined;
      throw error;
    });
    return this.started;
  }

  stop(): void {
    this.stopped = true;
    this.generation += 1;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const controller = this.abort;
    this.abort = undefined;
    controller?.abort();
  }

  private async relist(): Promise<void> {
    const list = await this.options.api.listNamespacedPod({
      namespace: this.options.namespace,
      labelSelector: this.options.labelSelector,
    });
    const listRv = list.metadata?.resourceVersion ?? '';
    const names = new Set<string>();
    for (const pod of list.items) {
      if (pod.metadata?.name) names.add(pod.metadata.name);
      this.listener.pod('MODIFIED', pod);
    }
    this.listener.listed(Number(listRv), names);
    this.lastRv = listRv;
    await this.open();
  }

  private async open(): Promise<void> {
    if (this.stopped) return;
    const path = `/api/v1/namespaces/${encodeURIComponent(this.options.namespace)}/pods`;
    let expired = false;
    const generation = ++this.generation;
    const openedAt = Date.now();
    const controller = await this.watcher.watch(
      path,
      { labelSelector: this.options.labelSelector, resourceVersion: this.lastRv, allowWatchBookmarks: true },
      (type: string, object: unknown) => {
        if (generation !== this.generation) return; // a watch we already left behind
        if (type === 'ERROR') {
          expired = (object as { code?: number } | undefined)?.code === 410;
          return;
        }
        const pod = object as V1Pod;
        if (pod.metadata?.resourceVersion) this.lastRv = pod.metadata.resourceVersion;
        if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') this.listener.pod(type, pod);
      },
      (error: unknown) => {
        // `done` can run before watch() returns (connection refused): hence the generation, not the controller.
        if (this.stopped || generation !== this.generation) return;
        const gone = expired || (error as { statusCode?: number } | null)?.statusCode === 410;
        const failed = (error !== null && error !== undefined) || Date.now() - openedAt < FAILED_WATCH_MS;
        this.reconnect(gone, failed);
      },
    );
    if (generation === this.generation) this.abort = controller;
    else controller.abort();
  }

  /** After a drop, resume from the last resourceVersion; after 410, re-list. Back off only on failures. */
  private reconnect(relist: boolean, failed: boolean): void {
    this.abort = undefined;
    const delay = failed ? this.retryMs : 0;
    this.retryMs = failed ? Math.min(this.retryMs * 2, MAX_RETRY_MS) : (this.options.retryMs ?? 200);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.stopped) return;
      (relist ? this.relist() : this.open()).catch(() => this.reconnect(true, true));
    }, delay);
  }
}
