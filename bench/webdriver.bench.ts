/**
 * WebDriver relay benchmark: what a `webdriver` connection adds to each W3C WebDriver command. One runtime of a
 * local platform (in this process, as the e2e runs it); the same keep-alive HTTP client sends the same commands
 *   - through the connection's webdriverUrl (gateway → cdp-proxy's relay → the runtime agent → its chromedriver), and
 *   - straight to a chromedriver of the bench's own attached to the same browser (what Selenium gets locally),
 * in alternating blocks so that machine noise hits both alike:
 *   - `GET /session/{id}/title` (chromedriver's cheapest browser round trip), and
 *   - `POST /session/{id}/execute/sync` returning a 64 kB string (a body big enough for the relay's streaming to show).
 * Prints p50/p95/p99 per path, the added latency and the ratio. No target in an issue: it keeps the relay honest.
 *
 *   node -r @swc-node/register bench/webdriver.bench.ts [--commands N]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { Agent, request as httpRequest } from 'node:http';
import { performance } from 'node:perf_hooks';
import { RuntimesV1, SpacesV1 } from '@bctrl/contracts';
import { hashApiKey, type KeyPrincipal } from '@bctrl/core';
import { type Transport, TRANSPORT } from '@bctrl/transport';
import { startBenchPlatform } from './local-platform';
import { fmt, intArg, loadAverage, stats } from './stats';

const CHROMEDRIVER = process.env['CHROMEDRIVER_PATH'] || '/usr/bin/chromedriver';
const BLOCK = 50;
const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 });

/** One WebDriver command over keep-alive node:http; resolves with the answer's JSON `value`. */
function command(base: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${base}${path}`,
      {
        method,
        agent: keepAlive,
        headers: payload
          ? { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(payload) }
          : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if ((res.statusCode ?? 0) >= 400) reject(new Error(`${method} ${path}: ${res.statusCode} ${text}`));
          else resolve((JSON.parse(text) as { value: unknown }).value);
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** A chromedriver of the bench's own on a free port; resolves with its base URL once it listens. */
function startChromedriver(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(CHROMEDRIVER, ['--port=0', '--log-level=SEVERE'], { stdio: ['ignore', 'pipe', 'ignore'] });
  return new Promise((resolve, reject) => {
    let output = '';
    child.once('error', reject);
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const port = /started successfully on port (\d+)/.exec(output)?.[1];
      if (port) resolve({ url: `http://127.0.0.1:${port}`, child });
    });
  });
}

async function newSession(base: string, chromeOptions: Record<string, unknown>): Promise<string> {
  const value = (await command(base, 'POST', '/session', {
    capabilities: { alwaysMatch: { browserName: 'chrome', 'goog:chromeOptions': chromeOptions } },
  })) as { sessionId: string };
  return value.sessionId;
}

async function main(): Promise<void> {
  const commands = intArg('commands', 1000, { envName: 'BENCH_COMMANDS' });
  const { platform, adminKey, api, close } = await startBenchPlatform('webdriver');
  let direct: { url: string; child: ChildProcess } | null = null;
  try {
    console.log(`webdriver bench: ${commands} commands per path and kind, load average ${loadAverage()}`);
    const space = await api('POST', '/v1/spaces', { name: 'webdriver-bench' });
    const runtime = await api('POST', `/v1/spaces/${space['id'] as string}/runtimes?wait=true`, {
      type: 'browser',
      recording: false,
    });
    const runtimeId = runtime['id'] as string;
    const connection = await api('POST', `/v1/runtimes/${runtimeId}/connections`, { type: 'webdriver' });
    const proxied = connection['webdriverUrl'] as string;

    // The browser's own DevTools address, as the orchestrator tells cdp-proxy: where the direct chromedriver attaches.
    const transport = platform.app.get<Transport>(TRANSPORT);
    const operator = { principal: { kind: 'operator' as const } };
    const known = (await transport.request(SpacesV1.authenticate, { keyHash: hashApiKey(adminKey) }, operator))
      .principal;
    const principal: KeyPrincipal = {
      kind: 'key',
      accountId: known?.accountId ?? '',
      subaccountId: known?.subaccountId || null,
      spaceIds: null,
      role: 'admin',
      keyId: known?.keyId ?? '',
    };
    const { cdpUrl } = await transport.request(RuntimesV1.endpoint, { runtimeId }, { principal });
    direct = await startChromedriver();

    const proxiedSession = await newSession(proxied, {});
    const directSession = await newSession(direct.url, { debuggerAddress: new URL(cdpUrl).host });
    const paths = {
      proxied: { base: proxied, session: proxiedSession },
      direct: { base: direct.url, session: directSession },
    };
    await command(proxied, 'POST', `/session/${proxiedSession}/url`, {
      url: 'data:text/html,<title>WebDriver bench</title><p>bench</p>',
    });
    const kinds = {
      'GET title': (p: { base: string; session: string }) => command(p.base, 'GET', `/session/${p.session}/title`),
      'execute 64 kB': (p: { base: string; session: string }) =>
        command(p.base, 'POST', `/session/${p.session}/execute/sync`, {
          script: "return 'x'.repeat(65536);",
          args: [],
        }),
    };
    const samples: Record<string, Record<'proxied' | 'direct', number[]>> = {};
    for (const [kind, run] of Object.entries(kinds)) {
      const into: Record<'proxied' | 'direct', number[]> = (samples[kind] = { proxied: [], direct: [] });
      // Warm both paths (sockets, chromedriver's caches) before counting.
      for (let i = 0; i < 20; i++) for (const p of Object.values(paths)) await run(p);
      for (let done = 0; done < commands; done += BLOCK) {
        const order = (done / BLOCK) % 2 === 0 ? (['proxied', 'direct'] as const) : (['direct', 'proxied'] as const);
        for (const which of order) {
          for (let i = 0; i < Math.min(BLOCK, commands - done); i++) {
            const started = performance.now();
            await run(paths[which]);
            into[which].push(performance.now() - started);
          }
        }
      }
    }
    await command(direct.url, 'DELETE', `/session/${directSession}`);
    await command(proxied, 'DELETE', `/session/${proxiedSession}`);
    await api('POST', `/v1/runtimes/${runtimeId}/stop`);

    console.log(`\nload average ${loadAverage()}\n`);
    console.log(
      `${'command (ms)'.padEnd(16)}${'path'.padEnd(10)}${'n'.padStart(6)}${'p50'.padStart(8)}${'p95'.padStart(8)}` +
        `${'p99'.padStart(8)}${'mean'.padStart(8)}`,
    );
    for (const [kind, byPath] of Object.entries(samples)) {
      for (const which of ['direct', 'proxied'] as const) {
        const s = stats(byPath[which]);
        console.log(
          `${kind.padEnd(16)}${which.padEnd(10)}${String(s.n).padStart(6)}${fmt(s.p50, 2).padStart(8)}` +
            `${fmt(s.p95, 2).padStart(8)}${fmt(s.p99, 2).padStart(8)}${fmt(s.mean, 2).padStart(8)}`,
        );
      }
      const d = stats(byPath.direct);
      const p = stats(byPath.proxied);
      console.log(
        `${''.padEnd(16)}added p50 ${fmt(p.p50 - d.p50, 2)} ms (${fmt(p.p50 / d.p50, 2)}×), ` +
          `added p99 ${fmt(p.p99 - d.p99, 2)} ms`,
      );
    }
  } finally {
    direct?.child.kill('SIGKILL');
    await close();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
