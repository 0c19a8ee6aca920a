import { existsSync } from 'node:fs';
import { fallbackDirOf } from '@bctrl/local';
import { startLocalPlatform } from './platform';

jest.setTimeout(120_000);

describe('a local platform in a temporary data dir', () => {
  it('leaves neither the data dir nor a fallback database under /var/lib/bctrl once the shared helper stops it', async () => {
    const platform = await startLocalPlatform();
    const dataDir = platform.dataDir as string;
    const fallback = fallbackDirOf(dataDir);
    // As root, mkdtemp's 0700 folder is out of the postgres user's reach: the database really went there.
    if (process.getuid?.() === 0) expect(existsSync(fallback)).toBe(true);
    await platform.stop();
    expect(existsSync(dataDir)).toBe(false);
    expect(existsSync(fallback)).toBe(false);
  });
});
