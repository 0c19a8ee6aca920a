import WebSocket from 'ws';
import type { CdpSession } from '@bctrl/cdp-client';
import { platformInstruments } from '@bctrl/telemetry';

/**
 * The live-view wire protocol between the viewer page and cdp-proxy: JSON text messages.
 *
 * proxy → viewer
 *   {type: 'hello', interactive}
 *   {type: 'targets', targets: [{targetId, url, title}], activeTargetId}
 *   {type: 'frame', targetId, data: <base64 JPEG>, metadata: {deviceWidth, deviceHeight, offsetTop, pageScaleFactor, timestamp}}
 *   {type: 'notice', message}
 * viewer → proxy
 *   {type: 'select', targetId}
 *   {type: 'mouse', action: 'down'|'up'|'move', x, y, button, clickCount, modifiers}   (CSS pixels of the page)
 *   {type: 'wheel', x, y, deltaX, deltaY, modifiers}
 *   {type: 'key', action: 'down'|'up', key, code, text, keyCode, modifiers}
 */
export interface LiveTarget {
  targetId: string;
  url: string;
  title: string;
}

const MOUSE_ACTIONS = { down: 'mousePressed', up: 'mouseReleased', move: 'mouseMoved' } as const;
const MOUSE_BUTTONS = new Set(['none', 'left', 'middle', 'right', 'back', 'forward']);
/** A frame JPEG at this quality is ≈ 60–150 kB for a 1280×720 page: good enough to read, cheap to send. */
const SCREENCAST = { format: 'jpeg', quality: 70, maxWidth: 1920, maxHeight: 1920, everyNthFrame: 1 } as const;
/** A viewer that cannot take frames as fast as they come gets fewer of them, never an unbounded queue. */
const MAX_VIEWER_BUFFER = 8 * 1024 * 1024;
const TARGETS_DEBOUNCE_MS = 50;
const TITLE_REFRESH_MS = 1_000;

/**
 * One viewer watching one runtime: a browser-level CDP connection of its own that follows the page targets,
 * screencasts the selected one (Chromium sends a frame only when the page changed, and the next only after this
 * one is acknowledged, which is acknowledged only once the viewer's socket took it: backpressure end to end),
 * and, when the lease allows, turns the viewer's mouse, wheel and keyboard messages into Input.* commands.
 */
export class LiveViewSession {
  private readonly targets = new Map<string, LiveTarget>();
  private activeTargetId: string | null = null;
  private sessionId: string | null = null;
  private targetsTimer: NodeJS.Timeout | null = null;
  private refreshTimer: NodeJS.Timeout | null = null;
  private lastTargets = '';
  private ended = false;
  private noticeSent = false;
  /** Frames forwarded and input events passed through, reported when the viewer leaves. */
  readonly stats = { frames: 0, framesDropped: 0, inputs: 0 };

  /**
   * Listens on both sockets at once: a viewer may send as soon as its socket opened, and a message nobody listens
   * for is gone.
   */
  constructor(
    private readonly viewer: WebSocket,
    private readonly browser: CdpSession,
    private readonly interactive: boolean,
  ) {
    browser.on('Page.screencastFrame', (params, sessionId) => this.onFrame(sessionId, params));
    const onTarget = (params: Record<string, unknown>) => {
      if (this.track(params['targetInfo'] as LiveTarget & { type: string })) this.scheduleTargets();
    };
    browser.on('Target.targetCreated', onTarget);
    browser.on('Target.targetInfoChanged', onTarget);
    browser.on('Target.targetDestroyed', (params) => this.onTargetDestroyed(params['targetId'] as string));
    this.viewer.on('message', (data, isBinary) => {
      if (!isBinary) this.onViewerMessage(String(data));
    });
  }

  /** Follows the targets; resolves once the first page is being screencast (or there is none yet). */
  async start(): Promise<void> {
    this.send({ type: 'hello', interactive: this.interactive });
    await this.call('Target.setDiscoverTargets', { discover: true });
    const { targetInfos } = (await this.call('Target.getTargets')) as {
      targetInfos: Array<LiveTarget & { type: string }>;
    };
    for (const info of targetInfos) this.track(info);
    const first = [...this.targets.keys()][0];
    this.sendTargets();
    // Chromium reports a page's title change with no targetInfoChanged of its own: the tab list is refreshed.
    this.refreshTimer = setInterval(() => void this.refreshTargets(), TITLE_REFRESH_MS);
    if (first) await this.select(first);
  }

