import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import request from 'supertest';
import { generateApiKey } from '@bctrl/core';
import { fallbackDirOf } from '@bctrl/local';
import {
  type OtlpReceiver,
  type ScriptedModelServer,
  startForwardProxy,
  startOtlpReceiver,
  startScriptedModelServer,
} from '@bctrl/testing';
import { interrupt, type Started, startNpmStart } from './npm-start';
import { removeLocalDataDir } from './platform';

jest.setTimeout(300_000);

/** Every file under `dir` (the data dir: the object store, the database's own files, the lease journal). */
function filesUnder(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  return entries.flatMap((name) => {
    const path = join(dir, name);
    const stat = statSync(path, { throwIfNoEntry: false });
    if (!stat) return [];
    return stat.isDirectory() ? filesUnder(path) : stat.isFile() ? [path] : [];
  });
}

/**
 * A secret's value, once stored, appears nowhere the platform writes: not in a log line (at debug), an API answer
 * (headers included), a span, a run event or command record, the object store or any file of the data dir (the
 * database's own files among them: the vault keeps ciphertext only). The platform runs as `npm start` does, and is
 * made to fail in the ways a secret's use can fail.
 */
describe('the vault canary (npm start, every output searched)', () => {
  const canary = `canary-${randomBytes(16).toString('hex')}`;
  // Rotation's new value: the old one must not resurface either.
  const rotated = `canary-${randomBytes(16).toString('hex')}`;
  const adminKey = generateApiKey();
  const auth = { Authorization: `Bearer ${adminKey}` };
  let dataDir: string;
  let platform: Started;
  let receiver: OtlpReceiver;
  let models: ScriptedModelServer;
  /** Every answer the platform gave, as text. */
  const answers: string[] = [];

  async function call(method: 'get' | 'post' | 'put' | 'patch' | 'delete', path: string, body?: unknown) {
    const res = await request(platform.url)
      [method](path)
      .set(auth)
      .send(body as object);
    answers.push(`${method.toUpperCase()} ${path} → ${res.status} ${JSON.stringify(res.headers)} ${res.text}`);
    return res;
  }

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'bctrl-canary-'));
    // Readable by the postgres user: the database lives in the data dir, where this test searches it.
    chmodSync(dataDir, 0o755);
    receiver = await startOtlpReceiver();
    // The provider accepts the rotated value only: the first value meets its 401.
    models = await startScriptedModelServer({ apiKey: rotated });
    platform = await startNpmStart(dataDir, {
      BCTRL_BOOTSTRAP_API_KEY: adminKey,
      LOG_LEVEL: 'debug',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_BSP_SCHEDULE_DELAY: '100',
    });
  });

  afterAll(async () => {
    if (platform) await interrupt(platform);
    await models?.stop();
    await receiver?.stop();
    if (dataDir) removeLocalDataDir(dataDir);
  });

  it('is found nowhere after its uses and every failure they can meet', async () => {
    const spaceId = (await call('post', '/v1/spaces', { name: 'canary' })).body.id as string;
    const created = await call('post', `/v1/spaces/${spaceId}/secrets`, { name: 'key', value: canary });
    expect(created.status).toBe(201);
    const secretId = created.body.id as string;

    // Refusals that carry the value in their request.
    expect((await call('post', `/v1/spaces/${spaceId}/secrets`, { name: 'key', value: canary })).status).toBe(409);
    expect((await call('post', `/v1/spaces/${spaceId}/secrets`, { name: '', value: canary })).status).toBe(400);
    expect((await call('put', '/v1/secrets/sec_doesnotexist0000000000/value', { value: canary })).status).toBe(404);
    expect((await call('post', `/v1/spaces/${spaceId}/secrets`, { name: 'k2', value: canary, extra: 1 })).status).toBe(
      400,
    );

    // A provider refuses it (401), then an unreachable provider.
    for (const provider of ['openai', 'anthropic']) {
      const conn = await call('post', `/v1/spaces/${spaceId}/ai-connections`, {
        name: `refused-${provider}`,
        provider,
        model: 'canary-model',
        baseUrl: models.baseUrl,
        apiKeySecretId: secretId,
      });
      expect(conn.status).toBe(201);
      expect((await call('post', `/v1/ai-connections/${conn.body.id}/test`)).status).toBe(422);
    }
    const unreachable = await call('post', `/v1/spaces/${spaceId}/ai-connections`, {
      name: 'unreachable',
      provider: 'openai-compatible',
      model: 'canary-model',
      baseUrl: 'http://127.0.0.1:9/v1',
      apiKeySecretId: secretId,
    });
    expect((await call('post', `/v1/ai-connections/${unreachable.body.id}/test`)).status).toBe(422);

    // Rotated: the provider now accepts it, and a rate limit is met too.
    expect((await call('put', `/v1/secrets/${secretId}/value`, { value: rotated })).body.version).toBe(2);
    const accepted = await call('post', `/v1/spaces/${spaceId}/ai-connections`, {
      name: 'accepted',
      provider: 'anthropic',
      model: 'canary-model',
      baseUrl: models.baseUrl,
      apiKeySecretId: secretId,
    });
    expect((await call('post', `/v1/ai-connections/${accepted.body.id}/test`)).status).toBe(200);
    models.script({ kind: 'rate_limited' });
    expect((await call('post', `/v1/ai-connections/${accepted.body.id}/test`)).status).toBe(422);
    // Deleting the secret in use is refused, naming its users.
    expect((await call('delete', `/v1/secrets/${secretId}`)).status).toBe(409);

    // As a proxy's password: a proxy that refuses it (407 after the credentials: a navigation error and a
    // proxy.auth_failed event), then one that takes it, each driven by Playwright through a connection.
    const site = createServer((_req, res) => res.end('<title>canary site</title>'));
    await new Promise<void>((done) => site.listen(0, '127.0.0.1', done));
    const siteUrl = `http://127.0.0.1:${(site.address() as AddressInfo).port}/`;
    const refusing = await startForwardProxy({ credentials: { username: 'canary', password: canary } });
    const taking = await startForwardProxy({ credentials: { username: 'canary', password: rotated } });
    try {
      for (const [name, proxy, loads] of [
        ['refusing', refusing, false],
        ['taking', taking, true],
      ] as const) {
        const created = await call('post', `/v1/spaces/${spaceId}/proxies`, {
          name,
          server: proxy.url,
          username: 'canary',
          passwordSecretId: secretId,
          bypass: ['<-loopback>'],
        });
        expect(created.status).toBe(201);
        const proxied = await call('post', `/v1/spaces/${spaceId}/runtimes?wait=true`, { proxyId: created.body.id });
        expect(proxied.body.status).toBe('ready');
        const connection = await call('post', `/v1/runtimes/${proxied.body.id}/connections`, { type: 'cdp' });
        const browser = await chromium.connectOverCDP(connection.body.wsUrl as string);
        try {
          const context = browser.contexts()[0] ?? (await browser.newContext());
          const page = await context.newPage();
          const outcome = await page.goto(siteUrl).then(
            () => 'loaded',
            (error: Error) => error.message,
          );
          expect(outcome).toEqual(loads ? 'loaded' : expect.stringContaining('ERR_INVALID_AUTH_CREDENTIALS'));
        } finally {
          await browser.close();
        }
        expect(proxy.carried().length > 0).toBe(loads);
        await call('post', `/v1/runtimes/${proxied.body.id}/stop`);
        await call('get', `/v1/runs/${proxied.body.activeRunId}/events?limit=100`);
        await call('get', `/v1/runs/${proxied.body.activeRunId}/commands?limit=100`);
      }
      await call('get', `/v1/spaces/${spaceId}/proxies`);
    } finally {
      await refusing.close();
      await taking.close();
      await new Promise((done) => site.close(done));
    }

    // A runtime's run, for its events and command records.
    const runtime = await call('post', `/v1/spaces/${spaceId}/runtimes?wait=true`, {});
    expect(runtime.body.status).toBe('ready');
    const runId = runtime.body.activeRunId as string;
    await call('post', `/v1/runtimes/${runtime.body.id}/stop`);
    await call('get', `/v1/runs/${runId}/events?limit=100`);
    await call('get', `/v1/runs/${runId}/commands?limit=100`);
    await call('get', `/v1/spaces/${spaceId}/runs`);
    await call('get', `/v1/spaces/${spaceId}/secrets`);
    await call('get', `/v1/spaces/${spaceId}/ai-connections`);

    // Stopped, so that everything is flushed: logs, spans, the database's files.
    expect(await interrupt(platform)).toBe(0);
    const where: string[] = [];
    const search = (what: string, text: string) => {
      for (const value of [canary, rotated]) if (text.includes(value)) where.push(what);
    };
    search('the log', platform.output());
    answers.forEach((answer) => search(`an answer: ${answer.slice(0, 80)}`, answer));
    search('the spans', JSON.stringify(receiver.spans()));
    for (const file of [...filesUnder(dataDir), ...filesUnder(fallbackDirOf(dataDir))]) {
      const bytes = readFileSync(file);
      for (const value of [canary, rotated]) if (bytes.includes(Buffer.from(value))) where.push(file);
    }
    expect(where).toEqual([]);
    // The search could find it: the debug log is there, and the provider did receive the value.
    expect(platform.output().length).toBeGreaterThan(1000);
    expect(models.requests.some((r) => r.authorized)).toBe(true);
  });
});
