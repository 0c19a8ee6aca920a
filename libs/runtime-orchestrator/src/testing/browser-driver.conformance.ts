import { randomBytes } from 'node:crypto';
import { waitFor } from '@bctrl/testing';
import type { BrowserDriver, BrowserExit, BrowserSpec } from '../drivers/browser-driver';

/**
 * One driver set up for the suite, with the few things only its own world can do. The suite awaits every hook, so
 * one with nothing to wait for may answer directly.
 */
export interface DriverUnderTest {
  driver: BrowserDriver;
  /** Makes the browser behind `ref` die without the driver asking (Chromium or its agent killed, a pod failing). */
  crash(ref: string): void | Promise<void>;
  /** How many browsers of this installation still run, seen from outside the driver (processes, pods). */
  running(): number | Promise<number>;
  /** Stops whatever the suite's setup started besides the driver (servers, fakes). */
  close(): void | Promise<void>;
}

const spec = (): BrowserSpec => ({
  runtimeId: `rt_${randomBytes(12).toString('hex')}`,
  spaceId: 'spc_conformance',
  accountId: 'acc_conformance',
  timeoutSeconds: 120,
  config: {},
});

/**
 * What every BrowserDriver must do, run against each driver (local processes, Kubernetes on the fake API server, the
 * scripted test double): the orchestrator's lifecycle, warm pool and reconcile rely on exactly these promises.
 */
export function describeBrowserDriverConformance(setUp: () => DriverUnderTest | Promise<DriverUnderTest>) {
  let under: DriverUnderTest;
  let exits: BrowserExit[];
  const exitsOf = (ref: string) => exits.filter((exit) => exit.ref === ref);

  beforeAll(async () => {
    under = await setUp();
    under.driver.onExit((exit) => exits.push(exit));
  });

  beforeEach(() => {
    exits = [];
  });

  afterAll(async () => {
    await under?.driver.close();
    await under?.close();
  });

  it('launches a browser bound to its runtime, and list() shows it', async () => {
    const wanted = spec();
    const handle = await under.driver.launch(wanted);
    expect(handle).toMatchObject({ runtimeId: wanted.runtimeId, driver: under.driver.kind });
    expect(handle.ref).not.toBe('');
    expect(handle.agentUrl).toMatch(/^http:\/\//);
    expect(handle.cdpUrl).toMatch(/^ws:\/\//);
    expect(handle.agentToken.length).toBeGreaterThanOrEqual(16);
    expect(await under.driver.list()).toContainEqual({ runtimeId: wanted.runtimeId, ref: handle.ref });
    await under.driver.destroy(handle.ref);
  });

  it('destroy() ends the browser with exactly one `stopped` exit, takes it off the list, and is idempotent', async () => {
    const wanted = spec();
    const handle = await under.driver.launch(wanted);
    await under.driver.destroy(handle.ref);
    await waitFor('the stopped exit', () => (exitsOf(handle.ref).length > 0 ? true : undefined));
    await under.driver.destroy(handle.ref);
    expect(exitsOf(handle.ref)).toEqual([
      { runtimeId: wanted.runtimeId, ref: handle.ref, reason: 'stopped', detail: expect.any(String) },
    ]);
    expect((await under.driver.list()).map((browser) => browser.ref)).not.toContain(handle.ref);
  });

  it('reports a browser that died unasked as `crashed`, exactly once', async () => {
    const wanted = spec();
    const handle = await under.driver.launch(wanted);
    await under.crash(handle.ref);
    await waitFor('the crashed exit', () => (exitsOf(handle.ref).length > 0 ? true : undefined), 15_000);
    await under.driver.destroy(handle.ref);
    expect(exitsOf(handle.ref)).toEqual([
      { runtimeId: wanted.runtimeId, ref: handle.ref, reason: 'crashed', detail: expect.any(String) },
    ]);
  });

  it('launches a pooled browser bound to no runtime, and adopt() binds it', async () => {
    const pooled = await under.driver.launchPooled();
    expect(pooled.runtimeId).toBe('');
    expect(await under.driver.list()).toContainEqual({ runtimeId: '', ref: pooled.ref });
    const wanted = spec();
    const adopted = await under.driver.adopt(pooled, wanted);
    expect(adopted).toEqual({ ...pooled, runtimeId: wanted.runtimeId });
    expect(await under.driver.list()).toContainEqual({ runtimeId: wanted.runtimeId, ref: pooled.ref });
    await under.driver.destroy(pooled.ref);
    await waitFor('the stopped exit', () => (exitsOf(pooled.ref).length > 0 ? true : undefined));
    expect(exitsOf(pooled.ref)).toEqual([expect.objectContaining({ runtimeId: wanted.runtimeId, reason: 'stopped' })]);
  });

  it('rejects a launch whose signal is already aborted, leaving nothing running and reporting no exit', async () => {
    const before = await under.running();
    const controller = new AbortController();
    controller.abort(new Error('stopped before it started'));
    await expect(under.driver.launch(spec(), controller.signal)).rejects.toThrow();
    expect(await under.running()).toBe(before);
    expect(exits).toEqual([]);
  });

  it('close() destroys every browser it started', async () => {
    await under.driver.launch(spec());
    await under.driver.launchPooled();
    expect(await under.running()).toBeGreaterThanOrEqual(2);
    await under.driver.close();
    await waitFor('every browser gone', async () => ((await under.running()) === 0 ? true : undefined), 15_000);
  });
}
