import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * The recording-view page: replays a run's rrweb recording (the NDJSON the browser-runtime agent writes, one
 * `{"targetId", "event"}` line per event) tab by tab with rrweb's Replayer and a timeline. Plain HTML, one
 * same-origin script and one same-origin stylesheet: no CDN, no inline script, no eval (rrweb's Replayer needs
 * none), so RECORDING_VIEW_CSP holds.
 */
export interface RecordingViewOptions {
  /** Where the page fetches the recording (NDJSON). Must be allowed by the page's connect-src ('self' in the CSP). */
  recordingUrl: string;
  /** Where `recordingViewAssets().script` is served: rrweb's UMD bundle followed by the viewer's own code. */
  rrwebScriptUrl: string;
  /** Where `recordingViewAssets().style` is served: rrweb's CSS followed by the page's. */
  styleUrl: string;
  title: string;
}

/**
 * The CSP to serve the page with. Scripts only from the page's origin and none in the replayed documents (rrweb
 * turns recorded scripts into inert nodes, and its iframe is sandboxed without allow-scripts). Styles must allow
 * 'unsafe-inline': the replay iframe (about:blank) inherits this policy, and the recorded pages' own <style>
 * elements and style attributes are what make the replay look right. Images, fonts and stylesheets rrweb could not
 * inline still load from the recorded sites, as they would in the browser that was recorded; serve the page with
 * `Referrer-Policy: no-referrer` too, so a tokenized page URL never reaches those sites.
 */
