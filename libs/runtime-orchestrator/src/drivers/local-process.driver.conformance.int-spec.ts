import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { describeBrowserDriverConformance } from '../testing/browser-driver.conformance';
import { LocalProcessDriver } from './local-process.driver';
import { findInstallationProcesses } from './local-processes';

jest.setTimeout(60_000);

/** The local-process driver with real agents and Debian's Chromium; a crash is its agent killed with SIGKILL. */
describe('LocalProcessDriver conformance (real agents and Chromium)', () => {
  describeBrowserDriverConformance(() => {
    const installationId = `conformance-${randomBytes(4).toString('hex')}`;
    const driver = new LocalProcessDriver({ installationId, repoRoot: resolve(__dirname, '../../../..') });
    return {
      driver,
      crash: (ref) => void process.kill(Number(ref), 'SIGKILL'),
      // Agents only: each holds one browser (a standby agent holds none and is not counted).
      running: async () => (await driver.list()).length,
      close: () => {
        const left = findInstallationProcesses(installationId);
        for (const proc of left) process.kill(proc.pid, 'SIGKILL');
        expect(left).toEqual([]);
      },
    };
  });
});
