/**
 * Events benchmark (issue 5): how many run events per second runs-recorder persists from a real JetStream into a
 * real Postgres, sustained, and the end-to-end lag (publish → row committed) meanwhile. Starts NATS, Redis and
 * Postgres on free ports, runs-recorder as its own process (the built app), and publishes from here at a fixed
 * rate across several runs.
 *
 *   node -r @swc-node/register bench/events.bench.ts [--rate N] [--lag-rate N] [--seconds S] [--runs R]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join, resolve } from 'node:path';
import { Client } from 'pg';
import { runSubject, runsV1 } from '@bctrl/contracts';
import { newId } from '@bctrl/core';
import { freePort, startNats, startPostgres, startRedis } from '@bctrl/testing';
import { NatsTransport } from '@bctrl/transport';
import { fmt, intArg, loadAverage, sleep, stats } from './stats';

const REPO_ROOT = resolve(__dirname, '..');
const TARGETS = { eventsPerSecond: 10_000, lagP99Ms: 1_000 };

async function startRecorder(env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const healthPort = await freePort();
  const child = spawn(process.execPath, [join(REPO_ROOT, 'dist/apps/runs-recorder/main.js')], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env, BCTRL_HEALTH_PORT: String(healthPort), LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`runs-recorder exited with ${child.exitCode}`);
    const ready = await fetch(`http://127.0.0.1:${healthPort}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return child;
    if (Date.now() > deadline) throw new Error('runs-recorder did not become ready within 60 s');
    await sleep(200);
  }
}

interface Run {
  runId: string;
  runtimeId: string;
  spaceId: string;
}

function tick(run: Run, i: number, eventId: string) {
  return {
    ...run,
    accountId: 'acct_bench',
    type: 'bench.tick',
    at: new Date().toISOString(),
    dataJson: JSON.stringify({ i }),
    eventId,
  };
}

async function storedTicks(db: Client): Promise<number> {
  const result = await db.query<{ n: string }>(
    "SELECT count(*) AS n FROM runs_recorder.run_events WHERE type = 'bench.tick'",
  );
  return Number(result.rows[0]?.n ?? 0);
}

/**
 * Two measurements, on one recorder:
 *   1. capacity: a backlog of `rate × seconds` events is published while the recorder is not running, then the
 *      recorder starts and the time to persist all of it gives the sustained events/s (the publisher, which shares
 *      the two cores, is then out of the way);
 *   2. lag: events published at a steady `lag-rate` for `seconds`, with probes timed from publish to committed row.
 */
