import { join } from 'node:path';
import { SERVICES } from '@bctrl/contracts';
import { listServiceDatabases } from '@bctrl/db';
import { LOCAL_SERVICES } from './local';

const REPO_ROOT = join(__dirname, '../../..');

describe('local mode composition', () => {
  it('composes every service that runs as its own process, each once', () => {
    const names = LOCAL_SERVICES.map((service) => service.name);
    // browser-runtime is the agent beside each browser, started by the driver, not a service of the platform process.
    expect([...names].sort()).toEqual(SERVICES.filter((name) => name !== 'browser-runtime').sort());
  });

  it('migrates exactly the services whose definitions say they own tables, which are the ones with a schema', () => {
    const withSchema = listServiceDatabases(REPO_ROOT).map((database) => database.service);
    const owning = LOCAL_SERVICES.filter((service) => service.ownsTables).map((service) => service.name);
    expect([...owning].sort()).toEqual([...withSchema].sort());
  });
});
