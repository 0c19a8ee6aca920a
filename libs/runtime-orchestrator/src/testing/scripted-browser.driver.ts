import type {
  BrowserDriver,
  BrowserExit,
  BrowserHandle,
  BrowserSpec,
  DiscoveredBrowser,
  DriverKind,
} from '../drivers/browser-driver';

/**
 * What the next `launch` does: become ready at once, fail with `error`, or wait for the test to settle it.
 * A held launch rejects when its signal aborts, as a real driver does, unless `ignoreAbort` is set: that models
 * the race where the browser comes up anyway just after the orchestrator gave up on it.
 */
export type LaunchOutcome =
  | { kind: 'ready' }
  | { kind: 'fail'; error: Error }
  | { kind: 'hold'; ignoreAbort?: boolean };

/** One call to `launch` (or `launchPooled`), as the test sees it. */
export interface ScriptedLaunch {
  spec: BrowserSpec | null;
  signal: AbortSignal | undefined;
  /** Settles a held launch with a new running browser and returns its handle. */
  resolve(): BrowserHandle;
  reject(error: Error): void;
}

export interface ScriptedBrowserDriverOptions {
  kind?: DriverKind;
  /** Browsers already running when the driver starts, as a restarted orchestrator finds them. */
  existing?: DiscoveredBrowser[];
}

/**
 * A TEST DOUBLE of BrowserDriver: no process and no pod, only an in-memory table of "running" browsers that
 * the test drives. Launches become ready, fail or hang on command; `emitExit` reports a browser ending as a
 * real driver would; every launch, adoption and destroy is recorded so specs can assert what the orchestrator
 * asked for — in particular that nothing it started is left running.
 */
export class ScriptedBrowserDriver implements BrowserDriver {
  readonly kind: DriverKind;
  /** Every `launch` call, in order. */
  readonly launches: ScriptedLaunch[] = [];
  /** Every `launchPooled` call, in order. */
  readonly pooledLaunches: ScriptedLaunch[] = [];
  readonly adoptions: Array<{ ref: string; runtimeId: string }> = [];
  /** Every `destroy` call's ref, including repeated ones (destroy is idempotent; the record is not). */
  readonly destroyed: string[] = [];
  closed = false;
  /** Runs inside `destroy` before the browser goes away, so a test can make something happen mid-stop. */
  beforeDestroy: ((ref: string) => Promise<void> | void) | null = null;

  private readonly running = new Map<string, DiscoveredBrowser>();
  private readonly outcomes: LaunchOutcome[] = [];
  private pooledOutcome: LaunchOutcome = { kind: 'ready' };
  private readonly listeners: Array<(exit: BrowserExit) => void> = [];
  private readonly launchWaiters: Array<(launch: ScriptedLaunch) => void> = [];
  private counter = 0;

  constructor(options: ScriptedBrowserDriverOptions = {}) {
    this.kind = options.kind ?? 'local-process';
    for (const browser of options.existing ?? []) this.running.set(browser.ref, { ...browser });
  }

  /** Queues what the next launch does; launches with nothing queued become ready at once. */
  scriptLaunch(outcome: LaunchOutcome): void {
    this.outcomes.push(outcome);
  }

  /** What every pooled launch does from now on. */
  scriptPooledLaunches(outcome: LaunchOutcome): void {
    this.pooledOutcome = outcome;
  }

  /** Resolves with the next `launch` call made after this one: call it before the create that triggers it. */
  nextLaunch(): Promise<ScriptedLaunch> {
    return new Promise((resolve) => this.launchWaiters.push(resolve));
  }

  isRunning(ref: string): boolean {
    return this.running.has(ref);
  }

  /** Refs of the running browsers, bound (runtimeId set) or pooled (''). */
  runningBrowsers(): DiscoveredBrowser[] {
    return [...this.running.values()].map((browser) => ({ ...browser }));
  }

