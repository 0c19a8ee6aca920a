/**
 * Live-view benchmark (issue 5, item 3): one runtime of a local platform (in this process, as the e2e runs it),
 * one viewer on the live-view socket, the way the viewer page uses it.
 *   - animating: a page that repaints every animation frame, for `--seconds` s → frames/s, gap between
 *     frames p50/p99, bytes per frame (target: at least 10 fps while the page changes);
 *   - idle: the same page with the animation stopped → frames/s (target: ~0, frames only when the page changes);
 *   - input → frame: a click through the viewer on a button that recolours the page, to the first frame after it
 *     (what a person driving the live view waits for).
 *
 *   node -r @swc-node/register bench/live-view.bench.ts [--seconds S] [--clicks N]
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium } from 'playwright-core';
import WebSocket from 'ws';
import { startBenchPlatform } from './local-platform';
import { fmt, intArg, loadAverage, sleep, stats } from './stats';

const TARGETS = { animatingFps: 10, idleFps: 0.5 };

const PAGE = `<!doctype html><html><body style="margin:0;font:20px sans-serif">
<button id="paint" style="position:absolute;left:20px;top:20px;width:200px;height:60px"
  onclick="document.body.style.background = document.body.style.background === 'red' ? 'blue' : 'red'">paint</button>
<div id="n" style="position:absolute;left:20px;top:120px">0</div>
<script>let n = 0, on = true; window.stopAnimation = () => { on = false; };
function tick() { if (!on) return; document.getElementById('n').textContent = String(++n); requestAnimationFrame(tick); }
requestAnimationFrame(tick);</script></body></html>`;

interface Frame {
  at: number;
  bytes: number;
}

async function main(): Promise<void> {
  const seconds = intArg('seconds', 5, { envName: 'BENCH_SECONDS' });
  const clicks = intArg('clicks', 30, { envName: 'BENCH_CLICKS' });
  const site = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(PAGE);
  });
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
  const siteUrl = `http://127.0.0.1:${(site.address() as AddressInfo).port}/`;
  const { api, close } = await startBenchPlatform('live');
  try {
    console.log(`live-view bench: ${seconds} s per phase, ${clicks} clicks, load average ${loadAverage()}`);
    const space = await api('POST', '/v1/spaces', { name: 'live-view-bench' });
    const runtime = await api('POST', `/v1/spaces/${space['id'] as string}/runtimes?wait=true`, {
      type: 'browser',
      viewport: { width: 1280, height: 720 },
      recording: false,
    });
    const connection = await api('POST', `/v1/runtimes/${runtime['id'] as string}/connections`, {});
    const driver = await chromium.connectOverCDP(connection['wsUrl'] as string);
    const context = driver.contexts()[0] ?? (await driver.newContext());
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto(siteUrl);
    const link = await api('POST', `/v1/runs/${runtime['activeRunId'] as string}/live-view`, { interactive: true });

    const frames: Frame[] = [];
    let onFrame: (() => void) | null = null;
    const viewer = new WebSocket(`${(link['url'] as string).replace(/^http/, 'ws')}/ws`, { perMessageDeflate: false });
    viewer.on('message', (data: WebSocket.RawData) => {
      const text = data.toString();
      if (!text.startsWith('{"type":"frame"')) return;
      frames.push({ at: performance.now(), bytes: text.length });
      onFrame?.();
    });
    await new Promise((resolve) => viewer.once('open', resolve));
    await sleep(1_000);

    // Animating.
    let from = frames.length;
    let started = performance.now();
    await sleep(seconds * 1000);
    const animating = frames.slice(from);
    const animatingFps = animating.length / ((performance.now() - started) / 1000);
    const gaps = animating.slice(1).map((frame, i) => frame.at - (animating[i] as Frame).at);
    const frameBytes = stats(animating.map((frame) => frame.bytes));

    // Idle.
    await page.evaluate('window.stopAnimation()');
    await sleep(500);
    from = frames.length;
    started = performance.now();
    await sleep(seconds * 1000);
    const idleFps = (frames.length - from) / ((performance.now() - started) / 1000);

    // Input → frame: the middle of #paint (20 + 200 / 2, 20 + 60 / 2).
    const latencies: number[] = [];
    for (let i = 0; i < clicks; i++) {
      await sleep(150);
      const next = new Promise<number>((resolve) => {
        onFrame = () => {
          onFrame = null;
          resolve(performance.now());
        };
      });
      const sent = performance.now();
      for (const action of ['down', 'up']) {
        viewer.send(JSON.stringify({ type: 'mouse', action, x: 120, y: 50, button: 'left', clickCount: 1 }));
      }
      latencies.push((await next) - sent);
    }
    viewer.close();
    await driver.close();
    await api('POST', `/v1/runtimes/${runtime['id'] as string}/stop`);

    const gap = stats(gaps);
    const input = stats(latencies);
    console.log(
      '\n| phase | frames/s | gap p50 (ms) | gap p99 (ms) | frame p50 (kB) | input→frame p50 (ms) | p99 (ms) |',
    );
    console.log('|---|---|---|---|---|---|---|');
    console.log(
      `| animating | ${fmt(animatingFps)} | ${fmt(gap.p50)} | ${fmt(gap.p99)} | ${fmt(frameBytes.p50 / 1024)} | | |`,
    );
    console.log(`| idle | ${fmt(idleFps, 2)} | | | | | |`);
    console.log(`| clicks | | | | | ${fmt(input.p50)} | ${fmt(input.p99)} |`);
    const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');
    console.log('\ntargets (issue 5, item 3):');
    console.log(
      `  frames/s while the page changes ≥ ${TARGETS.animatingFps}: ${verdict(animatingFps >= TARGETS.animatingFps)}`,
    );
    console.log(`  frames/s while it does not ≤ ${TARGETS.idleFps}: ${verdict(idleFps <= TARGETS.idleFps)}`);
  } finally {
    await close();
    site.close();
  }
}

void main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
