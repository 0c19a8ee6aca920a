import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { DescMessage, MessageInitShape, MessageShape } from '@bufbuild/protobuf';
import { type RpcMethod, SpacesV1 } from '@bctrl/contracts';
import { generateApiKey, hashApiKey } from '@bctrl/core';
import { removeFallbackDir, startLocal } from '@bctrl/local';
import { WARM_POOL, type WarmPool } from '@bctrl/runtime-orchestrator';
import { createObjectStore, type ObjectStore, S3ObjectStore } from '@bctrl/storage';
import { createTestDatabase, freePort, OtlpReceiver, startOtlpReceiver, startS3 } from '@bctrl/testing';
import { NatsTransport, TRANSPORT, Transport } from '@bctrl/transport';
import { newVaultKey } from '@bctrl/vault';
import { testInstallationId } from './browsers';

export const REPO_ROOT = resolve(__dirname, '..');

/** A running BCTRL, however it was started; the API suite only sees this. */
export interface Platform {
  mode: 'local' | 'distributed';
  url: string;
  /** Distributed mode: cdp-proxy's own `/v1/cdp/*` endpoint, as an ingress would reach it. */
  cdpProxyUrl?: string;
  adminKey: string;
  /** Calls a service as the platform operator (creating accounts is not a tenant's API). */
  operator<Req extends DescMessage, Res extends DescMessage>(
    method: RpcMethod<Req, Res>,
    request: MessageInitShape<Req>,
  ): Promise<MessageShape<Res>>;
  otlp?: OtlpReceiver;
  /** The platform's own transport (in-process) or a NATS connection to it: for reading run streams. */
  transport: Transport;
  /** Marks the browsers this platform's driver starts (their work dirs live under bctrl-browsers/<id>/). */
  installationId: string;
  /** Browsers waiting in the warm pool, where the platform runs in this process. */
  pooledBrowsers?: () => number;
  /** Distributed mode: kill one app's process without warning (SIGKILL) and start it again. */
  crashAndRestart?: (app: (typeof DISTRIBUTED_APPS)[number], whileDown?: () => Promise<void>) => Promise<void>;
  /** Distributed mode: one more replica of an app (same settings, own ports plus `env`); stopped with the platform. */
  startReplica?: (app: (typeof DISTRIBUTED_APPS)[number], env?: NodeJS.ProcessEnv) => Promise<void>;
  /** Artifact content answers with a 302 to a presigned URL (S3 store with BCTRL_ARTIFACT_CONTENT_REDIRECT). */
  artifactContentRedirect?: boolean;
  /** Distributed mode: the process id of a running app (the first, when it has replicas). */
  pidOf?: (app: (typeof DISTRIBUTED_APPS)[number]) => number | undefined;
  /** Distributed mode: the platform's database, for tests that must reach under the API. */
  databaseUrl?: string;
  /** The platform's object store (its fs root or its S3 bucket), for tests that look under the API. */
  objectStore: ObjectStore;
  /** Local mode: its BCTRL_DATA_DIR, a temporary folder that stop() removes (removeLocalDataDir). */
  dataDir?: string;
  stop(): Promise<void>;
}

/**
 * Removes a local platform's data dir once its Postgres is stopped, with the database that lived outside it: as
 * root, a 0700 temporary dir is out of the postgres user's reach, so the cluster went to /var/lib/bctrl
 * (embedded-postgres.ts) and would outlive the test there, a few dozen MiB each time.
 */
export function removeLocalDataDir(dataDir: string): void {
  rmSync(dataDir, { recursive: true, force: true });
  removeFallbackDir(dataDir);
}

/** The account the platform's admin key belongs to (operator calls that act for a tenant name it). */
export async function adminAccountId(platform: Platform): Promise<string> {
  const known = await platform.operator(SpacesV1.authenticate, { keyHash: hashApiKey(platform.adminKey) });
  return known.principal?.accountId as string;
}

function operatorVia(transport: Transport): Platform['operator'] {
  return (method, request) => transport.request(method, request, { principal: { kind: 'operator' } });
}

