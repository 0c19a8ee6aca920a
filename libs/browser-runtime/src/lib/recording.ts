import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, type WriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream';
import { CdpSession } from '@bctrl/cdp-client';

/** The recording's file in the agent's work dir: NDJSON, one `{"targetId", "event"}` line per rrweb event. */
export const RECORDING_FILE = 'recording.ndjson';
/** Past this size the recording stops (with a marker line): a runaway page must not fill the runtime's disk. */
export const RECORDING_MAX_BYTES = 256 * 1024 * 1024;
/** How long a GET waits for the pages to hand over what they have batched. */
const FLUSH_TIMEOUT_MS = 1_500;
/** One page's pending chunks of a split batch; more than this from one flush is not a recorder talking. */
const MAX_PARTIAL_BYTES = 64 * 1024 * 1024;

/**
 * What runs in each page, inside the isolated world after the rrweb bundle. It batches events (a timer, or at
 * once past 1 MB: a full snapshot of a big page is several MB) into newline-joined JSON texts handed to the
 * binding, split into pieces of at most CHUNK characters so that no CDP message grows unbounded. Everything it
 * touches (globals, prototypes, listeners) belongs to the isolated world: the page's own scripts cannot see it.
 */
function bootstrapSource(binding: string): string {
  return `;(function () {
  'use strict';
  var send = globalThis[${JSON.stringify(binding)}];
  // Same-origin iframes are serialized by their top frame's recorder; others are not recorded.
  if (typeof send !== 'function' || window !== window.top || globalThis.__bctrlRecorder) return;
  var CHUNK = 512 * 1024;
  var queue = [];
  var size = 0;
  var timer = 0;
  var stopRecording = null;
  // rrweb marks an input that stops being a password (a "show password" toggle) with a data-rr-is-password
  // attribute on the live element, which the page would see. These prototypes are the isolated world's own, so
  // the mark stays in a WeakSet here instead and the page's DOM is left as it was.
  var wasPassword = new WeakSet();
  var setAttribute = Element.prototype.setAttribute;
  var hasAttribute = Element.prototype.hasAttribute;
  Element.prototype.setAttribute = function (name, value) {
    if (name === 'data-rr-is-password') { wasPassword.add(this); return; }
    return setAttribute.call(this, name, value);
  };
  Element.prototype.hasAttribute = function (name) {
    if (name === 'data-rr-is-password') return wasPassword.has(this);
    return hasAttribute.call(this, name);
  };
  // Isolated worlds have no custom element registry (customElements is null): rrweb asks it about every element
  // and the TypeError it catches made a snapshot ~9x slower. A valid custom element name has a hyphen; the replay
  // only uses the answer to define a placeholder element.
  if (!globalThis.customElements) {
    Object.defineProperty(globalThis, 'customElements', {
      configurable: true,
      value: { get: function (name) { return String(name).indexOf('-') > 0 ? HTMLElement : undefined; } },
    });
  }
  var SECRET_AUTOCOMPLETE = /(^|\\s)(current-password|new-password|one-time-code|cc-number|cc-csc|cc-exp\\S*)(\\s|$)/i;
  function isSecret(element) {
    if (!element || element.tagName !== 'INPUT') return false;
    if (element.type === 'password') wasPassword.add(element);
    return wasPassword.has(element) || SECRET_AUTOCOMPLETE.test(element.getAttribute('autocomplete') || '');
  }
  function flush() {
    if (timer) { clearTimeout(timer); timer = 0; }
    if (queue.length === 0) return;
    var text = queue.join('\\n');
    queue = [];
    size = 0;
    if (text.length <= CHUNK) { send('b' + text); return; }
    for (var start = 0; start < text.length; ) {
      var end = Math.min(start + CHUNK, text.length);
      // Never split a surrogate pair: each piece must be valid UTF-16 to survive CDP's UTF-8.
      var last = text.charCodeAt(end - 1);
      if (end < text.length && last >= 0xd800 && last <= 0xdbff) end--;
      send((end >= text.length ? 'e' : 'p') + text.slice(start, end));
      start = end;
    }
  }
  function emit(event) {
    var json = JSON.stringify(event);
    queue.push(json);
    size += json.length;
    if (size > 1024 * 1024) flush();
    else if (!timer) timer = setTimeout(flush, 200);
  }
  // The last events of a document (the click that navigated away) leave before it does. On a navigation only
  // beforeunload still reaches the agent (by pagehide the new document has replaced this context); pagehide
  // covers a closing tab.
  addEventListener('beforeunload', flush, true);
  addEventListener('pagehide', flush, true);
  addEventListener('visibilitychange', function () { if (document.visibilityState === 'hidden') flush(); }, true);
  globalThis.__bctrlRecorder = {
    flush: flush,
    stop: function () { if (stopRecording) stopRecording(); stopRecording = null; flush(); },
  };
  stopRecording = rrweb.record({
    emit: emit,
    recordAfter: 'DOMContentLoaded',
    // Every input type goes through isSecret: passwords (also after a show-password toggle), card numbers and
    // one-time codes are stored as asterisks, anything else as typed.
    maskInputOptions: {
      password: true, text: true, email: true, tel: true, number: true, search: true, url: true,
      color: true, date: true, 'datetime-local': true, month: true, range: true, time: true, week: true,
    },
    maskInputFn: function (text, element) { return isSecret(element) ? '*'.repeat(text.length) : text; },
    slimDOMOptions: true,
    recordCanvas: false,
    collectFonts: false,
    inlineImages: false,
    recordCrossOriginIframes: false,
    sampling: { mousemove: 50, scroll: 150, input: 'last' },
  });
})();`;
}

