// The local platform a bench drives through its public API: in this process, as the e2e runs it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateApiKey } from '@bctrl/core';
import { type LocalPlatform, removeFallbackDir, startLocal } from '@bctrl/local';

export interface BenchPlatform {
  platform: LocalPlatform;
  adminKey: string;
  /** One JSON request with the admin key; resolves with the answer's body. */
  api(method: string, path: string, body?: object): Promise<Record<string, unknown>>;
  /** Closes the platform and removes its data dir. */
  close(): Promise<void>;
}

/** No warm pool (each bench says what it starts), quiet logs, no rate limit to get in a measurement's way. */
export async function startBenchPlatform(name: string): Promise<BenchPlatform> {
  const dataDir = mkdtempSync(join(tmpdir(), `bctrl-bench-${name}-`));
  const adminKey = generateApiKey();
  const platform = await startLocal({
    env: {
      ...process.env,
      BCTRL_DATA_DIR: dataDir,
      BCTRL_PORT: '0',
      BCTRL_BOOTSTRAP_API_KEY: adminKey,
      BCTRL_WARM_POOL_SIZE: '0',
      BCTRL_RATE_LIMIT_PER_SECOND: '100000',
      LOG_LEVEL: 'error',
    },
  }).catch((error: unknown) => {
    rmSync(dataDir, { recursive: true, force: true });
    removeFallbackDir(dataDir);
    throw error;
  });
  return {
    platform,
    adminKey,
    api: async (method, path, body) => {
      const res = await fetch(`${platform.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
        body: body ? JSON.stringify(body) : undefined,
      });
      return (await res.json()) as Record<string, unknown>;
    },
    close: async () => {
      await platform.close();
      rmSync(dataDir, { recursive: true, force: true });
      // As root, a temp data dir's database lives outside it (libs/local/src/embedded-postgres.ts): it goes too.
      removeFallbackDir(dataDir);
    },
  };
}
