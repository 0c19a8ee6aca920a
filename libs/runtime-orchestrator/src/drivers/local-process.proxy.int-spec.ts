import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { CdpSession } from '@bctrl/cdp-client';
import { type ForwardProxy, startForwardProxy } from '@bctrl/testing';
import type { BrowserSpec } from './browser-driver';
import { LocalProcessDriver } from './local-process.driver';
import { findInstallationProcesses } from './local-processes';

jest.setTimeout(60_000);

const repoRoot = resolve(__dirname, '../../../..');
const installationId = `proxy-driver-spec-${randomBytes(4).toString('hex')}`;
const USER = 'driver-user';
const PASSWORD = `driver-pw-${randomBytes(6).toString('hex')}`;

describe('local-process driver: a runtime with an authenticated proxy', () => {
  let site: Server;
  let sitePort: number;
  let proxy: ForwardProxy;
  const drivers: LocalProcessDriver[] = [];

  beforeAll(async () => {
    site = createServer((_req, res) => res.end('<title>proxied page</title>'));
    await new Promise<void>((done) => site.listen(0, '127.0.0.1', done));
    sitePort = (site.address() as AddressInfo).port;
    proxy = await startForwardProxy({ credentials: { username: USER, password: PASSWORD } });
  });

  afterAll(async () => {
    await Promise.all(drivers.map((driver) => driver.close()));
    await proxy.close();
    await new Promise((done) => site.close(done));
  });

  const spec = (runtimeId: string): BrowserSpec => ({
    runtimeId,
    spaceId: 'sp_1',
    accountId: 'acc_1',
    timeoutSeconds: 60,
    config: { recording: false, proxy: { server: proxy.url, bypass: ['<-loopback>'] } },
    proxyCredentials: { username: USER, password: PASSWORD },
  });

  it.each([
    ['a standby agent (the launch line on its stdin)', true],
    ['an agent spawned for the launch (no standby)', false],
  ])('hands the credentials to %s, never on a command line or in an environment', async (_how, standby) => {
    const driver = new LocalProcessDriver({ installationId, repoRoot, standby });
    drivers.push(driver);
    // Let the standby boot, so that the launch really takes it.
    if (standby) await new Promise((done) => setTimeout(done, 1_500));
    const runtimeId = `rt_proxy_${standby ? 'standby' : 'cold'}`;
    const handle = await driver.launch(spec(runtimeId));
    try {
      const cdp = await CdpSession.connect(handle.cdpUrl);
      const { targetId } = await cdp.send<{ targetId: string }>('Target.createTarget', { url: 'about:blank' });
      const { sessionId } = await cdp.send<{ sessionId: string }>('Target.attachToTarget', { targetId, flatten: true });
      const url = `http://127.0.0.1:${sitePort}/${runtimeId}`;
      const nav = await cdp.send<{ errorText?: string }>('Page.navigate', { url }, { sessionId });
      cdp.close();
      expect(nav.errorText).toBeUndefined();
      expect(proxy.carried().filter((r) => r.target === url)).toEqual([
        { method: 'GET', target: url, username: USER, password: PASSWORD, carried: true },
      ]);
      const processes = findInstallationProcesses(installationId).filter(
        (p) => p.pid === Number(handle.ref) || p.kind === 'chromium',
      );
      expect(processes.some((p) => p.kind === 'chromium')).toBe(true);
      for (const { pid } of processes) {
        for (const file of ['cmdline', 'environ']) {
          expect(readFileSync(`/proc/${pid}/${file}`, 'utf8')).not.toContain(PASSWORD);
        }
      }
    } finally {
      await driver.destroy(handle.ref);
    }
  });
});
