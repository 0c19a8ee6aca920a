import { type IncomingMessage, request as httpRequest, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';

/** The public URL tenants reach the gateway at, as `{value}` so local mode can fill in the port it got. */
export const PUBLIC_URL = Symbol.for('bctrl.gateway.public-url');

export const CDP_ROUTE_PREFIX = '/v1/cdp/';
/** `webdriver` connections: plain HTTP (W3C WebDriver), cdp-proxy's too. */
export const WEBDRIVER_ROUTE_PREFIX = '/v1/webdriver/';
const LIVE_VIEW_SOCKET_PREFIX = '/v1/live/';
/** WebDriver commands wait for page loads and scripts (chromedriver's page-load default is 300 s). */
const WEBDRIVER_TIMEOUT_MS = 330_000;

/**
 * What serves `/v1/cdp/*` behind the gateway: the connection token in the path is the credential (no API key),
 * so these requests bypass the API's guards. Local mode plugs cdp-proxy's endpoint in directly (no hop);
 * distributed mode forwards to the cdp-proxy service (or the ingress routes there and the gateway never sees it).
 */
export interface CdpRouteHandler {
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  handleRequest(req: IncomingMessage, res: ServerResponse): void;
}

/** Hooks the handler into the gateway's HTTP server: WebSocket upgrades and the discovery routes. */
export function installCdpRoute(app: NestFastifyApplication, handler: CdpRouteHandler): void {
  const server = app.getHttpServer() as Server;
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // Live viewers' sockets are cdp-proxy's too: it holds the leases and reaches the browsers.
    if (req.url?.startsWith(CDP_ROUTE_PREFIX) || req.url?.startsWith(LIVE_VIEW_SOCKET_PREFIX))
      handler.handleUpgrade(req, socket, head);
    else {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    }
  });
  const fastify = app.getHttpAdapter().getInstance();
  for (const prefix of [CDP_ROUTE_PREFIX, WEBDRIVER_ROUTE_PREFIX]) {
    fastify.all(
      `${prefix}*`,
      {
        // Taken over before Fastify parses a body: the handler streams the raw request (WebDriver's JSON) itself.
        onRequest: (request, reply, done) => {
          reply.hijack();
          handler.handleRequest(request.raw, reply.raw);
          done();
        },
      },
      () => undefined,
    );
  }
}

/**
 * Distributed mode: forwards `/v1/cdp/*` to cdp-proxy. An upgrade is relayed as raw bytes (request head
 * rewritten only to add X-Forwarded-*), then the two sockets are piped: the gateway never parses a frame.
 */
export class ForwardingCdpRoute implements CdpRouteHandler {
  private readonly host: string;
  private readonly port: number;

  constructor(target: string) {
    const url = new URL(target);
    this.host = url.hostname;
    this.port = Number(url.port || 80);
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const upstream = connect({ host: this.host, port: this.port });
    upstream.setNoDelay(true);
    const fail = () => {
      upstream.destroy();
      socket.destroy();
    };
    socket.on('error', fail);
    upstream.on('error', () => {
      if (upstream.bytesRead === 0 && socket.writable) {
        const body = JSON.stringify({ error: { code: 'unavailable', message: 'The CDP proxy is not reachable.' } });
        socket.end(
          `HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        );
      } else fail();
    });
    upstream.once('connect', () => {
      upstream.write(requestHead(req));
      if (head.length) upstream.write(head);
      if ('setNoDelay' in socket && typeof socket.setNoDelay === 'function') socket.setNoDelay(true);
      socket.pipe(upstream).pipe(socket);
    });
    socket.once('close', () => upstream.destroy());
    upstream.once('close', () => socket.destroy());
  }

  handleRequest(req: IncomingMessage, res: ServerResponse): void {
    const proxied = httpRequest(
      {
        host: this.host,
        port: this.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, ...forwardedHeaders(req) },
        timeout: req.url?.startsWith(WEBDRIVER_ROUTE_PREFIX) ? WEBDRIVER_TIMEOUT_MS : 15_000,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    proxied.on('timeout', () => proxied.destroy(new Error('cdp-proxy timed out')));
    proxied.on('error', () => {
      if (res.headersSent) return void res.destroy();
      const body = JSON.stringify({ error: { code: 'unavailable', message: 'The CDP proxy is not reachable.' } });
      res.writeHead(503, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
    req.pipe(proxied);
  }
}

function forwardedHeaders(req: IncomingMessage): Record<string, string> {
  const encrypted = 'encrypted' in req.socket && !!req.socket.encrypted;
  return {
    'x-forwarded-host': String(req.headers['x-forwarded-host'] ?? req.headers.host ?? ''),
    'x-forwarded-proto': String(req.headers['x-forwarded-proto'] ?? (encrypted ? 'https' : 'http')),
    'x-forwarded-for': [req.headers['x-forwarded-for'], req.socket.remoteAddress].filter(Boolean).join(', '),
  };
}

/** The client's request head as it came (raw header names and order), plus X-Forwarded-*. */
function requestHead(req: IncomingMessage): string {
  let head = `${req.method} ${req.url} HTTP/1.1\r\n`;
  const skip = new Set(['x-forwarded-host', 'x-forwarded-proto', 'x-forwarded-for']);
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (!skip.has((req.rawHeaders[i] as string).toLowerCase()))
      head += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`;
  }
  for (const [name, value] of Object.entries(forwardedHeaders(req))) head += `${name}: ${value}\r\n`;
  return `${head}\r\n`;
}
