import type { MessageInitShape } from '@bufbuild/protobuf';
import { RuntimesV1, runtimesV1 } from '@bctrl/contracts';
import {
  freshDatabase,
  newTenant,
  Orchestrator,
  startOrchestrator,
  waitFor,
  withClient,
} from './testing/orchestrator-harness';
import { ScriptedBrowserDriver } from './testing/scripted-browser.driver';

jest.setTimeout(60_000);

type ConfigInit = MessageInitShape<typeof runtimesV1.RuntimeConfigSchema>;

const driverRefOf = (url: string, runtimeId: string) =>
  withClient(url, async (client) => {
    const { rows } = await client.query('SELECT driver_ref FROM runtime_orchestrator.runtimes WHERE id = $1', [
      runtimeId,
    ]);
    return rows[0]?.driver_ref as string | null;
  });

/** The warm pool and reconcile: what keeps browsers and rows in agreement, with a scripted driver standing in. */
describe('runtime-orchestrator warm pool', () => {
  let url: string;
  let driver: ScriptedBrowserDriver;
  let orchestrator: Orchestrator;

  beforeAll(async () => {
    url = await freshDatabase();
    driver = new ScriptedBrowserDriver();
    orchestrator = await startOrchestrator({ databaseUrl: url, driver, warmPoolSize: 2 });
  });

  afterAll(async () => {
    await orchestrator?.close();
  });

  const pooledRunning = () => driver.runningBrowsers().filter((browser) => browser.runtimeId === '').length;

  it('serves default creates from the pool, starts a custom config cold, refills, and never adopts a browser twice', async () => {
    const tenant = await newTenant(orchestrator);
    const create = (config: ConfigInit = {}) =>
      orchestrator.call(
        RuntimesV1.create,
        // recording: true as the gateway sends it by default (a proto bool left out reads false).
        {
          spaceId: tenant.spaceId,
          config: { type: 'browser', timeoutSeconds: 300, recording: true, ...config },
          wait: true,
        },
        tenant.key,
      );
    await waitFor('the pool to fill', () => (pooledRunning() === 2 ? true : undefined));
    const pooledRefs = driver.runningBrowsers().map((browser) => browser.ref);

    const first = await create();
    const second = await create();
    expect([first.status, second.status]).toEqual(['ready', 'ready']);
    expect(driver.launches).toHaveLength(0);
    expect(driver.adoptions.map((adoption) => adoption.runtimeId)).toEqual([first.id, second.id]);
    const warmRefs = [await driverRefOf(url, first.id), await driverRefOf(url, second.id)];
    expect(warmRefs.sort()).toEqual([...pooledRefs].sort());
    const firstEvents = await orchestrator.events(first.activeRunId);
    const readyEvent = await waitFor('runtime.ready', () =>
      firstEvents.find((event) => event.type === 'runtime.ready'),
    );
    expect(JSON.parse(readyEvent?.dataJson ?? '{}')).toMatchObject({ warm: true });

    // A config the pooled browsers were not started with cannot be honoured by them: it starts cold.
    await waitFor('the pool to refill', () => (pooledRunning() === 2 ? true : undefined));
    const cold = await create({ viewport: { width: 1024, height: 700 } });
    expect(cold.status).toBe('ready');
    expect(driver.launches).toHaveLength(1);
    expect(driver.launches[0]?.spec).toMatchObject({
      runtimeId: cold.id,
      config: { viewport: { width: 1024, height: 700 } },
    });
    expect(driver.adoptions).toHaveLength(2);
    expect(pooledRunning()).toBe(2);

    // A burst larger than the pool: each pooled browser goes to one runtime, the rest start cold.
    const burst = await Promise.all([create(), create(), create(), create()]);
    expect(burst.map((runtime) => runtime.status)).toEqual(['ready', 'ready', 'ready', 'ready']);
    const adoptedRefs = driver.adoptions.map((adoption) => adoption.ref);
    expect(new Set(adoptedRefs).size).toBe(adoptedRefs.length);
    const allRefs = await Promise.all([first, second, cold, ...burst].map((runtime) => driverRefOf(url, runtime.id)));
    expect(new Set(allRefs).size).toBe(allRefs.length);
    expect(driver.adoptions.length + driver.launches.length).toBe(allRefs.length);
    await waitFor('the pool to refill after the burst', () => (pooledRunning() === 2 ? true : undefined));

    // A stopped runtime's browser is destroyed, never handed back to the pool.
    await orchestrator.call(RuntimesV1.stop, { runtimeId: first.id }, tenant.key);
    expect(driver.destroyed).toContain(warmRefs[0]);
    const later = await create();
    expect(await driverRefOf(url, later.id)).not.toBe(warmRefs[0]);
    expect(new Set(driver.adoptions.map((adoption) => adoption.ref)).size).toBe(driver.adoptions.length);
  });

  it('replaces a pooled browser that dies while waiting', async () => {
    await waitFor('the pool to be full', () => (pooledRunning() === 2 ? true : undefined));
    const victim = driver.runningBrowsers().find((browser) => browser.runtimeId === '');
    if (!victim) throw new Error('a pooled browser is running');
    const launchedBefore = driver.pooledLaunches.length;
    driver.emitExit({ ref: victim.ref, reason: 'crashed', detail: 'oom' });
    await waitFor('a replacement', () => (pooledRunning() === 2 ? true : undefined));
    expect(driver.pooledLaunches.length).toBe(launchedBefore + 1);
  });
});

