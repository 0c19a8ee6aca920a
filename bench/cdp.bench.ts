/**
 * CDP proxy benchmark (issue 4): the same raw WebSocket client drives one page of a runtime straight through
 * Chromium's own CDP socket and through a connection's wsUrl (gateway → cdp-proxy, local mode, in its own
 * process as `npm start` runs it), interleaved so that machine noise hits both alike:
 *   - 2,000 sequential Runtime.evaluate round trips per path (blocks of 100, alternating);
 *   - 10 s per path of full-page PNG screenshots, and 10 s per path of small JPEG viewport shots (1 s windows,
 *     alternating), where the proxy's own per-message cost shows.
 * Prints p50/p99 latency, the added latency and the throughput ratios against the targets.
 *
 *   node -r @swc-node/register bench/cdp.bench.ts [--round-trips N] [--seconds S]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import WebSocket from 'ws';
import { generateApiKey } from '@bctrl/core';
import { removeFallbackDir } from '@bctrl/local';
import { freePort } from '@bctrl/testing';
import { fmt, intArg, loadAverage, sleep, stats } from './stats';

const REPO_ROOT = resolve(__dirname, '..');
const TARGETS = { addedP50Ms: 0.1, evaluateRatio: 1.15, pngThroughput: 0.98, jpegThroughput: 0.9 };

/** A long page, so that a full-page PNG is a few hundred kilobytes like a real one. */
function startSite(): Promise<{ url: string; close: () => void }> {
  const rows = Array.from(
    { length: 120 },
    (_, i) =>
      `<tr><td>${i}</td><td style="background:hsl(${(i * 37) % 360},60%,70%)">row ${i} of the benchmark table</td><td>${'x'.repeat(i % 40)}</td></tr>`,
  ).join('');
  const page = `<!doctype html><html><body style="font:14px sans-serif"><h1>CDP bench</h1><table>${rows}</table></body></html>`;
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(page);
  });
  return new Promise((resolveSite) =>
    server.listen(0, '127.0.0.1', () =>
      resolveSite({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, close: () => server.close() }),
    ),
  );
}

/** A CDP client on one socket: sequential calls, one page session. */
class Client {
  private nextId = 1;
  private readonly waiting = new Map<number, (message: Record<string, unknown>) => void>();
  sessionId = '';

  private constructor(private readonly socket: WebSocket) {
    socket.on('message', (data: WebSocket.RawData) => {
      const text = data.toString();
      // Replies start with their id; events are not waited for.
      const match = /^\{"id":(\d+)/.exec(text);
      if (!match) return;
      const done = this.waiting.get(Number(match[1]));
      if (!done) return;
      this.waiting.delete(Number(match[1]));
      done(JSON.parse(text) as Record<string, unknown>);
    });
  }

  static open(url: string): Promise<Client> {
    return new Promise((resolveClient, reject) => {
      const socket = new WebSocket(url, { perMessageDeflate: false, maxPayload: 512 * 1024 * 1024 });
      socket.once('open', () => resolveClient(new Client(socket)));
      socket.once('error', reject);
    });
  }

  call(method: string, params: object = {}, sessionId = this.sessionId): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    return new Promise((resolveCall, reject) => {
      this.waiting.set(id, (message) =>
        message['error'] ? reject(new Error(`${method}: ${JSON.stringify(message['error'])}`)) : resolveCall(message),
      );
      this.socket.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    });
  }

  async attach(targetId: string): Promise<void> {
    const attached = await this.call('Target.attachToTarget', { targetId, flatten: true }, '');
    this.sessionId = (attached['result'] as { sessionId: string }).sessionId;
  }

  close(): void {
    this.socket.close();
  }
}

/** The runtime's Chromium, found by the marker its agent hands on, and the CDP URL it wrote in its profile. */
function directCdpUrl(runtimeId: string): string {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (!argv.includes(`--bctrl-runtime=${runtimeId}`) || argv.some((arg) => arg.startsWith('--type='))) continue;
    const dir = argv.find((arg) => arg.startsWith('--user-data-dir='))?.slice('--user-data-dir='.length);
    if (!dir) continue;
    const [port, path] = readFileSync(join(dir, 'DevToolsActivePort'), 'utf8').split('\n');
    return `ws://127.0.0.1:${port?.trim()}${path?.trim()}`;
  }
  throw new Error(`no Chromium found for ${runtimeId}`);
}

/**
 * The floor: a bare TCP pipe in its own process (no WebSocket parsing, no lease, no tap). What any proxy that is a
 * separate process pays for the extra hop on this machine; the proxy's own cost is what it adds above this.
 */
