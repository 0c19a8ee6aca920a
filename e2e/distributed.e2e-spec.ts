import { SpanKind } from '@opentelemetry/api';
import { Client } from 'pg';
import request from 'supertest';
import { chromiumOf } from './browsers';
import { defineApiSuite } from './api.suite';
import { healthMethod } from '@bctrl/contracts';
import { DISTRIBUTED_APPS, startDistributedPlatform } from './platform';
import { defineRuntimeSuite } from './runtimes.suite';

describe('public API in distributed mode (each app its own process on NATS, Redis and Postgres)', () => {
  const platform = defineApiSuite(startDistributedPlatform);
  defineRuntimeSuite(platform);

  it('has every service joined to NATS, each answering its health subject as ready', async () => {
    const answers = await Promise.all(
      DISTRIBUTED_APPS.map((service) => platform().operator(healthMethod(service), {})),
    );
    expect(answers.map((a) => ({ service: a.service, ready: a.ready, transport: a.dependencies.transport }))).toEqual(
      DISTRIBUTED_APPS.map((service) => ({ service, ready: true, transport: true })),
    );
    expect(answers.find((a) => a.service === 'spaces')?.dependencies.postgres).toBe(true);
  });

  it('reconciles after an orchestrator crash: runtimes without a browser fail, browsers without a runtime go', async () => {
    const p = platform();
    const auth = { Authorization: `Bearer ${p.adminKey}` };
    const spaceId = (await request(p.url).post('/v1/spaces').set(auth).send({ name: 'reconcile' })).body.id as string;
    const create = () =>
      request(p.url).post(`/v1/spaces/${spaceId}/runtimes?wait=true`).set(auth).send({ type: 'browser' });
    const [lost, orphaned, survivor] = (await Promise.all([create(), create(), create()])).map(
      (res) => res.body.id as string,
    );
    const orphanBrowser = chromiumOf(orphaned as string);
    const survivorBrowser = chromiumOf(survivor as string);
    expect(orphanBrowser).toBeDefined();

    await p.crashAndRestart?.('runtime-orchestrator', async () => {
      // While the orchestrator is down: one runtime loses its browser, and another runtime's row ends while its
      // browser keeps running.
      process.kill(chromiumOf(lost as string)?.pid as number, 'SIGKILL');
      const db = new Client({ connectionString: p.databaseUrl });
      await db.connect();
      await db.query(
        `UPDATE runtime_orchestrator.runtimes SET status = 'stopped', stop_reason = 'requested' WHERE id = $1`,
        [orphaned],
      );
      await db.end();
    });

    const deadline = Date.now() + 30_000;
    let lostRuntime: { status: string; stopReason: string | null } | undefined;
    while (Date.now() < deadline) {
      lostRuntime = (await request(p.url).get(`/v1/runtimes/${lost}`).set(auth)).body;
      if (lostRuntime?.status === 'failed' && !chromiumOf(orphaned as string)) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(lostRuntime).toMatchObject({ status: 'failed', stopReason: 'crashed' });
    expect(chromiumOf(orphaned as string)).toBeUndefined();
    // The runtime whose browser survived the crash is still ready and keeps the very same browser.
    expect((await request(p.url).get(`/v1/runtimes/${survivor}`).set(auth)).body.status).toBe('ready');
    expect(chromiumOf(survivor as string)?.pid).toBe(survivorBrowser?.pid);
    await request(p.url).post(`/v1/runtimes/${survivor}/stop`).set(auth);
    expect(chromiumOf(survivor as string)).toBeUndefined();
  }, 90_000);

  it('traces one request across the gateway and the spaces service under the x-request-id', async () => {
    const { url, adminKey, otlp } = platform();
    if (!otlp) throw new Error('the distributed platform runs an OTLP receiver');
    const res = await request(url)
      .post('/v1/spaces')
      .set('Authorization', `Bearer ${adminKey}`)
      .send({ name: 'traced' });
    expect(res.status).toBe(201);
    const traceId = res.headers['x-request-id'] as string;
    const isOurs =
      (service: string, kind: SpanKind) => (span: { traceId: string; serviceName?: string; kind: number }) =>
        span.traceId === traceId && span.serviceName === service && span.kind === kind;
    const gatewayServer = await otlp.waitFor(isOurs('gateway', SpanKind.SERVER), 15_000);
    const gatewayClient = await otlp.waitFor(isOurs('gateway', SpanKind.CLIENT), 15_000);
    const spacesServer = await otlp.waitFor(isOurs('spaces', SpanKind.SERVER), 15_000);
    expect(gatewayServer.traceId).toBe(traceId);
    // The spaces service's span is a child of a gateway span: the context crossed NATS in the headers.
    const gatewaySpanIds = otlp
      .spans()
      .filter((s) => s.traceId === traceId && s.serviceName === 'gateway')
      .map((s) => s.spanId);
    expect(gatewaySpanIds).toContain(spacesServer.parentSpanId);
    expect(gatewayClient.name).toMatch(/^spaces\.v1\./);
  });
});
