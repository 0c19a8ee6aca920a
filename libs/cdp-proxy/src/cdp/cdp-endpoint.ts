import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { Logger } from '@nestjs/common';
import { RuntimesV1 } from '@bctrl/contracts';
import type { Transport } from '@bctrl/transport';
import type { LeaseStore } from '../leases/lease-store';
import { rejectUpgrade } from '../proxy/ws-splice';
import { CdpTraffic } from '../recording/cdp-traffic';
import type { CommandPublisher } from '../recording/command-recorder';
import { CdpDiscoveryRoute } from '../routes/cdp-discovery.route';
import { CdpSocketRoute } from '../routes/cdp-socket.route';
import { LiveViewRoute } from '../routes/live-view.route';
import type { ProxyContext, ProxyRoute } from '../routes/proxy-route';
import { WebDriverRoute } from '../routes/webdriver.route';
import { WebDriverRelay } from '../webdriver/webdriver-relay';
import { sendError } from './browser-http';
import type { ConnectionEvents } from './connection-events';
import { CLOSE_CODES, SocketRegistry } from './socket-registry';

export { CLOSE_CODES } from './socket-registry';
export { CDP_PATH_PREFIX } from '../routes/cdp-socket.route';
export { LIVE_VIEW_PATH_PREFIX } from '../routes/live-view.route';

export interface CdpEndpointOptions {
  store: LeaseStore;
  transport: Transport;
  publisher: CommandPublisher;
  events: ConnectionEvents;
  /** How often runtimes with open sockets are reported active (their idle stop waits). Default 5 s. */
  heartbeatMs?: number;
  /** Browser dial (TCP + handshake) limit. Default 10 s. */
  dialTimeoutMs?: number;
}

/**
 * The public end of connections: a dispatcher over the route families (CDP sockets and discovery under
 * `/v1/cdp/<token>`, live viewers under `/v1/live/`, WebDriver under `/v1/webdriver/`), the registry of the sockets
 * they hold, and the heartbeat that keeps those sockets' runtimes from idling out.
 */
export class CdpEndpoint {
  private readonly logger = new Logger('CdpEndpoint');
  private readonly sockets: SocketRegistry;
  private readonly webdriver: WebDriverRelay;
  private readonly liveView: LiveViewRoute;
  private readonly routes: ProxyRoute[];
  private subscription: { close(): Promise<void> } | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private closing = false;
  private readonly traffic = new CdpTraffic();
  private stopObserving: (() => void) | null = null;

  constructor(private readonly options: CdpEndpointOptions) {
    this.sockets = new SocketRegistry(options.store);
    this.webdriver = new WebDriverRelay({
      store: options.store,
      publisher: options.publisher,
      events: options.events,
      touch: (runtimeIds) => void this.touchRuntimes(runtimeIds),
    });
    const context: ProxyContext = {
      store: options.store,
      publisher: options.publisher,
      traffic: this.traffic,
      events: options.events,
      sockets: this.sockets,
      dialTimeoutMs: options.dialTimeoutMs ?? 10_000,
      closing: () => this.closing,
      touch: (runtimeIds) => void this.touchRuntimes(runtimeIds),
    };
    this.liveView = new LiveViewRoute(context);
    this.routes = [
      new CdpSocketRoute(context),
      new CdpDiscoveryRoute(context),
      this.liveView,
      new WebDriverRoute(this.webdriver),
    ];
  }

  async start(): Promise<void> {
    this.subscription = await this.options.store.subscribe((ended) => {
      this.sockets.closeConnection(ended.connectionId, ended.reason);
      this.webdriver.ended(ended.connectionId, ended.reason);
    });
    this.heartbeat = setInterval(() => void this.touchRuntimes(), this.options.heartbeatMs ?? 5_000);
    this.heartbeat.unref();
    this.stopObserving = this.traffic.observe();
  }

  /** Open sockets, for tests and metrics. */
  get openSockets(): number {
    return this.sockets.size;
  }

  handles(url: string | undefined): boolean {
    return this.routes.some((route) => url?.startsWith(route.prefix));
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => undefined);
    const candidates = this.routes.filter((route) => req.url?.startsWith(route.prefix));
    const route = candidates.find((each) => each.upgrade);
    if (!route?.upgrade) {
      rejectUpgrade(socket, 404, 'not_found', candidates[0]?.refusal ?? 'No socket at this path.');
      return;
    }
    route.upgrade(req, socket, head).catch((error: unknown) => {
      this.logger.error(`upgrade failed: ${String(error)}`);
      socket.destroy();
    });
  }

  handleRequest(req: IncomingMessage, res: ServerResponse): void {
    const candidates = this.routes.filter((route) => req.url?.startsWith(route.prefix));
    const route = candidates.find((each) => each.request);
    if (!route?.request) {
      sendError(res, 404, 'not_found', candidates[0]?.refusal ?? 'Nothing at this path.');
      return;
    }
    route.request(req, res).catch((error: unknown) => {
      this.logger.error(`${route.constructor.name} failed: ${String(error)}`);
      if (!res.headersSent) sendError(res, 503, 'unavailable', route.unavailable);
      else res.destroy();
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.stopObserving?.();
    await this.subscription?.close();
    await this.sockets.closeAll(CLOSE_CODES.shutdown.code, CLOSE_CODES.shutdown.reason);
    this.webdriver.close();
    this.liveView.close();
    await this.options.publisher.close();
  }

  /**
   * Open sockets and open WebDriver sessions keep their runtimes from idling out: the orchestrator hears of them
   * every heartbeat.
   */
  private async touchRuntimes(runtimeIds?: string[]): Promise<void> {
    const ids = runtimeIds ?? [...new Set([...this.sockets.runtimeIds(), ...this.webdriver.runtimeIds()])];
    if (ids.length === 0) return;
    try {
      await this.options.transport.request(RuntimesV1.touch, { runtimeIds: ids }, { principal: { kind: 'operator' } });
    } catch (error) {
      this.logger.warn(`could not report activity on ${ids.length} runtimes: ${String(error)}`);
    }
  }
}
