/**
 * What answering proxy authentication inside the runtime costs ordinary requests (docs/proxies.md). One Chromium per
 * mode, the agent's own flags, a forward proxy on loopback, a page that fetches `--requests` small resources one
 * after another (the worst case: every pause is on the critical path), repeated `--rounds` times, modes interleaved:
 *
 * - `proxy, no auth`: the proxy requires nothing and nothing is intercepted (the baseline);
 * - `proxy + agent auth`: the proxy requires Basic auth, answered by the agent's ProxyAuthenticator (every request
 *   paused at its request stage and continued at once);
 * - `proxy + documents only`: the same, but only documents paused (the cheapest pattern that still answers a
 *   navigation; shown for comparison: a worker's or a fetch's first challenge would go unanswered).
 *
 *   node -r @swc-node/register bench/proxy-auth.bench.ts [--requests N] [--rounds N]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHROMIUM_FLAGS, ProxyAuthenticator } from '@bctrl/browser-runtime';
import { CdpSession } from '@bctrl/cdp-client';
import { type ForwardProxy, startForwardProxy } from '@bctrl/testing';
import { fmt, intArg, loadAverage, stats } from './stats';

const CHROME_PATH = process.env['CHROME_PATH'] || '/usr/lib/chromium/chromium';
const CREDENTIALS = { username: 'bench', password: 'bench-password' };

type Mode = 'proxy, no auth' | 'proxy + agent auth' | 'proxy + documents only';
const MODES: Mode[] = ['proxy, no auth', 'proxy + agent auth', 'proxy + documents only'];

interface Browser {
  child: ChildProcess;
  userDataDir: string;
  cdp: CdpSession;
  close(): Promise<void>;
}

async function launch(proxy: ForwardProxy, mode: Mode): Promise<Browser> {
  const userDataDir = mkdtempSync(join(tmpdir(), 'bctrl-bench-proxy-'));
  const args = [
    ...CHROMIUM_FLAGS,
    `--user-data-dir=${userDataDir}`,
    '--remote-debugging-address=127.0.0.1',
    '--remote-debugging-port=0',
    `--proxy-server=${proxy.url}`,
    '--proxy-bypass-list=<-loopback>',
  ];
  if (process.getuid?.() === 0) args.push('--no-sandbox');
  const child = spawn(CHROME_PATH, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  const url = await new Promise<string>((resolve, reject) => {
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
      const match = /DevTools listening on (ws:\/\/\S+)/.exec(stderr);
      if (match) resolve(match[1] as string);
    });
    child.once('exit', () => reject(new Error(`Chromium exited: ${stderr.slice(-2000)}`)));
  });
  let auth: ProxyAuthenticator | null = null;
  const cdp = await CdpSession.connect(url);
  if (mode === 'proxy + agent auth') {
    auth = new ProxyAuthenticator(CREDENTIALS, proxy.url, () => undefined);
    await auth.attach(url);
  } else if (mode === 'proxy + documents only') {
    cdp.on('Fetch.requestPaused', (params) => cdp.post('Fetch.continueRequest', { requestId: params['requestId'] }));
    cdp.on('Fetch.authRequired', (params) =>
      cdp.post('Fetch.continueWithAuth', {
        requestId: params['requestId'],
        authChallengeResponse: { response: 'ProvideCredentials', ...CREDENTIALS },
      }),
    );
    await cdp.send('Fetch.enable', {
      handleAuthRequests: true,
      patterns: [{ urlPattern: '*', resourceType: 'Document', requestStage: 'Request' }],
    });
  }
  return {
    child,
    userDataDir,
    cdp,
    close: async () => {
      auth?.close();
      cdp.close();
      const exited = new Promise((resolve) => child.once('exit', resolve));
      try {
        process.kill(-(child.pid as number), 'SIGKILL');
      } catch {
        // already gone
      }
      await exited;
      rmSync(userDataDir, { recursive: true, force: true, maxRetries: 3 });
    },
  };
}

/** Loads the page, then times `requests` sequential fetches in it, in ms. */
async function sample(browser: Browser, siteUrl: string, requests: number): Promise<number> {
  const { cdp } = browser;
  const { targetId } = await cdp.send<{ targetId: string }>('Target.createTarget', { url: 'about:blank' });
  const { sessionId } = await cdp.send<{ sessionId: string }>('Target.attachToTarget', { targetId, flatten: true });
  try {
    const nav = await cdp.send<{ errorText?: string }>('Page.navigate', { url: `${siteUrl}/page` }, { sessionId });
    if (nav.errorText) throw new Error(`navigation failed: ${nav.errorText}`);
    const expression = `(async () => { const t = performance.now(); for (let i = 0; i < ${requests}; i++) {
      await (await fetch('/r/' + i + '?' + Math.random(), { cache: 'no-store' })).text(); }
      return performance.now() - t; })()`;
    const timed = await cdp.send<{ result: { value: number } }>(
      'Runtime.evaluate',
      { expression, awaitPromise: true },
      { sessionId, timeoutMs: 120_000 },
    );
    return timed.result.value;
  } finally {
    await cdp.send('Target.closeTarget', { targetId });
  }
}

async function main(): Promise<void> {
  const requests = intArg('requests', 200, { min: 1 });
  const rounds = intArg('rounds', 10, { min: 1 });
  const site = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html', 'cache-control': 'no-store' });
    res.end(req.url?.startsWith('/r/') ? 'x' : '<title>bench</title>');
  });
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
  const siteUrl = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
  const open = await startForwardProxy();
  const guarded = await startForwardProxy({ credentials: CREDENTIALS });
  const browsers = new Map<Mode, Browser>();
  try {
    for (const mode of MODES) browsers.set(mode, await launch(mode === 'proxy, no auth' ? open : guarded, mode));
    console.log(`proxy auth bench: ${rounds} rounds of ${requests} sequential fetches, load ${loadAverage()}`);
    const times = new Map<Mode, number[]>(MODES.map((mode) => [mode, []]));
    // One discarded round each: the first authenticates, and warms caches alike.
    for (const mode of MODES) await sample(browsers.get(mode) as Browser, siteUrl, requests);
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? MODES : [...MODES].reverse();
      for (const mode of order) times.get(mode)?.push(await sample(browsers.get(mode) as Browser, siteUrl, requests));
    }
    const base = stats(times.get('proxy, no auth') ?? []).p50;
    console.log(`\n${'mode'.padEnd(26)}${'p50 ms'.padStart(9)}${'per req'.padStart(10)}${'vs base'.padStart(10)}`);
    for (const mode of MODES) {
      const s = stats(times.get(mode) ?? []);
      console.log(
        `${mode.padEnd(26)}${fmt(s.p50).padStart(9)}${(s.p50 / requests).toFixed(3).padStart(10)}` +
          `${(s.p50 / base).toFixed(3).padStart(9)}×`,
      );
    }
    console.log(`\nload average at the end: ${loadAverage()}`);
  } finally {
    for (const browser of browsers.values()) await browser.close();
    await open.close();
    await guarded.close();
    await new Promise((resolve) => site.close(resolve));
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
