import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from 'pg';
import { isAlive } from '@bctrl/runtime-orchestrator';
import { waitFor } from '@bctrl/testing';
import { type LocalPostgres, removeFallbackDir, startLocalPostgres } from './embedded-postgres';

jest.setTimeout(120_000);

const REPO_ROOT = resolve(__dirname, '../../..');
const dataDir = mkdtempSync(join(tmpdir(), 'bctrl-local-pg-'));
// Reachable by the postgres user when the tests run as root, so the cluster lives in the data dir itself.
chmodSync(dataDir, 0o755);
const clusterDir = join(dataDir, 'postgres');
const started: LocalPostgres[] = [];
const children: ChildProcess[] = [];

const postmasterPid = () => Number(readFileSync(join(clusterDir, 'postmaster.pid'), 'utf8').split('\n')[0]);

async function selectOne(url: string): Promise<number> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<{ one: number }>('select 1 as one')).rows[0]?.one ?? 0;
  } finally {
    await client.end();
  }
}

/** `node …` from the repo root (swc compiles the sources, as `npm start` does); resolves once it exits. */
function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  const child = spawn(process.execPath, ['-r', '@swc-node/register', ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  return { child, exited, stdout: () => stdout, stderr: () => stderr };
}

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const postgres of started) await postgres.stop().catch(() => undefined);
  // Whatever a failed test left running on this cluster goes with it.
  try {
    const pid = postmasterPid();
    if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  } catch {
    // No server left.
  }
  rmSync(dataDir, { recursive: true, force: true });
  removeFallbackDir(dataDir);
});

describe('local mode embedded Postgres', () => {
  it('starts again after the process that started it was SIGKILLed, stopping the server it left behind', async () => {
    // A start in its own process, killed without warning once its server is up: Postgres is told nothing.
    const first = run([
      '-e',
      `require(${JSON.stringify(join(__dirname, 'embedded-postgres.ts'))})
        .startLocalPostgres(${JSON.stringify(dataDir)}, () => undefined)
        .then((pg) => console.log('URL ' + pg.url), (error) => { console.error(error); process.exit(1); });`,
    ]);
    await waitFor(
      `the first start (${first.stderr()})`,
      () => (first.stdout().includes('URL ') ? true : undefined),
      60_000,
    );
    const orphan = postmasterPid();
    first.child.kill('SIGKILL');
    await first.exited;
    expect(isAlive(orphan)).toBe(true);

    const logs: string[] = [];
    const postgres = await startLocalPostgres(dataDir, (msg) => logs.push(msg));
    started.push(postgres);
    expect(await selectOne(postgres.url)).toBe(1);
    expect(isAlive(orphan)).toBe(false);
    expect(postmasterPid()).not.toBe(orphan);
    expect(logs.join('\n')).toContain(`pid ${orphan}`);
    await postgres.stop();
    started.pop();
  });

  it('removes a pid file whose pid now belongs to another program instead of refusing to start', async () => {
    // After a reboot the old postmaster's pid can be anyone's: Postgres alone would take it for a rival server.
    const other = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      writeFileSync(join(clusterDir, 'postmaster.pid'), `${other.pid}\n${clusterDir}\n`);
      const postgres = await startLocalPostgres(dataDir, () => undefined);
      started.push(postgres);
      expect(await selectOne(postgres.url)).toBe(1);
      expect(isAlive(other.pid as number)).toBe(true);
      await postgres.stop();
      started.pop();
    } finally {
      other.kill('SIGKILL');
    }
  });

  it('refuses a second start on a data dir whose platform still runs, leaving the first one alone', async () => {
    const running = await startLocalPostgres(dataDir, () => undefined);
    started.push(running);
    await expect(startLocalPostgres(dataDir, () => undefined)).rejects.toThrow(/in use by another running BCTRL/);
    expect(await selectOne(running.url)).toBe(1);
    await running.stop();
    started.pop();
  });

  it('a start that fails prints why, in Postgres’ own words, not `undefined`', async () => {
    appendFileSync(join(clusterDir, 'postgresql.conf'), '\nbctrl_no_such_setting = 1\n');
    const start = run([join(REPO_ROOT, 'apps/local/src/main.ts')], {
      BCTRL_DATA_DIR: dataDir,
      BCTRL_PORT: '0',
      LOG_LEVEL: 'error',
      BCTRL_INSTALLATION_ID: `local-pg-spec-${process.pid}`,
    });
    expect(await start.exited).toBe(1);
    expect(start.stderr()).toContain('BCTRL could not start: embedded Postgres');
    expect(start.stderr()).toContain('bctrl_no_such_setting');
    expect(start.stderr()).not.toMatch(/^undefined$/m);
  });
});
