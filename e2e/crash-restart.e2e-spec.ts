import type { ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import request from 'supertest';
import WebSocket from 'ws';
import { generateApiKey } from '@bctrl/core';
import { isAlive } from '@bctrl/runtime-orchestrator';
import { freePort, sleep, waitFor } from '@bctrl/testing';
import { agentsOf, chromiumOf, chromiumsOf, processesOfInstallation, testInstallationId } from './browsers';
import { type Started, startNpmStart } from './npm-start';
import { removeLocalDataDir } from './platform';

/**
 * `npm start` killed with SIGKILL (the node process alone: its children are told nothing) while runtimes and a
 * connection are live, then started again on the same data dir: it must come up, take over or stop what the dead
 * process left (its Postgres, its browsers), close the connection for good with a reason, and a Ctrl-C after that
 * must leave nothing of the install running.
 */
jest.setTimeout(300_000);

const dataDir = mkdtempSync(join(tmpdir(), 'bctrl-crash-'));
// Like a project folder: readable by the postgres user, so the embedded cluster lives inside the data dir.
chmodSync(dataDir, 0o755);
const clusterDir = join(dataDir, 'postgres');
const adminKey = generateApiKey();
const installationId = testInstallationId('crash');
const auth = { Authorization: `Bearer ${adminKey}` };
const started: ChildProcess[] = [];
const clients: { close(): unknown }[] = [];

async function start(port: number): Promise<Started> {
  const running = await startNpmStart(
    dataDir,
    {
      BCTRL_PORT: String(port),
      BCTRL_BOOTSTRAP_API_KEY: adminKey,
      BCTRL_INSTALLATION_ID: installationId,
      LOG_LEVEL: 'error',
    },
    { detached: true },
  );
  started.push(running.child);
  return running;
}

function exitOf(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/** Postgres servers (postmasters) running on this data dir's cluster. */
function postmastersOfDataDir(): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .flatMap((pid) => {
      try {
        const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        return argv[0]?.endsWith('/postgres') && argv[argv.indexOf('-D') + 1] === clusterDir ? [Number(pid)] : [];
      } catch {
        return [];
      }
    });
}

const postmasterPid = () => Number(readFileSync(join(clusterDir, 'postmaster.pid'), 'utf8').split('\n')[0]);

afterAll(async () => {
  for (const client of clients) {
    try {
      client.close();
    } catch {
      // Already closed by the crash.
    }
  }
  // Whatever a failed test left: every platform's group (its Postgres with it), every browser of the install.
  for (const child of started) {
    try {
      process.kill(-(child.pid as number), 'SIGKILL');
    } catch {
      // Gone.
    }
  }
  for (const pid of postmastersOfDataDir()) process.kill(pid, 'SIGKILL');
  for (const proc of processesOfInstallation(installationId)) {
    try {
      process.kill(proc.pid, 'SIGKILL');
    } catch {
      // Gone.
    }
  }
  await sleep(500);
  removeLocalDataDir(dataDir);
  rmSync(join(tmpdir(), 'bctrl-browsers', installationId), { recursive: true, force: true });
});

describe('local mode after kill -9 of npm start', () => {
  it('starts again, takes over or stops what the dead process left, and a Ctrl-C then leaves nothing', async () => {
    const port = await freePort();
    const first = await start(port);
    const http = () => request(first.url);
    const space = await http().post('/v1/spaces').set(auth).send({ name: 'crash' });
    expect(space.status).toBe(201);
    const create = () =>
      http()
        .post(`/v1/spaces/${space.body.id}/runtimes?wait=true`)
        .set(auth)
        .send({ type: 'browser', timeoutSeconds: 600 });
    const runtimes = (await Promise.all([create(), create()])).map((res) => {
      expect(res.body.status).toBe('ready');
      return res.body as { id: string; activeRunId: string };
    });
    const [connected] = runtimes as [{ id: string; activeRunId: string }];
    const connection = await http().post(`/v1/runtimes/${connected.id}/connections`).send({}).set(auth);
    expect(connection.status).toBe(201);
    const { id: connectionId, wsUrl } = connection.body as { id: string; wsUrl: string };

    // A raw CDP socket and a Playwright client, both open at the moment of the crash.
    const socket = new WebSocket(wsUrl);
    clients.push(socket);
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    const browser: Browser = await chromium.connectOverCDP(wsUrl);
    clients.push(browser);
    expect(browser.contexts().length).toBeGreaterThan(0);
    const events = async (runId: string, url: string) =>
      ((await request(url).get(`/v1/runs/${runId}/events?after=0&limit=1000`).set(auth)).body.data ?? []) as {
        type: string;
        data: Record<string, unknown>;
      }[];
    await waitFor('both sockets recorded as opened', async () => {
      const opened = (await events(connected.activeRunId, first.url)).filter((e) => e.type === 'connection.opened');
      return opened.length >= 2 ? true : undefined;
    });
    const browsersBefore = runtimes.map((runtime) => chromiumOf(runtime.id)?.pid);
    expect(browsersBefore.every(Boolean)).toBe(true);
    const oldPostmaster = postmasterPid();

    // The crash: SIGKILL to the node process only. Postgres, the agents and their Chromiums are not told.
    process.kill(first.child.pid as number, 'SIGKILL');
    await exitOf(first.child);
    expect(isAlive(oldPostmaster)).toBe(true);

    const second = await start(port);
    const restartedAt = Date.now();
    // The old server was stopped, not merely outlived: exactly one postmaster serves the cluster, the new one.
    expect(isAlive(oldPostmaster)).toBe(false);
    expect(postmastersOfDataDir()).toEqual([postmasterPid()]);

    // Within 30 s every runtime is settled, and every browser left running belongs to a ready runtime.
    type RuntimeView = { id: string; status: string; stopReason: string | null };
    const settled = await waitFor(
      'runtimes adopted or ended, and no browser without a ready runtime',
      async () => {
        const views = await Promise.all(
          runtimes.map(async (runtime) => (await request(second.url).get(`/v1/runtimes/${runtime.id}`).set(auth)).body),
        );
        const ready = new Set(views.filter((view: RuntimeView) => view.status === 'ready').map((view) => view.id));
        const settledAll = views.every(
          (view: RuntimeView) =>
            view.status === 'ready' || (['failed', 'stopped'].includes(view.status) && view.stopReason),
        );
        const strayBrowsers = chromiumsOf(installationId).filter(
          (proc) => !runtimes.some((runtime) => ready.has(runtime.id) && chromiumOf(runtime.id)?.pid === proc.pid),
        );
        const strayAgents = agentsOf(installationId).filter((agent) => !ready.has(agent.runtimeId));
        return settledAll && strayBrowsers.length === 0 && strayAgents.length === 0
          ? (views as RuntimeView[])
          : undefined;
      },
      30_000 - (Date.now() - restartedAt),
      250,
    );
    for (const view of settled) {
      if (view.status === 'ready')
        expect(chromiumOf(view.id)?.pid).toBe(browsersBefore[runtimes.findIndex((r) => r.id === view.id)]);
    }

    // The connection open at the crash reads closed, with the reason; both its sockets got their connection.closed.
    const record = await request(second.url).get(`/v1/connections/${connectionId}`).set(auth);
    expect(record.status).toBe(200);
    expect(record.body).toMatchObject({ status: 'closed', endReason: 'platform_restarted' });
    const closed = await waitFor('connection.closed for both sockets', async () => {
      const found = (await events(connected.activeRunId, second.url)).filter(
        (e) => e.type === 'connection.closed' && e.data['connectionId'] === connectionId,
      );
      return found.length >= 2 ? found : undefined;
    });
    const opened = (await events(connected.activeRunId, second.url)).filter(
      (e) => e.type === 'connection.opened' && e.data['connectionId'] === connectionId,
    );
    // One close per socket that was open, each naming its socket.
    expect(closed.map((e) => e.data['socketId']).sort()).toEqual(opened.map((e) => e.data['socketId']).sort());
    for (const event of closed) {
      expect(event.data).toMatchObject({ closedBy: 'platform', reason: 'platform_restarted' });
    }
    // Its token opens nothing any more.
    const refused = new WebSocket(wsUrl);
    clients.push(refused);
    await expect(
      new Promise((resolve, reject) => refused.once('open', () => reject(new Error('opened'))).once('error', resolve)),
    ).resolves.toBeDefined();

    // Ctrl-C: the restarted platform stops everything, the browsers it adopted included, and exits 0.
    const exited = exitOf(second.child);
    process.kill(second.child.pid as number, 'SIGINT');
    const code = await exited;
    if (code !== 0) process.stderr.write(second.output());
    expect(code).toBe(0);
    const leftovers = await waitFor(
      'nothing of the install to remain',
      () => {
        const left = [...postmastersOfDataDir(), ...processesOfInstallation(installationId).map((p) => p.pid)];
        return left.length === 0 ? left : undefined;
      },
      5_000,
    ).catch(() => [
      ...postmastersOfDataDir().map((pid) => `postgres ${pid}`),
      ...processesOfInstallation(installationId).map((p) => `${p.pid}: ${p.argv.join(' ')}`),
    ]);
    expect(leftovers).toEqual([]);
  });
});
