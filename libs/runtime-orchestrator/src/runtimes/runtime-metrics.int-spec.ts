import { RuntimesV1 } from '@bctrl/contracts';
import { captureMetrics, type MetricsCapture } from '@bctrl/telemetry/testing';
import type { WarmPool } from '../pool/warm-pool';
import { WARM_POOL } from '../runtime-orchestrator.options';
import {
  freshDatabase,
  newTenant,
  type Orchestrator,
  startOrchestrator,
  waitFor,
} from '../testing/orchestrator-harness';
import { ScriptedBrowserDriver } from '../testing/scripted-browser.driver';

jest.setTimeout(60_000);

/** The orchestrator's metrics against real Postgres and the in-process transport, with a scripted driver. */
describe('runtime-orchestrator metrics', () => {
  let metrics: MetricsCapture;
  let orchestrator: Orchestrator;

  beforeAll(() => {
    metrics = captureMetrics('runtime-orchestrator');
  });

  afterAll(async () => {
    await metrics.stop();
  });

  afterEach(async () => {
    await orchestrator?.close();
  });

  const runtimesByStatus = async () =>
    Object.fromEntries(
      (await metrics.points('bctrl.runtimes')).map((point) => [point.attributes['status'], point.value]),
    );
  const createDurations = async () =>
    Object.fromEntries(
      (await metrics.points('bctrl.runtime.create.duration')).map((point) => [String(point.attributes['warm']), point]),
    );

  it('reports live runtimes by status from the database, every live status present, and a stop moves the count', async () => {
    orchestrator = await startOrchestrator({ databaseUrl: await freshDatabase(), driver: new ScriptedBrowserDriver() });
    const tenant = await newTenant(orchestrator);
    const create = () =>
      orchestrator.call(
        RuntimesV1.create,
        { spaceId: tenant.spaceId, config: { type: 'browser', timeoutSeconds: 300 }, wait: true },
        tenant.key,
      );
    expect(await runtimesByStatus()).toEqual({ pending: 0, starting: 0, ready: 0, stopping: 0 });
    const first = await create();
    await create();
    expect(await runtimesByStatus()).toEqual({ pending: 0, starting: 0, ready: 2, stopping: 0 });
    await orchestrator.call(RuntimesV1.stop, { runtimeId: first.id }, tenant.key);
    expect(await runtimesByStatus()).toEqual({ pending: 0, starting: 0, ready: 1, stopping: 0 });
  });

  it('records the create duration to ready, cold launches as warm=false and pooled browsers as warm=true', async () => {
    const before = await createDurations();
    const driver = new ScriptedBrowserDriver();
    orchestrator = await startOrchestrator({ databaseUrl: await freshDatabase(), driver, warmPoolSize: 1 });
    const tenant = await newTenant(orchestrator);
    const pool = orchestrator.app.get<WarmPool>(WARM_POOL);
    await waitFor('the pool to fill', () => (pool.available > 0 ? true : undefined));
    // Recorded, as the gateway defaults it: a pooled browser records.
    const warm = await orchestrator.call(
      RuntimesV1.create,
      { spaceId: tenant.spaceId, config: { type: 'browser', timeoutSeconds: 300, recording: true }, wait: true },
      tenant.key,
    );
    // A viewport of its own does not fit the pooled browser: a cold launch.
    const cold = await orchestrator.call(
      RuntimesV1.create,
      {
        spaceId: tenant.spaceId,
        config: { type: 'browser', timeoutSeconds: 300, viewport: { width: 800, height: 600 } },
        wait: true,
      },
      tenant.key,
    );
    expect([warm.status, cold.status]).toEqual(['ready', 'ready']);
    const after = await createDurations();
    expect((after['true']?.count ?? 0) - (before['true']?.count ?? 0)).toBe(1);
    expect((after['false']?.count ?? 0) - (before['false']?.count ?? 0)).toBe(1);
    // Seconds: a scripted browser is ready at once, so well under one.
    expect((after['false']?.sum ?? 0) - (before['false']?.sum ?? 0)).toBeLessThan(1);
  });
});