/**
 * The script every new document gets in the recorder's world. Child frames skip it whole, rrweb's bundle included
 * (a page full of ad iframes would otherwise evaluate 280 kB in each): the top frame's rrweb serializes same-origin
 * frames itself. The bundle's source map comment goes, so no DevTools client tries to fetch a map for it.
 */
function recorderSource(bundle: string, binding: string): string {
  const code = bundle.replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n');
  return `if (window === window.top) {\n${code}\n${bootstrapSource(binding)}\n}\n`;
}

/** Finds a file of rrweb's dist folder (its package exports do not list the UMD bundle). */
export function rrwebDistFile(name: string): string {
  for (const start of [__dirname, process.cwd()]) {
    for (let dir = start; ; dir = dirname(dir)) {
      const candidate = join(dir, 'node_modules', 'rrweb', 'dist', name);
      if (existsSync(candidate)) return candidate;
      if (dirname(dir) === dir) break;
    }
  }
  throw new Error(`rrweb's dist/${name} not found in any node_modules`);
}

interface PageSession {
  targetId: string;
  /** Pieces of a batch split by the page ('p' … 'e'), kept until its last piece arrives. */
  partial: string[];
  partialBytes: number;
}

/**
 * Records every page of the browser with rrweb, run inside an isolated world so the page's scripts can neither see
 * the recorder nor tamper with what it records. A CDP connection of its own auto-attaches to every page (new tabs
 * are held at their start until the recorder's commands are sent), adds a binding visible only in that world and
 * the recorder script for every new document, and starts it in a page's current document unless that is a new
 * tab's initial empty one. The events go straight to a file, never held here.
 */
export class PageRecorder {
  private readonly binding = `__bctrl_rec_${randomBytes(6).toString('hex')}`;
  private readonly worldName = `bctrl-recorder-${randomBytes(6).toString('hex')}`;
  private readonly sessions = new Map<string, PageSession>();
  /** Opened by attach, after the agent's ready line: nothing of recording is on a cold start's path. */
  private out: WriteStream | null = null;
  private cdp: CdpSession | null = null;
  private source = '';
  /** Bytes handed to the file (a line is counted before it is written). */
  private bytes = 0;
  /** Bytes the file is known to hold: what a reader may be given. */
  private written = 0;
  private stopped = false;
  private closed = false;

  constructor(
    readonly file: string,
    private readonly maxBytes = RECORDING_MAX_BYTES,
  ) {}