/** Local mode in this process: the same startLocal that `npm start` runs, on its own embedded Postgres. */
export async function startLocalPlatform(env: NodeJS.ProcessEnv = {}): Promise<Platform> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bctrl-e2e-local-'));
  const adminKey = generateApiKey();
  const installationId = testInstallationId('local');
  const platform = await startLocal({
    env: {
      BCTRL_DATA_DIR: dataDir,
      BCTRL_PORT: '0',
      BCTRL_BOOTSTRAP_API_KEY: adminKey,
      LOG_LEVEL: 'error',
      // High enough that the suite's bursts never meet it, low enough that the limiter runs on every request.
      BCTRL_RATE_LIMIT_PER_SECOND: '100000',
      BCTRL_INSTALLATION_ID: installationId,
      // Small enough that the storage suite's 413 cases stay quick.
      BCTRL_STORAGE_MAX_OBJECT_BYTES: '32mib',
      ...env,
    },
    workspaceRoot: REPO_ROOT,
  });
  return {
    mode: 'local',
    url: platform.url,
    objectStore: createObjectStore(platform.config),
    adminKey,
    operator: operatorVia(platform.app.get<Transport>(TRANSPORT)),
    transport: platform.app.get<Transport>(TRANSPORT),
    installationId,
    pooledBrowsers: () => platform.app.get<WarmPool>(WARM_POOL).available,
    dataDir,
    stop: async () => {
      await platform.close();
      removeLocalDataDir(dataDir);
    },
  };
}

export const DISTRIBUTED_APPS = [
  'spaces',
  'gateway',
  'runtime-orchestrator',
  'cdp-proxy',
  'invocation-worker',
  'runs-recorder',
  'storage',
] as const;
// browser-runtime is not among them: it is the per-runtime agent the orchestrator's driver starts.

export interface AppProcess {
  name: string;
  child: ChildProcess;
  healthUrl: string;
  output(): string;
  env: NodeJS.ProcessEnv;
}