  private async refreshTargets(): Promise<void> {
    try {
      const { targetInfos } = (await this.call('Target.getTargets')) as {
        targetInfos: Array<LiveTarget & { type: string }>;
      };
      let changed = false;
      for (const info of targetInfos) changed = this.track(info) || changed;
      if (changed) this.scheduleTargets();
    } catch {
      // The browser is going away; the socket's close ends the session.
    }
  }

  /** Both sockets gone: nothing more is sent or commanded. */
  end(): void {
    this.ended = true;
    if (this.targetsTimer) clearTimeout(this.targetsTimer);
    if (this.refreshTimer) clearInterval(this.refreshTimer);
  }

  private async select(targetId: string): Promise<void> {
    if (this.ended || targetId === this.activeTargetId || !this.targets.has(targetId)) return;
    const previous = this.sessionId;
    this.activeTargetId = targetId;
    this.sessionId = null;
    if (previous) {
      // Detaching stops that page's screencast too; its last unacknowledged frame dies with the session.
      void this.call('Target.detachFromTarget', { sessionId: previous }).catch(() => undefined);
    }
    this.sendTargets();
    try {
      const { sessionId } = (await this.call('Target.attachToTarget', { targetId, flatten: true })) as {
        sessionId: string;
      };
      if (this.activeTargetId !== targetId) {
        // The viewer switched again while this attach was in flight.
        void this.call('Target.detachFromTarget', { sessionId }).catch(() => undefined);
        return;
      }
      this.sessionId = sessionId;
      await this.call('Page.startScreencast', SCREENCAST, sessionId);
    } catch {
      // The page closed under us; targetDestroyed picks the next one.
    }
  }

  private onTargetDestroyed(targetId: string): void {
    if (!this.targets.delete(targetId)) return;
    if (targetId === this.activeTargetId) {
      this.activeTargetId = null;
      this.sessionId = null;
      const next = [...this.targets.keys()][0];
      if (next) void this.select(next);
    }
    this.scheduleTargets();
  }

  private onFrame(sessionId: string | undefined, params: Record<string, unknown>): void {
    const ack = () => {
      if (!this.ended && sessionId) {
        void this.call('Page.screencastFrameAck', { sessionId: params['sessionId'] }, sessionId).catch(() => undefined);
      }
    };
    if (!sessionId || sessionId !== this.sessionId) return;
    // One counter call per frame is nothing beside the frame itself (a JPEG of 60–150 kB, re-encoded as JSON).
    if (this.viewer.bufferedAmount > MAX_VIEWER_BUFFER) {
      this.stats.framesDropped++;
      platformInstruments().liveViewFrames.add(1, { outcome: 'dropped' });
      ack();
      return;
    }
    this.stats.frames++;
    platformInstruments().liveViewFrames.add(1, { outcome: 'sent' });
    const frame = JSON.stringify({
      type: 'frame',
      targetId: this.activeTargetId,
      data: params['data'],
      metadata: params['metadata'],
    });
    // The acknowledgement asks Chromium for the next frame: send it once this one has left for the viewer.
    this.viewer.send(frame, () => ack());
  }

