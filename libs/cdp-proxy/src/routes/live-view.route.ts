import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';
import { CdpSession } from '@bctrl/cdp-client';
import { RunEvent } from '@bctrl/contracts';
import { CLOSE_CODES } from '../cdp/socket-registry';
import { LiveViewSession } from '../live-view/live-view-session';
import { rejectUpgrade } from '../proxy/ws-splice';
import type { ProxyContext, ProxyRoute } from './proxy-route';

export const LIVE_VIEW_PATH_PREFIX = '/v1/live/';
/** The live viewer's socket: `/v1/live/<token>/ws` (the page itself is the gateway's). */
const LIVE_VIEW_ROUTE = /^\/v1\/live\/([A-Za-z0-9_-]{16,128})\/ws(?:\?.*)?$/;

/**
 * `/v1/live/<token>/ws`: a live viewer. The token must be a live-view lease; the viewer gets a CDP connection of its
 * own to the runtime's browser, screencast frames and (interactive leases) input pass-through.
 */
export class LiveViewRoute implements ProxyRoute {
  readonly prefix = LIVE_VIEW_PATH_PREFIX;
  readonly refusal = 'No live view at this path.';
  readonly unavailable = "The runtime's browser is not reachable.";
  /** Accepts live viewers' upgrades; small messages only (input events), no compression. */
  private readonly viewers = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024, perMessageDeflate: false });

  constructor(private readonly context: ProxyContext) {}

  close(): void {
    this.viewers.close();
  }

  async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const route = LIVE_VIEW_ROUTE.exec(req.url ?? '');
    if (!route) {
      rejectUpgrade(socket, 404, 'not_found', this.refusal);
      return;
    }
    if (this.context.closing()) {
      rejectUpgrade(socket, 503, 'unavailable', 'The proxy is shutting down; reconnect.');
      return;
    }
    const lease = await this.context.store.byToken(route[1] as string);
    if (!lease || lease.type !== 'live_view') {
      rejectUpgrade(socket, 401, 'unauthenticated', 'The live-view link is unknown, expired or revoked.');
      return;
    }
    const browser = await CdpSession.connect(lease.cdpUrl, {
      connectTimeoutMs: this.context.dialTimeoutMs,
      maxPayload: 256 * 1024 * 1024,
    }).catch(() => null);
    if (!browser) {
      rejectUpgrade(socket, 503, 'unavailable', this.unavailable);
      return;
    }
    const viewer = await new Promise<WebSocket>((resolve) =>
      this.viewers.handleUpgrade(req, socket, head, (ws) => resolve(ws)),
    );
    const session = new LiveViewSession(viewer, browser, lease.interactive ?? false);
    const closed = new Promise<{ code: number; reason: string }>((resolve) => {
      const finish = (code: number, reason: string) => {
        session.end();
        browser.close();
        if (viewer.readyState === WebSocket.OPEN) viewer.close(code, reason);
        resolve({ code, reason });
      };
      viewer.once('close', (code, reason) => finish(code, String(reason)));
      browser.onClose(() => finish(CLOSE_CODES.runtime_stopped.code, CLOSE_CODES.runtime_stopped.reason));
    });
    const live = this.context.sockets.register(
      lease,
      (code, reason) => {
        if (viewer.readyState === WebSocket.OPEN) viewer.close(code, reason);
        // A viewer that does not answer the close handshake is dropped, like a stuck CDP client.
        setTimeout(() => viewer.terminate(), 1_000).unref();
      },
      closed,
    );
    void closed.then((outcome) =>
      this.context.events.publish(lease, RunEvent.liveViewClosed, {
        socketId: live.id,
        code: outcome.code,
        reason: outcome.reason,
        frames: session.stats.frames,
        framesDropped: session.stats.framesDropped,
        inputs: session.stats.inputs,
      }),
    );
    void this.context.events.publish(lease, RunEvent.liveViewOpened, {
      socketId: live.id,
      interactive: lease.interactive ?? false,
    });
    this.context.touch([lease.runtimeId]);
    await this.context.sockets.recheck(live);
    await session.start().catch(() => undefined);
  }
}
