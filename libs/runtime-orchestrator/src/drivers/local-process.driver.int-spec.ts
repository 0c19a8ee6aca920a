import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { request } from 'node:http';
import { join, resolve } from 'node:path';
import { cdpCall } from '@bctrl/cdp-client';
import { AGENT_PATHS, type AgentHealth } from '@bctrl/contracts';
import type { BrowserExit, BrowserHandle, BrowserSpec } from './browser-driver';
import { LocalProcessDriver } from './local-process.driver';
import { defaultWorkRoot, findInstallationProcesses, isAlive } from './local-processes';

jest.setTimeout(60_000);

const repoRoot = resolve(__dirname, '../../../..');
const installationId = `driver-spec-${randomBytes(4).toString('hex')}`;
const drivers: LocalProcessDriver[] = [];
const exits: BrowserExit[] = [];

function newDriver(extra: Partial<ConstructorParameters<typeof LocalProcessDriver>[0]> = {}): LocalProcessDriver {
  const driver = new LocalProcessDriver({ installationId, repoRoot, ...extra });
  driver.onExit((exit) => exits.push(exit));
  drivers.push(driver);
  return driver;
}

function spec(runtimeId: string): BrowserSpec {
  return { runtimeId, spaceId: 'sp_1', accountId: 'acc_1', timeoutSeconds: 60, config: {} };
}

function health(handle: BrowserHandle): Promise<{ status: number; body: AgentHealth }> {
  return new Promise((done, fail) => {
    request(
      `${handle.agentUrl}${AGENT_PATHS.health}`,
      { headers: { authorization: `Bearer ${handle.agentToken}` } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => done({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()) }));
      },
    )
      .on('error', fail)
      .end();
  });
}

async function browserVersion(cdpUrl: string): Promise<string> {
  return (await cdpCall<{ product: string }>(cdpUrl, 'Browser.getVersion')).product;
}

async function eventually(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

function processesOf(ref: string): number {
  return findInstallationProcesses(installationId).filter((p) => p.pid === Number(ref) || p.kind === 'chromium').length;
}

/**
 * A browser launched by a driver in a process of its own, which is then killed without warning (kill -9 of `npm
 * start`): its agent and Chromium keep running with no driver. Resolves with the browser's ref.
 */
async function launchInKilledProcess(runtimeId: string): Promise<string> {
  const crashed = spawn(
    process.execPath,
    [
      '-r',
      '@swc-node/register',
      '-e',
      `new (require(${JSON.stringify(join(__dirname, 'local-process.driver.ts'))}).LocalProcessDriver)({
        installationId: ${JSON.stringify(installationId)}, repoRoot: ${JSON.stringify(repoRoot)}, standby: false,
      }).launch({ runtimeId: ${JSON.stringify(runtimeId)}, spaceId: 'sp_1', accountId: 'acc_1', timeoutSeconds: 60, config: {} })
        .then((handle) => console.log('REF ' + handle.ref));`,
    ],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const ref = await new Promise<string>((resolve, reject) => {
    let out = '';
    crashed.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const found = /REF (\d+)/.exec(out);
      if (found) resolve(found[1] as string);
    });
    crashed.once('exit', (code) => reject(new Error(`the first driver's process exited with ${code}: ${out}`)));
  });
  const gone = new Promise((resolve) => crashed.once('exit', resolve));
  crashed.kill('SIGKILL');
  await gone;
  return ref;
}

afterAll(async () => {
  await Promise.all(drivers.map((driver) => driver.close()));
  // Whatever a failed test left behind, the suite must not: assert nothing of this installation remains.
  await eventually(() => findInstallationProcesses(installationId).length === 0).catch(() => undefined);
  expect(findInstallationProcesses(installationId)).toEqual([]);
  const workRoot = defaultWorkRoot(installationId);
  expect(existsSync(workRoot) ? readdirSync(workRoot) : []).toEqual([]);
});

