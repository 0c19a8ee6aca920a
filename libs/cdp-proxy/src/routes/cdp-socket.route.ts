import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { RunEvent } from '@bctrl/contracts';
import { browserHttp } from '../cdp/browser-http';
import type { ConnectionLease } from '../leases/lease-store';
import { acceptClient, dialUpstream, rejectUpgrade, splice } from '../proxy/ws-splice';
import { CommandTracker } from '../recording/command-recorder';
import { CDP_ROUTE, cdpLease, type ProxyContext, type ProxyRoute } from './proxy-route';

export const CDP_PATH_PREFIX = '/v1/cdp/';
const TARGET_PATH = /^\/devtools\/(browser|page|worker|shared_worker|service_worker)\/([A-Za-z0-9._-]{1,128})$/;

/**
 * `/v1/cdp/<token>` (the browser) and `/v1/cdp/<token>/devtools/<kind>/<id>` (one target): the socket is checked
 * against its lease, spliced byte for byte to the runtime's browser, tapped for command records, and registered so
 * that a revoke, expiry or runtime stop closes it on whichever replica holds it.
 */
export class CdpSocketRoute implements ProxyRoute {
  readonly prefix = CDP_PATH_PREFIX;
  readonly refusal = 'No CDP endpoint at this path.';
  readonly unavailable = "The runtime's browser is not reachable.";

  constructor(private readonly context: ProxyContext) {}

  async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const route = CDP_ROUTE.exec(req.url ?? '');
    const target = route?.[2] && route[2] !== '/' ? TARGET_PATH.exec(route[2]) : null;
    if (!route || (route[2] && route[2] !== '/' && !target)) {
      rejectUpgrade(socket, 404, 'not_found', this.refusal);
      return;
    }
    if (this.context.closing()) {
      rejectUpgrade(socket, 503, 'unavailable', 'The proxy is shutting down; reconnect.');
      return;
    }
    const lease = await cdpLease(this.context.store, route[1] as string);
    if (!lease) {
      rejectUpgrade(socket, 401, 'unauthenticated', 'The connection token is unknown, expired or revoked.');
      return;
    }
    const upstreamUrl =
      target && target[1] !== 'browser'
        ? new URL(`/devtools/${target[1]}/${target[2]}`, lease.cdpUrl).href
        : lease.cdpUrl;
    let dialed;
    try {
      dialed = await dialUpstream(upstreamUrl, { timeoutMs: this.context.dialTimeoutMs });
    } catch {
      // A target that does not exist is the client's mistake (Chromium answers it with a 500); the browser itself
      // gone is ours to report.
      const missing = target && !(await targetExists(lease, target[2] as string));
      if (missing) rejectUpgrade(socket, 404, 'not_found', 'No such target in this runtime.');
      else rejectUpgrade(socket, 503, 'unavailable', this.unavailable);
      return;
    }
    if (!acceptClient(req, socket)) {
      dialed.socket.destroy();
      return;
    }
    const tracker = new CommandTracker(
      {
        runId: lease.runId,
        runtimeId: lease.runtimeId,
        spaceId: lease.spaceId,
        accountId: lease.accountId,
        connectionId: lease.id,
      },
      this.context.publisher,
      this.context.traffic,
    );
    const spliced = splice(socket, dialed.socket, {
      clientHead: head,
      upstreamHead: dialed.head,
      onClientMessage: (message) => tracker.onClientMessage(message),
      onUpstreamMessage: (meta) => tracker.onUpstreamMessage(meta),
    });
    const live = this.context.sockets.register(lease, (code, reason) => spliced.close(code, reason), spliced.closed);
    void spliced.closed.then((outcome) => {
      tracker.finish();
      void this.context.events.publish(lease, RunEvent.connectionClosed, {
        connectionId: lease.id,
        socketId: live.id,
        closedBy: outcome.by,
        code: outcome.code ?? null,
        reason: outcome.reason ?? null,
        bytesFromClient: spliced.bytesFromClient,
        bytesFromBrowser: spliced.bytesFromUpstream,
        messagesFromClient: spliced.messagesFromClient,
        messagesFromBrowser: spliced.messagesFromUpstream,
      });
      this.context.touch([lease.runtimeId]);
    });
    void this.context.events.publish(lease, RunEvent.connectionOpened, {
      connectionId: lease.id,
      socketId: live.id,
      target: target ? `${target[1]}/${target[2]}` : 'browser',
    });
    this.context.touch([lease.runtimeId]);
    await this.context.sockets.recheck(live);
  }
}

async function targetExists(lease: ConnectionLease, targetId: string): Promise<boolean> {
  try {
    const answer = await browserHttp(new URL(lease.cdpUrl).host, 'GET', '/json/list');
    return (JSON.parse(answer.body) as Array<{ id?: string }>).some((t) => t.id === targetId);
  } catch {
    return true;
  }
}
