import { Logger } from '@nestjs/common';
import type { BrowserLaunchConfig } from '@bctrl/contracts';
import { type BrowserDriver, type BrowserHandle, type BrowserSpec, discardBrowser } from '../drivers/browser-driver';

/** A pooled browser starts with the driver's defaults; a runtime asking for anything else starts cold. */
const REFILL_DELAY_MS = 200;

export function poolCanServe(config: BrowserLaunchConfig): boolean {
  // Pooled browsers record (the default); a runtime that asked not to be recorded starts its own.
  // A proxy is a launch flag of Chromium's: a browser already running cannot take one.
  return (
    !config.viewport &&
    !config.userAgent &&
    !config.locale &&
    !config.timezone &&
    !config.proxy &&
    config.recording !== false
  );
}

/**
 * Browsers started ahead of demand. Each serves exactly one runtime and is never returned: a runtime's
 * browser is destroyed with it, so no tenant ever sees another's state. Refills one at a time in the
 * background, so a burst of creates does not start a burst of Chromiums on a small machine.
 */
export class WarmPool {
  private readonly logger = new Logger('WarmPool');
  private readonly idle: BrowserHandle[] = [];
  /** Handed out by `claim`, not yet recorded on a runtime. */
  private readonly claimed = new Set<string>();
  private launching = 0;
  private closed = false;
  private readonly abort = new AbortController();

  constructor(
    private readonly driver: BrowserDriver,
    private readonly size: number,
  ) {}

  start(): void {
    this.refill();
  }

  get available(): number {
    return this.idle.length;
  }

  /**
   * A ready browser for this runtime, or null when the pool is empty or cannot honour its config. Synchronous, so
   * two creates can never claim the same browser; the caller binds it (driver.adopt) and must call `settle` once the
   * runtime's row names it, until which `owns` still answers for it (reconcile must not take it for an orphan).
   */
  claim(spec: BrowserSpec): BrowserHandle | null {
    if (!poolCanServe(spec.config)) return null;
    const pooled = this.idle.shift();
    if (!pooled) return null;
    this.claimed.add(pooled.ref);
    this.refillSoon();
    return pooled;
  }

  /** The claimed browser is now recorded on its runtime (or was destroyed): the pool no longer answers for it. */
  settle(ref: string): void {
    this.claimed.delete(ref);
  }

  /**
   * Starting the replacement browser right away would put a Chromium boot on the same two cores as the runtime
   * being handed out; a short pause lets that runtime's answer go first.
   */
  private refillSoon(): void {
    setTimeout(() => this.refill(), REFILL_DELAY_MS).unref();
  }

  /** Pooled browsers are this pool's own; reconcile must not take them for orphans. */
  owns(ref: string): boolean {
    return this.claimed.has(ref) || this.idle.some((handle) => handle.ref === ref);
  }

  /** A pooled browser died while waiting: forget it and start another. */
  forget(ref: string): void {
    const index = this.idle.findIndex((handle) => handle.ref === ref);
    if (index >= 0) {
      this.idle.splice(index, 1);
      this.refillSoon();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.abort.abort();
    const idle = this.idle.splice(0);
    await Promise.all(idle.map((handle) => discardBrowser(this.driver, handle.ref, this.logger, 'the pool closed')));
  }

  private refill(): void {
    if (this.closed || this.launching > 0 || this.idle.length >= this.size) return;
    this.launching += 1;
    this.driver
      .launchPooled(this.abort.signal)
      .then(async (handle) => {
        this.launching -= 1;
        if (this.closed) return this.driver.destroy(handle.ref);
        this.idle.push(handle);
        this.refill();
      })
      .catch((error: unknown) => {
        this.launching -= 1;
        if (this.closed) return;
        // Back off instead of retrying in a tight loop when browsers cannot start at all.
        this.logger.warn(`could not start a pooled browser: ${String(error)}`);
        setTimeout(() => this.refill(), 2_000).unref();
      });
  }
}