async function startBarePipe(targetUrl: string): Promise<{ url: string; child: ChildProcess }> {
  const target = new URL(targetUrl);
  const port = await freePort();
  const source = `
    const net = require('node:net');
    net.createServer((client) => {
      const upstream = net.connect(${Number(target.port)}, '127.0.0.1');
      client.setNoDelay(true);
      upstream.setNoDelay(true);
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    }).listen(${port}, '127.0.0.1', () => process.stdout.write('listening\\n'));`;
  const child = spawn(process.execPath, ['-e', source], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolveListening) => child.stdout?.once('data', resolveListening));
  return { url: `ws://127.0.0.1:${port}${target.pathname}`, child };
}

async function startPlatform(): Promise<{ url: string; key: string; child: ChildProcess; dataDir: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bctrl-bench-cdp-'));
  const port = await freePort();
  const key = generateApiKey();
  const child = spawn(process.execPath, [join(REPO_ROOT, 'dist/apps/local/main.js')], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      BCTRL_DATA_DIR: dataDir,
      BCTRL_PORT: String(port),
      BCTRL_PUBLIC_URL: `http://127.0.0.1:${port}`,
      BCTRL_BOOTSTRAP_API_KEY: key,
      BCTRL_RATE_LIMIT_PER_SECOND: '0',
      LOG_LEVEL: 'error',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the platform exited with ${child.exitCode}`);
    const ready = await fetch(`${url}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return { url, key, child, dataDir };
    if (Date.now() > deadline) throw new Error('the platform did not become ready within 120 s');
    await sleep(250);
  }
}

async function api(url: string, key: string, method: string, path: string, body?: unknown) {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = (await response.json()) as Record<string, unknown>;
  if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
  return json;
}

