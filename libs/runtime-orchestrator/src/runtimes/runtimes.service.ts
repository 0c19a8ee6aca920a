import { toJson } from '@bufbuild/protobuf';
import { BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import {
  AGENT_PATHS,
  agentWebDriverToken,
  ProxiesV1,
  RunEvent,
  runtimesV1,
  SpacesV1,
  STOP_REASONS,
  type StopReason,
} from '@bctrl/contracts';
import {
  BctrlError,
  isId,
  type KeyPrincipal,
  newId,
  Principal,
  requireKey,
  requireOperator,
  toPageMessage,
} from '@bctrl/core';
import { platformInstruments, rememberSecretValue } from '@bctrl/telemetry';
import { TRANSPORT, Transport } from '@bctrl/transport';
import {
  type BrowserDriver,
  type BrowserExit,
  type BrowserHandle,
  type BrowserSpec,
  discardBrowser,
} from '../drivers/browser-driver';
import type { Prisma } from '../generated/prisma/client';
import { WarmPool } from '../pool/warm-pool';
import {
  BROWSER_DRIVER,
  ORCHESTRATOR_OPTIONS,
  RuntimeOrchestratorOptions,
  WARM_POOL,
} from '../runtime-orchestrator.options';
import { AgentEventRelay } from './agent-event-relay';
import { RunEvents } from './run-events';
import { RuntimeArtifacts } from './runtime-artifacts';
import { checkRuntimeConfig, launchConfigOf } from './runtime-config';
import { renderRuntime } from './runtime-view';
import { RuntimeRow, RuntimesRepository } from './runtimes.repository';

interface Launch {
  abort: AbortController;
  /** The runtime's row once written, or null if it could not be (the launch is then aborted). */
  created: Promise<RuntimeRow | null>;
  /** The runtime as the launch left it (ready or failed), or null when something else moved it first. */
  done: Promise<RuntimeRow | null>;
}

/**
 * The lifecycle of runtimes: starting → ready → stopping → stopped, or failed (a runtime is recorded `starting`
 * because its browser starts at once; `pending` is kept for starts that will queue, e.g. behind budgets). Every transition
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
    private readonly relay: AgentEventRelay,
    private readonly artifacts: RuntimeArtifacts,
  ) {
    driver.onExit((exit) => void this.onBrowserExit(exit));
  }

  /** Relays a ready runtime's browser events unless that already happens (reconcile calls it after restarts). */
  relayEvents(row: RuntimeRow): void {
    this.relay.start(row);
  }

  isLaunching(runtimeId: string): boolean {
    return this.launches.has(runtimeId);
  }

  async create(principal: Principal, request: runtimesV1.CreateRuntimeRequest) {
    const requestedAt = Date.now();
    const key = requireKey(principal, 'member');
    // The space must be visible to the caller; the spaces service decides, with the caller's own principal.
    const space = await this.transport.request(SpacesV1.getSpace, { spaceId: request.spaceId }, { principal: key });
    const config = { ...request.config, type: request.config?.type ?? 'browser' } as runtimesV1.RuntimeConfig;
    if (!config.timeoutSeconds) config.timeoutSeconds = this.options.defaultTimeoutSeconds;
    checkRuntimeConfig(config, { maxTimeoutSeconds: this.options.maxTimeoutSeconds });
    const row: Prisma.RuntimeCreateInput = {
      id: newId('runtime'),
      accountId: space.accountId,
      subaccountId: space.subaccountId || null,
      spaceId: space.id,
      status: 'starting',
      runId: newId('run'),
      config: toJson(runtimesV1.RuntimeConfigSchema, config, { alwaysEmitImplicit: true }) as Prisma.InputJsonValue,
      metadata: request.metadata,
      timeoutSeconds: config.timeoutSeconds,
      idleTimeoutSeconds: config.idleTimeoutSeconds,
      launchedBy: this.options.replicaId,
    };
    const proxy = config.proxyId ? await this.resolveProxy(key, config.proxyId, row.spaceId, row.runId, row.id) : null;
    const spec: BrowserSpec = {
      runtimeId: row.id,
      spaceId: row.spaceId,
      accountId: row.accountId,
      timeoutSeconds: config.timeoutSeconds,
      config: launchConfigOf(config, proxy ?? undefined),
      ...(proxy?.password ? { proxyCredentials: { username: proxy.username, password: proxy.password } } : {}),
    };
    const pooled = this.pool.claim(spec);
    if (pooled) return renderRuntime(await this.startWarm(row, spec, pooled, requestedAt));
    const launch = this.startLaunch(row, spec, requestedAt);
    if (request.wait) {
      const settled = await Promise.race([
        launch.done,
        new Promise<null>((r) => setTimeout(() => r(null), this.options.waitTimeoutMs ?? 60_000).unref()),
      ]);
      const current = settled ?? (await this.runtimes.findById(row.id));
      if (current) return renderRuntime(current);
    }
    const created = await launch.created;
    if (!created) throw new BctrlError('unavailable', 'The runtime could not be recorded; try again.');
    return renderRuntime(created);
  }

  async get(principal: Principal, runtimeId: string) {
    return renderRuntime(await this.findVisible(principal, runtimeId, 'viewer'));
  }

  async list(principal: Principal, request: runtimesV1.ListRuntimesRequest) {
    const key = requireKey(principal, 'viewer');
    // An invisible space lists as not found, exactly like a missing one.
    await this.transport.request(SpacesV1.getSpace, { spaceId: request.spaceId }, { principal: key });
    const { rows, limit } = await this.runtimes.list(key, request.spaceId, request.status, request.page);
    return toPageMessage(rows, limit, renderRuntime);
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
    // Only a stop that ends a live runtime is an action on its run; stopping a stopped one again changes nothing.
    if (row.status === 'stopped' || row.status === 'failed') return renderRuntime(row);
    return renderRuntime(await this.events.recorded(row, 'runtime.stop', () => this.stopRow(row, 'requested')));
  }

  /**
   * For cdp-proxy: a ready runtime the caller may drive, where its browser's CDP answers, and its agent's WebDriver
   * relay with the credential for that relay alone.
   */
  async endpoint(principal: Principal, runtimeId: string, runId = '') {
    const row = runId
      ? await this.findVisibleByRun(principal, runId)
      : await this.findVisible(principal, runtimeId, 'member');
    if (row.status !== 'ready' || !row.cdpUrl) {
      throw new BctrlError(
        'invalid_state',
        runId
          ? `The run's runtime is ${row.status}; only the run of a ready runtime can be viewed live.`
          : `The runtime is ${row.status}; only a ready runtime takes connections.`,
      );
    }
    return {
      runtime: renderRuntime(row),
      cdpUrl: row.cdpUrl,
      webdriverUrl: row.agentUrl ? `${row.agentUrl}${AGENT_PATHS.webdriver}` : '',
      webdriverToken: row.agentToken ? agentWebDriverToken(row.agentToken) : '',
    };
  }

  /** Activity seen elsewhere (open connections): the idle stop counts from now. */
  async touch(principal: Principal, runtimeIds: string[]) {
    requireOperator(principal);
    const ids = runtimeIds.filter((id) => isId('runtime', id));
    return { touched: ids.length ? await this.runtimes.touch(ids, new Date()) : 0 };
  }

  async countLive(principal: Principal, spaceId: string) {
    const key = requireKey(principal, 'viewer');
    const rows = await this.runtimes.liveInSpace(spaceId);
    return { count: rows.filter((row) => row.accountId === key.accountId).length };
  }

  /** For the spaces service, deleting a proxy: the live runtimes of the caller's space that started with it. */
  async liveUsing(principal: Principal, request: runtimesV1.RuntimesUsingRequest) {
    const key = requireKey(principal, 'viewer');
    if (!request.proxyId) return { runtimeIds: [] };
    const rows = await this.runtimes.liveUsingProxy(request.spaceId, request.proxyId);
    // Asked with the caller's own principal, like countLive: another account's rows are none of its business.
    return { runtimeIds: rows.filter((row) => row.accountId === key.accountId).map((row) => row.id) };
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
        await this.events.publish(stopped, RunEvent.runtimeStopped, { stopReason: reason });
        return stopped;
      }
      return this.stopRow((await this.runtimes.findById(row.id)) ?? row, reason);
    }
    if (row.status === 'ready') {
      const stopping = await this.runtimes.transition(row.id, ['ready'], { status: 'stopping', stopReason: reason });
      if (!stopping) return this.stopRow((await this.runtimes.findById(row.id)) ?? row, reason);
      this.relay.stop(row.id);
      await this.events.publish(stopping, RunEvent.runtimeStopping, { stopReason: reason });
      return this.finishStopping(stopping);
    }
    return row;
  }

  /** Destroys the browser of a stopping runtime and closes its run. Reconcile calls it again if this fails. */
  async finishStopping(row: RuntimeRow): Promise<RuntimeRow> {
    // The recording lives in the agent's work dir, which goes with the browser: it is taken first.
    await this.artifacts.collectRecording(row);
    try {
      if (row.driverRef) await this.driver.destroy(row.driverRef);
    } catch (error) {
      this.logger.error(`could not destroy the browser of ${row.id}: ${String(error)}`);
      return row;
    }
    const stopped = await this.runtimes.transition(row.id, ['stopping'], { status: 'stopped', stoppedAt: new Date() });
    if (!stopped) return (await this.runtimes.findById(row.id)) ?? row;
    await this.events.publish(stopped, RunEvent.runtimeStopped, { stopReason: stopReasonOf(stopped) });
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
      this.relay.stop(runtimeId);
      this.launches.get(runtimeId)?.abort.abort();
      await this.events.publish(failed, RunEvent.runtimeFailed, { stopReason: 'crashed', detail });
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

  /**
   * A pooled browser is already ready: the runtime is recorded ready in one write, and the agent learns its runtime
   * (driver.adopt) after that, off the answer's path. The row's driverRef is the binding reconcile trusts.
   */
  private async startWarm(
    row: Prisma.RuntimeCreateInput,
    spec: BrowserSpec,
    pooled: BrowserHandle,
    requestedAt: number,
  ) {
    const now = new Date();
    let ready: RuntimeRow;
    try {
      ready = await this.runtimes.create({
        ...row,
        status: 'ready',
        readyAt: now,
        expiresAt: new Date(now.getTime() + spec.timeoutSeconds * 1000),
        lastActivityAt: now,
        driver: pooled.driver,
        driverRef: pooled.ref,
        agentUrl: pooled.agentUrl,
        agentToken: pooled.agentToken,
        cdpUrl: pooled.cdpUrl,
      });
    } catch (error) {
      await discardBrowser(this.driver, pooled.ref, this.logger, `its runtime ${spec.runtimeId} was not recorded`);
      throw error;
    } finally {
      this.pool.settle(pooled.ref);
    }
    recordCreateDuration(requestedAt, true);
    // The browser died between the pool and here, or refused the runtime: the runtime fails as if it crashed.
    void this.driver
      .adopt(pooled, spec)
      .catch((error: unknown) =>
        this.markCrashed(ready.id, `its pooled browser could not be assigned: ${String(error)}`),
      );
    await this.events.publish(ready, RunEvent.runtimeStarting, { driver: this.driver.kind });
    await this.events.publish(ready, RunEvent.runtimeReady, { warm: true, startMs: Date.now() - now.getTime() });
    this.relay.start(ready);
    return ready;
  }

  /**
   * A cold start: the browser starts at once and the runtime's row (already `starting`) is written alongside, so
   * the database is off the critical path of Chromium's boot.
   */
  private startLaunch(row: Prisma.RuntimeCreateInput, spec: BrowserSpec, requestedAt: number): Launch {
    const abort = new AbortController();
    const started = Date.now();
    const launching = this.driver.launch(spec, abort.signal).then(
      (handle) => ({ handle, error: null }),
      (error: unknown) => ({ handle: null, error }),
    );
    const created = this.runtimes.create(row).then(
      (created) => created,
      async (error: unknown) => {
        abort.abort();
        const { handle } = await launching;
        if (handle) await discardBrowser(this.driver, handle.ref, this.logger, `runtime ${row.id} was not recorded`);
        this.logger.error(`could not record runtime ${row.id}: ${String(error)}`);
        return null;
      },
    );
    const launch: Launch = {
      abort,
      created,
      done: this.finishLaunch(created, launching, abort.signal, started, requestedAt)
        .catch((error: unknown) => {
          this.logger.error(`launch of ${row.id} failed: ${String(error)}`);
          return null;
        })
        .finally(() => this.launches.delete(row.id)),
    };
    this.launches.set(row.id, launch);
    return launch;
  }

  private async finishLaunch(
    created: Promise<RuntimeRow | null>,
    launching: Promise<{ handle: BrowserHandle; error: null } | { handle: null; error: unknown }>,
    signal: AbortSignal,
    started: number,
    requestedAt: number,
  ): Promise<RuntimeRow | null> {
    const row = await created;
    if (!row) return null;
    await this.events.publish(row, RunEvent.runtimeStarting, { driver: this.driver.kind });
    const launched = await launching;
    if (!launched.handle) {
      if (signal.aborted) return null;
      const error = launched.error;
      const failed = await this.runtimes.transition(row.id, ['starting'], {
        status: 'failed',
        stopReason: 'crashed',
        failure: `The browser could not be started: ${error instanceof Error ? error.message : String(error)}`,
        stoppedAt: new Date(),
      });
      if (failed)
        await this.events.publish(failed, RunEvent.runtimeFailed, {
          stopReason: 'crashed',
          detail: failed.failure ?? 'the browser could not start',
        });
      return failed;
    }
    const handle = launched.handle;
    const now = new Date();
    const ready = await this.runtimes
      .transition(row.id, ['starting'], {
        status: 'ready',
        readyAt: now,
        expiresAt: new Date(now.getTime() + row.timeoutSeconds * 1000),
        lastActivityAt: now,
        driver: handle.driver,
        driverRef: handle.ref,
        agentUrl: handle.agentUrl,
        agentToken: handle.agentToken,
        cdpUrl: handle.cdpUrl,
      })
      .catch(async (error: unknown) => {
        await discardBrowser(this.driver, handle.ref, this.logger, `runtime ${row.id} could not be marked ready`);
        throw error;
      });
    if (!ready) {
      // Stopped (or crashed) while starting: the browser it was waiting for must not outlive it.
      await discardBrowser(this.driver, handle.ref, this.logger, `runtime ${row.id} stopped while starting`);
      return null;
    }
    recordCreateDuration(requestedAt, false);
    await this.events.publish(ready, RunEvent.runtimeReady, { warm: false, startMs: Date.now() - started });
    this.relay.start(ready);
    return ready;
  }

  /**
   * The runtime's proxy with its password, from the spaces service with the caller's own principal (the read is a
   * secret.used event on the run). Unknown, another space's or out of the key's reach: 400, as for any bad field.
   */
  private async resolveProxy(key: KeyPrincipal, proxyId: string, spaceId: string, runId: string, runtimeId: string) {
    const unknown = () => BctrlError.validation([{ field: 'proxyId', issue: 'no such proxy' }]);
    if (!isId('proxy', proxyId)) throw unknown();
    try {
      const proxy = await this.transport.request(
        ProxiesV1.resolveProxy,
        { proxyId, spaceId, runId, runtimeId },
        { principal: key },
      );
      // It passed through this process: masked in its logs, whatever fails next.
      if (proxy.password) rememberSecretValue(proxy.password);
      return proxy;
    } catch (error) {
      if (error instanceof BctrlError && error.code === 'not_found') throw unknown();
      throw error;
    }
  }

  /** Out of reach and nonexistent look the same, so a key never learns another tenant's runtime exists. */
  private async findVisibleByRun(principal: Principal, runId: string): Promise<RuntimeRow> {
    const key = requireKey(principal, 'viewer');
    const row = isId('run', runId) ? await this.runtimes.findVisibleByRun(key, runId) : null;
    if (!row) throw BctrlError.notFound('run');
    requireKey(principal, 'member');
    return row;
  }

  private async findVisible(principal: Principal, runtimeId: string, role: 'viewer' | 'member'): Promise<RuntimeRow> {
    const key = requireKey(principal, 'viewer');
    const row = isId('runtime', runtimeId) ? await this.runtimes.findVisible(key, runtimeId) : null;
    if (!row) throw BctrlError.notFound('runtime');
    requireKey(principal, role);
    return row;
  }
}

/** From the create request reaching this service to the runtime recorded ready. */
function recordCreateDuration(requestedAt: number, warm: boolean): void {
  platformInstruments().runtimeCreateDuration.record((Date.now() - requestedAt) / 1000, { warm });
}

/** The row's stop reason as the catalogue has it: the column holds only what this service wrote, from STOP_REASONS. */
function stopReasonOf(row: RuntimeRow): StopReason | null {
  return (STOP_REASONS as readonly string[]).includes(row.stopReason ?? '') ? (row.stopReason as StopReason) : null;
}