/** Runs a built app (`node dist/apps/<name>/main.js`) as its own process, as a Deployment would. */
export function spawnApp(name: string, env: NodeJS.ProcessEnv): ChildProcess {
  return spawn(process.execPath, [join(REPO_ROOT, 'dist/apps', name, 'main.js')], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export async function waitForHttp(
  url: string,
  child: ChildProcess,
  output: () => string,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // What it said last: a readiness answer names the dependency it waits for, which is what a timeout must report.
  let last = 'not listening';
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${url}: process exited with ${child.exitCode}:\n${output()}`);
    try {
      const response = await fetch(url);
      if (response.status === 200) return;
      last = `${response.status} ${(await response.text()).slice(0, 500)}`;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} not ready within ${timeoutMs} ms (last answer: ${last}):\n${output()}`);
}

export function createDatabase(serverUrl: string): Promise<string> {
  return createTestDatabase(serverUrl, 'e2e');
}

/**
 * Distributed mode: every app a separate process on the real NATS, Redis and Postgres the test run
 * started, exporting traces over OTLP to a receiver in the test.
 */
export async function startDistributedPlatform(env: NodeJS.ProcessEnv = {}): Promise<Platform> {
  const natsUrl = required('BCTRL_TEST_NATS_URL');
  const redisUrl = required('BCTRL_TEST_REDIS_URL');
  const databaseUrl = await createDatabase(required('BCTRL_TEST_DATABASE_URL'));
  const otlp = await startOtlpReceiver();
  const adminKey = generateApiKey();
  const gatewayPort = await freePort();
  const cdpProxyPort = await freePort();
  const storagePort = await freePort();
  // The storage service keeps bytes in a real S3-compatible store, as on a cluster.
  const s3 = await startS3();
  const installationId = testInstallationId('distributed');
  const common = {
    BCTRL_INSTALLATION_ID: installationId,
    NATS_URL: natsUrl,
    REDIS_URL: redisUrl,
    DATABASE_URL: databaseUrl,
    BCTRL_OBJECT_STORE: 'fs',
    BCTRL_HOST: '127.0.0.1',
    OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
    LOG_LEVEL: 'warn',
    BCTRL_RATE_LIMIT_PER_SECOND: '100000',
    BCTRL_STORAGE_MAX_OBJECT_BYTES: '32mib',
    // Export spans within a fraction of a second, so the trace test need not wait out the default 5 s batch.
    OTEL_BSP_SCHEDULE_DELAY: '100',
    ...env,
  };
  const apps: AppProcess[] = [];
  const stopAll = async () => {
    await Promise.all(
      apps.map(
        ({ child }) =>
          new Promise<void>((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done();
            const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
            child.once('exit', () => {
              clearTimeout(timer);
              done();
            });
            child.kill('SIGTERM');
          }),
      ),
    );
  };
  const launch = (name: string, env: NodeJS.ProcessEnv, port: number): AppProcess => {
    const child = spawnApp(name, env);
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (out += chunk.toString()));
    return { name, child, healthUrl: `http://127.0.0.1:${port}`, output: () => out, env };
  };
  try {
    for (const name of DISTRIBUTED_APPS) {
      const healthPort = await freePort();
      const env = {
        ...common,
        BCTRL_HEALTH_PORT: String(healthPort),
        ...(name === 'gateway'
          ? {
              BCTRL_PORT: String(gatewayPort),
              BCTRL_PUBLIC_URL: `http://127.0.0.1:${gatewayPort}`,
              BCTRL_CDP_PROXY_URL: `http://127.0.0.1:${cdpProxyPort}`,
              BCTRL_STORAGE_URL: `http://127.0.0.1:${storagePort}`,
              // Artifact content as a 302 to a presigned s3rver URL: the test can reach the store.
              BCTRL_ARTIFACT_CONTENT_REDIRECT: 'true',
            }
          : {}),
        ...(name === 'cdp-proxy' ? { BCTRL_CDP_PROXY_PORT: String(cdpProxyPort) } : {}),
        ...(name === 'storage' ? { ...s3.env, BCTRL_STORAGE_PORT: String(storagePort) } : {}),
        ...(name === 'spaces' ? { BCTRL_BOOTSTRAP_API_KEY: adminKey, BCTRL_VAULT_KEYS: newVaultKey('e2e') } : {}),
      };
      apps.push(launch(name, env, name === 'gateway' ? gatewayPort : healthPort));
    }
    // Starting them all first and waiting after lets their boots overlap.
    // 90 s each: a full CI run boots several platforms and browsers at once on two cores.
    for (const app of apps) {
      await waitForHttp(`${app.healthUrl}/readyz`, app.child, app.output, 90_000).catch((error: unknown) => {
        throw new Error(`${app.name}: ${error instanceof Error ? error.message : String(error)}`);
      });
    }
    const transport = await NatsTransport.connect({ servers: natsUrl, name: 'e2e-operator' });
    return {
      mode: 'distributed',
      url: `http://127.0.0.1:${gatewayPort}`,
      cdpProxyUrl: `http://127.0.0.1:${cdpProxyPort}`,
      artifactContentRedirect: true,
      adminKey,
      otlp,
      operator: operatorVia(transport),
      transport,
      installationId,
      databaseUrl,
      objectStore: new S3ObjectStore({
        bucket: s3.bucket,
        region: s3.region,
        endpoint: s3.url,
        forcePathStyle: true,
        accessKeyId: s3.accessKeyId,
        secretAccessKey: s3.secretAccessKey,
      }),
      pidOf: (name) => apps.find((app) => app.name === name)?.child.pid,
      startReplica: async (name, env = {}) => {
        const original = apps.find((app) => app.name === name);
        if (!original) throw new Error(`no app ${name}`);
        const healthPort = await freePort();
        const replica = launch(name, { ...original.env, BCTRL_HEALTH_PORT: String(healthPort), ...env }, healthPort);
        apps.push(replica);
        await waitForHttp(`${replica.healthUrl}/readyz`, replica.child, replica.output, 60_000);
      },
      crashAndRestart: async (name, whileDown) => {
        const index = apps.findIndex((app) => app.name === name);
        const old = apps[index];
        if (!old) throw new Error(`no app ${name}`);
        await new Promise<void>((done) => {
          old.child.once('exit', () => done());
          old.child.kill('SIGKILL');
        });
        await whileDown?.();
        const port = Number(new URL(old.healthUrl).port);
        const restarted = launch(name, old.env, port);
        apps[index] = restarted;
        await waitForHttp(`${restarted.healthUrl}/readyz`, restarted.child, restarted.output, 60_000);
      },
      stop: async () => {
        await transport.close();
        await stopAll();
        await otlp.stop();
        await s3.stop();
      },
    };
  } catch (error) {
    await stopAll();
    await otlp.stop();
    await s3.stop();
    throw error;
  }
}

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the e2e tier through jest's global setup`);
  return value;
}
