import { randomUUID } from 'node:crypto';
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { Logger } from '@nestjs/common';
import { CdpSession } from '@bctrl/cdp-client';
import { RuntimesV1, RunEvent } from '@bctrl/contracts';
import type { Transport } from '@bctrl/transport';
import { type ConnectionLease, connectionStatus, type EndReason, type LeaseStore } from '../leases/lease-store';
import { CommandPublisher, CommandTracker } from '../recording/command-recorder';
import { ConnectionEvents } from './connection-events';
import WebSocket, { WebSocketServer } from 'ws';
import { LiveViewSession } from '../live-view/live-view-session';
import { acceptClient, dialUpstream, rejectUpgrade, splice } from '../proxy/ws-splice';
import { WebDriverRelay } from '../webdriver/webdriver-relay';

/** Close codes a client sees when the platform ends its socket (4000–4999: application codes, RFC 6455 §7.4.2). */
export const CLOSE_CODES = {
  revoked: { code: 4001, reason: 'connection revoked' },
  expired: { code: 4002, reason: 'connection expired' },
  runtime_stopped: { code: 4003, reason: 'runtime stopped' },
  // A lease local mode ended at its restart: its sockets died with the old process, so this is for completeness.
  platform_restarted: { code: 4004, reason: 'platform restarted' },
  shutdown: { code: 1001, reason: 'proxy shutting down' },
} as const;