async function roundTrips(client: Client, count: number, into: number[]): Promise<void> {
  for (let i = 0; i < count; i++) {
    const started = process.hrtime.bigint();
    await client.call('Runtime.evaluate', { expression: '1 + 1', returnByValue: true });
    into.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
}

/** Screenshots back to back for `ms`; returns how many and their bytes. */
async function shoot(client: Client, params: object, ms: number): Promise<{ count: number; bytes: number }> {
  const until = performance.now() + ms;
  let count = 0;
  let bytes = 0;
  while (performance.now() < until) {
    const reply = await client.call('Page.captureScreenshot', params);
    bytes += ((reply['result'] as { data: string }).data.length * 3) / 4;
    count += 1;
  }
  return { count, bytes };
}

async function main(): Promise<void> {
  const total = intArg('round-trips', 2_000);
  const seconds = intArg('seconds', 10);
  console.log(
    `cdp bench: ${total} round trips and ${seconds} s of each screenshot kind per path; load ${loadAverage()}`,
  );
  const site = await startSite();
  const platform = await startPlatform();
  let runtimeId = '';
  const clients: Client[] = [];
  let pipe: ChildProcess | null = null;
  try {
    const space = await api(platform.url, platform.key, 'POST', '/v1/spaces', { name: 'bench-cdp' });
    const runtime = await api(platform.url, platform.key, 'POST', `/v1/spaces/${space['id']}/runtimes?wait=true`, {
      type: 'browser',
      viewport: { width: 1280, height: 800 },
    });
    runtimeId = runtime['id'] as string;
    const connection = await api(platform.url, platform.key, 'POST', `/v1/runtimes/${runtimeId}/connections`, {});
    const directUrl = directCdpUrl(runtimeId);
    const bare = await startBarePipe(directUrl);
    pipe = bare.child;
    const direct = await Client.open(directUrl);
    const proxied = await Client.open(connection['wsUrl'] as string);
    const piped = await Client.open(bare.url);
    clients.push(direct, proxied, piped);
    const created = await direct.call('Target.createTarget', { url: site.url }, '');
    const targetId = (created['result'] as { targetId: string }).targetId;
    await direct.attach(targetId);
    await proxied.attach(targetId);
    await piped.attach(targetId);
    await direct.call('Page.enable');
    await sleep(1_000);

    // Warm-up, not counted: JIT, the proxy's first socket paths, Chromium's compositor.
    await roundTrips(direct, 200, []);
    await roundTrips(proxied, 200, []);
    await roundTrips(piped, 200, []);

    const latency = { direct: [] as number[], proxied: [] as number[], piped: [] as number[] };
    const byPath = { direct, proxied, piped };
    const orders = [
      ['direct', 'proxied', 'piped'],
      ['proxied', 'piped', 'direct'],
      ['piped', 'direct', 'proxied'],
    ] as const;
    for (let done = 0; done < total; done += 100) {
      const block = Math.min(100, total - done);
      for (const path of orders[(done / 100) % 3] as readonly (keyof typeof byPath)[]) {
        await roundTrips(byPath[path], block, latency[path]);
      }
    }

    const kinds = {
      'full-page PNG': { format: 'png', captureBeyondViewport: true, clip: undefined as object | undefined },
      'small JPEG viewport': { format: 'jpeg', quality: 50, clip: { x: 0, y: 0, width: 320, height: 240, scale: 1 } },
    };
    const throughput: Record<
      string,
      { direct: { count: number; bytes: number }; proxied: { count: number; bytes: number } }
    > = {};
    for (const [kind, params] of Object.entries(kinds)) {
      const sums = { direct: { count: 0, bytes: 0 }, proxied: { count: 0, bytes: 0 } };
      if (kind === 'full-page PNG') {
        const metrics = await direct.call('Page.getLayoutMetrics');
        const size = (metrics['result'] as { cssContentSize: { width: number; height: number } }).cssContentSize;
        params.clip = { x: 0, y: 0, width: size.width, height: size.height, scale: 1 };
      }
      await shoot(direct, params, 500);
      await shoot(proxied, params, 500);
      for (let window = 0; window < seconds * 2; window++) {
        const path = window % 2 === 0 ? 'direct' : 'proxied';
        const result = await shoot(path === 'direct' ? direct : proxied, params, 1_000);
        sums[path].count += result.count;
        sums[path].bytes += result.bytes;
      }
      throughput[kind] = sums;
    }

    const d = stats(latency.direct);
    const p = stats(latency.proxied);
    const b = stats(latency.piped);
    console.log(`\nload average ${loadAverage()}\n`);
    console.log(`Runtime.evaluate round trips (ms)   n     p50     p95     p99    mean`);
    for (const [name, s] of [
      ['direct to Chromium', d],
      ['through the proxy', p],
      ['through a bare TCP pipe (floor)', b],
    ] as const) {
      console.log(
        `  ${name.padEnd(32)}${String(s.n).padStart(5)}${fmt(s.p50, 3).padStart(8)}${fmt(s.p95, 3).padStart(8)}${fmt(s.p99, 3).padStart(8)}${fmt(s.mean, 3).padStart(8)}`,
      );
    }
    const addedP50 = p.p50 - d.p50;
    const addedP99 = p.p99 - d.p99;
    const ratio = p.p50 / d.p50;
    console.log(
      `  added latency: p50 ${fmt(addedP50 * 1000, 0)} µs, p99 ${fmt(addedP99 * 1000, 0)} µs; p50 ratio ${fmt(ratio, 3)}×`,
    );
    console.log(
      `  a bare pipe process adds p50 ${fmt((b.p50 - d.p50) * 1000, 0)} µs (${fmt(b.p50 / d.p50, 3)}×): the proxy's own cost above that floor is ${fmt((p.p50 - b.p50) * 1000, 0)} µs`,
    );

    console.log(`\nscreenshots (${seconds} s per path)        direct/s  proxied/s   MB/s direct  MB/s proxied   ratio`);
    const ratios: Record<string, number> = {};
    for (const [kind, { direct: dd, proxied: pp }] of Object.entries(throughput)) {
      ratios[kind] = pp.count / dd.count;
      console.log(
        `  ${kind.padEnd(34)}${fmt(dd.count / seconds).padStart(8)}${fmt(pp.count / seconds).padStart(11)}${fmt(dd.bytes / seconds / 1e6).padStart(14)}${fmt(pp.bytes / seconds / 1e6).padStart(14)}${fmt(ratios[kind] as number, 3).padStart(8)}`,
      );
    }
    const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');
    const rows: [string, string, boolean][] = [
      [`added p50 ≤ ${TARGETS.addedP50Ms * 1000} µs`, `${fmt(addedP50 * 1000, 0)} µs`, addedP50 <= TARGETS.addedP50Ms],
      [`p50 ratio ≤ ${TARGETS.evaluateRatio}×`, `${fmt(ratio, 3)}×`, ratio <= TARGETS.evaluateRatio],
      [
        `PNG throughput ≥ ${TARGETS.pngThroughput}× direct`,
        `${fmt(ratios['full-page PNG'] as number, 3)}×`,
        (ratios['full-page PNG'] as number) >= TARGETS.pngThroughput,
      ],
      [
        `light shots ≥ ${TARGETS.jpegThroughput}× direct`,
        `${fmt(ratios['small JPEG viewport'] as number, 3)}×`,
        (ratios['small JPEG viewport'] as number) >= TARGETS.jpegThroughput,
      ],
    ];
    console.log('\ntargets (issue 4):');
    for (const [target, value, ok] of rows) console.log(`  ${target.padEnd(32)}${value.padStart(10)}  ${verdict(ok)}`);
  } finally {
    for (const client of clients) client.close();
    pipe?.kill();
    if (runtimeId)
      await api(platform.url, platform.key, 'POST', `/v1/runtimes/${runtimeId}/stop`).catch(() => undefined);
    const exited = new Promise((r) => platform.child.once('exit', r));
    platform.child.kill('SIGINT');
    await Promise.race([exited, sleep(15_000)]);
    if (platform.child.exitCode === null) platform.child.kill('SIGKILL');
    rmSync(platform.dataDir, { recursive: true, force: true });
    // As root, a temp data dir's database lives outside it (libs/local/src/embedded-postgres.ts): it goes too.
    removeFallbackDir(platform.dataDir);
    site.close();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
