import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import request from 'supertest';
import WebSocket from 'ws';
import { generateApiKey } from '@bctrl/core';
import { type MetricDefinition, metricOfPrometheusSeries, prometheusLabel, prometheusName } from '@bctrl/telemetry';
import { dashboardQueries, type QueriedSeries } from '@bctrl/telemetry/testing';
import { type OtlpReceiver, type ReceivedMetric, startOtlpReceiver, waitFor } from '@bctrl/testing';
import { testInstallationId } from './browsers';
import { interrupt, type Started, startNpmStart } from './npm-start';
import { REPO_ROOT } from './platform';
import { startTestSite, type TestSite } from './test-site';

jest.setTimeout(300_000);

/**
 * The invocations panel anticipates the invocation worker: no code runs invocations yet, so nothing can make
 * `bctrl.invocations` count. It is defined (libs/telemetry/src/metrics.ts) and left out here by name, until
 * invocations exist; then this line goes.
 */
const NOT_EMITTED_YET = new Set(['bctrl_invocations_total']);

/** The kind of data an OTLP metric must arrive as, for Prometheus to give it the name the dashboard uses. */
const OTLP_SHAPE: Record<MetricDefinition['kind'], { type: ReceivedMetric['type']; monotonic: boolean }> = {
  counter: { type: 'sum', monotonic: true },
  observableCounter: { type: 'sum', monotonic: true },
  histogram: { type: 'histogram', monotonic: false },
  observableGauge: { type: 'gauge', monotonic: false },
};

/**
 * Every metric the Grafana dashboard queries reaches an OTLP collector from a running platform. Local mode as `npm
 * start` runs it (its own process: telemetry starts once per process, from apps/local/src/instrumentation.ts),
 * exporting to a receiver in this test every 500 ms; the test drives a runtime (and so a run), a CDP connection with
 * Playwright, WebDriver commands, a live viewer and a storage upload and download. The names come out of the
 * dashboard's own queries, mapped back to our metric definitions, so the dashboard and the code cannot drift apart.
 */
