import { chmodSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { interrupt, START_ARGS, startNpmStart } from './npm-start';
import { createDatabase, removeLocalDataDir, REPO_ROOT } from './platform';
import { expectReconcileAfterCrash } from './reconcile';

/** Processes whose command line mentions the data dir: the embedded Postgres runs with `-D <dir>/postgres`. */
function processesUsing(dataDir: string): string[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .flatMap((pid) => {
      try {
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
        return cmdline.includes(dataDir) ? [`${pid}: ${cmdline}`] : [];
      } catch {
        return [];
      }
    });
}

describe('npm start (local mode as a user runs it)', () => {
  const dirs: string[] = [];
  const newDataDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'bctrl-start-'));
    // Like a project folder: readable by others, so the embedded Postgres keeps its cluster inside it.
    chmodSync(dir, 0o755);
    dirs.push(dir);
    return dir;
  };

  afterAll(() => {
    for (const dir of dirs) removeLocalDataDir(dir);
  });

  it('is what the package.json start script runs', () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts.start).toBe(`node ${START_ARGS.join(' ')}`);
  });

  it('prints a new admin key once, keeps data across restarts, and Ctrl-C leaves no process behind', async () => {
    const dataDir = newDataDir();
    const first = await startNpmStart(dataDir);
    const key = /Admin API key \(shown once, keep it\): (bctrl_[0-9A-Za-z]{40})/.exec(first.output())?.[1];
    expect(key).toBeDefined();
    const auth = { Authorization: `Bearer ${key}` };
    const created = await request(first.url).post('/v1/spaces').set(auth).send({ name: 'survives-restart' });
    expect(created.status).toBe(201);
    expect(processesUsing(dataDir).length).toBeGreaterThan(0);
    // The vault's key: made on the first start, in the data dir, for its owner only, and said once.
    const vaultKeyFile = join(dataDir, 'vault-keys');
    expect(first.output()).toContain(`created the vault key in ${vaultKeyFile}`);
    expect(statSync(vaultKeyFile).mode & 0o777).toBe(0o600);
    const vaultKey = readFileSync(vaultKeyFile, 'utf8');
    expect(first.output()).not.toContain(vaultKey.trim().split(':')[1]);

    expect(await interrupt(first)).toBe(0);
    expect(processesUsing(dataDir)).toEqual([]);

    const second = await startNpmStart(dataDir);
    expect(second.output()).not.toMatch(/Admin API key/);
    expect(second.output()).not.toContain(key);
    expect(second.output()).not.toContain('created the vault key');
    expect(readFileSync(vaultKeyFile, 'utf8')).toBe(vaultKey);
    const listed = await request(second.url).get('/v1/spaces').set(auth);
    expect(listed.body.data.map((s: { id: string }) => s.id)).toEqual([created.body.id]);
    expect(await interrupt(second)).toBe(0);
    expect(processesUsing(dataDir)).toEqual([]);
  }, 180_000);

  it('reconciles after being killed: runtimes without a browser fail, browsers without a runtime go', async () => {
    const dataDir = newDataDir();
    // Postgres from the test run, so that the database outlives the killed process as a real one would.
    const databaseUrl = await createDatabase(process.env.BCTRL_TEST_DATABASE_URL as string);
    const env = { BCTRL_BOOTSTRAP_API_KEY: 'bctrl_reconcile_key', DATABASE_URL: databaseUrl };
    let current = await startNpmStart(dataDir, env);
    try {
      await expectReconcileAfterCrash({
        url: current.url,
        adminKey: 'bctrl_reconcile_key',
        databaseUrl,
        crashAndRestart: async (whileDown) => {
          await new Promise<void>((done) => {
            current.child.once('exit', () => done());
            current.child.kill('SIGKILL');
          });
          await whileDown();
          current = await startNpmStart(dataDir, { ...env, BCTRL_PORT: new URL(current.url).port });
        },
      });
    } finally {
      expect(await interrupt(current)).toBe(0);
    }
  }, 120_000);

  it('takes the admin key from BCTRL_BOOTSTRAP_API_KEY and starts with no spaces', async () => {
    const started = await startNpmStart(newDataDir(), { BCTRL_BOOTSTRAP_API_KEY: 'bctrl_dev_key' });
    try {
      expect(started.output()).not.toContain('bctrl_dev_key');
      const res = await request(started.url).get('/v1/spaces').set('Authorization', 'Bearer bctrl_dev_key');
      expect(res.status).toBe(200);
      expect(res.text).toBe('{"data":[],"nextCursor":null}');
    } finally {
      expect(await interrupt(started)).toBe(0);
    }
  }, 120_000);
});