export const CDP_PATH_PREFIX = '/v1/cdp/';
export const LIVE_VIEW_PATH_PREFIX = '/v1/live/';
/** The live viewer's socket: `/v1/live/<token>/ws` (the page itself is the gateway's). */
const LIVE_VIEW_ROUTE = /^\/v1\/live\/([A-Za-z0-9_-]{16,128})\/ws(?:\?.*)?$/;
/** `/v1/cdp/<token>`, `/v1/cdp/<token>/devtools/page/<id>`, `/v1/cdp/<token>/json/version`, … */
const ROUTE = /^\/v1\/cdp\/([A-Za-z0-9_-]{16,128})(\/[^?#]*)?(?:\?.*)?$/;
const TARGET_PATH = /^\/devtools\/(browser|page|worker|shared_worker|service_worker)\/([A-Za-z0-9._-]{1,128})$/;
/** The DevTools front end's entry and its static files (never the /devtools/page|browser/… sockets). */
const FRONTEND_PATH = /^\/devtools(\/|\/(?!(browser|page|worker|shared_worker|service_worker)\/)[A-Za-z0-9_./-]*)?$/;
const DISCOVERY_PATH = /^\/json(\/(version|list|protocol|new|activate\/[A-Za-z0-9._-]+|close\/[A-Za-z0-9._-]+))?\/?$/;

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

/** A socket the platform can end: a spliced CDP connection or a live viewer. */
interface LiveSocket {
  id: string;
  lease: ConnectionLease;
  close(code: number, reason: string): void;
  closed: Promise<unknown>;
  expiry: NodeJS.Timeout;
}

/**
 * The public end of connections: WebSocket upgrades and discovery requests under `/v1/cdp/<token>`. Each socket
 * is checked against its lease, spliced to the runtime's browser, tapped for command records, and closed with a
 * code and reason when its connection is revoked, expires or its runtime stops — on whichever replica holds it.
 */
export class CdpEndpoint {
  private readonly logger = new Logger('CdpEndpoint');
  private readonly live = new Map<string, Set<LiveSocket>>();
  private subscription: { close(): Promise<void> } | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private closing = false;
  /** Accepts live viewers' upgrades; small messages only (input events), no compression. */
  private readonly viewers = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024, perMessageDeflate: false });

  /** `webdriver` connections: HTTP, relayed to the runtime agent's chromedriver. */
  private readonly webdriver: WebDriverRelay;

  constructor(private readonly options: CdpEndpointOptions) {
    this.webdriver = new WebDriverRelay({
      store: options.store,
      publisher: options.publisher,
      events: options.events,
      touch: (runtimeIds) => void this.touchRuntimes(runtimeIds),
    });
  }

  async start(): Promise<void> {
    this.subscription = await this.options.store.subscribe((ended) =>
      this.closeConnection(ended.connectionId, ended.reason),
    );
    this.heartbeat = setInterval(() => void this.touchRuntimes(), this.options.heartbeatMs ?? 5_000);
    this.heartbeat.unref();
  }

  /** Open sockets, for tests and metrics. */
  get openSockets(): number {
    let count = 0;
    for (const sockets of this.live.values()) count += sockets.size;
    return count;
  }

  handles(url: string | undefined): boolean {
    return (
      !!url?.startsWith(CDP_PATH_PREFIX) || !!url?.startsWith(LIVE_VIEW_PATH_PREFIX) || this.webdriver.handles(url)
    );
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => undefined);
    if (this.webdriver.handles(req.url)) {
      rejectUpgrade(socket, 404, 'not_found', 'WebDriver connections speak HTTP, not WebSocket.');
      return;
    }
    const upgrade = req.url?.startsWith(LIVE_VIEW_PATH_PREFIX)
      ? this.liveView(req, socket, head)
      : this.upgrade(req, socket, head);
    upgrade.catch((error: unknown) => {
      this.logger.error(`upgrade failed: ${String(error)}`);
      socket.destroy();
    });
  }

  handleRequest(req: IncomingMessage, res: ServerResponse): void {
    if (this.webdriver.handles(req.url)) {
      this.webdriver.handle(req, res).catch((error: unknown) => {
        this.logger.error(`WebDriver relay failed: ${String(error)}`);
        if (!res.headersSent) sendError(res, 503, 'unavailable', "The runtime's WebDriver relay did not answer.");
        else res.destroy();
      });
      return;
    }
    this.discovery(req, res).catch((error: unknown) => {
      this.logger.error(`discovery failed: ${String(error)}`);
      if (!res.headersSent) sendError(res, 503, 'unavailable', "The runtime's browser did not answer.");
      else res.destroy();
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    await this.subscription?.close();
    const all = [...this.live.values()].flatMap((sockets) => [...sockets]);
    for (const live of all) live.close(CLOSE_CODES.shutdown.code, CLOSE_CODES.shutdown.reason);
    await Promise.all(all.map((live) => live.closed));
    this.webdriver.close();
    this.viewers.close();
    await this.options.publisher.close();
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const route = ROUTE.exec(req.url ?? '');
    const target = route?.[2] && route[2] !== '/' ? TARGET_PATH.exec(route[2]) : null;
    if (!route || (route[2] && route[2] !== '/' && !target)) {
      rejectUpgrade(socket, 404, 'not_found', 'No CDP endpoint at this path.');
      return;
    }
    if (this.closing) {
      rejectUpgrade(socket, 503, 'unavailable', 'The proxy is shutting down; reconnect.');
      return;
    }
    const token = route[1] as string;
    const lease = await this.cdpLease(token);
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
      dialed = await dialUpstream(upstreamUrl, { timeoutMs: this.options.dialTimeoutMs ?? 10_000 });
    } catch {
      // A target that does not exist is the client's mistake (Chromium answers it with a 500); the browser itself
      // gone is ours to report.
      const missing = target && !(await this.targetExists(lease, target[2] as string));
      if (missing) rejectUpgrade(socket, 404, 'not_found', 'No such target in this runtime.');
      else rejectUpgrade(socket, 503, 'unavailable', "The runtime's browser is not reachable.");
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
      this.options.publisher,
    );
    const spliced = splice(socket, dialed.socket, {
      clientHead: head,
      upstreamHead: dialed.head,
      onClientMessage: (message) => tracker.onClientMessage(message),
      onUpstreamMessage: (meta) => tracker.onUpstreamMessage(meta),
    });
    const live = this.register(lease, (code, reason) => spliced.close(code, reason), spliced.closed);
    void spliced.closed.then((outcome) => {
      tracker.finish();
      void this.options.events.publish(lease, RunEvent.connectionClosed, {
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
      void this.touchRuntimes([lease.runtimeId]);
    });
    void this.options.events.publish(lease, RunEvent.connectionOpened, {
      connectionId: lease.id,
      socketId: live.id,
      target: target ? `${target[1]}/${target[2]}` : 'browser',
    });
    void this.touchRuntimes([lease.runtimeId]);
    await this.recheck(live);
  }

  /**
   * `/v1/live/<token>/ws`: a live viewer. The token must be a live-view lease; the viewer gets a CDP connection
   * of its own to the runtime's browser, screencast frames and (interactive leases) input pass-through.
   */
  private async liveView(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const route = LIVE_VIEW_ROUTE.exec(req.url ?? '');
    if (!route) {
      rejectUpgrade(socket, 404, 'not_found', 'No live view at this path.');
      return;
    }
    if (this.closing) {
      rejectUpgrade(socket, 503, 'unavailable', 'The proxy is shutting down; reconnect.');
      return;
    }
    const lease = await this.options.store.byToken(route[1] as string);
    if (!lease || lease.type !== 'live_view') {
      rejectUpgrade(socket, 401, 'unauthenticated', 'The live-view link is unknown, expired or revoked.');
      return;
    }
    const browser = await CdpSession.connect(lease.cdpUrl, {
      connectTimeoutMs: this.options.dialTimeoutMs ?? 10_000,
      maxPayload: 256 * 1024 * 1024,
    }).catch(() => null);
    if (!browser) {
      rejectUpgrade(socket, 503, 'unavailable', "The runtime's browser is not reachable.");
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
    const live = this.register(
      lease,
      (code, reason) => {
        if (viewer.readyState === WebSocket.OPEN) viewer.close(code, reason);
        // A viewer that does not answer the close handshake is dropped, like a stuck CDP client.
        setTimeout(() => viewer.terminate(), 1_000).unref();
      },
      closed,
    );
    void closed.then((outcome) =>
      this.options.events.publish(lease, RunEvent.liveViewClosed, {
        socketId: live.id,
        code: outcome.code,
        reason: outcome.reason,
        frames: session.stats.frames,
        framesDropped: session.stats.framesDropped,
        inputs: session.stats.inputs,
      }),
    );
    void this.options.events.publish(lease, RunEvent.liveViewOpened, {
      socketId: live.id,
      interactive: lease.interactive ?? false,
    });
    void this.touchRuntimes([lease.runtimeId]);
    await this.recheck(live);
    await session.start().catch(() => undefined);
  }

  /**
   * The live `cdp` connection a token opens. Tokens of other leases share the store but open nothing here: a
   * view-only live-view link or a WebDriver connection must never reach the browser's raw CDP.
   */
  private async cdpLease(token: string): Promise<ConnectionLease | null> {
    const lease = await this.options.store.byToken(token);
    return lease?.type === 'cdp' ? lease : null;
  }

  /** Tracks an open socket under its lease until it closes, and closes it when the lease expires. */
  private register(
    lease: ConnectionLease,
    close: (code: number, reason: string) => void,
    closed: Promise<unknown>,
  ): LiveSocket {
    const live: LiveSocket = {
      id: randomUUID(),
      lease,
      close,
      closed,
      expiry: setTimeout(
        () => close(CLOSE_CODES.expired.code, CLOSE_CODES.expired.reason),
        Math.max(0, lease.expiresAt - Date.now()),
      ),
    };
    live.expiry.unref();
    let sockets = this.live.get(lease.id);
    if (!sockets) this.live.set(lease.id, (sockets = new Set()));
    sockets.add(live);
    void closed.then(() => {
      clearTimeout(live.expiry);
      sockets.delete(live);
      if (sockets.size === 0 && this.live.get(lease.id) === sockets) this.live.delete(lease.id);
    });
    return live;
  }

  /** A revoke that landed between the lease check and the socket's registration would otherwise be missed. */
  private async recheck(live: LiveSocket): Promise<void> {
    const current = await this.options.store.get(live.lease.id);
    const status = current ? connectionStatus(current) : 'revoked';
    if (status !== 'active')
      this.closeSocket(live, status === 'expired' ? 'expired' : (current?.endReason ?? 'revoked'));
  }

  private closeConnection(connectionId: string, reason: EndReason): void {
    for (const live of this.live.get(connectionId) ?? []) this.closeSocket(live, reason);
    this.webdriver.ended(connectionId, reason);
  }

  private closeSocket(live: LiveSocket, reason: EndReason | 'expired'): void {
    const { code, reason: text } = CLOSE_CODES[reason];
    live.close(code, text);
  }

  private async targetExists(lease: ConnectionLease, targetId: string): Promise<boolean> {
    try {
      const answer = await browserHttp(new URL(lease.cdpUrl).host, 'GET', '/json/list');
      return (JSON.parse(answer.body) as Array<{ id?: string }>).some((t) => t.id === targetId);
    } catch {
      return true;
    }
  }

  /**
   * Chrome DevTools, served by the runtime's own Chromium through this connection: `<base>/devtools` opens it on
   * the current page (a redirect to the front end with the page's proxied WebSocket), and the front end's files
   * are fetched through here too, so the browser's address never reaches the client.
   */
  private async frontend(req: IncomingMessage, res: ServerResponse, token: string, path: string): Promise<void> {
    const lease = await this.cdpLease(token);
    if (!lease) {
      sendError(res, 401, 'unauthenticated', 'The connection token is unknown, expired or revoked.');
      return;
    }
    const browserHost = new URL(lease.cdpUrl).host;
    if (path === '/devtools' || path === '/devtools/') {
      const targets = JSON.parse((await browserHttp(browserHost, 'GET', '/json/list')).body) as Array<{
        id: string;
        type: string;
      }>;
      const page = targets.find((t) => t.type === 'page');
      if (!page) {
        sendError(res, 404, 'not_found', 'The runtime has no open page to inspect.');
        return;
      }
      const base = publicBase(req);
      const socket = `${base.ws.replace(/^wss?:\/\//, '')}${CDP_PATH_PREFIX}${token}/devtools/page/${page.id}`;
      const param = base.ws.startsWith('wss') ? 'wss' : 'ws';
      res.writeHead(302, { location: `${CDP_PATH_PREFIX}${token}/devtools/inspector.html?${param}=${socket}` });
      res.end();
      return;
    }
    const answer = await browserRequest(browserHost, 'GET', `${path}${queryOf(req.url)}`);
    const headers: Record<string, string> = { 'cache-control': 'private, max-age=300' };
    if (answer.headers['content-type']) headers['content-type'] = answer.headers['content-type'];
    res.writeHead(answer.statusCode === 200 ? 200 : 404, headers);
    await new Promise<void>((resolve, reject) => {
      answer.pipe(res);
      answer.on('end', resolve);
      answer.on('error', reject);
    });
  }

  /**
   * Open sockets and open WebDriver sessions keep their runtimes from idling out: the orchestrator hears of them
   * every heartbeat.
   */
  private async touchRuntimes(runtimeIds?: string[]): Promise<void> {
    const ids = runtimeIds ?? [
      ...new Set([
        ...[...this.live.values()].flatMap((set) => [...set].map((l) => l.lease.runtimeId)),
        ...this.webdriver.runtimeIds(),
      ]),
    ];
    if (ids.length === 0) return;
    try {
      await this.options.transport.request(RuntimesV1.touch, { runtimeIds: ids }, { principal: { kind: 'operator' } });
    } catch (error) {
      this.logger.warn(`could not report activity on ${ids.length} runtimes: ${String(error)}`);
    }
  }

  /**
   * `/json/version`, `/json/list` and the other discovery routes, answered by the runtime's browser and rewritten
   * so that every WebSocket URL in them points back at this connection. Puppeteer's `browserURL`, Playwright's
   * `connectOverCDP(http…)` and chrome-remote-interface's target listing all start here.
   */
  private async discovery(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const route = ROUTE.exec(req.url ?? '');
    const path = route?.[2] ?? '';
    if (route && FRONTEND_PATH.test(path) && !path.includes('..') && req.method === 'GET') {
      await this.frontend(req, res, route[1] as string, path);
      return;
    }
    if (!route || !DISCOVERY_PATH.test(path)) {
      sendError(res, 404, 'not_found', 'No CDP discovery route at this path.');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'PUT') {
      sendError(res, 405, 'method_not_allowed', 'Discovery routes answer GET and PUT.');
      return;
    }
    const token = route[1] as string;
    const lease = await this.cdpLease(token);
    if (!lease) {
      sendError(res, 401, 'unauthenticated', 'The connection token is unknown, expired or revoked.');
      return;
    }
    const browser = new URL(lease.cdpUrl);
    const answer = await browserHttp(
      browser.host,
      req.method,
      `${path.replace(/\/$/, '') || '/json'}${queryOf(req.url)}`,
    );
    if (answer.status !== 200) {
      sendJson(res, answer.status === 404 ? 404 : 502, {
        error: { code: answer.status === 404 ? 'not_found' : 'unavailable', message: answer.body.slice(0, 200) },
      });
      return;
    }
    const base = publicBase(req);
    const proxied = `${base.ws}${CDP_PATH_PREFIX}${token}`;
    let body: unknown;
    try {
      body = JSON.parse(answer.body);
    } catch {
      sendError(res, 502, 'unavailable', "The runtime's browser answered with something other than JSON.");
      return;
    }
    sendJson(res, 200, rewrite(body, browser.host, proxied, lease.cdpUrl));
  }
}

/** Where the client reached us, as it sees it (an ingress or the gateway says so in X-Forwarded-*). */
function publicBase(req: IncomingMessage): { ws: string } {
  const forwardedProto = headerValue(req.headers['x-forwarded-proto']);
  const host = headerValue(req.headers['x-forwarded-host']) ?? req.headers.host ?? 'localhost';
  const secure = forwardedProto ? forwardedProto === 'https' : 'encrypted' in req.socket && !!req.socket.encrypted;
  return { ws: `${secure ? 'wss' : 'ws'}://${host}` };
}

function headerValue(value: string | string[] | undefined): string | undefined {
  const first = Array.isArray(value) ? value[0] : value;
  return first?.split(',')[0]?.trim() || undefined;
}

/**
 * Points every WebSocket URL the browser gave at this connection instead: the browser-level one at the
 * connection itself, target ones at `<connection>/devtools/<kind>/<id>`; DevTools front-end links go (they
 * would lead to the browser's own address).
 */
function rewrite(value: unknown, browserHost: string, proxied: string, browserWsUrl: string): unknown {
  if (Array.isArray(value)) return value.map((item) => rewrite(item, browserHost, proxied, browserWsUrl));
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value as Record<string, unknown>)) {
    if (key === 'webSocketDebuggerUrl' && typeof field === 'string') {
      out[key] = field === browserWsUrl ? proxied : field.replace(`ws://${browserHost}`, proxied);
    } else if (key === 'devtoolsFrontendUrl' || key === 'devtoolsFrontendUrlCompat') {
      continue;
    } else out[key] = rewrite(field, browserHost, proxied, browserWsUrl);
  }
  return out;
}

/** The query string of a request URL, with its `?`, or ''. */
function queryOf(url: string | undefined): string {
  const at = url?.indexOf('?') ?? -1;
  return at >= 0 ? (url as string).slice(at) : '';
}

/** One request to the browser's own HTTP endpoint (`host` is its `127.0.0.1:<port>`); the answer as a stream. */
function browserRequest(host: string, method: string, path: string): Promise<IncomingMessage> {
  const [hostname, port] = host.split(':');
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: hostname, port: Number(port), method, path, timeout: 10_000 }, resolve);
    req.on('timeout', () => req.destroy(new Error(`browser ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** The same, read whole (discovery answers are small JSON documents). */
async function browserHttp(host: string, method: string, path: string): Promise<{ status: number; body: string }> {
  const res = await browserRequest(host, method, path);
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return { status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

function sendError(res: ServerResponse, status: number, code: string, message: string): void {
  sendJson(res, status, { error: { code, message } });
}
