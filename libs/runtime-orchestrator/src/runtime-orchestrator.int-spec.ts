import type { MessageInitShape } from '@bufbuild/protobuf';
import { runsV1, RuntimesV1, runtimesV1 } from '@bctrl/contracts';
import {
  freshDatabase,
  newSpace,
  newTenant,
  Orchestrator,
  startOrchestrator,
  Tenant,
  waitFor,
  withClient,
} from './testing/orchestrator-harness';
import { ScriptedBrowserDriver } from './testing/scripted-browser.driver';

jest.setTimeout(60_000);

type ConfigInit = MessageInitShape<typeof runtimesV1.RuntimeConfigSchema>;

const TERMINAL = ['runtime.stopped', 'runtime.failed'];

/**
 * The orchestrator's lifecycle against real Postgres and the real in-process transport, with a scripted driver
 * standing in for browsers so each race (stop during launch, crash during stop) can be made to happen on purpose.
 * Real Chromium is covered by the e2e suites; these are the orderings a real browser cannot be told to produce.
 */
describe('runtime-orchestrator lifecycle', () => {
  let url: string;
  let driver: ScriptedBrowserDriver;
  let orchestrator: Orchestrator;
  let tenant: Tenant;

  const create = (config: ConfigInit = {}, wait = true, spaceId = tenant.spaceId) =>
    orchestrator.call(
      RuntimesV1.create,
      { spaceId, config: { type: 'browser', timeoutSeconds: 300, ...config }, wait },
      tenant.key,
    );
  const get = (runtimeId: string) => orchestrator.call(RuntimesV1.get, { runtimeId }, tenant.key);
  const stop = (runtimeId: string) => orchestrator.call(RuntimesV1.stop, { runtimeId }, tenant.key);
  const refOf = (runtimeId: string) =>
    withClient(url, async (client) => {
      const { rows } = await client.query('SELECT driver_ref FROM runtime_orchestrator.runtimes WHERE id = $1', [
        runtimeId,
      ]);
      return rows[0]?.driver_ref as string | null;
    });
  const typesOf = (events: runsV1.RunEvent[]) => events.map((event) => event.type);
  const statusBecomes = (runtimeId: string, status: string) =>
    waitFor(`${runtimeId} to be ${status}`, async () => {
      const runtime = await get(runtimeId);
      return runtime.status === status ? runtime : undefined;
    });

  beforeAll(async () => {
    url = await freshDatabase();
    driver = new ScriptedBrowserDriver();
    orchestrator = await startOrchestrator({ databaseUrl: url, driver });
    tenant = await newTenant(orchestrator);
  });

  afterAll(async () => {
    await orchestrator?.close();
  });

  it('publishes starting, ready, stopping, stopped on the run stream, in that order', async () => {
    const runtime = await create();
    expect(runtime.status).toBe('ready');
    const runId = runtime.activeRunId;
    expect(runId).toMatch(/^run_/);
    await stop(runtime.id);

    const events = await orchestrator.events(runId);
    await waitFor('four events', () => (events.length >= 4 ? true : undefined));
    // A short grace period: a duplicated or late event must show up here, not be missed by stopping early.
    await new Promise((r) => setTimeout(r, 100));
    expect(typesOf(events)).toEqual(['runtime.starting', 'runtime.ready', 'runtime.stopping', 'runtime.stopped']);
    for (const event of events) {
      expect(event).toMatchObject({
        runId,
        runtimeId: runtime.id,
        spaceId: tenant.spaceId,
        accountId: tenant.accountId,
      });
    }
    expect(JSON.parse(events[3]?.dataJson ?? '{}')).toEqual({ stopReason: 'requested' });
  });

  it('stops a runtime whose launch is in progress, aborts the launch and destroys the browser it produced anyway', async () => {
    // The driver ignores the abort and comes up anyway: the window a slow Chromium leaves open in real life.
    driver.scriptLaunch({ kind: 'hold', ignoreAbort: true });
    const launched = driver.nextLaunch();
    const created = await create({}, false);
    const launch = await launched;
    expect(launch.spec?.runtimeId).toBe(created.id);
    await statusBecomes(created.id, 'starting');

    const stopped = await stop(created.id);
    expect(stopped).toMatchObject({ status: 'stopped', stopReason: 'requested', activeRunId: '' });
    expect(launch.signal?.aborted).toBe(true);

    const handle = launch.resolve();
    await waitFor('the late browser to be destroyed', () => (driver.destroyed.includes(handle.ref) ? true : undefined));
    expect(driver.isRunning(handle.ref)).toBe(false);
    // It stays stopped: the late browser must not turn it ready.
    expect(await get(created.id)).toMatchObject({ status: 'stopped', stopReason: 'requested', readyAt: '' });
    expect(await refOf(created.id)).toBeNull();
    const events = await orchestrator.events(created.activeRunId);
    await new Promise((r) => setTimeout(r, 100));
    expect(typesOf(events)).toEqual(['runtime.starting', 'runtime.stopped']);
  });

  it('fails a ready runtime whose browser crashes, with crashed and a runtime.failed event', async () => {
    const runtime = await create();
    const ref = await refOf(runtime.id);
    if (!ref) throw new Error('a ready runtime has a driver ref');
    driver.emitExit({ runtimeId: runtime.id, ref, reason: 'crashed', detail: 'chromium exited with signal SIGSEGV' });

    const failed = await statusBecomes(runtime.id, 'failed');
    expect(failed).toMatchObject({ stopReason: 'crashed', activeRunId: '' });
    expect(failed.failure).toContain('SIGSEGV');
    expect(failed.stoppedAt).not.toBe('');
    const events = await orchestrator.events(runtime.activeRunId);
    await waitFor('runtime.failed', () => (typesOf(events).includes('runtime.failed') ? true : undefined));
    const failure = events.find((event) => event.type === 'runtime.failed');
    expect(JSON.parse(failure?.dataJson ?? '{}')).toMatchObject({ stopReason: 'crashed' });
  });

  it('ignores a browser that ends because it was stopped', async () => {
    const runtime = await create();
    const ref = await refOf(runtime.id);
    if (!ref) throw new Error('a ready runtime has a driver ref');
    driver.emitExit({ runtimeId: runtime.id, ref, reason: 'stopped', detail: 'exit 0' });
    await new Promise((r) => setTimeout(r, 100));
    expect((await get(runtime.id)).status).toBe('ready');
    await stop(runtime.id);
  });

  describe('a crash racing a stop ends in exactly one terminal state with one terminal event', () => {
    async function race(order: 'crash-first' | 'stop-first' | 'crash-during-destroy') {
      const runtime = await create();
      const ref = await refOf(runtime.id);
      if (!ref) throw new Error('a ready runtime has a driver ref');
      const crash = () => driver.emitExit({ runtimeId: runtime.id, ref, reason: 'crashed', detail: 'killed' });
      let stopped: runtimesV1.Runtime;
      if (order === 'crash-first') {
        // Reported and recorded first: the report's handling is asynchronous, so wait for it before stopping.
        crash();
        await waitFor('the crash to be recorded', async () =>
          (await get(runtime.id)).status === 'failed' ? true : undefined,
        );
        stopped = await stop(runtime.id);
      } else if (order === 'stop-first') {
        const stopping = stop(runtime.id);
        crash();
        stopped = await stopping;
      } else {
        // The crash report arrives while the stop is destroying the browser, the narrowest window there is.
        driver.beforeDestroy = (destroying) => {
          if (destroying === ref) crash();
        };
        stopped = await stop(runtime.id).finally(() => {
          driver.beforeDestroy = null;
        });
      }
      const final = await waitFor('a terminal state', async () => {
        const current = await get(runtime.id);
        return current.status === 'stopped' || current.status === 'failed' ? current : undefined;
      });
      // Whatever won, stop answered with the state the runtime ended in, not a state it passed through.
      expect(stopped.status).toBe(final.status);
      expect(final.stopReason).toBe(final.status === 'failed' ? 'crashed' : 'requested');
      const events = await orchestrator.events(runtime.activeRunId);
      await new Promise((r) => setTimeout(r, 150));
      const terminal = typesOf(events).filter((type) => TERMINAL.includes(type));
      expect(terminal).toEqual([final.status === 'failed' ? 'runtime.failed' : 'runtime.stopped']);
      expect(await get(runtime.id)).toMatchObject({ status: final.status, stoppedAt: final.stoppedAt });
      return final.status;
    }

    it('when the crash is reported first', async () => {
      expect(await race('crash-first')).toBe('failed');
    });

    it('when the stop is sent first', async () => {
      expect(['stopped', 'failed']).toContain(await race('stop-first'));
    });

    it('when the crash arrives while the stop destroys the browser', async () => {
      expect(await race('crash-during-destroy')).toBe('stopped');
    });
  });

  it('fails a runtime whose browser cannot start, with a failure sentence and a runtime.failed event', async () => {
    driver.scriptLaunch({ kind: 'fail', error: new Error('chromium exited with code 1 before answering CDP') });
    const runtime = await create();
    expect(runtime).toMatchObject({
      status: 'failed',
      stopReason: 'crashed',
      failure: 'The browser could not be started: chromium exited with code 1 before answering CDP',
      activeRunId: '',
    });
    expect(runtime.failure).toMatch(/^[A-Z].*[^\s]$/);
    const runId = await withClient(url, async (client) => {
      const { rows } = await client.query('SELECT run_id FROM runtime_orchestrator.runtimes WHERE id = $1', [
        runtime.id,
      ]);
      return rows[0]?.run_id as string;
    });
    const events = await orchestrator.events(runId);
    await waitFor('runtime.failed', () => (events.length >= 2 ? true : undefined));
    expect(typesOf(events)).toEqual(['runtime.starting', 'runtime.failed']);
  });

  it('answers a repeated stop with the same stoppedAt, and destroys the browser once', async () => {
    const runtime = await create();
    const ref = await refOf(runtime.id);
    const first = await stop(runtime.id);
    await new Promise((r) => setTimeout(r, 20));
    const second = await stop(runtime.id);
    expect(first.stoppedAt).not.toBe('');
    expect(second).toMatchObject({ status: 'stopped', stopReason: 'requested', stoppedAt: first.stoppedAt });
    expect(driver.destroyed.filter((destroyed) => destroyed === ref)).toHaveLength(1);
    const events = await orchestrator.events(runtime.activeRunId);
    await new Promise((r) => setTimeout(r, 100));
    expect(typesOf(events).filter((type) => TERMINAL.includes(type))).toEqual(['runtime.stopped']);
  });

  it('counts live runtimes per space and stops a whole space', async () => {
    const spaceId = await newSpace(orchestrator, tenant, 'count-and-stop');
    const otherSpaceId = await newSpace(orchestrator, tenant, 'untouched');
    const a = await create({}, true, spaceId);
    const b = await create({}, true, spaceId);
    const done = await create({}, true, spaceId);
    await stop(done.id);
    const elsewhere = await create({}, true, otherSpaceId);
    const count = (space: string) => orchestrator.call(RuntimesV1.countLive, { spaceId: space }, tenant.key);

    expect((await count(spaceId)).count).toBe(2);
    expect((await orchestrator.call(RuntimesV1.stopSpace, { spaceId }, tenant.key)).stopped).toBe(2);
    expect((await count(spaceId)).count).toBe(0);
    for (const id of [a.id, b.id]) {
      expect(await get(id)).toMatchObject({ status: 'stopped', stopReason: 'requested' });
    }
    expect((await get(elsewhere.id)).status).toBe('ready');
    expect((await count(otherSpaceId)).count).toBe(1);

    // Another account sees none of this space's runtimes, and cannot stop them.
    const stranger = await newTenant(orchestrator, 'stranger');
    const c = await create({}, true, spaceId);
    expect((await orchestrator.call(RuntimesV1.countLive, { spaceId }, stranger.key)).count).toBe(0);
    expect((await orchestrator.call(RuntimesV1.stopSpace, { spaceId }, stranger.key)).stopped).toBe(0);
    expect((await get(c.id)).status).toBe('ready');
    await stop(c.id);
    await stop(elsewhere.id);
  });

  describe('the sweep', () => {
    const backdate = (runtimeId: string, column: 'last_activity_at' | 'expires_at', seconds: number) =>
      withClient(url, (client) =>
        client.query(
          `UPDATE runtime_orchestrator.runtimes SET ${column} = now() + make_interval(secs => $2) WHERE id = $1`,
          [runtimeId, seconds],
        ),
      );

    it('stops a runtime past expiresAt with timeout and an idle one with idle, and leaves the rest', async () => {
      const spaceId = await newSpace(orchestrator, tenant, 'sweep');
      const timed = await create({ timeoutSeconds: 60 }, true, spaceId);
      const idle = await create({ timeoutSeconds: 300, idleTimeoutSeconds: 10 }, true, spaceId);
      const busy = await create({ timeoutSeconds: 300 }, true, spaceId);
      const refs = { timed: await refOf(timed.id), idle: await refOf(idle.id), busy: await refOf(busy.id) };

      await orchestrator.supervisor.sweep(new Date(Date.now() + 61_000));

      expect(await get(timed.id)).toMatchObject({ status: 'stopped', stopReason: 'timeout' });
      expect(await get(idle.id)).toMatchObject({ status: 'stopped', stopReason: 'idle' });
      expect((await get(busy.id)).status).toBe('ready');
      expect(driver.destroyed).toEqual(expect.arrayContaining([refs.timed, refs.idle]));
      expect(driver.destroyed).not.toContain(refs.busy);
      const events = await orchestrator.events(idle.activeRunId);
      await waitFor('runtime.stopped', () => (events.length >= 4 ? true : undefined));
      expect(JSON.parse(events[3]?.dataJson ?? '{}')).toEqual({ stopReason: 'idle' });
      await stop(busy.id);
    });

    it('is held off by keepalive, which moves both expiresAt and the last activity', async () => {
      const spaceId = await newSpace(orchestrator, tenant, 'keepalive');
      const kept = await create({ timeoutSeconds: 300, idleTimeoutSeconds: 10 }, true, spaceId);
      const control = await create({ timeoutSeconds: 300, idleTimeoutSeconds: 10 }, true, spaceId);
      // As if a minute passed with no activity, and `kept` were two seconds from its deadline.
      for (const id of [kept.id, control.id]) await backdate(id, 'last_activity_at', -60);
      await backdate(kept.id, 'expires_at', 2);

      const before = Date.now();
      const alive = await orchestrator.call(RuntimesV1.keepalive, { runtimeId: kept.id }, tenant.key);
      expect(Date.parse(alive.expiresAt)).toBeGreaterThanOrEqual(before + 300_000 - 1_000);
      const lastActivity = await withClient(url, async (client) => {
        const { rows } = await client.query(
          'SELECT last_activity_at FROM runtime_orchestrator.runtimes WHERE id = $1',
          [kept.id],
        );
        return rows[0]?.last_activity_at as Date;
      });
      expect(lastActivity.getTime()).toBeGreaterThanOrEqual(before - 1_000);

      await orchestrator.supervisor.sweep(new Date(Date.now() + 5_000));

      expect((await get(kept.id)).status).toBe('ready');
      expect(await get(control.id)).toMatchObject({ status: 'stopped', stopReason: 'idle' });
      await stop(kept.id);
    });

    it('refuses keepalive for a runtime that is no longer live', async () => {
      const runtime = await create();
      await stop(runtime.id);
      await expect(
        orchestrator.call(RuntimesV1.keepalive, { runtimeId: runtime.id }, tenant.key),
      ).rejects.toMatchObject({ code: 'invalid_state' });
    });
  });
});
