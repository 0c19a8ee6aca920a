import type { BrowserLaunchConfig, ProxyCredentials } from '@bctrl/contracts';

export type DriverKind = 'local-process' | 'kubernetes';

/** What a driver needs to start the browser of one runtime. */
export interface BrowserSpec {
  runtimeId: string;
  spaceId: string;
  accountId: string;
  /** Hard ceiling on the browser's life (the pod's activeDeadlineSeconds); the orchestrator stops it sooner. */
  timeoutSeconds: number;
  config: BrowserLaunchConfig;
  /**
   * For `config.proxy`, when it takes credentials. A driver hands them to the agent the way it hands its token, never
   * in the launch config, a command line, an environment listing or a pod spec in clear.
   */
  proxyCredentials?: ProxyCredentials;
}

/** A running browser as the orchestrator keeps it: enough to reach its agent and its CDP endpoint. */
export interface BrowserHandle {
  runtimeId: string;
  driver: DriverKind;
  /** The driver's own name for it: a pid locally, a pod name on Kubernetes. */
  ref: string;
  /** Base URL of the browser-runtime agent's HTTP API. */
  agentUrl: string;
  agentToken: string;
  /** Browser-level CDP WebSocket URL, reachable from the platform only. */
  cdpUrl: string;
}

/** A browser the driver finds running, for reconcile after a restart. */
export interface DiscoveredBrowser {
  /** Empty for a pooled browser not yet bound to a runtime. */
  runtimeId: string;
  ref: string;
}

export interface BrowserExit {
  runtimeId: string;
  ref: string;
  /** `crashed`: Chromium or its agent died without being asked to; `stopped`: it ended because we asked. */
  reason: 'crashed' | 'stopped';
  detail: string;
}

/**
 * Starts and stops browsers. One implementation per place browsers run: local child processes (local mode,
 * single machines, the e2e suites) and Kubernetes pods. Everything above this interface — lifecycle,
 * timeouts, the warm pool, reconcile — is the same for both.
 */
export interface BrowserDriver {
  readonly kind: DriverKind;

  /**
   * Starts a browser and resolves once its agent reports ready (Chromium answered CDP). Rejects, leaving
   * nothing running, if it cannot; `signal` aborts a launch in progress (stop before ready).
   */
  launch(spec: BrowserSpec, signal?: AbortSignal): Promise<BrowserHandle>;

  /**
   * Starts a browser for the warm pool: same as launch, but bound to no runtime yet, with the driver's
   * default launch config. `adopt` later binds it to a runtime.
   */
  launchPooled(signal?: AbortSignal): Promise<BrowserHandle>;

  /** Binds a pooled browser to a runtime (labels, agent's runtime id); its handle then names the runtime. */
  adopt(pooled: BrowserHandle, spec: BrowserSpec): Promise<BrowserHandle>;

  /** Stops the browser and removes every trace of it (process, pod, work area). Idempotent. */
  destroy(ref: string): Promise<void>;

  /** Every browser of this installation the driver can see, bound or pooled. */
  list(): Promise<DiscoveredBrowser[]>;

  /** Called once per browser that ends, whatever the cause. */
  onExit(listener: (exit: BrowserExit) => void): void;

  /** Destroys every browser it started and stops watching. */
  close(): Promise<void>;
}

/**
 * Destroys a browser nobody will use (a launch that lost its runtime, a pool being closed). A failure is logged,
 * never thrown and never swallowed: it may have left a browser running, which an operator must be able to see.
 */
export async function discardBrowser(
  driver: Pick<BrowserDriver, 'destroy'>,
  ref: string,
  logger: { error(message: string): void },
  why: string,
): Promise<void> {
  try {
    await driver.destroy(ref);
  } catch (error) {
    logger.error(`could not destroy browser ${ref} (${why}); it may still be running: ${String(error)}`);
  }
}
