import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import type { BrowserDriver } from '../drivers/browser-driver';
import { WarmPool } from '../pool/warm-pool';
import {
  BROWSER_DRIVER,
  ORCHESTRATOR_OPTIONS,
  RuntimeOrchestratorOptions,
  WARM_POOL,
} from '../runtime-orchestrator.options';
import { RuntimesRepository } from '../runtimes/runtimes.repository';
import { RuntimesService } from '../runtimes/runtimes.service';

/** A launch another replica may still be running is left alone for this long before it counts as abandoned. */
const ABANDONED_LAUNCH_MS = 120_000;

/**
 * Keeps the database and the real browsers in agreement. Every second it stops runtimes past their timeout
 * or idle timeout; every reconcile interval (and at boot) it fails runtimes whose browser is gone and
 * destroys browsers no live runtime owns — so an orchestrator restart repairs both sides.
 */
@Injectable()
export class Supervisor implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Supervisor');
  private timers: NodeJS.Timeout[] = [];
  private sweeping = false;
  private reconciling: Promise<void> | null = null;

  constructor(
    private readonly runtimes: RuntimesRepository,
    private readonly service: RuntimesService,
    @Inject(BROWSER_DRIVER) private readonly driver: BrowserDriver,
    @Inject(WARM_POOL) private readonly pool: WarmPool,
    @Inject(ORCHESTRATOR_OPTIONS) private readonly options: RuntimeOrchestratorOptions,
  ) {}

  async onApplicationBootstrap() {
    await this.reconcile();
    this.pool.start();
    this.timers = [
      setInterval(() => void this.sweep(), this.options.sweepIntervalMs ?? 1_000),
      setInterval(() => void this.reconcile(), this.options.reconcileIntervalMs),
    ];
    for (const timer of this.timers) timer.unref();
  }

  async beforeApplicationShutdown() {
    for (const timer of this.timers) clearInterval(timer);
    await this.reconciling;
    await this.pool.close();
    // A shutdown stops the live runtimes' browsers (local mode's Ctrl-C leaves nothing running), including those
    // this instance adopted at boot from one that crashed; their rows are failed by the next start's reconcile.
    await this.driver.close();
  }

  /** Stops what is due. Runs one at a time; a slow stop delays the next sweep rather than doubling it. */
  async sweep(now = new Date()): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      for (const { row, reason } of await this.runtimes.due(now)) {
        await this.service.stopRow(row, reason);
      }
    } catch (error) {
      this.logger.error(`sweep failed: ${String(error)}`);
    } finally {
      this.sweeping = false;
    }
  }

  reconcile(): Promise<void> {
    this.reconciling ??= this.reconcileOnce()
      .catch((error: unknown) => this.logger.error(`reconcile failed: ${String(error)}`))
      .finally(() => {
        this.reconciling = null;
      });
    return this.reconciling;
  }

  private async reconcileOnce(): Promise<void> {
    const browsers = await this.driver.list();
    const refs = new Set(browsers.map((browser) => browser.ref));
    const now = Date.now();

    for (const row of await this.runtimes.live()) {
      if (this.service.isLaunching(row.id)) continue;
      const abandoned =
        row.launchedBy === this.options.replicaId || now - row.updatedAt.getTime() > ABANDONED_LAUNCH_MS;
      if (row.status === 'pending' || (row.status === 'starting' && !row.driverRef)) {
        if (abandoned) {
          await this.service.markCrashed(row.id, 'the orchestrator restarted before the browser was ready', [
            'pending',
            'starting',
          ]);
        }
      } else if (row.status === 'ready' && row.driverRef && !refs.has(row.driverRef)) {
        await this.service.markCrashed(row.id, 'its browser is no longer running');
      } else if (row.status === 'ready') {
        // After a restart: the browser's events are relayed again from its first (ids make repeats harmless).
        this.service.relayEvents(row);
      } else if (row.status === 'stopping') {
        await this.service.finishStopping(row);
      }
    }

    const liveRows = await this.runtimes.live();
    const live = new Set(liveRows.map((row) => row.id));
    // A warm runtime names its browser before the agent learns the runtime's id: the row is the binding.
    const liveRefs = new Set(liveRows.map((row) => row.driverRef).filter((ref) => ref !== null));
    for (const browser of browsers) {
      if (
        liveRefs.has(browser.ref) ||
        (browser.runtimeId
          ? live.has(browser.runtimeId)
          : this.pool.owns(browser.ref) || this.driver.kind !== 'local-process')
      )
        continue;
      this.logger.warn(`removing orphaned browser ${browser.ref} (runtime ${browser.runtimeId || 'none'})`);
      await this.driver
        .destroy(browser.ref)
        .catch((error: unknown) => this.logger.error(`could not remove ${browser.ref}: ${String(error)}`));
    }
  }
}