  /** Reports a browser ending, as the real drivers do when Chromium or its agent dies. */
  emitExit(exit: Omit<BrowserExit, 'runtimeId'> & { runtimeId?: string }): void {
    const known = this.running.get(exit.ref);
    this.running.delete(exit.ref);
    const event: BrowserExit = { ...exit, runtimeId: exit.runtimeId ?? known?.runtimeId ?? '' };
    for (const listener of this.listeners) listener(event);
  }

  launch(spec: BrowserSpec, signal?: AbortSignal): Promise<BrowserHandle> {
    const outcome = this.outcomes.shift() ?? { kind: 'ready' };
    const { launch, promise } = this.start(spec, signal, outcome);
    this.launches.push(launch);
    const waiter = this.launchWaiters.shift();
    waiter?.(launch);
    return promise;
  }

  launchPooled(signal?: AbortSignal): Promise<BrowserHandle> {
    const { launch, promise } = this.start(null, signal, this.pooledOutcome);
    this.pooledLaunches.push(launch);
    return promise;
  }

  adopt(pooled: BrowserHandle, spec: BrowserSpec): Promise<BrowserHandle> {
    this.adoptions.push({ ref: pooled.ref, runtimeId: spec.runtimeId });
    const browser = this.running.get(pooled.ref);
    // A rejection, as the real drivers give, never a throw: the orchestrator catches it on the promise.
    if (!browser) return Promise.reject(new Error(`pooled browser ${pooled.ref} is not running`));
    browser.runtimeId = spec.runtimeId;
    return Promise.resolve({ ...pooled, runtimeId: spec.runtimeId });
  }

  async destroy(ref: string): Promise<void> {
    this.destroyed.push(ref);
    await this.beforeDestroy?.(ref);
    const browser = this.running.get(ref);
    if (!browser) return;
    // The contract: onExit fires once per browser that ends, whatever the cause — a destroy included.
    this.emitExit({ runtimeId: browser.runtimeId, ref, reason: 'stopped', detail: 'destroyed' });
  }

  list(): Promise<DiscoveredBrowser[]> {
    return Promise.resolve(this.runningBrowsers());
  }

  onExit(listener: (exit: BrowserExit) => void): void {
    this.listeners.push(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const ref of [...this.running.keys()]) await this.destroy(ref);
  }

  private start(
    spec: BrowserSpec | null,
    signal: AbortSignal | undefined,
    outcome: LaunchOutcome,
  ): { launch: ScriptedLaunch; promise: Promise<BrowserHandle> } {
    let settle!: { resolve: (handle: BrowserHandle) => void; reject: (error: Error) => void };
    let settled = false;
    const promise = new Promise<BrowserHandle>((resolve, reject) => {
      settle = { resolve, reject };
    });
    const launch: ScriptedLaunch = {
      spec,
      signal,
      resolve: () => {
        const handle = this.newBrowser(spec?.runtimeId ?? '');
        if (!settled) settle.resolve(handle);
        settled = true;
        return handle;
      },
      reject: (error) => {
        if (!settled) settle.reject(error);
        settled = true;
      },
    };
    // A real driver checks the signal before it starts anything: an already aborted launch starts nothing.
    if (signal?.aborted && !(outcome.kind === 'hold' && outcome.ignoreAbort)) {
      launch.reject(new Error('launch aborted'));
      return { launch, promise };
    }
    switch (outcome.kind) {
      case 'ready':
        launch.resolve();
        break;
      case 'fail':
        launch.reject(outcome.error);
        break;
      case 'hold':
        if (!outcome.ignoreAbort) {
          signal?.addEventListener('abort', () => launch.reject(new Error('launch aborted')), { once: true });
        }
        break;
    }
    return { launch, promise };
  }

  private newBrowser(runtimeId: string): BrowserHandle {
    this.counter += 1;
    const ref = `scripted-${this.counter}-${Math.random().toString(36).slice(2, 8)}`;
    this.running.set(ref, { runtimeId, ref });
    return {
      runtimeId,
      driver: this.kind,
      ref,
      agentUrl: `http://127.0.0.1:9/${ref}`,
      agentToken: `token-${ref}`,
      cdpUrl: `ws://127.0.0.1:9/devtools/browser/${ref}`,
    };
  }
}
