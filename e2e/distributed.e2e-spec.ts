import { SpanKind } from '@opentelemetry/api';
import request from 'supertest';
import WebSocket from 'ws';
import { healthMethod, runSubject, runsV1 } from '@bctrl/contracts';
import { freePort } from '@bctrl/testing';
import { defineAiConnectionsSuite } from './ai-connections.suite';
import { defineApiSuite } from './api.suite';
import { defineConnectionSuite } from './connections.suite';
import { defineFilesSuite } from './files.suite';
import { defineLiveViewSuite } from './live-view.suite';
import { adminAccountId, DISTRIBUTED_APPS, startDistributedPlatform } from './platform';
import { defineProxiesSuite } from './proxies.suite';
import { expectReconcileAfterCrash } from './reconcile';
import { defineRunSuite } from './runs.suite';
import { defineRuntimeSuite } from './runtimes.suite';
import { defineSecretsSuite } from './secrets.suite';
import { defineStorageSuite } from './storage.suite';
import { defineWebDriverSuite } from './webdriver.suite';

describe('public API in distributed mode (each app its own process on NATS, Redis and Postgres)', () => {
  const platform = defineApiSuite(startDistributedPlatform);
  defineRuntimeSuite(platform);
  defineConnectionSuite(platform);
  defineWebDriverSuite(platform);
  defineRunSuite(platform);
  defineStorageSuite(platform);
  defineLiveViewSuite(platform);
  defineFilesSuite(platform);
  defineSecretsSuite(platform);
  defineProxiesSuite(platform);
  defineAiConnectionsSuite(platform);

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

  it('stores every event exactly once and in order when runs-recorder is killed mid-workload and restarted', async () => {
    const p = platform();
    const auth = { Authorization: `Bearer ${p.adminKey}` };
    const space = (await request(p.url).post('/v1/spaces').set(auth).send({ name: 'durability' })).body;
    const rt = await request(p.url)
      .post(`/v1/spaces/${space.id}/runtimes?wait=true`)
      .set(auth)
      .send({ type: 'browser' });
    const runId = rt.body.activeRunId as string;
    const accountId = await adminAccountId(p);
    const total = 3_000;
    const publish = async (from: number, to: number) => {
      for (let n = from; n < to; n += 100) {
        await Promise.all(
          Array.from({ length: Math.min(100, to - n) }, (_, k) =>
            p.transport.publish(
              runSubject(runId, 'events'),
              runsV1.RunEventSchema,
              {
                runId,
                runtimeId: rt.body.id,
                spaceId: space.id,
                accountId,
                type: 'test.tick',
                at: new Date().toISOString(),
                dataJson: JSON.stringify({ n: n + k }),
                eventId: `tick-${runId}-${n + k}`,
              },
              { principal: { kind: 'operator' } },
            ),
          ),
        );
      }
    };
    // Half before the crash (some stored, some in flight when the recorder dies), half while it is down.
    await publish(0, total / 2);
    await p.crashAndRestart?.('runs-recorder', () => publish(total / 2, total));
    const deadline = Date.now() + 60_000;
    let ticks: Array<{ seq: number; data: { n: number } }> = [];
    while (Date.now() < deadline) {
      const all: Array<{ seq: number; type: string; data: { n: number } }> = [];
      let after = 0;
      for (;;) {
        const page = await request(p.url).get(`/v1/runs/${runId}/events?after=${after}&limit=1000`).set(auth);
        all.push(...page.body.data);
        if (!page.body.nextCursor) break;
        after = Number(page.body.nextCursor);
      }
      expect(all.map((e) => e.seq)).toEqual(all.map((_, i) => i + 1));
      ticks = all.filter((e) => e.type === 'test.tick');
      if (ticks.length >= total) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    // Exactly once: no tick lost, none twice; in the order they were published within each half.
    expect(ticks.map((e) => e.data.n).sort((a, b) => a - b)).toEqual(Array.from({ length: total }, (_, i) => i));
    const firstHalf = ticks.map((e) => e.data.n).filter((n) => n < total / 2);
    expect(firstHalf).toEqual([...firstHalf].sort((a, b) => a - b));
    await request(p.url).post(`/v1/runtimes/${rt.body.id}/stop`).set(auth);
  }, 120_000);

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