export const RECORDING_VIEW_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline' http: https:",
  "img-src 'self' data: blob: http: https:",
  "font-src 'self' data: http: https:",
  "media-src 'self' data: blob: http: https:",
  "connect-src 'self'",
  "frame-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'self'",
].join('; ');

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function recordingViewHtml(options: RecordingViewOptions): string {
  const title = escapeHtml(options.title);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>${title}</title>
<link rel="stylesheet" href="${escapeHtml(options.styleUrl)}">
</head>
<body data-state="loading" data-recording-url="${escapeHtml(options.recordingUrl)}">
<header>
  <h1>${title}</h1>
  <label>Tab <select id="tab" disabled></select></label>
  <span id="status" role="status">Loading the recording…</span>
</header>
<main id="stage" aria-label="Replay"></main>
<footer id="controls">
  <button id="play" type="button" disabled>Play</button>
  <div id="track">
    <div id="marks" aria-label="Navigations"></div>
    <input id="seek" type="range" min="0" max="0" step="1" value="0" disabled aria-label="Position">
  </div>
  <span id="time">0:00 / 0:00</span>
  <label>Speed <select id="speed">
    <option value="1" selected>1×</option><option value="2">2×</option><option value="4">4×</option>
  </select></label>
</footer>
<script src="${escapeHtml(options.rrwebScriptUrl)}"></script>
</body>
</html>`;
}

const VIEWER_CSS = `
html, body { margin: 0; height: 100%; background: #111; color: #eee; font: 13px system-ui, sans-serif; }
body { display: flex; flex-direction: column; }
header, footer { display: flex; align-items: center; gap: 10px; padding: 6px 10px; background: #1d1d1f; }
header h1 { font-size: 14px; margin: 0; flex: 1; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
select, button { background: #2c2c2e; color: #eee; border: 1px solid #444; border-radius: 4px; padding: 3px 8px; }
#tab { max-width: 360px; }
#status { color: #aaa; white-space: nowrap; }
body[data-state="error"] #status { color: #ff6b6b; }
#stage { flex: 1; position: relative; overflow: hidden; background: #222; }
#stage .replayer-wrapper { position: absolute; left: 0; top: 0; transform-origin: 0 0; background: #fff; }
#stage iframe { border: 0; display: block; }
#play { min-width: 64px; }
#track { flex: 1; position: relative; padding-top: 10px; }
#seek { width: 100%; margin: 0; }
#marks { position: absolute; left: 0; right: 0; top: 0; height: 10px; }
#marks button { position: absolute; top: 0; width: 4px; height: 10px; padding: 0; margin-left: -2px; border: 0;
  border-radius: 1px; background: #0a84ff; cursor: pointer; }
#time { font-variant-numeric: tabular-nums; white-space: nowrap; }
`;

/** Runs after rrweb's bundle, in the same script: `rrweb` is a global by then. ES2017, no framework. */
const VIEWER_SCRIPT = `
;(function () {
  'use strict';
  var $ = function (id) { return document.getElementById(id); };
  var tabSelect = $('tab'), statusLine = $('status'), stage = $('stage'), playButton = $('play');
  var seek = $('seek'), timeLabel = $('time'), speedSelect = $('speed'), marks = $('marks');
  var tabs = new Map();
  var stopped = null;
  var lineCount = 0;
  var replayer = null, total = 0, playing = false, dragging = false, size = null;

  function setState(state, text) { document.body.setAttribute('data-state', state); statusLine.textContent = text; }
  function clock(ms) {
    var s = Math.max(0, Math.floor(ms / 1000)), h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60;
    s = s % 60;
    return (h ? h + ':' + (m < 10 ? '0' : '') : '') + m + ':' + (s < 10 ? '0' : '') + s;
  }

  function addLine(line) {
    if (!line) return;
    var record;
    try { record = JSON.parse(line); } catch (e) { return; }
    if (!record || typeof record !== 'object') return;
    if (record.stopped) { stopped = String(record.stopped); return; }
    var event = record.event;
    if (typeof record.targetId !== 'string' || !event || typeof event.type !== 'number' || typeof event.timestamp !== 'number') return;
    lineCount++;
    var tab = tabs.get(record.targetId);
    if (!tab) { tab = { id: record.targetId, events: [], href: '', snapshots: 0 }; tabs.set(record.targetId, tab); }
    tab.events.push(event);
    if (event.type === 2) tab.snapshots++;
    if (event.type === 4 && event.data && typeof event.data.href === 'string' && event.data.href !== 'about:blank') tab.href = event.data.href;
  }

  // Streamed line by line: a recording can be large, and a full snapshot is one long line across many chunks.
  async function load(url) {
    var response = await fetch(url, { credentials: 'same-origin', cache: 'no-store' });
    if (!response.ok) throw new Error('the recording could not be loaded (HTTP ' + response.status + ')');
    var reader = response.body.getReader(), decoder = new TextDecoder(), pieces = [];
    function feed(text) {
      var start = 0, newline;
      while ((newline = text.indexOf('\\n', start)) >= 0) {
        pieces.push(text.slice(start, newline));
        addLine(pieces.join(''));
        pieces = [];
        start = newline + 1;
      }
      if (start < text.length) pieces.push(text.slice(start));
    }
    for (;;) {
      var chunk = await reader.read();
      if (chunk.done) break;
      feed(decoder.decode(chunk.value, { stream: true }));
    }
    feed(decoder.decode());
    addLine(pieces.join(''));
  }

  function fit() {
    if (!replayer || !size) return;
    var scale = Math.min(stage.clientWidth / size.width, stage.clientHeight / size.height, 1);
    replayer.wrapper.style.transform = 'scale(' + scale + ')';
    replayer.wrapper.style.left = Math.max(0, (stage.clientWidth - size.width * scale) / 2) + 'px';
  }

  function current() { return replayer ? Math.min(Math.max(replayer.getCurrentTime(), 0), total) : 0; }
  function render() {
    var now = current();
    if (!dragging) seek.value = String(Math.round(now));
    timeLabel.textContent = clock(now) + ' / ' + clock(total);
    playButton.textContent = playing ? 'Pause' : 'Play';
    document.body.setAttribute('data-playing', playing ? 'true' : 'false');
  }
  function goTo(offset) {
    if (!replayer) return;
    offset = Math.min(Math.max(offset, 0), total);
    // At the very end, one past it: rrweb applies only the events strictly before the position it seeks to.
    var to = offset === total ? offset + 1 : offset;
    if (playing) replayer.play(to); else replayer.pause(to);
    render();
  }

  function open(id) {
    var tab = tabs.get(id);
    if (!tab) return;
    if (replayer) { replayer.pause(); replayer.destroy(); replayer = null; }
    stage.textContent = '';
    marks.textContent = '';
    playing = false;
    size = null;
    // Stable sort: events of one page arrive in order, but a batch can straddle a clock adjustment.
    var events = tab.events.slice().sort(function (a, b) { return a.timestamp - b.timestamp; });
    replayer = new rrweb.Replayer(events, {
      root: stage, speed: Number(speedSelect.value), mouseTail: false, showWarning: false,
      triggerFocus: false, UNSAFE_replayCanvas: false, pauseAnimation: true,
    });
    var meta = replayer.getMetaData();
    total = Math.max(0, meta.totalTime);
    seek.max = String(total);
    seek.disabled = total === 0;
    playButton.disabled = false;
    replayer.on('resize', function (dimension) { size = dimension; fit(); });
    replayer.on('finish', function () { playing = false; render(); });
    // Where the page opens: the first full snapshot of the first real page. Position 0 shows nothing (no event is
    // before it), and a tab's first document is usually the about:blank it was created with.
    var first = null;
    events.forEach(function (event, index) {
      if (event.type !== 4 || !event.data) return;
      // A mark lands on the new document's full snapshot: at the Meta event itself the old one is still shown.
      var snapshot = events.slice(index + 1).find(function (next) { return next.type === 2 || next.type === 4; });
      var landing = snapshot && snapshot.type === 2 ? snapshot : event;
      var mark = document.createElement('button');
      mark.type = 'button';
      mark.className = 'mark';
      // +1: rrweb applies, when seeking, only the events strictly before the position.
      var offset = Math.min(landing.timestamp - meta.startTime + 1, total);
      if (first === null && landing.type === 2 && event.data.href !== 'about:blank') first = offset;
      mark.title = String(event.data.href) + ' at ' + clock(offset);
      mark.setAttribute('data-offset', String(offset));
      mark.style.left = (total > 0 ? (offset / total) * 100 : 0) + '%';
      mark.addEventListener('click', function () { goTo(offset); });
      marks.appendChild(mark);
    });
    if (first === null) {
      var snapshot = events.find(function (event) { return event.type === 2; });
      first = snapshot ? Math.min(snapshot.timestamp - meta.startTime + 1, total) : 0;
    }
    document.body.setAttribute('data-tab', id);
    goTo(first);
  }

  playButton.addEventListener('click', function () {
    if (!replayer) return;
    if (playing) { replayer.pause(); playing = false; }
    else { var at = current(); playing = true; replayer.play(at >= total ? 0 : at); }
    render();
  });
  seek.addEventListener('input', function () { dragging = true; goTo(Number(seek.value)); });
  seek.addEventListener('change', function () { dragging = false; goTo(Number(seek.value)); });
  speedSelect.addEventListener('change', function () {
    if (replayer) replayer.setConfig({ speed: Number(speedSelect.value) });
  });
  tabSelect.addEventListener('change', function () { open(tabSelect.value); });
  addEventListener('resize', fit);
  setInterval(function () { if (playing) render(); }, 100);

  load(document.body.getAttribute('data-recording-url')).then(function () {
    var playable = Array.from(tabs.values()).filter(function (tab) { return tab.snapshots > 0 && tab.events.length > 1; });
    if (playable.length === 0) { setState('empty', 'Nothing was recorded.'); return; }
    playable.forEach(function (tab, index) {
      var option = document.createElement('option');
      option.value = tab.id;
      option.textContent = 'Tab ' + (index + 1) + (tab.href ? ' — ' + tab.href : '');
      tabSelect.appendChild(option);
    });
    tabSelect.disabled = playable.length < 2;
    var busiest = playable.reduce(function (a, b) { return b.events.length > a.events.length ? b : a; });
    tabSelect.value = busiest.id;
    open(busiest.id);
    setState('ready', playable.length + (playable.length === 1 ? ' tab, ' : ' tabs, ') + lineCount + ' events' +
      (stopped ? ' — recording stopped early: ' + stopped : ''));
  }).catch(function (error) {
    setState('error', String(error && error.message || error));
  });
})();
`;

export interface RecordingViewAssets {
  /** `text/javascript`: rrweb's UMD bundle, then the viewer. Serve at RecordingViewOptions.rrwebScriptUrl. */
  script: Buffer;
  /** `text/css`: rrweb's replayer CSS, then the page's. Serve at RecordingViewOptions.styleUrl. */
  style: Buffer;
}

let assets: RecordingViewAssets | undefined;

/** The page's script and stylesheet, built from rrweb's dist files on first use and kept. */
export function recordingViewAssets(): RecordingViewAssets {
  assets ??= {
    // Without their source map comments: the maps are not served, and a browser's DevTools would ask for them.
    script: Buffer.from(
      `${withoutSourceMap(readFileSync(rrwebDistFile('rrweb.umd.min.cjs'), 'utf8'))}\n${VIEWER_SCRIPT}`,
    ),
    style: Buffer.from(`${withoutSourceMap(readFileSync(rrwebDistFile('style.min.css'), 'utf8'))}\n${VIEWER_CSS}`),
  };
  return assets;
}

function withoutSourceMap(code: string): string {
  return code.replace(/\n\/[/*]# sourceMappingURL=\S+\s*(\*\/)?\s*$/, '\n');
}

/**
 * rrweb's package exports list neither its UMD bundle nor its minified CSS, and the gateway is bundled by webpack
 * (no require.resolve of a real path): look in the node_modules above this file and above the working directory.
 */
function rrwebDistFile(name: string): string {
  for (const start of [__dirname, process.cwd()]) {
    for (let dir = start; ; dir = dirname(dir)) {
      const candidate = join(dir, 'node_modules', 'rrweb', 'dist', name);
      if (existsSync(candidate)) return candidate;
      if (dirname(dir) === dir) break;
    }
  }
  throw new Error(`rrweb's dist/${name} not found in any node_modules`);
}
