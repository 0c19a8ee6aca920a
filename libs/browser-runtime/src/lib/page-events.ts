import type WebSocket from 'ws';
import type { AgentEvent } from '@bctrl/contracts';
import { loadWebSocket } from './cdp';

/** A console message longer than this is cut: events are a record, not a log shipper. */
const CONSOLE_TEXT_MAX = 1_000;
/** Events kept for readers that fall behind; older ones are dropped (and counted in the next event's data). */
const MAX_EVENTS = 10_000;

interface TargetInfo {
  targetId: string;
  type: string;
  url: string;
  title: string;
}

/**
 * Watches the browser on a CDP connection of the agent's own: page targets appearing, navigating and closing
 * (Target domain, browser-wide), and console messages of every page (auto-attached flat sessions with Runtime
 * enabled). Numbered events wait here until the platform reads them (`since`, long-polled over HTTP).
 */
export class PageEventFeed {
  private readonly events: AgentEvent[] = [];
  private seq = 0;
  private readonly waiters = new Set<() => void>();
  private readonly pages = new Map<string, TargetInfo>();
  private readonly sessions = new Map<string, string>();
  private socket: WebSocket | null = null;
  private nextId = 1;

  async attach(cdpUrl: string): Promise<void> {
    const WebSocketCtor = await loadWebSocket();
    const socket = new WebSocketCtor(cdpUrl, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
    this.socket = socket;
    socket.on('error', () => undefined);
    socket.on('message', (data) => this.onMessage(String(data)));
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    this.send('Target.setDiscoverTargets', { discover: true });
    this.send('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: false, flatten: true });
  }

  /** Events after `after`, at most `limit`; waits up to `waitMs` for one when there is none yet. */
  async since(after: number, limit: number, waitMs: number): Promise<AgentEvent[]> {
    if (this.seq <= after && waitMs > 0) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, waitMs);
        this.waiters.add(done);
      });
    }
    const first = this.events.findIndex((event) => event.seq > after);
    return first < 0 ? [] : this.events.slice(first, first + limit);
  }

  close(): void {
    for (const done of [...this.waiters]) done();
    this.socket?.terminate();
    this.socket = null;
  }

  private send(method: string, params: object, sessionId?: string): void {
    if (this.socket?.readyState !== 1) return;
    this.socket.send(JSON.stringify({ id: this.nextId++, method, params, ...(sessionId ? { sessionId } : {}) }));
  }

  private onMessage(text: string): void {
    let message: { method?: string; params?: Record<string, unknown>; sessionId?: string };
    try {
      message = JSON.parse(text) as typeof message;
    } catch {
      return;
    }
    const params = message.params ?? {};
    // Replies to our own commands carry no method; nothing else than events is of interest here.
    const method: string = message.method ?? '';
    switch (method) {
      case 'Target.targetCreated': {
        const info = params['targetInfo'] as TargetInfo;
        if (info.type !== 'page') return;
        this.pages.set(info.targetId, { ...info });
        this.push('page.created', { targetId: info.targetId, url: info.url });
        return;
      }
      case 'Target.targetInfoChanged': {
        const info = params['targetInfo'] as TargetInfo;
        const known = this.pages.get(info.targetId);
        if (!known) return;
        // A new tab's URL goes from '' to about:blank and back before its first real load: not navigations.
        if (known.url !== info.url && info.url !== '' && info.url !== 'about:blank') {
          this.push('page.navigated', { targetId: info.targetId, url: info.url, title: info.title });
        }
        this.pages.set(info.targetId, { ...info });
        return;
      }
      case 'Target.targetDestroyed': {
        const targetId = params['targetId'] as string;
        if (!this.pages.delete(targetId)) return;
        this.push('page.closed', { targetId });
        return;
      }
      case 'Target.attachedToTarget': {
        const info = params['targetInfo'] as TargetInfo;
        const sessionId = params['sessionId'] as string;
        if (info.type !== 'page') return;
        this.sessions.set(sessionId, info.targetId);
        this.send('Runtime.enable', {}, sessionId);
        return;
      }
      case 'Target.detachedFromTarget':
        this.sessions.delete(params['sessionId'] as string);
        return;
      case 'Runtime.consoleAPICalled': {
        const targetId = message.sessionId ? this.sessions.get(message.sessionId) : undefined;
        if (!targetId) return;
        const args = (params['args'] as Array<{ value?: unknown; description?: string; type?: string }>) ?? [];
        const text = args
          .map((arg) => (arg.value !== undefined ? String(arg.value) : (arg.description ?? arg.type ?? '')))
          .join(' ');
        this.push('console', {
          targetId,
          level: params['type'],
          text: text.length > CONSOLE_TEXT_MAX ? `${text.slice(0, CONSOLE_TEXT_MAX)}…` : text,
        });
        return;
      }
      default:
        return;
    }
  }

  /** Also how other watchers of the browser (downloads) add their events to the same numbered feed. */
  push(type: string, data: Record<string, unknown>): void {
    this.events.push({ seq: ++this.seq, type, at: new Date().toISOString(), data });
    if (this.events.length > MAX_EVENTS) this.events.splice(0, this.events.length - MAX_EVENTS);
    for (const done of [...this.waiters]) done();
  }
}