  async attach(cdpUrl: string): Promise<void> {
    this.source = recorderSource(await readFile(rrwebDistFile('rrweb.umd.min.cjs'), 'utf8'), this.binding);
    if (this.closed) return;
    const out = createWriteStream(this.file, { flags: 'a' });
    this.out = out;
    out.on('error', (error) => this.stop(`write failed: ${error.message}`));
    // A slow disk holds the browser's messages back on the socket instead of piling them up in memory.
    out.on('drain', () => this.cdp?.resume());
    const cdp = await CdpSession.connect(cdpUrl, { maxPayload: 256 * 1024 * 1024 });
    this.cdp = cdp;
    cdp.on('Target.attachedToTarget', (params) => {
      void this.onAttached(
        params['sessionId'] as string,
        params['targetInfo'] as { targetId: string; type: string },
        params['waitingForDebugger'] === true,
      );
    });
    cdp.on('Target.detachedFromTarget', (params) => void this.sessions.delete(params['sessionId'] as string));
    cdp.on('Runtime.bindingCalled', (params, sessionId) => {
      const page = sessionId ? this.sessions.get(sessionId) : undefined;
      if (page && params['name'] === this.binding && typeof params['payload'] === 'string') {
        this.onPayload(page, params['payload']);
      }
    });
    // New pages wait for us at their start (waitForDebuggerOnStart), so not even their first document escapes.
    await cdp.send('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: true, flatten: true });
  }

  /** Writes the recording so far to `res` as NDJSON, after asking every page for what it has batched. */
  async serve(res: ServerResponse): Promise<void> {
    await this.flushPages();
    await this.drained();
    const length = this.written;
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'content-length': length });
    if (length === 0) {
      res.end();
      return;
    }
    // Only the bytes known to be complete lines: the file may be growing while it is read.
    // pipeline, not pipe: a reader that goes away must not leave the file open.
    pipeline(createReadStream(this.file, { start: 0, end: length - 1 }), res, () => undefined);
  }

  /** Stops recording and lets go of the browser; the file stays for whoever collects it. */
  close(): void {
    this.closed = true;
    this.cdp?.close();
    this.cdp = null;
    this.out?.end();
  }

  private async flushPages(): Promise<void> {
    if (this.stopped || !this.cdp) return;
    // The page's binding calls reach us on this socket before the reply to this evaluate does.
    const flushes = [...this.sessions.entries()].map(([sessionId, page]) =>
      this.inRecorderWorld(sessionId, page, 'globalThis.__bctrlRecorder && globalThis.__bctrlRecorder.flush()'),
    );
    await Promise.race([
      Promise.allSettled(flushes),
      new Promise((resolve) => setTimeout(resolve, FLUSH_TIMEOUT_MS).unref()),
    ]);
  }

  /** Resolves once every line accepted so far is in the file. */
  private drained(): Promise<void> {
    const out = this.out;
    if (!out || this.written === this.bytes || out.destroyed) return Promise.resolve();
    return new Promise((resolve) => out.write('', () => resolve()));
  }

  /** Calls into a page's session; a page that went away meanwhile answers with nothing, which is no error here. */
  private send(method: string, params: object, sessionId?: string): Promise<Record<string, unknown> | null> {
    if (!this.cdp) return Promise.resolve(null);
    return this.cdp.send(method, params, sessionId ? { sessionId } : {}).catch(() => null);
  }

  /** Evaluates in the recorder's isolated world of a page. */
  private async inRecorderWorld(sessionId: string, page: PageSession, expression: string): Promise<void> {
    // The same name finds the world the recorder already runs in (Chromium keeps one per name and frame); a page's
    // main frame id is its target id.
    const world = await this.send(
      'Page.createIsolatedWorld',
      { frameId: page.targetId, worldName: this.worldName },
      sessionId,
    );
    const contextId = world?.['executionContextId'];
    if (typeof contextId !== 'number') return;
    await this.send('Runtime.evaluate', { expression, contextId }, sessionId);
  }

  private async onAttached(
    sessionId: string,
    info: { targetId: string; type: string },
    waiting: boolean,
  ): Promise<void> {
    if (info.type !== 'page' || this.stopped) {
      if (waiting) await this.send('Runtime.runIfWaitingForDebugger', {}, sessionId);
      await this.send('Target.detachFromTarget', { sessionId });
      return;
    }
    const page: PageSession = { targetId: info.targetId, partial: [], partialBytes: 0 };
    this.sessions.set(sessionId, page);
    // Sent together, and a held tab is released by the last of them without waiting for the answers: a session runs
    // its commands in order, so all of this is in place before the tab's first document starts, and the tab never
    // waits for a round trip to this process (hundreds of milliseconds on a loaded machine). Chromium 156 needs
    // both domains enabled on this session: without Runtime no binding is installed in new contexts, without Page no
    // script runs on a new document.
    const setup = Promise.all([
      this.send('Runtime.enable', {}, sessionId),
      this.send('Page.enable', {}, sessionId),
      // The binding exists only in contexts of the recorder's world: the page's main world has no such global.
      this.send('Runtime.addBinding', { name: this.binding, executionContextName: this.worldName }, sessionId),
      this.send('Page.addScriptToEvaluateOnNewDocument', { source: this.source, worldName: this.worldName }, sessionId),
      // After the script is registered: whatever document this names, every later one gets the script.
      this.send('Page.getFrameTree', {}, sessionId),
    ]);
    if (waiting) void this.send('Runtime.runIfWaitingForDebugger', {}, sessionId);
    const [, , , , tree] = await setup;
    // A document that was there before (the first tab, a pooled browser's, a tab opened just before this connection
    // auto-attached) is recorded from now on. A tab's initial empty document (URL '') is not: its first navigation
    // replaces it. rrweb in it adds iframes to it, and Chromium then no longer closes a new tab whose first
    // navigation became a download: the tab stays, empty, and Playwright's connectOverCDP waits for that page's
    // first navigation until it times out (Playwright takes a page at URL '' for one still opening).
    const url = (tree?.['frameTree'] as { frame?: { url?: string } } | undefined)?.frame?.url;
    if (url) await this.inRecorderWorld(sessionId, page, this.source);
  }

  private onPayload(page: PageSession, payload: string): void {
    if (this.stopped) return;
    const kind = payload[0];
    const body = payload.slice(1);
    if (kind === 'p') {
      page.partialBytes += body.length;
      if (page.partialBytes > MAX_PARTIAL_BYTES) {
        page.partial = [];
        page.partialBytes = 0;
        return;
      }
      page.partial.push(body);
      return;
    }
    if (kind !== 'b' && kind !== 'e') return;
    const batch = kind === 'e' ? page.partial.join('') + body : body;
    page.partial = [];
    page.partialBytes = 0;
    const target = JSON.stringify(page.targetId);
    let lines = '';
    for (const event of batch.split('\n')) {
      // The payload comes from a renderer: only well-formed events become lines, so one line is one event.
      if (!isRrwebEvent(event)) continue;
      lines += `{"targetId":${target},"event":${event}}\n`;
    }
    this.write(lines);
  }

  private write(lines: string): void {
    if (lines === '') return;
    const size = Buffer.byteLength(lines);
    if (this.bytes + size > this.maxBytes) {
      this.stop(`size limit of ${this.maxBytes} bytes reached`);
      return;
    }
    this.append(lines, size);
  }

  private append(lines: string, size: number): void {
    if (!this.out) return;
    this.bytes += size;
    const more = this.out.write(lines, (error) => {
      if (!error) this.written += size;
    });
    if (!more) this.cdp?.pause();
  }

  /** Ends recording for good with a marker line a replay can show; pages stop their rrweb too. */
  private stop(reason: string): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.out && !this.out.destroyed) {
      const marker = `${JSON.stringify({ targetId: null, event: null, stopped: reason, at: Date.now() })}\n`;
      this.append(marker, Buffer.byteLength(marker));
    }
    for (const [sessionId, page] of this.sessions) {
      void this.inRecorderWorld(sessionId, page, 'globalThis.__bctrlRecorder && globalThis.__bctrlRecorder.stop()');
    }
  }
}

/** A JSON object with rrweb's numeric `type` and `timestamp`, checked without trusting the page's word for it. */
function isRrwebEvent(text: string): boolean {
  if (text.length < 2 || text[0] !== '{') return false;
  try {
    const value = JSON.parse(text) as { type?: unknown; timestamp?: unknown } | null;
    return typeof value?.type === 'number' && typeof value.timestamp === 'number';
  } catch {
    return false;
  }
}
