import type { IncomingMessage, ServerResponse } from 'node:http';
import { browserHttp, browserRequest, publicBase, queryOf, rewrite, sendError, sendJson } from '../cdp/browser-http';
import { CDP_PATH_PREFIX } from './cdp-socket.route';
import { CDP_ROUTE, cdpLease, type ProxyContext, type ProxyRoute } from './proxy-route';

/** The DevTools front end's entry and its static files (never the /devtools/page|browser/… sockets). */
const FRONTEND_PATH = /^\/devtools(\/|\/(?!(browser|page|worker|shared_worker|service_worker)\/)[A-Za-z0-9_./-]*)?$/;
const DISCOVERY_PATH = /^\/json(\/(version|list|protocol|new|activate\/[A-Za-z0-9._-]+|close\/[A-Za-z0-9._-]+))?\/?$/;

/**
 * The HTTP side of a CDP connection: `/json/version`, `/json/list` and the other discovery routes, answered by the
 * runtime's browser and rewritten so that every WebSocket URL in them points back at this connection (Puppeteer's
 * `browserURL`, Playwright's `connectOverCDP(http…)` and chrome-remote-interface's target listing all start here);
 * and Chrome DevTools, served by the runtime's own Chromium through the same lease.
 */
export class CdpDiscoveryRoute implements ProxyRoute {
  readonly prefix = CDP_PATH_PREFIX;
  readonly refusal = 'No CDP discovery route at this path.';
  readonly unavailable = "The runtime's browser did not answer.";

  constructor(private readonly context: ProxyContext) {}

  async request(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const route = CDP_ROUTE.exec(req.url ?? '');
    const path = route?.[2] ?? '';
    if (route && FRONTEND_PATH.test(path) && !path.includes('..') && req.method === 'GET') {
      await this.frontend(req, res, route[1] as string, path);
      return;
    }
    if (!route || !DISCOVERY_PATH.test(path)) {
      sendError(res, 404, 'not_found', this.refusal);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'PUT') {
      sendError(res, 405, 'method_not_allowed', 'Discovery routes answer GET and PUT.');
      return;
    }
    const token = route[1] as string;
    const lease = await cdpLease(this.context.store, token);
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
    const proxied = `${publicBase(req).ws}${CDP_PATH_PREFIX}${token}`;
    let body: unknown;
    try {
      body = JSON.parse(answer.body);
    } catch {
      sendError(res, 502, 'unavailable', "The runtime's browser answered with something other than JSON.");
      return;
    }
    sendJson(res, 200, rewrite(body, browser.host, proxied, lease.cdpUrl));
  }

  /**
   * `<base>/devtools` opens Chrome DevTools on the current page (a redirect to the front end with the page's proxied
   * WebSocket), and the front end's files are fetched through here too, so the browser's address never reaches the
   * client.
   */
  private async frontend(req: IncomingMessage, res: ServerResponse, token: string, path: string): Promise<void> {
    const lease = await cdpLease(this.context.store, token);
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
}
