import { BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import { toJson } from '@bufbuild/protobuf';
import { runtimesV1, SpacesV1, StopReason } from '@bctrl/contracts';
import { BctrlError, isId, newId, Principal, requireKey, toPage } from '@bctrl/core';
import { Transport, TRANSPORT } from '@bctrl/transport';
import type { BrowserDriver, BrowserExit, BrowserHandle, BrowserSpec } from '../drivers/browser-driver';
import type { Prisma } from '../generated/prisma/client';
import { WarmPool } from '../pool/warm-pool';
import { RunEvents } from './run-events';
import { checkRuntimeConfig, launchConfigOf } from './runtime-config';
import { BROWSER_DRIVER, ORCHESTRATOR_OPTIONS, RuntimeOrchestratorOptions, WARM_POOL } from './runtime-options';
import { renderRuntime } from './runtime-view';
import { RuntimeRow, RuntimesRepository } from './runtimes.repository';

interface Launch {
  abort: AbortController;
  /** The runtime as the launch left it (ready or failed), or null when something else moved it first. */
  done: Promise<RuntimeRow | null>;
}

/**
 * The lifecycle of runtimes: pending → starting → ready → stopping → stopped, or failed. Every transition
 * is a conditional update (see RuntimesRepository.transition) followed by an event on the run's stream.
 */
@Injectable()
export class RuntimesService implements BeforeApplicationShutdown {
  private readonly logger = new Logger('Runtimes');
  /** Launches this replica is running now, by runtime id. */
  private readonly launches = new Map<string, Launch>();

  constructor(
    private readonly runtimes: RuntimesRepository,
    private readonly events: RunEvents,
    @Inject(TRANSPORT) private readonly transport: Transport,
    @Inject(BROWSER_DRIVER) private readonly driver: BrowserDriver,
    @Inject(WARM_POOL) private readonly pool: WarmPool,
    @Inject(ORCHESTRATOR_OPTIONS) private readonly options: RuntimeOrchestratorOptions,
  ) {
    driver.onExit((exit) => void this.onBrowserExit(exit));
  }

  isLaunching(runtimeId: string): boolean {
    return this.launches.has(runtimeId);
  }

  async create(principal: Principal, request: runtimesV1.CreateRuntimeRequest) {
    const key = requireKey(principal, 'member');
    // The space must be visible to the caller; the spaces service decides, with the caller's own principal.
    const space = await this.transport.request(SpacesV1.getSpace, { spaceId: request.spaceId }, { principal: key });
    const config = { ...request.config, type: request.config?.type ?? 'browser' } as runtimesV1.RuntimeConfig;
    if (!config.timeoutSeconds) config.timeoutSeconds = this.options.defaultTimeoutSeconds;
    checkRuntimeConfig(config, { maxTimeoutSeconds: this.options.maxTimeoutSeconds });
    const row = await this.runtimes.create({
      id: newId('runtime'),
      accountId: space.accountId,
      subaccountId: space.subaccountId || null,
      spaceId: space.id,
      status: 'pending',
      runId: newId('run'),
      config: toJson(runtimesV1.RuntimeConfigSchema, config, { alwaysEmitImplicit: true }) as Prisma.InputJsonValue,
      metadata: request.metadata,
      timeoutSeconds: config.timeoutSeconds,
      idleTimeoutSeconds: config.idleTimeoutSeconds,
      launchedBy: this.options.replicaId,
    });
    const launch = this.startLaunch(row, config);
    if (request.wait) {
      const settled = await Promise.race([
        launch.done,
        new Promise<null>((r) => setTimeout(() => r(null), this.options.waitTimeoutMs ?? 60_000).unref()),
      ]);
      return renderRuntime(settled ?? (await this.runtimes.findById(row.id)) ?? row);
    }
    return renderRuntime(row);
  }

  async get(principal: Principal, runtimeId: string) {
    return renderRuntime(await this.findVisible(principal, runtimeId, 'viewer'));
  }

  async list(principal: Principal, request: runtimesV1.ListRuntimesRequest) {
    const key = requireKey(principal, 'viewer');
    // An invisible space lists as not found, exactly like a missing one.
    await this.transport.request(SpacesV1.getSpace, { spaceId: request.spaceId }, { principal: key });
    const { rows, limit } = await this.runtimes.list(key, request.spaceId, request.status, request.page);
    const page = toPage(rows, limit, renderRuntime);
    return { data: page.data, nextCursor: page.nextCursor ?? '' };
  }

  async keepalive(principal: Principal, runtimeId: string) {
    const row = await this.findVisible(principal, runtimeId, 'member');
    const now = new Date();
    const updated = await this.runtimes.transition(row.id, ['ready', 'pending', 'starting'], {
      lastActivityAt: now,
      ...(row.status === 'ready' ? { expiresAt: new Date(now.getTime() + row.timeoutSeconds * 1000) } : {}),
    });
    if (!updated)
      throw new BctrlError('invalid_state', `The runtime is ${row.status}; only a live runtime can be kept alive.`);
    return renderRuntime(updated);
  }

  async stop(principal: Principal, runtimeId: string) {
    const row = await this.findVisible(principal, runtimeId, 'member');
    return renderRuntime(await this.stopRow(row, 'requested'));
  }

  async countLive(principal: Principal, spaceId: string) {
    const key = requireKey(principal, 'viewer');
    const rows = await this.runtimes.liveInSpace(spaceId);
    return { count: rows.filter((row) => row.accountId === key.accountId).length };
  }

  async stopSpace(principal: Principal, spaceId: string) {
    const key = requireKey(principal, 'member');
    const rows = (await this.runtimes.liveInSpace(spaceId)).filter((row) => row.accountId === key.accountId);
    await Promise.all(rows.map((row) => this.stopRow(row, 'requested')));
    return { stopped: rows.length };
  }

  /**
   * Stops a runtime whatever state it is in, idempotently. A launch in progress is aborted (the driver
   * removes the half-started browser); a ready browser is destroyed before the runtime reads `stopped`.
   */
  async stopRow(row: RuntimeRow, reason: StopReason): Promise<RuntimeRow> {
    if (row.status === 'pending' || row.status === 'starting') {
      const stopped = await this.runtimes.transition(row.id, ['pending', 'starting'], {
        status: 'stopped',
        stopReason: reason,
        stoppedAt: new Date(),
      });
      if (stopped) {
        this.launches.get(row.id)?.abort.abort();
        await this.events.publish(stopped, 'runtime.stopped', { stopReason: reason });
        return stopped;
      }
      return this.stopRow((await this.runtimes.findById(row.id)) ?? row, reason);
    }
    if (row.status === 'ready') {
      const stopping = await this.runtimes.transition(row.id, ['ready'], { status: 'stopping', stopReason: reason });
      if (!stopping) return this.stopRow((await this.runtimes.findById(row.id)) ?? row, reason);
      await this.events.publish(stopping, 'runtime.stopping', { stopReason: reason });
      return this.finishStopping(stopping);
    }
    return row;
  }

  /** Destroys the browser of a stopping runtime and closes its run. Reconcile calls it again if this fails. */
  async finishStopping(row: RuntimeRow): Promise<RuntimeRow> {
    try {
      if (row.driverRef) await this.driver.destroy(row.driverRef);
    } catch (error) {
      this.logger.error(`could not destroy the browser of ${row.id}: ${String(error)}`);
      return row;
    }
    const stopped = await this.runtimes.transition(row.id, ['stopping'], { status: 'stopped', stoppedAt: new Date() });
    if (!stopped) return (await this.runtimes.findById(row.id)) ?? row;
    await this.events.publish(stopped, 'runtime.stopped', { stopReason: stopped.stopReason });
    return stopped;
  }

  /** The browser of a live runtime ended without being asked to: the runtime fails with `crashed`. */
  async markCrashed(
    runtimeId: string,
    detail: string,
    from: readonly ('pending' | 'starting' | 'ready')[] = ['starting', 'ready'],
  ): Promise<void> {
    const failed = await this.runtimes.transition(runtimeId, from, {
      status: 'failed',
      stopReason: 'crashed',
      failure: `The browser ended unexpectedly: ${detail}`,
      stoppedAt: new Date(),
    });
    if (failed) {
      this.launches.get(runtimeId)?.abort.abort();
      await this.events.publish(failed, 'runtime.failed', { stopReason: 'crashed', detail });
    }
  }

  /** Launches end before the database closes (that happens on application shutdown, after this). */
  async beforeApplicationShutdown() {
    for (const launch of this.launches.values()) launch.abort.abort();
    await Promise.all([...this.launches.values()].map((launch) => launch.done));
  }

  private async onBrowserExit(exit: BrowserExit): Promise<void> {
    if (!exit.runtimeId) {
      this.pool.forget(exit.ref);
      return;
    }
    if (exit.reason === 'crashed') await this.markCrashed(exit.runtimeId, exit.detail);
  }

  private startLaunch(row: RuntimeRow, config: runtimesV1.RuntimeConfig): Launch {
    const abort = new AbortController();
    const launch: Launch = {
      abort,
      done: this.launch(row, config, abort.signal)
        .catch((error: unknown) => {
          this.logger.error(`launch of ${row.id} failed: ${String(error)}`);
          return null;
        })
        .finally(() => this.launches.delete(row.id)),
    };
    this.launches.set(row.id, launch);
    return launch;
  }

  private async launch(
    row: RuntimeRow,
    config: runtimesV1.RuntimeConfig,
    signal: AbortSignal,
  ): Promise<RuntimeRow | null> {
    const started = Date.now();
    const spec: BrowserSpec = {
      runtimeId: row.id,
      spaceId: row.spaceId,
      accountId: row.accountId,
      timeoutSeconds: row.timeoutSeconds,
      config: launchConfigOf(config),
    };
    // The browser starts at once; recording the `starting` state and its event runs alongside, off the
    // critical path of a cold start.
    const acquiring = this.acquire(spec, signal);
    const discard = async () => {
      const early = await acquiring.catch(() => null);
      if (early) await this.driver.destroy(early.handle.ref).catch(() => undefined);
      return null;
    };
    let starting: RuntimeRow | null;
    try {
      starting = await this.runtimes.transition(row.id, ['pending'], { status: 'starting' });
    } catch (error) {
      await discard();
      throw error;
    }
    if (!starting) return discard();
    await this.events.publish(starting, 'runtime.starting', { driver: this.driver.kind });
    let handle: BrowserHandle;
    let warm: boolean;
    try {
      ({ handle, warm } = await acquiring);
    } catch (error) {
      if (signal.aborted) return null;
      const failed = await this.runtimes.transition(row.id, ['starting'], {
        status: 'failed',
        stopReason: 'crashed',
        failure: `The browser could not be started: ${error instanceof Error ? error.message : String(error)}`,
        stoppedAt: new Date(),
      });
      if (failed)
        await this.events.publish(failed, 'runtime.failed', { stopReason: 'crashed', detail: failed.failure });
      return failed;
    }
    const now = new Date();
    const ready = await this.runtimes.transition(row.id, ['starting'], {
      status: 'ready',
      readyAt: now,
      expiresAt: new Date(now.getTime() + row.timeoutSeconds * 1000),
      lastActivityAt: now,
      driver: handle.driver,
      driverRef: handle.ref,
      agentUrl: handle.agentUrl,
      agentToken: handle.agentToken,
      cdpUrl: handle.cdpUrl,
    });
    if (!ready) {
      // Stopped (or crashed) while starting: the browser it was waiting for must not outlive it.
      await this.driver.destroy(handle.ref).catch(() => undefined);
      return null;
    }
    await this.events.publish(ready, 'runtime.ready', { warm, startMs: Date.now() - started });
    return ready;
  }

  /** A pooled browser when one fits, else a cold start. */
  private async acquire(spec: BrowserSpec, signal: AbortSignal): Promise<{ handle: BrowserHandle; warm: boolean }> {
    const pooled = await this.pool.take(spec);
    if (pooled) return { handle: pooled, warm: true };
    return { handle: await this.driver.launch(spec, signal), warm: false };
  }

  /** Out of reach and nonexistent look the same, so a key never learns another tenant's runtime exists. */
  private async findVisible(principal: Principal, runtimeId: string, role: 'viewer' | 'member'): Promise<RuntimeRow> {
    const key = requireKey(principal, 'viewer');
    const row = isId('runtime', runtimeId) ? await this.runtimes.findVisible(key, runtimeId) : null;
    if (!row) throw BctrlError.notFound('runtime');
    requireKey(principal, role);
    return row;
  }
}
