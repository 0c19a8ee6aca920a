/**
 * The live-view page: plain HTML and one same-origin script (no framework, no CDN, no inline script, so a strict
 * CSP holds). The script opens `/v1/live/<token>/ws`, draws each screencast frame into an <img>, shows the
 * runtime's tabs and, when the lease is interactive, sends mouse, wheel and keyboard input mapped to the page's
 * CSS pixels. The protocol is described in libs/cdp-proxy/src/live-view/live-view-session.ts.
 */
export function liveViewHtml(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>BCTRL live view</title>
<link rel="stylesheet" href="/v1/live/live-view.css">
</head>
<body data-state="connecting" data-frames="0">
<header>
  <nav id="tabs" aria-label="Tabs"></nav>
  <span id="status" role="status">Connecting…</span>
</header>
<main id="stage" tabindex="0" aria-label="Live browser">
  <img id="screen" alt="The runtime's browser" draggable="false">
</main>
<script src="/v1/live/live-view.js"></script>
</body>
</html>`;
}

export const LIVE_VIEW_CSS = `
html, body { margin: 0; height: 100%; background: #111; color: #eee; font: 13px system-ui, sans-serif; }
body { display: flex; flex-direction: column; }
header { display: flex; align-items: center; gap: 8px; padding: 4px 8px; background: #1d1d1f; min-height: 30px; }
#tabs { display: flex; gap: 4px; flex: 1; overflow-x: auto; }
#tabs button { background: #2c2c2e; color: #ddd; border: 0; border-radius: 4px; padding: 4px 10px; max-width: 220px;
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis; cursor: pointer; }
#tabs button[aria-selected="true"] { background: #0a84ff; color: #fff; }
#status { color: #aaa; white-space: nowrap; }
#stage { flex: 1; display: flex; align-items: center; justify-content: center; overflow: hidden; outline: none; }
#screen { max-width: 100%; max-height: 100%; object-fit: contain; user-select: none; }
body[data-interactive="true"] #screen { cursor: default; }
body[data-state="ended"] #screen { opacity: 0.4; }
`;

/** The viewer. Kept ES2017 and dependency-free: it runs in whatever browser a tenant opens the link in. */
export const LIVE_VIEW_SCRIPT = `'use strict';
(function () {
  var token = location.pathname.split('/').filter(Boolean)[2];
  var screen = document.getElementById('screen');
  var stage = document.getElementById('stage');
  var tabs = document.getElementById('tabs');
  var statusEl = document.getElementById('status');
  var interactive = false;
  var metadata = null;
  var frames = 0;
  var ended = false;
  var CLOSE_TEXT = {
    4001: 'This live view was revoked.',
    4002: 'This live view link has expired.',
    4003: 'The runtime has stopped.',
    1001: 'The platform is restarting; reload to reconnect.'
  };

  function setStatus(text, state) {
    statusEl.textContent = text;
    if (state) document.body.dataset.state = state;
  }

  var proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  var socket = new WebSocket(proto + '//' + location.host + '/v1/live/' + token + '/ws');
  var opened = false;
  socket.onopen = function () { opened = true; setStatus('Live', 'live'); };
  socket.onclose = function (event) {
    ended = true;
    var text = CLOSE_TEXT[event.code] || (opened ? 'The live view ended.' : 'This live view link is invalid or has expired.');
    setStatus(text, 'ended');
    document.body.dataset.closeCode = String(event.code);
  };
  socket.onmessage = function (event) {
    var message;
    try { message = JSON.parse(event.data); } catch (e) { return; }
    if (message.type === 'hello') {
      interactive = !!message.interactive;
      document.body.dataset.interactive = String(interactive);
      if (!interactive) setStatus('Live (view only)');
    } else if (message.type === 'frame') {
      metadata = message.metadata;
      screen.src = 'data:image/jpeg;base64,' + message.data;
      frames += 1;
      document.body.dataset.frames = String(frames);
    } else if (message.type === 'targets') {
      renderTabs(message.targets, message.activeTargetId);
    } else if (message.type === 'notice') {
      setStatus(message.message);
    }
  };

  function send(message) {
    if (!ended && socket.readyState === 1) socket.send(JSON.stringify(message));
  }

  function renderTabs(targets, activeId) {
    tabs.textContent = '';
    targets.forEach(function (target) {
      var button = document.createElement('button');
      button.type = 'button';
      button.textContent = target.title || target.url || 'New tab';
      button.title = target.url;
      button.dataset.targetId = target.targetId;
      button.setAttribute('role', 'tab');
      button.setAttribute('aria-selected', String(target.targetId === activeId));
      button.onclick = function () { send({ type: 'select', targetId: target.targetId }); };
      tabs.appendChild(button);
    });
  }

  // Frame pixels → the page's CSS pixels: the image is scaled to fit, the frame covers deviceWidth × deviceHeight.
  function point(event) {
    var rect = screen.getBoundingClientRect();
    if (!metadata || rect.width === 0 || rect.height === 0) return null;
    var x = (event.clientX - rect.left) / rect.width * metadata.deviceWidth;
    var y = (event.clientY - rect.top) / rect.height * metadata.deviceHeight;
    if (x < 0 || y < 0 || x > metadata.deviceWidth || y > metadata.deviceHeight) return null;
    return { x: Math.round(x), y: Math.round(y) };
  }
  function modifiers(event) {
    return (event.altKey ? 1 : 0) | (event.ctrlKey ? 2 : 0) | (event.metaKey ? 4 : 0) | (event.shiftKey ? 8 : 0);
  }
  var BUTTONS = ['left', 'middle', 'right', 'back', 'forward'];
  function mouse(action, event, clickCount) {
    var p = point(event);
    if (!p) return;
    send({ type: 'mouse', action: action, x: p.x, y: p.y, modifiers: modifiers(event),
      button: action === 'move' ? (event.buttons & 1 ? 'left' : 'none') : (BUTTONS[event.button] || 'left'),
      clickCount: clickCount });
  }
  var pendingMove = null;
  screen.addEventListener('mousedown', function (event) {
    if (!interactive) return;
    event.preventDefault();
    stage.focus();
    mouse('down', event, event.detail || 1);
  });
  screen.addEventListener('mouseup', function (event) {
    if (interactive) { event.preventDefault(); mouse('up', event, event.detail || 1); }
  });
  // Moves are sent at most once per animation frame: a viewer cannot flood the browser with input.
  screen.addEventListener('mousemove', function (event) {
    if (!interactive) return;
    if (!pendingMove) requestAnimationFrame(function () { mouse('move', pendingMove, 0); pendingMove = null; });
    pendingMove = event;
  });
  screen.addEventListener('contextmenu', function (event) { if (interactive) event.preventDefault(); });
  stage.addEventListener('wheel', function (event) {
    if (!interactive) return;
    event.preventDefault();
    var p = point(event);
    if (p) send({ type: 'wheel', x: p.x, y: p.y, deltaX: event.deltaX, deltaY: event.deltaY, modifiers: modifiers(event) });
  }, { passive: false });
  function key(action, event) {
    if (!interactive) return;
    event.preventDefault();
    var text = action === 'down' && event.key.length === 1 && !event.ctrlKey && !event.metaKey ? event.key
      : action === 'down' && event.key === 'Enter' ? '\\r' : '';
    send({ type: 'key', action: action, key: event.key, code: event.code, text: text,
      keyCode: event.keyCode || 0, modifiers: modifiers(event) });
  }
  stage.addEventListener('keydown', function (event) { key('down', event); });
  stage.addEventListener('keyup', function (event) { key('up', event); });
})();
`;