  private onViewerMessage(text: string): void {
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return;
    }
    if (typeof message !== 'object' || message === null) return;
    if (message['type'] === 'select') {
      if (typeof message['targetId'] === 'string') void this.select(message['targetId']);
      return;
    }
    const command = inputCommand(message);
    if (!command) return;
    if (!this.interactive) {
      if (!this.noticeSent) this.send({ type: 'notice', message: 'This live view is view-only.' });
      this.noticeSent = true;
      return;
    }
    if (!this.sessionId) return;
    this.stats.inputs++;
    void this.call(command.method, command.params, this.sessionId).catch(() => undefined);
  }

  /** Tracks a page target; true when the list the viewer sees changed. */
  private track(info: (LiveTarget & { type: string }) | undefined): boolean {
    if (!info || info.type !== 'page' || info.url.startsWith('devtools://')) return false;
    const known = this.targets.get(info.targetId);
    if (known && known.url === info.url && known.title === info.title) return false;
    this.targets.set(info.targetId, { targetId: info.targetId, url: info.url, title: info.title });
    // The first page to appear in an empty browser is shown without the viewer asking.
    if (!this.activeTargetId && this.targets.size === 1 && !this.ended) void this.select(info.targetId);
    return true;
  }

  private scheduleTargets(): void {
    if (this.targetsTimer || this.ended) return;
    this.targetsTimer = setTimeout(() => {
      this.targetsTimer = null;
      this.sendTargets();
    }, TARGETS_DEBOUNCE_MS);
  }

  private sendTargets(): void {
    const message = JSON.stringify({
      type: 'targets',
      targets: [...this.targets.values()],
      activeTargetId: this.activeTargetId,
    });
    if (message === this.lastTargets) return;
    this.lastTargets = message;
    if (!this.ended && this.viewer.readyState === WebSocket.OPEN) this.viewer.send(message);
  }

  private send(message: object): void {
    if (!this.ended && this.viewer.readyState === WebSocket.OPEN) this.viewer.send(JSON.stringify(message));
  }

  private call(method: string, params: object = {}, sessionId?: string): Promise<Record<string, unknown>> {
    if (this.ended) return Promise.reject(new Error('live view ended'));
    return this.browser.send(method, params, sessionId ? { sessionId } : {});
  }
}

const finite = (value: unknown, min: number, max: number): value is number =>
  typeof value === 'number' && Number.isFinite(value) && value >= min && value <= max;

/** A viewer's input message as the CDP command it becomes; anything malformed is dropped, never forwarded. */
export function inputCommand(message: Record<string, unknown>): { method: string; params: object } | null {
  const modifiers = finite(message['modifiers'], 0, 15) ? Math.trunc(message['modifiers']) : 0;
  switch (message['type']) {
    case 'mouse': {
      const action = MOUSE_ACTIONS[message['action'] as keyof typeof MOUSE_ACTIONS];
      const button = typeof message['button'] === 'string' ? message['button'] : 'none';
      if (!action || !finite(message['x'], 0, 100_000) || !finite(message['y'], 0, 100_000)) return null;
      if (!MOUSE_BUTTONS.has(button)) return null;
      const clickCount = finite(message['clickCount'], 0, 3) ? Math.trunc(message['clickCount']) : 0;
      return {
        method: 'Input.dispatchMouseEvent',
        params: { type: action, x: message['x'], y: message['y'], button, clickCount, modifiers },
      };
    }
    case 'wheel': {
      if (!finite(message['x'], 0, 100_000) || !finite(message['y'], 0, 100_000)) return null;
      if (!finite(message['deltaX'], -100_000, 100_000) || !finite(message['deltaY'], -100_000, 100_000)) return null;
      return {
        method: 'Input.dispatchMouseEvent',
        params: {
          type: 'mouseWheel',
          x: message['x'],
          y: message['y'],
          deltaX: message['deltaX'],
          deltaY: message['deltaY'],
          modifiers,
        },
      };
    }
    case 'key': {
      const action = message['action'];
      const key = message['key'];
      if ((action !== 'down' && action !== 'up') || typeof key !== 'string' || key.length === 0 || key.length > 32) {
        return null;
      }
      const code = typeof message['code'] === 'string' && message['code'].length <= 32 ? message['code'] : '';
      const text = typeof message['text'] === 'string' && message['text'].length <= 4 ? message['text'] : '';
      const keyCode = finite(message['keyCode'], 0, 255) ? Math.trunc(message['keyCode']) : 0;
      return {
        method: 'Input.dispatchKeyEvent',
        params: {
          // A keyDown with text types it (what Playwright's keyboard does); without, it is a bare key press.
          type: action === 'down' ? (text ? 'keyDown' : 'rawKeyDown') : 'keyUp',
          key,
          code,
          ...(action === 'down' && text ? { text, unmodifiedText: text } : {}),
          windowsVirtualKeyCode: keyCode,
          nativeVirtualKeyCode: keyCode,
          modifiers,
        },
      };
    }
    default:
      return null;
  }
}
