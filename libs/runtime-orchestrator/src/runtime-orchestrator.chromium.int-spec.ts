import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { RuntimesV1 } from '@bctrl/contracts';
import { LocalProcessDriver } from './drivers/local-process.driver';
import { findInstallationProcesses } from './drivers/local-processes';
import {
  freshDatabase,
  newTenant,
  type Orchestrator,
  startOrchestrator,
  waitFor,
} from './testing/orchestrator-harness';

jest.setTimeout(60_000);

const repoRoot = resolve(__dirname, '../../..');
const installationId = `chromium-spec-${randomBytes(4).toString('hex')}`;
const scratch = mkdtempSync(join(tmpdir(), 'bctrl-chromium-spec-'));
const running: Orchestrator<LocalProcessDriver>[] = [];

afterAll(async () => {
  for (const orchestrator of running) await orchestrator.close();
  rmSync(scratch, { recursive: true, force: true });
  expect(findInstallationProcesses(installationId)).toEqual([]);
});

/**
 * A runtime on the real local-process driver, agent and all, whose browser is the given CHROME_PATH (the setting
 * the driver hands the agent); resolves with the runtime once it has failed.
 */
async function failedRuntime(chromePath: string) {
  const orchestrator = await startOrchestrator({
    databaseUrl: await freshDatabase(),
    driver: new LocalProcessDriver({ installationId, repoRoot, chromePath, standby: false }),
  });
  running.push(orchestrator);
  const tenant = await newTenant(orchestrator);
  const created = await orchestrator.call(
    RuntimesV1.create,
    { spaceId: tenant.spaceId, config: { type: 'browser', timeoutSeconds: 300 }, wait: true },
    tenant.key,
  );
  return waitFor(
    `${created.id} to fail`,
    async () => {
      const runtime = await orchestrator.call(RuntimesV1.get, { runtimeId: created.id }, tenant.key);
      return runtime.status === 'failed' ? runtime : undefined;
    },
    30_000,
  );
}

describe('a runtime whose Chromium cannot start says why in its failure', () => {
  it('names the path and the package to install when the executable is missing', async () => {
    const missing = join(scratch, 'no-such-chromium');
    const runtime = await failedRuntime(missing);
    expect(runtime.failure).toBe(
      `The browser could not be started: Chromium not found at ${missing} (install it: apt-get install chromium)`,
    );
  });

  it('names the exit code and the last lines Chromium wrote to stderr when it exits', async () => {
    const script = join(scratch, 'broken-chromium');
    writeFileSync(
      script,
      '#!/bin/sh\necho "starting up" >&2\necho "error while loading shared libraries: libnss3.so" >&2\nexit 3\n',
    );
    chmodSync(script, 0o755);
    const runtime = await failedRuntime(script);
    expect(runtime.failure).toBe(
      'The browser could not be started: Chromium exited with code 3: starting up\n' +
        'error while loading shared libraries: libnss3.so',
    );
  });
});
