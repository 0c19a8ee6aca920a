import { CdpSession } from '@bctrl/cdp-client';
import type { AgentEvent } from '@bctrl/contracts';
import { RunEvent } from '@bctrl/contracts';

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
  private cdp: CdpSession | null = null;

  async attach(cdpUrl: string): Promise<void> {
    const cdp = await CdpSession.connect(cdpUrl);
    this.cdp = cdp;
    cdp.on('Target.targetCreated', (params) => this.onTargetCreated(params['targetInfo'] as TargetInfo));
    cdp.on('Target.targetInfoChanged', (params) => this.onTargetChanged(params['targetInfo'] as TargetInfo));
    cdp.on('Target.targetDestroyed', (params) => {
      const targetId = params['targetId'] as string;
      if (this.pages.delete(targetId)) this.push(RunEvent.pageClosed, { targetId });
    });
    cdp.on('Target.attachedToTarget', (params) => {
      const info = params['targetInfo'] as TargetInfo;
      const sessionId = params['sessionId'] as string;
      if (info.type !== 'page') return;
      this.sessions.set(sessionId, info.targetId);
      this.post('Runtime.enable', {}, sessionId);
    });
    cdp.on('Target.detachedFromTarget', (params) => void this.sessions.delete(params['sessionId'] as string));
    cdp.on('Runtime.consoleAPICalled', (params, sessionId) => this.onConsole(params, sessionId));
    this.post('Target.setDiscoverTargets', { discover: true });
    this.post('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: false, flatten: true });
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
    this.cdp?.close();
    this.cdp = null;
  }

  private post(method: string, params: object, sessionId?: string): void {
    // A page that closes while its session is being set up fails this call; that page has nothing left to report.
    this.cdp?.post(method, params, { ...(sessionId ? { sessionId } : {}) });
  }

  private onTargetCreated(info: TargetInfo): void {
    if (info.type !== 'page') return;
    this.pages.set(info.targetId, { ...info });
    this.push(RunEvent.pageCreated, { targetId: info.targetId, url: info.url });
  }

  private onTargetChanged(info: TargetInfo): void {
    const known = this.pages.get(info.targetId);
    if (!known) return;
    // A new tab's URL goes from '' to about:blank and back before its first real load: not navigations.
    if (known.url !== info.url && info.url !== '' && info.url !== 'about:blank') {
      this.push(RunEvent.pageNavigated, { targetId: info.targetId, url: info.url, title: info.title });
    }
    this.pages.set(info.targetId, { ...info });
  }

  private onConsole(params: Record<string, unknown>, sessionId: string | undefined): void {
    const targetId = sessionId ? this.sessions.get(sessionId) : undefined;
    if (!targetId) return;
    const args = (params['args'] as Array<{ value?: unknown; description?: string; type?: string }>) ?? [];
    const text = args
      .map((arg) => (arg.value !== undefined ? String(arg.value) : (arg.description ?? arg.type ?? '')))
      .join(' ');
    this.push(RunEvent.console, {
      targetId,
      level: params['type'],
      text: text.length > CONSOLE_TEXT_MAX ? `${text.slice(0, CONSOLE_TEXT_MAX)}…` : text,
    });
  }

  /** Also how other watchers of the browser (downloads) add their events to the same numbered feed. */
  push(type: string, data: Record<string, unknown>): void {
    this.events.push({ seq: ++this.seq, type, at: new Date().toISOString(), data });
    if (this.events.length > MAX_EVENTS) this.events.splice(0, this.events.length - MAX_EVENTS);
    for (const done of [...this.waiters]) done();
  }
}