describe('runtime-orchestrator reconcile after a restart', () => {
  let url: string;
  const running: Orchestrator[] = [];

  beforeAll(async () => {
    url = await freshDatabase();
  });

  afterAll(async () => {
    await Promise.all(running.map((orchestrator) => orchestrator.close()));
  });

  it('fails runtimes whose browser is gone, removes browsers with no live runtime, and fails abandoned launches', async () => {
    const firstDriver = new ScriptedBrowserDriver();
    const first = await startOrchestrator({ databaseUrl: url, driver: firstDriver, replicaId: 'replica-1' });
    running.push(first);
    const tenant = await newTenant(first);
    const create = (wait = true) =>
      first.call(
        RuntimesV1.create,
        { spaceId: tenant.spaceId, config: { type: 'browser', timeoutSeconds: 300 }, wait },
        tenant.key,
      );
    const a = await create();
    const b = await create();
    const survivor = await create();
    const [aRef, bRef, survivorRef] = await Promise.all([a, b, survivor].map((r) => driverRefOf(url, r.id)));
    if (!aRef || !bRef || !survivorRef) throw new Error('ready runtimes have driver refs');
    // Two launches the process dies in the middle of: one by this replica, one by another that may still run it.
    firstDriver.scriptLaunch({ kind: 'hold' });
    firstDriver.scriptLaunch({ kind: 'hold' });
    const own = await create(false);
    const foreign = await create(false);
    // Both launches must be inside the driver when the process goes, as they would be in a real crash.
    await waitFor('both launches to start', () => (firstDriver.launches.length === 5 ? true : undefined));
    await first.close();
    running.splice(running.indexOf(first), 1);

    await withClient(url, async (client) => {
      // The rows as a crash leaves them: `own` never reached starting, `foreign` belongs to a live peer, and B
      // was stopped in the database while its browser kept running.
      await client.query(
        "UPDATE runtime_orchestrator.runtimes SET status = 'pending', driver_ref = NULL WHERE id = ANY($1)",
        [[own.id, foreign.id]],
      );
      await client.query("UPDATE runtime_orchestrator.runtimes SET launched_by = 'replica-2' WHERE id = $1", [
        foreign.id,
      ]);
      await client.query(
        "UPDATE runtime_orchestrator.runtimes SET status = 'stopped', stop_reason = 'requested', stopped_at = now() WHERE id = $1",
        [b.id],
      );
    });

    // After the restart the machine still runs B's browser, the survivor's and an unbound one; A's is gone.
    const secondDriver = new ScriptedBrowserDriver({
      existing: [
        { runtimeId: b.id, ref: bRef },
        { runtimeId: survivor.id, ref: survivorRef },
        { runtimeId: '', ref: 'orphan-unbound' },
      ],
    });
    const second = await startOrchestrator({ databaseUrl: url, driver: secondDriver, replicaId: 'replica-1' });
    running.push(second);
    const get = (runtimeId: string) => second.call(RuntimesV1.get, { runtimeId }, tenant.key);

    // Boot runs reconcile before the app answers; nothing here waits on a timer.
    expect(await get(a.id)).toMatchObject({ status: 'failed', stopReason: 'crashed' });
    expect((await get(a.id)).failure).toContain('no longer running');
    expect(secondDriver.destroyed).toEqual(expect.arrayContaining([bRef, 'orphan-unbound']));
    expect(secondDriver.isRunning(bRef)).toBe(false);
    expect(await get(b.id)).toMatchObject({ status: 'stopped', stopReason: 'requested' });
    expect(await get(own.id)).toMatchObject({ status: 'failed', stopReason: 'crashed' });
    expect((await get(own.id)).failure).toContain('restarted');
    expect((await get(foreign.id)).status).toBe('pending');
    expect((await get(survivor.id)).status).toBe('ready');
    expect(secondDriver.destroyed).not.toContain(survivorRef);

    const events = await second.events(a.activeRunId);
    await waitFor('runtime.failed for A', () =>
      events.some((event) => event.type === 'runtime.failed') ? true : undefined,
    );

    // A second pass finds nothing more to do: reconcile is idempotent.
    const destroyedBefore = secondDriver.destroyed.length;
    await second.supervisor.reconcile();
    expect(secondDriver.destroyed.length).toBe(destroyedBefore);
    expect((await get(survivor.id)).status).toBe('ready');
  });
});