describe('LocalProcessDriver', () => {
  it('launches a ready browser, lists it, and destroys it idempotently with one `stopped` exit', async () => {
    const driver = newDriver();
    const started = performance.now();
    const handle = await driver.launch({ ...spec('rt_launch'), config: { viewport: { width: 900, height: 600 } } });
    const launchMs = performance.now() - started;
    expect(launchMs).toBeLessThan(10_000);
    expect(handle).toMatchObject({ runtimeId: 'rt_launch', driver: 'local-process' });
    expect(handle.agentToken.length).toBeGreaterThanOrEqual(32);
    const { status, body } = await health(handle);
    expect(status).toBe(200);
    expect(body).toMatchObject({ status: 'ready', runtimeId: 'rt_launch' });
    expect(body.browser?.cdpUrl).toBe(handle.cdpUrl);
    expect(await browserVersion(handle.cdpUrl)).toMatch(/Chrome\/\d+/);
    expect(await driver.list()).toEqual([{ runtimeId: 'rt_launch', ref: handle.ref }]);

    await Promise.all([driver.destroy(handle.ref), driver.destroy(handle.ref)]);
    await driver.destroy(handle.ref);
    expect(exits.filter((exit) => exit.ref === handle.ref)).toEqual([
      expect.objectContaining({ runtimeId: 'rt_launch', reason: 'stopped' }),
    ]);
    expect(isAlive(body.browser?.pid ?? 0)).toBe(false);
    expect(processesOf(handle.ref)).toBe(0);
    expect(await driver.list()).toEqual([]);
  });

  it('reports `crashed` when Chromium is killed', async () => {
    const driver = newDriver();
    const handle = await driver.launch(spec('rt_crash'));
    const { body } = await health(handle);
    process.kill(body.browser?.pid ?? 0, 'SIGKILL');
    await eventually(() => exits.some((exit) => exit.ref === handle.ref));
    expect(exits.filter((exit) => exit.ref === handle.ref)).toEqual([
      { runtimeId: 'rt_crash', ref: handle.ref, reason: 'crashed', detail: expect.stringContaining('Chromium exited') },
    ]);
    await driver.destroy(handle.ref);
    expect(processesOf(handle.ref)).toBe(0);
  });

  it('reports `crashed` and removes the orphaned Chromium when the agent itself is killed', async () => {
    const driver = newDriver();
    const handle = await driver.launch(spec('rt_agent_killed'));
    const { body } = await health(handle);
    process.kill(Number(handle.ref), 'SIGKILL');
    await eventually(() => exits.some((exit) => exit.ref === handle.ref));
    expect(exits.filter((exit) => exit.ref === handle.ref)).toEqual([
      expect.objectContaining({
        runtimeId: 'rt_agent_killed',
        reason: 'crashed',
        detail: expect.stringContaining('SIGKILL'),
      }),
    ]);
    await eventually(() => !isAlive(body.browser?.pid ?? 0));
    expect(findInstallationProcesses(installationId)).toEqual([]);
  });

  it('binds a pooled browser to exactly one runtime', async () => {
    const driver = newDriver();
    const pooled = await driver.launchPooled();
    expect(pooled.runtimeId).toBe('');
    expect(await driver.list()).toEqual([{ runtimeId: '', ref: pooled.ref }]);
    const adopted = await driver.adopt(pooled, spec('rt_pooled'));
    expect(adopted).toEqual({ ...pooled, runtimeId: 'rt_pooled' });
    expect((await health(adopted)).body.runtimeId).toBe('rt_pooled');
    await expect(driver.adopt(pooled, spec('rt_other'))).rejects.toThrow(/refused/);
    expect(await driver.list()).toEqual([{ runtimeId: 'rt_pooled', ref: pooled.ref }]);
    await driver.destroy(adopted.ref);
    expect(exits.filter((exit) => exit.ref === pooled.ref)).toEqual([
      expect.objectContaining({ runtimeId: 'rt_pooled', reason: 'stopped' }),
    ]);
  });

  it('lets a new driver instance (an orchestrator restart) find and destroy browsers an earlier one started', async () => {
    const before = newDriver();
    const pooled = await before.launchPooled();
    await before.adopt(pooled, spec('rt_restart'));
    const cdpUrl = pooled.cdpUrl;

    const after = newDriver();
    expect(await after.list()).toEqual([{ runtimeId: 'rt_restart', ref: pooled.ref }]);
    const exitsBefore = exits.length;
    await after.destroy(pooled.ref);
    await after.destroy(pooled.ref);
    expect(isAlive(Number(pooled.ref))).toBe(false);
    await expect(browserVersion(cdpUrl)).rejects.toThrow();
    expect(processesOf(pooled.ref)).toBe(0);
    expect(await after.list()).toEqual([]);
    // The new instance reports the stop it asked for; the old one (gone in a real restart) sees its child end.
    await eventually(() => exits.length >= exitsBefore + 2);
    expect(exits.slice(exitsBefore)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ ref: pooled.ref, runtimeId: 'rt_restart', reason: 'stopped' }),
      ]),
    );
  });

  it('kills everything when a launch is aborted or times out', async () => {
    const driver = newDriver();
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('stop before ready')), 150);
    await expect(driver.launch(spec('rt_abort'), controller.signal)).rejects.toThrow(/aborted/);
    expect(findInstallationProcesses(installationId)).toEqual([]);

    const impatient = newDriver({ launchTimeoutMs: 100 });
    await expect(impatient.launch(spec('rt_timeout'))).rejects.toThrow(/ready within 100 ms/);
    expect(findInstallationProcesses(installationId)).toEqual([]);
    await expect(driver.launch(spec('rt_pre_aborted'), AbortSignal.abort())).rejects.toThrow();
    expect(exits.filter((exit) => exit.runtimeId.startsWith('rt_') && /abort|timeout/.test(exit.runtimeId))).toEqual(
      [],
    );
  });

  it('rejects at once when the agent command cannot be started', async () => {
    const broken = newDriver({ agentCommand: { command: '/nonexistent/node', args: [] } });
    const started = Date.now();
    await expect(broken.launch(spec('rt_broken'))).rejects.toThrow(/ENOENT/);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('close() leaves the browsers of another driver that still runs (a second orchestrator on this machine)', async () => {
    const owner = newDriver();
    const handle = await owner.launch(spec('rt_owned_elsewhere'));
    const other = newDriver();
    expect(await other.list()).toEqual([{ runtimeId: 'rt_owned_elsewhere', ref: handle.ref }]);
    await other.close();
    expect(isAlive(Number(handle.ref))).toBe(true);
    expect((await health(handle)).status).toBe(200);
    await owner.destroy(handle.ref);
  });

  it('close() destroys the browsers it took over from a driver whose process was killed', async () => {
    const ref = await launchInKilledProcess('rt_adopted');
    expect(isAlive(Number(ref))).toBe(true);

    const after = newDriver({ standby: false });
    expect(await after.list()).toEqual([{ runtimeId: 'rt_adopted', ref }]);
    await after.close();
    expect(isAlive(Number(ref))).toBe(false);
    expect(findInstallationProcesses(installationId)).toEqual([]);
  });

  it('removes a Chromium whose agent died while no driver ran, with its work dir, when it next lists', async () => {
    const ref = await launchInKilledProcess('rt_stray');
    const browser = findInstallationProcesses(installationId).find(
      (proc) => proc.kind === 'chromium' && proc.argv.includes('--bctrl-runtime=rt_stray'),
    );
    expect(browser).toBeDefined();
    process.kill(Number(ref), 'SIGKILL');
    await eventually(() => !isAlive(Number(ref)));
    expect(isAlive(browser?.pid as number)).toBe(true);

    expect(await newDriver({ standby: false }).list()).toEqual([]);
    expect(isAlive(browser?.pid as number)).toBe(false);
    expect(findInstallationProcesses(installationId)).toEqual([]);
  });

  it('close() destroys every browser it started', async () => {
    const driver = newDriver();
    const handle = await driver.launch(spec('rt_close'));
    await driver.close();
    expect(isAlive(Number(handle.ref))).toBe(false);
    expect(findInstallationProcesses(installationId)).toEqual([]);
    await expect(driver.launch(spec('rt_closed'))).rejects.toThrow(/closed/);
  });
});
