import { SpanKind } from '@opentelemetry/api';
import request from 'supertest';
import { expectReconcileAfterCrash } from './reconcile';
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
    await expectReconcileAfterCrash({
      url: p.url,
      adminKey: p.adminKey,
      databaseUrl: p.databaseUrl as string,
      crashAndRestart: (whileDown) => p.crashAndRestart?.('runtime-orchestrator', whileDown) as Promise<void>,
    });
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
