import { Client } from 'pg';
import request from 'supertest';
import { chromiumOf } from './browsers';

export interface CrashablePlatform {
  url: string;
  adminKey: string;
  databaseUrl: string;
  /** Kills the process that runs the orchestrator without warning, runs `whileDown`, and starts it again. */
  crashAndRestart(whileDown: () => Promise<void>): Promise<void>;
}

/**
 * The orchestrator dies (SIGKILL) with three ready runtimes. While it is down one runtime's browser dies too,
 * and another runtime's row ends while its browser keeps running. Within 30 s of the restart the first must
 * be failed/crashed, the second's browser gone, and the third untouched with the very same browser.
 */
export async function expectReconcileAfterCrash(p: CrashablePlatform): Promise<void> {
  const auth = { Authorization: `Bearer ${p.adminKey}` };
  const spaceId = (await request(p.url).post('/v1/spaces').set(auth).send({ name: 'reconcile' })).body.id as string;
  const create = () =>
    request(p.url).post(`/v1/spaces/${spaceId}/runtimes?wait=true`).set(auth).send({ type: 'browser' });
  const [lost, orphaned, survivor] = (await Promise.all([create(), create(), create()])).map(
    (res) => res.body.id as string,
  ) as [string, string, string];
  const survivorBrowser = chromiumOf(survivor);
  expect([chromiumOf(lost), chromiumOf(orphaned), survivorBrowser].every(Boolean)).toBe(true);

  await p.crashAndRestart(async () => {
    process.kill(chromiumOf(lost)?.pid as number, 'SIGKILL');
    const db = new Client({ connectionString: p.databaseUrl });
    await db.connect();
    await db.query(
      `UPDATE runtime_orchestrator.runtimes SET status = 'stopped', stop_reason = 'requested' WHERE id = $1`,
      [orphaned],
    );
    await db.end();
  });

  const deadline = Date.now() + 30_000;
  let lostRuntime: { status: string; stopReason: string | null } | undefined;
  while (Date.now() < deadline) {
    lostRuntime = (await request(p.url).get(`/v1/runtimes/${lost}`).set(auth)).body;
    if (lostRuntime?.status === 'failed' && !chromiumOf(orphaned)) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  expect(lostRuntime).toMatchObject({ status: 'failed', stopReason: 'crashed' });
  expect(chromiumOf(orphaned)).toBeUndefined();
  expect((await request(p.url).get(`/v1/runtimes/${survivor}`).set(auth)).body.status).toBe('ready');
  expect(chromiumOf(survivor)?.pid).toBe(survivorBrowser?.pid);
  await request(p.url).post(`/v1/runtimes/${survivor}/stop`).set(auth);
  expect(chromiumOf(survivor)).toBeUndefined();
}
