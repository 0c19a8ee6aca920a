import { SpanKind } from '@opentelemetry/api';
import request from 'supertest';
import WebSocket from 'ws';
import { freePort } from '@bctrl/testing';
import { expectReconcileAfterCrash } from './reconcile';
import { defineApiSuite } from './api.suite';
import { healthMethod } from '@bctrl/contracts';
import { DISTRIBUTED_APPS, startDistributedPlatform } from './platform';
import { defineRuntimeSuite } from './runtimes.suite';
import { defineConnectionSuite } from './connections.suite';

describe('public API in distributed mode (each app its own process on NATS, Redis and Postgres)', () => {
  const platform = defineApiSuite(startDistributedPlatform);
  defineRuntimeSuite(platform);
  defineConnectionSuite(platform);

  it('serves /v1/cdp on cdp-proxy directly (as an ingress routes it), and a revoke closes sockets on every replica within 1 s', async () => {
    const p = platform();
    const auth = { Authorization: `Bearer ${p.adminKey}` };
    const replicaPort = await freePort();
    await p.startReplica?.('cdp-proxy', { BCTRL_CDP_PROXY_PORT: String(replicaPort) });
    const spaceId = (await request(p.url).post('/v1/spaces').set(auth).send({ name: 'replicas' })).body.id;
    const rt = await request(p.url)
      .post(`/v1/spaces/${spaceId}/runtimes?wait=true`)
      .set(auth)
      .send({ type: 'browser' });
    try {
      const conn = (await request(p.url).post(`/v1/runtimes/${rt.body.id}/connections`).set(auth).send({})).body;
      const path = new URL(conn.wsUrl).pathname;
      const direct = new URL(p.cdpProxyUrl as string);
      const version = (await fetch(`http://${direct.host}${path}/json/version`).then((r) => r.json())) as {
        webSocketDebuggerUrl: string;
      };
      expect(version.webSocketDebuggerUrl).toBe(`ws://${direct.host}${path}`);
      const sockets = await Promise.all(
        [conn.wsUrl, `ws://${direct.host}${path}`, `ws://127.0.0.1:${replicaPort}${path}`].map(
          (url) =>
            new Promise<WebSocket>((resolve, reject) => {
              const socket = new WebSocket(url, { perMessageDeflate: false });
              socket.once('open', () => resolve(socket)).once('error', reject);
            }),
        ),
      );
      const closes = sockets.map(
        (socket) =>
          new Promise<{ code: number; at: number }>((resolve) =>
            socket.once('close', (code) => resolve({ code, at: Date.now() })),
          ),
      );
      const revokedAt = Date.now();
      expect((await request(p.url).delete(`/v1/connections/${conn.id}`).set(auth)).status).toBe(200);
      for (const close of await Promise.all(closes)) {
        expect(close.code).toBe(4001);
        expect(close.at - revokedAt).toBeLessThan(1_000);
      }
    } finally {
      await request(p.url).post(`/v1/runtimes/${rt.body.id}/stop`).set(auth);
    }
  });

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
