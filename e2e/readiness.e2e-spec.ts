import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { generateApiKey } from '@bctrl/core';
import { type LocalPlatform, startLocal } from '@bctrl/local';
import { createTestDatabase, freePort, waitFor } from '@bctrl/testing';

const REPO_ROOT = join(__dirname, '..');

/** A readiness probe's answer: its status, or 0 while nothing listens. */
async function readyzStatus(url: string): Promise<number> {
  try {
    return (await fetch(`${url}/readyz`)).status;
  } catch {
    return 0;
  }
}

jest.setTimeout(180_000);

describe('local mode readiness', () => {
  it('answers /readyz only once its bootstrap key authenticates', async () => {
    const databaseUrl = await createTestDatabase(process.env.BCTRL_TEST_DATABASE_URL as string, 'readiness');
    const dataDir = mkdtempSync(join(tmpdir(), 'bctrl-readiness-'));
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const key = generateApiKey();
    // Holding the spaces service's bootstrap lock keeps the root account (and so the key) from being created: the
    // window a loaded machine opens by chance, held open here for as long as the test needs.
    const holder = new Client({ connectionString: databaseUrl });
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query(`SELECT pg_advisory_xact_lock(hashtext('bctrl.spaces.bootstrap'))`);
    let platform: LocalPlatform | undefined;
    const starting = startLocal({
      env: {
        DATABASE_URL: databaseUrl,
        BCTRL_DATA_DIR: dataDir,
        BCTRL_PORT: String(port),
        BCTRL_BOOTSTRAP_API_KEY: key,
        LOG_LEVEL: 'error',
      },
      workspaceRoot: REPO_ROOT,
    }).then((started) => (platform = started));
    try {
      // The start has migrated and is waiting for the lock: the bootstrap is under way.
      await waitFor(
        'the start to wait for the bootstrap lock',
        async () => {
          const waiting = await holder.query(
            `SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND pid <> pg_backend_pid()`,
          );
          return waiting.rowCount === 1 ? true : undefined;
        },
        60_000,
      );
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(await readyzStatus(url)).not.toBe(200);

      await holder.query('COMMIT');
      await waitFor(
        '/readyz to answer 200',
        async () => ((await readyzStatus(url)) === 200 ? true : undefined),
        60_000,
      );
      const spaces = await fetch(`${url}/v1/spaces`, { headers: { authorization: `Bearer ${key}` } });
      expect(spaces.status).toBe(200);
      await starting;
    } finally {
      await holder.end();
      await starting.catch(() => undefined);
      await platform?.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