describe('metrics the dashboard queries (local mode in its own process, OTLP to a receiver in the test)', () => {
  let receiver: OtlpReceiver;
  let platform: Started;
  let url: string;
  let dataDir: string;
  let site: TestSite;
  let client: Browser | undefined;
  const adminKey = generateApiKey();
  const auth = () => ({ Authorization: `Bearer ${adminKey}` });

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    site = await startTestSite();
    dataDir = mkdtempSync(join(tmpdir(), 'bctrl-e2e-metrics-'));
    platform = await startNpmStart(dataDir, {
      BCTRL_BOOTSTRAP_API_KEY: adminKey,
      BCTRL_INSTALLATION_ID: testInstallationId('metrics'),
      BCTRL_RATE_LIMIT_PER_SECOND: '100000',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_METRIC_EXPORT_INTERVAL: '500',
      OTEL_BSP_SCHEDULE_DELAY: '100',
    });
    url = platform.url;
  }, 180_000);

  afterAll(async () => {
    await client?.close().catch(() => undefined);
    if (platform) await interrupt(platform);
    await site?.close();
    await receiver?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }, 60_000);

  /** A runtime (its run records events), CDP through our URL, WebDriver, a live viewer, a storage PUT and GET. */
  async function drivePlatform(): Promise<{ spaceId: string }> {
    const http = () => request(url);
    const space = await http().post('/v1/spaces').set(auth()).send({ name: 'metrics' });
    expect(space.status).toBe(201);
    const spaceId = space.body.id as string;

    const runtime = await http()
      .post(`/v1/spaces/${spaceId}/runtimes?wait=true`)
      .set(auth())
      .send({ type: 'browser', timeoutSeconds: 300 });
    expect(runtime.body.status).toBe('ready');

    const cdp = await http().post(`/v1/runtimes/${runtime.body.id}/connections`).set(auth()).send({});
    expect(cdp.status).toBe(201);
    client = await chromium.connectOverCDP(cdp.body.wsUrl as string);
    const context = client.contexts()[0] ?? (await client.newContext());
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto(`${site.url}/live`);
    expect(await page.evaluate(() => 6 * 7)).toBe(42);

    const webdriver = await http()
      .post(`/v1/runtimes/${runtime.body.id}/connections`)
      .set(auth())
      .send({ type: 'webdriver' });
    expect(webdriver.status).toBe(201);
    expect((await fetch(`${webdriver.body.webdriverUrl}/status`)).status).toBe(200);
    // A command that fails (no such session), for the panel of WebDriver errors.
    expect((await fetch(`${webdriver.body.webdriverUrl}/session/no-such-session/url`)).status).toBe(404);

    const link = await http().post(`/v1/runs/${runtime.body.activeRunId}/live-view`).set(auth()).send({});
    expect(link.status).toBe(201);
    const viewer = new WebSocket(`${(link.body.url as string).replace(/^http/, 'ws')}/ws`);
    try {
      await new Promise<void>((resolve, reject) => {
        viewer.on('message', (data) => {
          if ((JSON.parse(String(data)) as { type: string }).type === 'frame') resolve();
        });
        viewer.once('error', reject);
        setTimeout(() => reject(new Error('no live-view frame within 20 s')), 20_000).unref();
      });
    } finally {
      viewer.close();
    }

    const bytes = Buffer.from('metrics e2e '.repeat(1_000));
    const put = await http()
      .put(`/v1/spaces/${spaceId}/storage/metrics/data.txt`)
      .set(auth())
      .set('Content-Type', 'text/plain')
      .send(bytes);
    expect(put.status).toBeLessThan(300);
    const got = await http().get(`/v1/spaces/${spaceId}/storage/metrics/data.txt`).set(auth()).buffer(true);
    expect(got.status).toBe(200);
    return { spaceId };
  }

  /** Every data point received for one metric, across every export so far. */
  const pointsOf = (definition: MetricDefinition) =>
    receiver.metrics().filter((metric) => metric.name === definition.name);

  /** What is still missing for one queried series; empty when it arrived as its panel needs it. */
  function problemsOf(query: QueriedSeries, definition: MetricDefinition): string[] {
    const received = pointsOf(definition);
    const where = `${query.series} (${definition.name}, panel "${query.panel}")`;
    if (received.length === 0) return [`${where}: never received`];
    const problems: string[] = [];
    const shape = OTLP_SHAPE[definition.kind];
    for (const metric of received) {
      if (metric.type !== shape.type || metric.monotonic !== shape.monotonic || metric.unit !== definition.unit) {
        problems.push(`${where}: arrived as ${metric.type} (monotonic ${metric.monotonic}) in ${metric.unit}`);
        break;
      }
    }
    // Resource attributes become labels too: service_name is the dashboard's $service variable.
    if (received.some((metric) => !metric.serviceName)) problems.push(`${where}: no service.name on its resource`);
    const points = received
      .flatMap((metric) => metric.dataPoints)
      .filter((point) => (point.count ?? point.value ?? 0) > 0);
    if (points.length === 0) problems.push(`${where}: no data point with data`);
    for (const label of query.labels) {
      if (label === 'service_name') continue;
      const attribute = definition.attributes.find((each) => prometheusLabel(each) === label);
      if (!attribute) {
        problems.push(`${where}: the panel uses label ${label}, which none of its attributes becomes`);
      } else if (!points.some((point) => point.attributes[attribute] !== undefined)) {
        problems.push(`${where}: no data point carries ${attribute}`);
      }
    }
    for (const [label, value] of query.equals) {
      const attribute = definition.attributes.find((each) => prometheusLabel(each) === label);
      if (attribute && !points.some((point) => String(point.attributes[attribute]) === value)) {
        problems.push(`${where}: no data point with ${attribute}="${value}"`);
      }
    }
    return problems;
  }

  it('emits every metric the dashboard queries, with data points and the attributes its panels group by', async () => {
    const dashboard = JSON.parse(readFileSync(join(REPO_ROOT, 'deploy/dashboards/bctrl-overview.json'), 'utf8'));
    const queries = dashboardQueries(dashboard).filter((query) => !NOT_EMITTED_YET.has(query.series));
    const unknown = queries.filter((query) => !metricOfPrometheusSeries(query.series)).map((query) => query.series);
    expect(unknown).toEqual([]);
    const definitionOf = (query: QueriedSeries) => metricOfPrometheusSeries(query.series) as MetricDefinition;
    const queried = new Set(queries.map((query) => prometheusName(definitionOf(query))));
    // Everything but the invocations panel: nine metrics, four panels' worth of HTTP among them.
    expect(queried.size).toBe(9);

    const { spaceId } = await drivePlatform();

    const problems = () => queries.flatMap((query) => problemsOf(query, definitionOf(query)));
    // Exports come every 500 ms; the runtimes gauge needs one while the runtime is still ready.
    await waitFor('every queried metric', () => (problems().length === 0 ? true : undefined), 30_000, 250).catch(
      () => undefined,
    );
    expect([...new Set(problems())]).toEqual([]);

    // The names behind the HTTP panels, as the gateway reports them: a route template, not a path.
    const http = pointsOf(metricOfPrometheusSeries('http_server_request_duration_seconds_count') as MetricDefinition)
      .flatMap((metric) => metric.dataPoints)
      .map((point) => point.attributes['http.route']);
    expect(http).toContain('/v1/spaces/:spaceId/runtimes');
    expect(http.filter((route) => String(route).includes(spaceId))).toEqual([]);
  });
});