async function main(): Promise<void> {
  const rate = intArg('rate', 10_000);
  // The publisher shares the two cores with NATS, the recorder and Postgres: past ~8,000/s it is the bottleneck.
  const lagRate = intArg('lag-rate', 5_000);
  const seconds = intArg('seconds', 10);
  const runCount = intArg('runs', 20);
  console.log(`events bench: ${rate} events/s for ${seconds} s over ${runCount} runs; load ${loadAverage()}`);
  const [postgres, nats, redis] = await Promise.all([startPostgres(), startNats(), startRedis()]);
  let recorder: ChildProcess | null = null;
  const transport = await NatsTransport.connect({ servers: nats.url, name: 'bench-events' });
  const db = new Client({ connectionString: postgres.url });
  const env = {
    NATS_URL: nats.url,
    DATABASE_URL: postgres.url,
    REDIS_URL: redis.url,
    BCTRL_WORKSPACE_ROOT: REPO_ROOT,
    BCTRL_HOST: '127.0.0.1',
    // The recorder stores no files; the platform's config still wants an object store named.
    BCTRL_OBJECT_STORE: 'fs',
  };
  try {
    // A first start creates the schema and the durable consumers; stopped again, they keep the backlog for it.
    recorder = await startRecorder(env);
    await stopRecorder(recorder);
    await db.connect();
    const runs: Run[] = Array.from({ length: runCount }, () => ({
      runId: newId('run'),
      runtimeId: newId('runtime'),
      spaceId: newId('space'),
    }));
    const publish = (i: number, eventId = randomUUID()) => {
      const run = runs[i % runs.length] as Run;
      return transport.publish(runSubject(run.runId, 'events'), runsV1.RunEventSchema, tick(run, i, eventId), {
        principal: { kind: 'operator' },
      });
    };

    // 1. capacity
    const backlog = rate * seconds;
    for (let i = 0; i < backlog; i += 1_000) {
      await Promise.all(Array.from({ length: Math.min(1_000, backlog - i) }, (_, k) => publish(i + k)));
    }
    const drainStarted = performance.now();
    recorder = await startRecorder(env);
    const deadline = Date.now() + 300_000;
    let stored = 0;
    while ((stored = await storedTicks(db)) < backlog && Date.now() < deadline) await sleep(50);
    const drainSeconds = (performance.now() - drainStarted) / 1000;
    const capacity = stored / drainSeconds;

    // 2. lag at a steady rate
    const publishedAt = new Map<string, number>();
    const lags: number[] = [];
    let probing = true;
    const prober = (async () => {
      while (probing || publishedAt.size > 0) {
        if (publishedAt.size > 0) {
          const found = await db.query<{ event_id: string }>(
            'SELECT event_id FROM runs_recorder.run_events WHERE event_id = ANY($1::text[])',
            [[...publishedAt.keys()]],
          );
          const now = performance.now();
          for (const { event_id: id } of found.rows) {
            lags.push(now - (publishedAt.get(id) as number));
            publishedAt.delete(id);
          }
        }
        await sleep(10);
      }
    })();
    const steady = lagRate * seconds;
    const probeEvery = Math.max(1, Math.floor(lagRate / 50));
    const started = performance.now();
    let sent = 0;
    let inFlight = 0;
    while (sent < steady) {
      const due = Math.min(steady, Math.floor(((performance.now() - started) / 1000) * lagRate));
      for (; sent < due; sent++) {
        const eventId = randomUUID();
        if (sent % probeEvery === 0) publishedAt.set(eventId, performance.now());
        inFlight += 1;
        void publish(backlog + sent, eventId).finally(() => (inFlight -= 1));
      }
      await sleep(2);
    }
    while (inFlight > 0) await sleep(5);
    const sendSeconds = (performance.now() - started) / 1000;
    while ((await storedTicks(db)) < backlog + steady && Date.now() < deadline) await sleep(50);
    probing = false;
    await prober;

    const gaps = await db.query<{ n: string }>(
      `SELECT count(*) AS n FROM runs_recorder.runs r
       WHERE r.event_seq <> (SELECT count(*) FROM runs_recorder.run_events e WHERE e.run_id = r.id)`,
    );
    const lag = stats(lags);
    console.log(`\nload average ${loadAverage()}`);
    console.log(
      `capacity: a backlog of ${backlog} events persisted in ${fmt(drainSeconds, 2)} s (recorder start included) = ${fmt(capacity, 0)} events/s`,
    );
    console.log(
      `steady:   ${steady} events published in ${fmt(sendSeconds, 2)} s (${fmt(steady / sendSeconds, 0)}/s asked ${lagRate}/s)`,
    );
    console.log(
      `lag publish → committed (${lag.n} probes, ms): p50 ${fmt(lag.p50)}  p95 ${fmt(lag.p95)}  p99 ${fmt(lag.p99)}  max ${fmt(lag.max)}`,
    );
    console.log(`runs whose event_seq differs from their row count (must be 0): ${gaps.rows[0]?.n}`);
    const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');
    console.log('\ntargets (issue 5):');
    console.log(
      `  persisted ≥ ${TARGETS.eventsPerSecond}/s${`${fmt(capacity, 0)}/s`.padStart(14)}  ${verdict(capacity >= TARGETS.eventsPerSecond && stored >= backlog)}`,
    );
    console.log(
      `  lag p99 < ${TARGETS.lagP99Ms} ms at ${fmt(steady / sendSeconds, 0)}/s${`${fmt(lag.p99)} ms`.padStart(12)}  ${verdict(lag.p99 < TARGETS.lagP99Ms)}`,
    );
  } finally {
    await db.end().catch(() => undefined);
    await transport.close();
    if (recorder) await stopRecorder(recorder);
    await Promise.all([postgres.stop(), nats.stop(), redis.stop()]);
  }
}

async function stopRecorder(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(10_000)]);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
