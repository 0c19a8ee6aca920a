import type { ChildProcess } from 'node:child_process';
import { createTestDatabase, freePort } from '@bctrl/testing';
import { spawnApp, waitForHttp } from './platform';

/** Runs a built app with the given environment until it exits, collecting what it printed. */
function runToExit(app: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawnApp(app, env);
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

const natsUrl = () => process.env['BCTRL_TEST_NATS_URL'] as string;
const redisUrl = () => process.env['BCTRL_TEST_REDIS_URL'] as string;

/** Variables of other services' that no app may need: none of them is ever set for the apps below. */
const OTHERS = ['DATABASE_URL', 'REDIS_URL', 'S3_BUCKET', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY'];

describe('distributed apps refuse to boot on bad configuration', () => {
  it('lists every bad or missing variable of its own at once, and never prints a secret', async () => {
    const { code, output } = await runToExit('gateway', {
      BCTRL_PORT: 'eighty',
      DATABASE_URL: 'postgres://bctrl:hunter2-secret@db.internal:5432/bctrl',
      S3_SECRET_ACCESS_KEY: 'aws-secret-value',
      LOG_LEVEL: 'loud',
    });
    expect(code).not.toBe(0);
    for (const name of ['BCTRL_PORT', 'NATS_URL', 'REDIS_URL', 'LOG_LEVEL']) expect(output).toContain(name);
    // The gateway reads no database and no object store settings, so it names none of them.
    for (const name of ['DATABASE_URL', 'S3_BUCKET']) expect(output).not.toContain(name);
    expect(output).not.toContain('hunter2-secret');
    expect(output).not.toContain('aws-secret-value');
  });

  it.each([
    ['spaces', { NATS_URL: 'nats://127.0.0.1:1' }, 'DATABASE_URL'],
    ['runs-recorder', { NATS_URL: 'nats://127.0.0.1:1' }, 'DATABASE_URL'],
    ['cdp-proxy', { NATS_URL: 'nats://127.0.0.1:1' }, 'REDIS_URL'],
  ])('fails %s naming the one variable of its own that is missing, and no other service’s', async (app, env, own) => {
    const { code, output } = await runToExit(app, env);
    expect(code).not.toBe(0);
    expect(output).toContain(own);
    for (const name of OTHERS.filter((n) => n !== own)) expect(output).not.toContain(name);
  });
});

describe('distributed apps boot with only their own variables', () => {
  const children: ChildProcess[] = [];

  afterAll(() => {
    for (const child of children) child.kill('SIGKILL');
  });

  /** Starts an app with exactly `env` (plus PATH and HOME) and waits for its health endpoint. */
  async function boots(app: string, env: NodeJS.ProcessEnv, healthUrl: string): Promise<string> {
    const child = spawnApp(app, env);
    children.push(child);
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await waitForHttp(healthUrl, child, () => output, 60_000);
    return output;
  }

  it('a gateway with NATS and Redis only (no database, no object store)', async () => {
    const port = await freePort();
    await boots(
      'gateway',
      { NATS_URL: natsUrl(), REDIS_URL: redisUrl(), BCTRL_PORT: String(port), BCTRL_HOST: '127.0.0.1' },
      `http://127.0.0.1:${port}/healthz`,
    );
  });

  it('a cdp-proxy with NATS and Redis only', async () => {
    const health = await freePort();
    await boots(
      'cdp-proxy',
      {
        NATS_URL: natsUrl(),
        REDIS_URL: redisUrl(),
        BCTRL_HEALTH_PORT: String(health),
        BCTRL_CDP_PROXY_PORT: String(await freePort()),
        BCTRL_HOST: '127.0.0.1',
      },
      `http://127.0.0.1:${health}/healthz`,
    );
  });

  it('a runs-recorder with NATS and its database only (no Redis, no object store)', async () => {
    const health = await freePort();
    const databaseUrl = await createTestDatabase(process.env['BCTRL_TEST_DATABASE_URL'] as string, 'boot');
    await boots(
      'runs-recorder',
      { NATS_URL: natsUrl(), DATABASE_URL: databaseUrl, BCTRL_HEALTH_PORT: String(health), BCTRL_HOST: '127.0.0.1' },
      `http://127.0.0.1:${health}/readyz`,
    );
  });
});
